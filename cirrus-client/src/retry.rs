//! When and how long to wait before trying a call again.

use std::time::Duration;

/// Exponential backoff with full jitter, on 429 (any method) and on 502,
/// 503, 504 or a broken connection (idempotent methods only). A server's
/// `Retry-After` is honored when it is not longer than `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 turns retrying off).
    pub max_retries: u32,
    /// Upper bound of the first wait; doubles per retry.
    pub base_delay: Duration,
    /// Longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 3 retries, 200 ms doubling, at most 10 s apart.
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0-based), or `None` to give up.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        if let Some(after) = retry_after {
            return (after <= self.max_delay).then_some(after);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        Some(ceiling.mul_f64(jitter.clamp(0.0, 1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_jittered_and_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, None, 1.0), Some(Duration::from_millis(200)));
        assert_eq!(p.delay(2, None, 1.0), Some(Duration::from_millis(800)));
        assert_eq!(p.delay(2, None, 0.5), Some(Duration::from_millis(400)));
        assert_eq!(p.delay(3, None, 1.0), None, "three retries at most");
        let long = RetryPolicy { max_retries: 20, ..p };
        assert_eq!(long.delay(15, None, 1.0), Some(Duration::from_secs(10)));
    }

    #[test]
    fn retry_after_is_honored_within_bounds() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2)), 0.1),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(60)), 0.1), None);
    }
}
