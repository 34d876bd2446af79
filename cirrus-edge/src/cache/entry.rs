//! A stored response: status, headers and body (as `Bytes`, so a HIT clones
//! a pointer), with what freshness and purges need.

use bytes::Bytes;
use http::header::VARY;
use http::{HeaderMap, HeaderName, StatusCode};
use std::time::{Duration, SystemTime};

/// Response headers carrying surrogate keys (tags) for purges.
const TAG_HEADERS: [&str; 2] = ["cache-tag", "surrogate-key"];

/// A response in the cache.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CachedResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers as received from the origin (hop-by-hop ones removed).
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// When it was stored.
    pub stored_at: SystemTime,
    /// Freshness lifetime in seconds.
    pub ttl: u64,
    /// Age in seconds it already had when stored.
    pub initial_age: u64,
    /// Must be revalidated before a stale use (`must-revalidate`, `no-cache`).
    pub revalidate: bool,
    /// Lowercase names of the request headers it varies on.
    pub vary: Vec<String>,
    /// Surrogate keys from `Cache-Tag` / `Surrogate-Key`.
    pub tags: Vec<String>,
}

impl CachedResponse {
    /// A response stored at `stored_at`, fresh for `ttl` seconds from an
    /// age of `initial_age`.
    pub fn new(
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        stored_at: SystemTime,
        ttl: u64,
        initial_age: u64,
    ) -> Self {
        let vary = header_list(&headers, VARY.as_str())
            .map(|n| n.to_ascii_lowercase())
            .filter(|n| HeaderName::from_bytes(n.as_bytes()).is_ok())
            .collect();
        let tags = TAG_HEADERS
            .iter()
            .flat_map(|h| header_list(&headers, h))
            .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        Self {
            status,
            headers,
            body,
            stored_at,
            ttl,
            initial_age,
            revalidate: false,
            vary,
            tags,
        }
    }

    /// Marks it as needing revalidation before a stale use.
    pub fn revalidated_when_stale(mut self, revalidate: bool) -> Self {
        self.revalidate = revalidate;
        self
    }

    /// Its age at `now`, in seconds (RFC 9111 §4.2.3).
    pub fn age(&self, now: SystemTime) -> u64 {
        let resident = now.duration_since(self.stored_at).unwrap_or(Duration::ZERO).as_secs();
        super::age::add(self.initial_age, resident)
    }

    /// True while it may be served without asking the origin.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.age(now) < self.ttl
    }

    /// Bytes it costs in memory (body, headers, bookkeeping).
    pub fn weight(&self) -> u64 {
        let headers: usize = self.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum();
        (self.body.len() + headers + 256) as u64
    }
}

/// Comma-separated values of every `name` field, trimmed, non-empty.
fn header_list<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}
