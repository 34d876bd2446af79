//! When a stored response may be served stale (RFC 5861, within the
//! limits of RFC 9111 §4.2.4): for `stale-while-revalidate` seconds past
//! its freshness while it is refreshed in the background, and for
//! `stale-if-error` seconds when the origin fails; each from the
//! response's own directive, else the domain's default. Never when the
//! response said `must-revalidate`, `proxy-revalidate`, `no-cache` or
//! `s-maxage` (which implies `proxy-revalidate` for a shared cache).

use super::control::ResponseDirectives;
use super::entry::CachedResponse;
use cirrus_core::model::CachePolicy;
use std::time::SystemTime;

/// What a stale response would be served for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaleUse {
    /// At once, while a background request refreshes it.
    WhileRevalidate,
    /// Because the origin failed.
    IfError,
}

/// Whether `entry` may be served stale for `why` at `now`.
pub(crate) fn may_serve(entry: &CachedResponse, policy: &CachePolicy, why: StaleUse, now: SystemTime) -> bool {
    if entry.revalidate {
        return false;
    }
    let (cc, _) = ResponseDirectives::for_edge(&entry.headers, policy.targeted_field.as_deref());
    if cc.must_revalidate || cc.no_cache || cc.s_maxage.is_some() {
        return false;
    }
    let window = match why {
        StaleUse::WhileRevalidate => cc.stale_while_revalidate.or(policy.stale_while_revalidate),
        StaleUse::IfError => cc.stale_if_error.or(policy.stale_if_error),
    };
    window.is_some_and(|w| entry.age(now) < entry.lifetime().saturating_add(w))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::StatusCode;
    use std::time::Duration;

    fn entry(cache_control: &str, ttl: u64, stored_secs_ago: u64) -> CachedResponse {
        let headers = crate::head::fields(&[("cache-control", cache_control)]);
        let stored = SystemTime::now() - Duration::from_secs(stored_secs_ago);
        CachedResponse::new(StatusCode::OK, headers, bytes::Bytes::new(), stored, ttl, 0)
    }

    #[test]
    fn windows_come_from_the_response_else_the_domain() {
        let none = CachePolicy::default();
        let now = SystemTime::now();
        let e = entry("max-age=10, stale-while-revalidate=30, stale-if-error=100", 10, 20);
        assert!(may_serve(&e, &none, StaleUse::WhileRevalidate, now));
        assert!(may_serve(&e, &none, StaleUse::IfError, now));
        let late = entry("max-age=10, stale-while-revalidate=30", 10, 50);
        assert!(
            !may_serve(&late, &none, StaleUse::WhileRevalidate, now),
            "past its window"
        );
        let plain = entry("max-age=10", 10, 20);
        assert!(!may_serve(&plain, &none, StaleUse::IfError, now));
        let defaults = CachePolicy {
            stale_if_error: Some(60),
            ..CachePolicy::default()
        };
        assert!(may_serve(&plain, &defaults, StaleUse::IfError, now));
        assert!(!may_serve(&plain, &defaults, StaleUse::WhileRevalidate, now));
    }

    #[test]
    fn revalidation_directives_forbid_stale() {
        let generous = CachePolicy {
            stale_while_revalidate: Some(600),
            stale_if_error: Some(600),
            ..CachePolicy::default()
        };
        let now = SystemTime::now();
        for cc in [
            "max-age=10, must-revalidate, stale-if-error=600",
            "max-age=10, proxy-revalidate",
            "max-age=10, s-maxage=10",
            "max-age=10, no-cache",
        ] {
            let e = entry(cc, 10, 20);
            assert!(!may_serve(&e, &generous, StaleUse::IfError, now), "{cc}");
            assert!(!may_serve(&e, &generous, StaleUse::WhileRevalidate, now), "{cc}");
        }
    }
}
