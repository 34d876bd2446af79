//! Whether a response may be stored and for how long: RFC 9111 for a shared
//! cache, the domain's rules on top, and guards against cache poisoning
//! (CPDoS) and web cache deception.

use super::control::ResponseDirectives;
use crate::head::{Fields, Known};
use cirrus_core::model::{CachePolicy, CacheRule, MAX_TTL_SECS};
use http::{Method, StatusCode};
use std::time::SystemTime;

/// What the cache does with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storability {
    /// Store it: fresh for `ttl` seconds counted from an age of `age`
    /// seconds; when `revalidate`, it must be revalidated with the origin
    /// before a stale (or, with `no-cache`, any) use.
    Store {
        /// Freshness lifetime in seconds.
        ttl: u64,
        /// Age in seconds the response already had (`Age` header).
        age: u64,
        /// Revalidate before serving it stale; with `ttl == 0`, before every use.
        revalidate: bool,
    },
    /// Do not store it, and why.
    DoNotStore(NotStored),
}

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotStored {
    /// The domain's cache is disabled.
    Disabled,
    /// A bypass rule matches the path.
    Bypass,
    /// Only GET (and HEAD, answered from GET entries) is cached.
    Method,
    /// The status is not stored (206, 304, 1xx), or an error status came
    /// without explicit freshness.
    Status,
    /// `Cache-Control: no-store`.
    NoStore,
    /// `Cache-Control: private`.
    Private,
    /// The request carried `Authorization` and the response did not allow
    /// shared caching (`public`, `s-maxage`, `must-revalidate`).
    Authorization,
    /// The response sets a cookie.
    SetCookie,
    /// `Vary: *`.
    VaryAll,
    /// `no-cache` without a validator to revalidate with.
    NoCacheWithoutValidator,
    /// No freshness information, no rule TTL and no domain default TTL.
    NoFreshness,
}

impl Storability {
    /// Decides whether the response of `exchange` is stored under `policy`
    /// at `now`; the rules are in docs/cache.md.
    pub fn of(policy: &CachePolicy, exchange: &Exchange<'_>, now: SystemTime) -> Self {
        storability(policy, exchange, now)
    }
}

/// The first rule matching `path`, if any.
pub(crate) fn matching_rule<'a>(policy: &'a CachePolicy, path: &str) -> Option<&'a CacheRule> {
    policy.rules.iter().find(|r| r.matcher.matches(path))
}

/// True when requests for `path` skip the cache altogether.
pub(crate) fn bypasses(policy: &CachePolicy, path: &str) -> bool {
    !policy.enabled || matching_rule(policy, path).is_some_and(|r| r.bypass)
}

/// The facts about an exchange that decide whether its response is stored.
/// Not `#[non_exhaustive]`: it is written as a struct literal, and a new
/// fact would change what every caller must supply anyway.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request path (without the query string).
    pub path: &'a str,
    /// Request headers.
    pub request: &'a Fields,
    /// Response status.
    pub status: StatusCode,
    /// Response headers.
    pub response: &'a Fields,
}

/// Decides whether the response of `exchange` is stored under `policy`
/// (public as [`Storability::of`]).
///
/// A response is cached because of its own headers or an explicit rule,
/// never because of what its URL looks like. The edge reads the domain's
/// own targeted field, else `CDN-Cache-Control`, else `Cache-Control`
/// (RFC 9213). A response with explicit freshness (a rule's TTL,
/// `s-maxage`, `max-age`, `Expires`) is stored whatever its final status
/// (RFC 9111 §3), except 206 and 304, which are not whole responses; the
/// domain's `default_ttl` applies only to 200, 203, 204, 300, 301 and 308,
/// so no status is ever stored for its own sake (no cached error pages by
/// default, CPDoS). Privacy always wins: `no-store`, `private` and
/// `Set-Cookie` are never overridden by a rule.
pub(crate) fn storability(policy: &CachePolicy, x: &Exchange<'_>, now: SystemTime) -> Storability {
    use Storability::DoNotStore;
    if !policy.enabled {
        return DoNotStore(NotStored::Disabled);
    }
    let rule = matching_rule(policy, x.path);
    if rule.is_some_and(|r| r.bypass) {
        return DoNotStore(NotStored::Bypass);
    }
    if *x.method != Method::GET {
        return DoNotStore(NotStored::Method);
    }
    let (cc, targeted) = ResponseDirectives::for_edge(x.response, policy.targeted_field.as_deref());
    if cc.no_store {
        return DoNotStore(NotStored::NoStore);
    }
    if cc.private {
        return DoNotStore(NotStored::Private);
    }
    if x.response.contains(Known::SetCookie) {
        return DoNotStore(NotStored::SetCookie);
    }
    if x.request.contains(Known::Authorization) && !(cc.public || cc.s_maxage.is_some() || cc.must_revalidate) {
        return DoNotStore(NotStored::Authorization);
    }
    if vary_all(x.response) {
        return DoNotStore(NotStored::VaryAll);
    }
    let rule_ttl = rule.and_then(|r| r.ttl);
    let expires = || if targeted { None } else { expires_ttl(x.response, now) };
    let explicit = rule_ttl.or(cc.s_maxage).or(cc.max_age).or_else(expires);
    let ttl = match x.status.as_u16() {
        100..=199 | 206 | 304 => return DoNotStore(NotStored::Status),
        200 | 203 | 204 | 300 | 301 | 308 => explicit.or(policy.default_ttl),
        _ => explicit,
    };
    let Some(ttl) = ttl else {
        return DoNotStore(if x.status.as_u16() >= 400 {
            NotStored::Status
        } else {
            NotStored::NoFreshness
        });
    };
    let has_validator = x.response.contains(Known::Etag) || x.response.contains(Known::LastModified);
    if cc.no_cache && !has_validator {
        return DoNotStore(NotStored::NoCacheWithoutValidator);
    }
    Storability::Store {
        ttl: if cc.no_cache && rule_ttl.is_none() {
            0
        } else {
            ttl.min(MAX_TTL_SECS)
        },
        age: super::age::received(x.response).unwrap_or(0),
        revalidate: cc.no_cache || cc.must_revalidate,
    }
}

/// `Expires` minus `Date` (or now); an unparsable `Expires` means already
/// expired (RFC 9111 §5.3).
fn expires_ttl(headers: &Fields, now: SystemTime) -> Option<u64> {
    headers.get(Known::Expires)?;
    let Some(expires) = headers
        .get_str(Known::Expires)
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return Some(0);
    };
    let date = headers
        .get_str(Known::Date)
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .unwrap_or(now);
    Some(expires.duration_since(date).map_or(0, |d| d.as_secs()))
}

fn vary_all(headers: &Fields) -> bool {
    headers.get_list(Known::Vary).any(|name| name == b"*")
}

#[cfg(test)]
mod tests;
