//! The limits and timeouts of an edge: plain typed values, no I/O.

use std::time::Duration;

/// Limits and timeouts of an [`crate::Edge`]; every field has a production
/// default. Not `#[non_exhaustive]`, so that it can be written as a struct
/// literal with `..EdgeSettings::default()`, which is how it should be
/// written: fields are added in minor releases.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// Bytes of memory cache (default 256 MiB).
    pub cache_memory: u64,
    /// Largest response stored (default 16 MiB); larger ones are streamed.
    pub max_object_size: u64,
    /// Largest request head (request line + headers) in bytes (default 32 KiB).
    pub max_header_bytes: usize,
    /// Most request headers (default 100).
    pub max_headers: usize,
    /// Time allowed to send the request head (default 10 s; slowloris).
    pub header_timeout: Duration,
    /// Largest request body forwarded (default 16 MiB); larger → 413.
    pub max_body_size: u64,
    /// Time to connect to an origin (default 3 s).
    pub origin_connect_timeout: Duration,
    /// Time for an origin to answer, and to send a body being cached (default 30 s).
    pub origin_timeout: Duration,
    /// How long an origin that failed is avoided (default 10 s).
    pub origin_down_for: Duration,
    /// Idle time after which pooled origin connections are closed (default
    /// 4 s: below the usual origin keep-alive, so the pool never reuses a
    /// socket the origin is closing).
    pub origin_idle_timeout: Duration,
    /// Client connections served at once over all the edge's listeners
    /// (default 16384), lowered at build when the process's descriptor
    /// limit leaves no room for them (half of it after a reserve of 128:
    /// a client connection may hold an origin one). Past it, the
    /// connections idle the longest (no request yet, or between
    /// keep-alive requests) are closed to make room, counted in
    /// `cirrus_connections_reclaimed_total`; when none is idle, newcomers
    /// wait in the listen backlog.
    pub max_connections: usize,
    /// Client connections one address may hold at once (default 1024;
    /// 0: no limit); one more is closed at accept and counted
    /// (`cirrus_connections_refused_total`). Generous, for the many users
    /// behind one NAT.
    pub max_connections_per_ip: usize,
    /// Concurrent streams per HTTP/2 connection (default 128).
    pub h2_max_concurrent_streams: u32,
    /// Port of the HTTPS listener, used in `force_https` redirects
    /// (default 443, left out of the `Location`).
    pub https_port: u16,
    /// On shutdown, how long requests in flight may take to finish
    /// before their connections are closed (default 30 s).
    pub drain_timeout: Duration,
    /// Request coalescing: how long the one request fetching a key for
    /// the others may hold it before the next request takes over (default
    /// 5 s, nginx's `proxy_cache_lock_age`).
    pub cache_lock_age: Duration,
    /// Request coalescing: how long a request waits for another's fetch
    /// of the same key before going to the origin itself, without storing
    /// what it gets (default 5 s, nginx's `proxy_cache_lock_timeout`);
    /// zero turns coalescing off.
    pub cache_lock_timeout: Duration,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            cache_memory: 256 << 20,
            max_object_size: 16 << 20,
            max_header_bytes: 32 << 10,
            max_headers: 100,
            header_timeout: Duration::from_secs(10),
            max_body_size: 16 << 20,
            origin_connect_timeout: Duration::from_secs(3),
            origin_timeout: Duration::from_secs(30),
            origin_down_for: Duration::from_secs(10),
            origin_idle_timeout: Duration::from_secs(4),
            max_connections: 16_384,
            max_connections_per_ip: 1024,
            h2_max_concurrent_streams: 128,
            https_port: 443,
            drain_timeout: Duration::from_secs(30),
            cache_lock_age: Duration::from_secs(5),
            cache_lock_timeout: Duration::from_secs(5),
        }
    }
}
