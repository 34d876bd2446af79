//! Building and serving the API, and the one-time setup an operator needs:
//! the master token and the first portal user.

use crate::auth::MASTER_TOKEN_ID;
use crate::config::{ApiConfig, LoginLimits, RateLimit};
use crate::error::{Error, Result};
use crate::login::LoginGate;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use crate::state::{AppState, now_secs};
use cirrus_core::auth::{generate_token, hash_password, hash_secret};
use cirrus_core::lifecycle::Shutdown;
use cirrus_core::model::{Scope, ServiceToken, User};
use cirrus_core::{AccessStore, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The control plane, ready to serve. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Api {
    state: Arc<AppState>,
}

/// Settings of an [`Api`]; every setting has a production default.
#[derive(Debug)]
#[must_use]
pub struct ApiBuilder {
    store: Arc<dyn Store>,
    config: ApiConfig,
}

impl Api {
    /// Starts configuring an API over `store`.
    pub fn builder(store: Arc<dyn Store>) -> ApiBuilder {
        ApiBuilder {
            store,
            config: ApiConfig::default(),
        }
    }

    /// The router: mount it in a bigger app or serve it yourself (serve it
    /// with connect info, as [`Api::run`] does, so unauthenticated callers
    /// are rate-limited per address).
    pub fn router(&self) -> axum::Router {
        crate::routes::router(self.state.clone())
    }

    /// An observer to give the [`JobRunner`](cirrus_core::jobs::JobRunner)s
    /// of this process, so `/metrics` shows job durations by kind and
    /// outcome (`cirrus_job_duration_seconds`).
    pub fn job_observer(&self) -> Arc<dyn cirrus_core::jobs::JobObserver> {
        Arc::new(crate::metrics::JobMetrics(self.state.metrics.job_duration()))
    }

    /// Follows the purges this API publishes until `shutdown` completes,
    /// writing `purge.completed` or `purge.incomplete` for each
    /// ([`Api::run`] does it; an embedder that serves [`Api::router`]
    /// itself runs this beside it).
    pub async fn follow_purges(&self, shutdown: impl std::future::Future<Output = ()>) {
        crate::purge_watch::run(self.state.clone(), shutdown).await;
    }

    /// Runs the onboarding check of every domain, a few at a time
    /// ([`ApiBuilder::onboarding_sweep`]), until `shutdown` completes,
    /// writing `domain.ready` and `domain.not_ready` as domains change
    /// ([`Api::run`] does it; an embedder serving [`Api::router`] itself
    /// runs this beside it). Without a zone there is nothing to check.
    pub async fn watch_onboarding(&self, shutdown: impl std::future::Future<Output = ()>) {
        match self.state.config.onboarding_sweep {
            Some((every, batch)) => crate::readiness::sweep(self.state.clone(), every, batch, shutdown).await,
            None => shutdown.await,
        }
    }

    /// Serves on `listener` until `shutdown` triggers, then finishes the
    /// requests in flight (the same shape as every role's `run`); follows
    /// its purges ([`Api::follow_purges`]) and sweeps the onboarding
    /// checks ([`Api::watch_onboarding`]) meanwhile.
    pub async fn run(self, listener: tokio::net::TcpListener, shutdown: &Shutdown) -> Result<()> {
        let app = self.router().into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown.wait());
        let (served, (), ()) = tokio::join!(
            serve.into_future(),
            self.follow_purges(shutdown.wait()),
            self.watch_onboarding(shutdown.wait())
        );
        served?;
        Ok(())
    }
}

impl ApiBuilder {
    /// The master token: full access, and the only caller that manages
    /// service tokens. Without one, a token stored by
    /// [`ensure_master_token`] is the master token.
    pub fn master_token(mut self, secret: impl Into<String>) -> Self {
        self.config.master_token = Some(secret.into());
        self
    }

    /// Largest request body accepted, in bytes (default 1 MiB); larger → 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Per-caller rate limit (default [`RateLimit::default`]); `None` turns
    /// it off.
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.config.rate_limit = limit;
        self
    }

    /// Bounds on logins (default [`LoginLimits::default`]): password
    /// checks at once, and attempts per client address and per user name.
    pub fn login_limits(mut self, limits: LoginLimits) -> Self {
        self.config.login = limits;
        self
    }

    /// How long a purge may wait for its edges before `purge.incomplete`
    /// is written for it (default 60 s).
    pub fn purge_deadline(mut self, deadline: Duration) -> Self {
        self.config.purge_deadline = deadline;
        self
    }

    /// Live event streams (`GET /api/v1/events/stream`) held open at once
    /// (default 256); one more is refused with 503.
    pub fn event_streams(mut self, streams: usize) -> Self {
        self.config.event_streams = streams;
        self
    }

    /// The onboarding sweep: every `every` (default 10 s), check the next
    /// `batch` domains by name (default 20), going round, so transitions
    /// become `domain.ready` / `domain.not_ready` events without anyone
    /// asking (two resolver queries a domain: the default asks at most 4
    /// a second, and a round of 100,000 domains takes about 14 hours).
    /// `None` turns it off; checks asked for (`GET …/status`) still record.
    pub fn onboarding_sweep(mut self, sweep: Option<(Duration, usize)>) -> Self {
        self.config.onboarding_sweep = sweep.map(|(every, batch)| (every.max(Duration::from_millis(10)), batch.max(1)));
        self
    }

    /// Lets webhook URLs reach private, loopback and link-local addresses
    /// (default: refused with 422, against server-side request forgery).
    /// The worker has the same switch for delivery.
    pub fn webhook_allow_private(mut self, allow: bool) -> Self {
        self.config.webhook_allow_private = allow;
        self
    }

    /// How long a portal session lasts (default 12 hours).
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.config.session_ttl = ttl;
        self
    }

    /// Marks the session cookie `Secure` (default true). Turn off only when
    /// browsers reach the API over plain HTTP on a trusted network.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.config.secure_cookies = secure;
        self
    }

    /// Largest page of `GET /api/v1/domains` (default 1000).
    pub fn max_page(mut self, items: usize) -> Self {
        self.config.max_page = items;
        self
    }

    /// The CDN's zone (`CNAME_BASE_DOMAIN`, e.g. `cdn.example.net`): each
    /// domain's JSON then shows the CNAMEs its owner sets
    /// ([`DomainDns`](cirrus_core::model::DomainDns)), and
    /// `GET /api/v1/domains/{domain}/status` checks them. Without it
    /// neither is known and the status answers 503.
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.config.zone = Some(zone.into().trim_end_matches('.').to_ascii_lowercase());
        self
    }

    /// The DNS resolver the status check asks (default: the first
    /// `nameserver` of `/etc/resolv.conf`).
    pub fn resolver(mut self, resolver: SocketAddr) -> Self {
        self.config.resolver = resolver;
        self
    }

    /// Refuses certificate requests (`POST …/certificate`: 409
    /// `issuance_disabled` with `reason`), for a deployment with no ACME CA
    /// configured; uploads still work.
    pub fn refuse_issuance(mut self, reason: impl Into<String>) -> Self {
        self.config.issuance_refused = Some(reason.into());
        self
    }

    /// Checks the settings and builds the API.
    pub fn build(self) -> Result<Api> {
        let c = &self.config;
        if c.master_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(Error::Config("the master token must be at least 16 characters".into()));
        }
        if c.body_limit == 0 || c.max_page == 0 || c.session_ttl.is_zero() {
            return Err(Error::Config(
                "body limit, page size and session TTL must be positive".into(),
            ));
        }
        if let Some(rl) = c.rate_limit
            && (!rl.per_second.is_finite() || rl.per_second <= 0.0 || rl.burst == 0)
        {
            return Err(Error::Config("the rate limit must be positive".into()));
        }
        let login_rates = [c.login.per_address, c.login.per_user];
        if c.login.concurrent_checks == 0
            || login_rates
                .iter()
                .flatten()
                .any(|rl| !rl.per_second.is_finite() || rl.per_second <= 0.0 || rl.burst == 0)
        {
            return Err(Error::Config(
                "login limits must be positive (at least one password check at once)".into(),
            ));
        }
        if let Some(zone) = &c.zone
            && let Err(reason) = cirrus_core::model::normalize_domain(zone)
        {
            return Err(Error::Config(format!("zone {zone:?}: {reason}")));
        }
        let metrics = Metrics::new()?;
        Ok(Api {
            state: Arc::new(AppState {
                store: self.store,
                limiter: self.config.rate_limit.map(Limiter::new),
                login: LoginGate::new(&self.config.login),
                streams: Arc::new(tokio::sync::Semaphore::new(self.config.event_streams)),
                purges: crate::purge_watch::PurgeWatch::default(),
                config: self.config,
                metrics,
            }),
        })
    }
}

/// Makes sure a master token exists in the store for APIs configured
/// without one. Returns the secret when it was generated now (show it once;
/// only its hash is kept), `None` when one already existed. A process that
/// must show the secret before it is kept uses [`new_master_token`].
pub async fn ensure_master_token(store: &dyn AccessStore) -> Result<Option<String>> {
    match new_master_token(store, false).await? {
        Some(token) => token.save(store).await.map(Some),
        None => Ok(None),
    }
}

/// Replaces the stored master token (the old secret stops working at
/// once); returns the new secret.
pub async fn rotate_master_token(store: &dyn AccessStore) -> Result<String> {
    NewMasterToken::generate().save(store).await
}

/// A master token when the store has none (or a replacement, with
/// `rotate`), generated but not yet stored: show
/// [`secret`](NewMasterToken::secret), then [`save`](NewMasterToken::save)
/// it. Nothing is written here, so a start that fails before the secret
/// was shown (a port in use) leaves no token nobody has seen.
pub async fn new_master_token(store: &dyn AccessStore, rotate: bool) -> Result<Option<NewMasterToken>> {
    if !rotate && store.get_token(MASTER_TOKEN_ID).await?.is_some() {
        return Ok(None);
    }
    Ok(Some(NewMasterToken::generate()))
}

/// A generated master token not stored yet (see [`new_master_token`]).
/// Its `Debug` output hides the secret.
pub struct NewMasterToken {
    secret: String,
}

impl std::fmt::Debug for NewMasterToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewMasterToken { .. }")
    }
}

impl NewMasterToken {
    fn generate() -> Self {
        Self {
            secret: generate_token().secret,
        }
    }

    /// The secret to show once.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Stores the token's hash, replacing any master token (the old secret
    /// stops working at once); returns the secret.
    pub async fn save(self, store: &dyn AccessStore) -> Result<String> {
        let token = ServiceToken {
            id: MASTER_TOKEN_ID.into(),
            name: "master".into(),
            scopes: Scope::ALL.to_vec(),
            domains: None,
            created_at: now_secs(),
            expires_at: None,
        };
        if store.get_token(MASTER_TOKEN_ID).await?.is_some() {
            store.delete_token(MASTER_TOKEN_ID).await?;
        }
        store.put_token(&token, &hash_secret(&self.secret)).await?;
        Ok(self.secret)
    }
}

/// Creates the portal user `name` with `password` unless it exists (an
/// existing user keeps its password). Returns true when created.
pub async fn bootstrap_user(store: &dyn AccessStore, name: &str, password: &str) -> Result<bool> {
    let valid_name =
        (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if !valid_name {
        return Err(Error::Config(format!(
            "user name {name:?} must be 1-64 characters of a-z, A-Z, 0-9, '.', '_', '@', '-'"
        )));
    }
    if password.len() < 12 {
        return Err(Error::Config(
            "the bootstrap password must be at least 12 characters".into(),
        ));
    }
    if store.get_user(name).await?.is_some() {
        return Ok(false);
    }
    let hash = hash_password(password)?;
    store.put_user(&User::new(name, hash, now_secs())).await?;
    Ok(true)
}

/// The OpenAPI document served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    crate::routes::ApiDoc::openapi()
}
