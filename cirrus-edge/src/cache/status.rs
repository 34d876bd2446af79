//! How a response relates to the cache, as `X-Cache`, RFC 9211
//! `Cache-Status` and the `status` label of `nginx_cache_status_total`.

/// How the cache took part in answering a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Served from the cache, fresh.
    Hit,
    /// Nothing stored: the origin answered.
    Miss,
    /// A stale response was stored; the origin sent a new one.
    Expired,
    /// A stale response was stored and the origin confirmed it (304).
    Revalidated,
    /// The request skips the cache (method, bypass rule, disabled cache).
    Bypass,
    /// Served stale because the origin failed (`stale-if-error`).
    Stale,
    /// Served stale while it is refreshed in the background
    /// (`stale-while-revalidate`).
    Updating,
}

impl CacheStatus {
    /// The `X-Cache` value, also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Expired => "EXPIRED",
            CacheStatus::Revalidated => "REVALIDATED",
            CacheStatus::Bypass => "BYPASS",
            CacheStatus::Stale => "STALE",
            CacheStatus::Updating => "UPDATING",
        }
    }
}

/// A cache status and whether the answer was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheOutcome {
    pub(crate) status: CacheStatus,
    pub(crate) stored: bool,
}

impl CacheOutcome {
    pub(crate) const HIT: Self = Self::of(CacheStatus::Hit, false);
    pub(crate) const BYPASS: Self = Self::of(CacheStatus::Bypass, false);
    pub(crate) const STALE: Self = Self::of(CacheStatus::Stale, false);
    pub(crate) const UPDATING: Self = Self::of(CacheStatus::Updating, false);

    pub(crate) const fn of(status: CacheStatus, stored: bool) -> Self {
        Self { status, stored }
    }

    /// RFC 9211 `Cache-Status`.
    pub(crate) fn cache_status(self) -> &'static str {
        match (self.status, self.stored) {
            (CacheStatus::Hit, _) => "cirrus; hit",
            (CacheStatus::Miss, true) => "cirrus; fwd=miss; stored",
            (CacheStatus::Miss, false) => "cirrus; fwd=miss",
            (CacheStatus::Expired, true) => "cirrus; fwd=stale; stored",
            (CacheStatus::Expired, false) => "cirrus; fwd=stale",
            (CacheStatus::Revalidated, _) => "cirrus; fwd=stale; fwd-status=304; stored",
            (CacheStatus::Bypass, _) => "cirrus; fwd=bypass",
            (CacheStatus::Stale, _) => "cirrus; hit; fwd=stale; detail=stale-if-error",
            (CacheStatus::Updating, _) => "cirrus; hit; detail=stale-while-revalidate",
        }
    }
}
