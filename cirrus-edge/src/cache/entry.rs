//! A stored response: status, headers and body (as `Bytes`, so a HIT clones
//! a pointer), with what freshness and purges need.

use bytes::Bytes;
use http::header::VARY;
use http::{HeaderMap, HeaderName, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// Surrogate keys for purges by tag (the edge reads them from the
    /// domain's tag fields, `Surrogate-Key` and `Cache-Tag` by default).
    pub tags: Vec<String>,
    /// When a soft purge marked it stale (ms since the epoch, 0: never).
    /// Atomic so a purge marks the copy every reader shares.
    stale_since_ms: StaleMark,
    /// `stored_at` on the monotonic clock, which no clock step moves: the
    /// age while the wall clock is behind `stored_at` (stepped back).
    stored_mono: Instant,
}

#[derive(Debug, Default)]
struct StaleMark(AtomicU64);

impl Clone for StaleMark {
    fn clone(&self) -> Self {
        Self(AtomicU64::new(self.0.load(Ordering::Relaxed)))
    }
}

impl CachedResponse {
    /// A response stored at `stored_at`, fresh for `ttl` seconds from an
    /// age of `initial_age`, without tags ([`with_tags`](Self::with_tags)).
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
        Self {
            status,
            headers,
            body,
            stored_at,
            ttl,
            initial_age,
            revalidate: false,
            vary,
            tags: Vec::new(),
            stale_since_ms: StaleMark::default(),
            stored_mono: SystemTime::now()
                .duration_since(stored_at)
                .ok()
                .and_then(|ago| Instant::now().checked_sub(ago))
                .unwrap_or_else(Instant::now),
        }
    }

    /// Sets its surrogate keys (tags), which purges by tag select.
    pub fn with_tags(mut self, tags: Vec<String>) -> Self {
        self.tags = tags;
        self
    }

    /// Marks it as needing revalidation before a stale use.
    pub fn revalidated_when_stale(mut self, revalidate: bool) -> Self {
        self.revalidate = revalidate;
        self
    }

    /// Marks it stale from `at` on (a soft purge): its freshness lifetime
    /// ends there, so the next request revalidates, and its stale windows
    /// count from `at`. An earlier mark stands.
    pub fn mark_stale(&self, at: SystemTime) {
        let ms = at
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        let _ = self
            .stale_since_ms
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| (old == 0).then_some(ms));
    }

    /// When a soft purge marked it stale, if one did.
    pub fn stale_since(&self) -> Option<SystemTime> {
        match self.stale_since_ms.0.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    /// Its freshness lifetime in seconds: `ttl`, cut short at the age it
    /// had when a soft purge marked it.
    pub fn lifetime(&self) -> u64 {
        self.stale_since().map_or(self.ttl, |at| self.ttl.min(self.age(at)))
    }

    /// Its age at `now`, in seconds (RFC 9111 §4.2.3). When the wall
    /// clock is behind `stored_at` (it was stepped back), the time since
    /// it was stored on the monotonic clock: a step back never makes a
    /// response younger, so never fresh for longer than its lifetime.
    pub fn age(&self, now: SystemTime) -> u64 {
        let resident = now
            .duration_since(self.stored_at)
            .unwrap_or_else(|_| self.stored_mono.elapsed())
            .as_secs();
        super::age::add(self.initial_age, resident)
    }

    /// True while it may be served without asking the origin.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.stale_since().is_none_or(|at| now < at) && self.age(now) < self.lifetime()
    }

    /// Bytes it costs in memory (body, headers, bookkeeping).
    pub fn weight(&self) -> u64 {
        let headers: usize = self.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum();
        (self.body.len() + headers + 256) as u64
    }
}

/// Copies every value of `headers` into an allocation of its own. Parsed
/// from an origin connection, values are slices of its read buffer, which
/// a cached response would otherwise keep alive whole.
pub(crate) fn own_values(headers: &mut HeaderMap) {
    for value in headers.values_mut() {
        if let Ok(own) = http::HeaderValue::from_bytes(value.as_bytes()) {
            let sensitive = value.is_sensitive();
            *value = own;
            value.set_sensitive(sensitive);
        }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_response_keeps_no_slice_of_the_buffer_it_was_read_from() {
        let read = Bytes::from(vec![b'x'; 8192]);
        let range = read.as_ptr() as usize..read.as_ptr() as usize + read.len();
        let mut headers = HeaderMap::new();
        headers.insert(
            "etag",
            http::HeaderValue::from_maybe_shared(read.slice(10..20)).unwrap(),
        );
        let mut secret = http::HeaderValue::from_maybe_shared(read.slice(30..40)).unwrap();
        secret.set_sensitive(true);
        headers.insert("set-cookie", secret);
        own_values(&mut headers);
        let stored = CachedResponse::new(StatusCode::OK, headers, Bytes::new(), SystemTime::now(), 60, 0);
        for value in stored.headers.values() {
            assert!(!range.contains(&(value.as_bytes().as_ptr() as usize)));
            assert_eq!(value.as_bytes(), &[b'x'; 10]);
        }
        assert!(stored.headers["set-cookie"].is_sensitive());
    }

    #[test]
    fn a_clock_stepped_back_never_makes_a_response_younger() {
        let stored_at = SystemTime::now() - Duration::from_secs(120);
        let stored = CachedResponse::new(StatusCode::OK, HeaderMap::new(), Bytes::new(), stored_at, 60, 0);
        assert_eq!(stored.age(stored_at + Duration::from_secs(120)), 120);
        let stepped_back = stored_at - Duration::from_secs(3600);
        assert!(stored.age(stepped_back) >= 120, "the monotonic clock's age");
        assert!(
            !stored.is_fresh(stepped_back),
            "stale after its 60 s, whatever the wall clock says"
        );
    }
}
