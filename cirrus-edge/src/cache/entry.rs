//! A stored response: status, headers and body (as `Bytes`, so a HIT clones
//! a pointer), with what freshness and purges need.

use crate::head::{Fields, Known};
use bytes::Bytes;
use http::{HeaderName, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A response in the cache.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CachedResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers as received from the origin (hop-by-hop ones removed).
    pub headers: Fields,
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
        headers: Fields,
        body: Bytes,
        stored_at: SystemTime,
        ttl: u64,
        initial_age: u64,
    ) -> Self {
        let vary = headers
            .get_list(Known::Vary)
            .filter(|n| HeaderName::from_bytes(n).is_ok())
            .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
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
        let headers = self.headers.text_len() + self.headers.len() * 32;
        (self.body.len() + headers + 256) as u64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_response_keeps_no_slice_of_the_buffer_it_was_read_from() {
        let mut read =
            bytes::BytesMut::from(&b"HTTP/1.1 200 OK\r\netag: \"xxxxxxxx\"\r\nx-own: yyyyyyyyyy\r\n\r\n"[..]);
        read.extend_from_slice(&[b'z'; 8192]);
        let range = read.as_ptr() as usize..read.as_ptr() as usize + read.len();
        let head = crate::head::ResponseHead::parse(&mut read).unwrap().unwrap();
        let stored = CachedResponse::new(
            StatusCode::OK,
            head.fields.detached(),
            Bytes::new(),
            SystemTime::now(),
            60,
            0,
        );
        for (name, value) in stored.headers.iter() {
            assert!(!range.contains(&(name.as_ptr() as usize)));
            assert!(!range.contains(&(value.as_ptr() as usize)));
        }
        assert_eq!(stored.headers.get("x-own"), Some(&b"yyyyyyyyyy"[..]));
        assert_eq!(stored.headers.get(Known::Etag), Some(&b"\"xxxxxxxx\""[..]));
    }

    #[test]
    fn a_clock_stepped_back_never_makes_a_response_younger() {
        let stored_at = SystemTime::now() - Duration::from_secs(120);
        let stored = CachedResponse::new(StatusCode::OK, Fields::new(), Bytes::new(), stored_at, 60, 0);
        assert_eq!(stored.age(stored_at + Duration::from_secs(120)), 120);
        let stepped_back = stored_at - Duration::from_secs(3600);
        assert!(stored.age(stepped_back) >= 120, "the monotonic clock's age");
        assert!(
            !stored.is_fresh(stepped_back),
            "stale after its 60 s, whatever the wall clock says"
        );
    }
}
