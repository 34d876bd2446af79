//! A token bucket per caller key, kept in process. The lock is never held
//! across an await.

use crate::config::RateLimit;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle (full) ones are dropped.
const PRUNE_AT: usize = 10_000;

#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket, or says how many whole
    /// seconds to wait before the next one is allowed.
    pub(crate) fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.limit.per_second.max(f64::MIN_POSITIVE);
        // A poisoned lock only means another request panicked mid-update;
        // the map of plain numbers is still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(key) {
            let level = |b: &Bucket| b.tokens + now.duration_since(b.at).as_secs_f64() * rate;
            buckets.retain(|_, b| level(b) < burst);
            // Still full of live buckets (a flood of distinct keys): drop the
            // fullest half, the callers furthest from their limit, so the
            // map stays bounded and the next prune is thousands of keys away
            // (a prune at every new key would cost each request a scan).
            if buckets.len() >= PRUNE_AT / 2 {
                let mut levels: Vec<f64> = buckets.values().map(level).collect();
                let mid = levels.len() / 2;
                levels.select_nth_unstable_by(mid, f64::total_cmp);
                let cut = levels[mid];
                buckets.retain(|_, b| level(b) < cut);
            }
        }
        let bucket = buckets
            .entry(key.to_string())
            .or_insert(Bucket { tokens: burst, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate;
            // Saturating float-to-int cast; at least one second.
            Err((wait.ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_flood_of_distinct_keys_keeps_the_map_bounded() {
        let l = Limiter::new(RateLimit::new(0.001, 2));
        let t0 = Instant::now();
        // Every key spends a token, so no bucket is full and none is
        // pruned as idle.
        for i in 0..(PRUNE_AT * 3) {
            let _ = l.check_at(&format!("k{i}"), t0);
        }
        let len = l.buckets.lock().expect("lock").len();
        assert!(len <= PRUNE_AT, "{len} buckets");
    }

    #[test]
    fn burst_then_refill() {
        let l = Limiter::new(RateLimit::new(2.0, 3));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check_at("a", t0), Ok(()));
        }
        assert_eq!(l.check_at("a", t0), Err(1));
        assert_eq!(l.check_at("b", t0), Ok(()), "keys are independent");
        assert_eq!(l.check_at("a", t0 + Duration::from_millis(500)), Ok(()));
        assert!(l.check_at("a", t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn slow_rates_ask_for_longer_waits() {
        let l = Limiter::new(RateLimit::new(0.1, 1));
        let t0 = Instant::now();
        assert_eq!(l.check_at("a", t0), Ok(()));
        assert_eq!(l.check_at("a", t0), Err(10));
    }
}
