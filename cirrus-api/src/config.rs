//! Typed configuration of the API, filled by the binary (flags, env) or by
//! an embedder. No I/O here.

use std::time::Duration;

/// Per-caller request rate limit (token bucket): `per_second` requests on
/// average, bursts up to `burst`. Callers are keyed by token, session or,
/// when unauthenticated, by client IP address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` requests per second with bursts of `burst`.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst }
    }
}

impl Default for RateLimit {
    /// 50 requests per second, bursts of 200.
    fn default() -> Self {
        Self::new(50.0, 200)
    }
}

/// Bounds on `POST /api/v1/auth/login`, the one unauthenticated call that
/// costs real work (an Argon2 check: ~19 MiB and ~50 ms of a core). Over
/// any of them the answer is 429 with `Retry-After`. See
/// [`ApiBuilder::login_limits`](crate::ApiBuilder::login_limits).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LoginLimits {
    /// Password checks running at once (at least 1); each holds one
    /// reused work area of the hash's memory cost.
    pub concurrent_checks: usize,
    /// Attempts per client address; `None`: unlimited.
    pub per_address: Option<RateLimit>,
    /// Attempts per user name, whatever the address; `None`: unlimited.
    pub per_user: Option<RateLimit>,
}

impl LoginLimits {
    /// `concurrent_checks` at once, with the given per-address and
    /// per-user-name limits.
    pub fn new(concurrent_checks: usize, per_address: Option<RateLimit>, per_user: Option<RateLimit>) -> Self {
        Self {
            concurrent_checks,
            per_address,
            per_user,
        }
    }
}

impl Default for LoginLimits {
    /// Two password checks at once (38 MiB of work memory at most); per
    /// source address bursts of 10 then one attempt every 2 s; per user
    /// name bursts of 10 then one every 5 s.
    fn default() -> Self {
        Self {
            concurrent_checks: 2,
            per_address: Some(RateLimit::new(0.5, 10)),
            per_user: Some(RateLimit::new(0.2, 10)),
        }
    }
}

/// Settings of the control plane. Build with [`crate::Api::builder`].
#[derive(Clone)]
pub(crate) struct ApiConfig {
    pub(crate) master_token: Option<String>,
    pub(crate) body_limit: usize,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) login: LoginLimits,
    pub(crate) session_ttl: Duration,
    pub(crate) secure_cookies: bool,
    pub(crate) max_page: usize,
    pub(crate) purge_deadline: Duration,
    pub(crate) event_streams: usize,
    /// Webhook URLs may reach private, loopback and link-local addresses.
    pub(crate) webhook_allow_private: bool,
    /// The onboarding sweep: every, and domains each time (none: off).
    pub(crate) onboarding_sweep: Option<(Duration, usize)>,
    /// The CDN's zone (`CNAME_BASE_DOMAIN`): where domains point their CNAME.
    pub(crate) zone: Option<String>,
    /// The resolver asked whether a customer's CNAMEs are in place.
    pub(crate) resolver: std::net::SocketAddr,
    /// Why certificate requests are refused (no CA configured), if they are.
    pub(crate) issuance_refused: Option<String>,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("master_token", &self.master_token.as_ref().map(|_| "<redacted>"))
            .field("body_limit", &self.body_limit)
            .field("rate_limit", &self.rate_limit)
            .field("login", &self.login)
            .field("session_ttl", &self.session_ttl)
            .field("secure_cookies", &self.secure_cookies)
            .field("max_page", &self.max_page)
            .field("purge_deadline", &self.purge_deadline)
            .field("event_streams", &self.event_streams)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("onboarding_sweep", &self.onboarding_sweep)
            .field("zone", &self.zone)
            .field("resolver", &self.resolver)
            .field("issuance_refused", &self.issuance_refused)
            .finish()
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            master_token: None,
            body_limit: 1024 * 1024,
            rate_limit: Some(RateLimit::default()),
            login: LoginLimits::default(),
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: true,
            max_page: 1000,
            purge_deadline: Duration::from_secs(60),
            event_streams: 256,
            webhook_allow_private: false,
            onboarding_sweep: Some((Duration::from_secs(10), 20)),
            zone: None,
            resolver: cirrus_core::resolve::system_resolver(),
            issuance_refused: None,
        }
    }
}
