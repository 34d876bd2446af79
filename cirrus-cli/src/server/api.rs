//! `cirrus api`: the control plane.

use super::{BoxError, bind, shutdown_on_signal};
use crate::duration::parse_duration;
use cirrus_core::Store;
use cirrus_core::lifecycle::Shutdown;
use clap::Args;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `cirrus api`; each also reads the environment variable shown.
#[derive(Debug, Args)]
pub(crate) struct ApiArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is logged).
    #[arg(long, env = "CIRRUS_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// The store: `redis://[user:password@]host:port[/db]`, `rediss://…` (TLS), `redis+unix://…`, `redis+sentinel://host:port,…/master`, or the embedded store's directory (a path, or `file:PATH` / `embedded:PATH` with settings such as `?cache=8MiB&purge_records=1000`, docs/operations.md#the-embedded-stores-memory); any other `scheme://` is refused.
    #[arg(long, env = "CIRRUS_STORE", default_value = "./cirrus-data", value_parser = super::store_location)]
    store: String,
    /// The master token (at least 16 characters). Unset: one is generated
    /// on first start, printed once, and kept (hashed) in the store.
    #[arg(long, env = "CIRRUS_MASTER_TOKEN", hide_env_values = true)]
    master_token: Option<String>,
    /// Replace the generated master token with a new one, printed once.
    #[arg(long)]
    rotate_master_token: bool,
    /// Portal user created at start when missing (needs --admin-password).
    #[arg(long, env = "CIRRUS_ADMIN_USER")]
    admin_user: Option<String>,
    /// Password of --admin-user (at least 12 characters).
    #[arg(long, env = "CIRRUS_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, env = "CIRRUS_BODY_LIMIT", default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// Requests per second allowed per token, session or client address (0: no limit).
    #[arg(long, env = "CIRRUS_RATE_LIMIT", default_value_t = 50.0)]
    rate_limit: f64,
    /// Burst allowed above --rate-limit.
    #[arg(long, env = "CIRRUS_RATE_BURST", default_value_t = 200)]
    rate_burst: u32,
    /// Portal login attempts per second allowed per client address (0: no limit).
    #[arg(long, env = "CIRRUS_LOGIN_RATE_LIMIT", default_value_t = 0.5)]
    login_rate_limit: f64,
    /// Portal login attempts per second allowed per user name, from any address (0: no limit).
    #[arg(long, env = "CIRRUS_LOGIN_USER_RATE_LIMIT", default_value_t = 0.2)]
    login_user_rate_limit: f64,
    /// Burst of login attempts allowed above either login limit.
    #[arg(long, env = "CIRRUS_LOGIN_BURST", default_value_t = 10)]
    login_burst: u32,
    /// Password checks run at once (each holds ~19 MiB while it runs); more concurrent logins get 429.
    #[arg(long, env = "CIRRUS_LOGIN_CHECKS", default_value_t = 2)]
    login_checks: usize,
    /// Portal session lifetime (`12h`).
    #[arg(long, env = "CIRRUS_SESSION_TTL", default_value = "12h", value_parser = parse_duration)]
    session_ttl: Duration,
    /// The CDN's zone, under which each domain gets its CNAME target: with
    /// it, domains show the CNAMEs their owners set and
    /// `/api/v1/domains/{d}/status` checks them.
    #[arg(long, env = "CNAME_BASE_DOMAIN")]
    zone: Option<String>,
    /// DNS resolver (`ip:port`) asked whether customers' CNAMEs are in
    /// place. Default: the first nameserver of /etc/resolv.conf.
    #[arg(long, env = "CIRRUS_RESOLVER")]
    resolver: Option<SocketAddr>,
    /// Send the session cookie without `Secure` (portal over plain HTTP on a trusted network only).
    #[arg(long, env = "CIRRUS_INSECURE_COOKIES")]
    insecure_cookies: bool,
    /// Accept webhook URLs on private, loopback and link-local addresses
    /// (refused by default, against server-side request forgery).
    #[arg(long, env = "CIRRUS_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
}

impl ApiArgs {
    /// The portal user created at start, if one is configured.
    pub(crate) fn admin_user(&self) -> Option<&str> {
        self.admin_user.as_deref()
    }
}

pub(crate) async fn run(args: ApiArgs) -> Result<(), BoxError> {
    let store = cirrus_core::open_store(&args.store)?;
    let mut api = prepare(args, store).await?;
    if let Some(secret) = api.new_token() {
        let line = format!("Master token (shown once; store it safely): {secret}");
        show(&line)?;
    }
    api.keep_token().await?;
    api.run(&shutdown_on_signal()).await
}

/// Writes `text` and a newline to stdout, flushed: a secret is kept only
/// once this succeeded.
pub(crate) fn show(text: &str) -> Result<(), BoxError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot print the master token ({e}); it was not kept").into())
}

/// An API ready to serve: built and its listener bound. A master token
/// generated by this start is kept only after it was shown
/// ([`PreparedApi::keep_token`]), so a start that fails before (another
/// role's port in use) leaves no token nobody has seen.
pub(crate) struct PreparedApi {
    api: cirrus_api::Api,
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    new_token: Option<cirrus_api::NewMasterToken>,
}

pub(crate) async fn prepare(args: ApiArgs, store: Arc<dyn Store>) -> Result<PreparedApi, BoxError> {
    prepare_with(args, store, None).await
}

/// [`prepare`], refusing certificate requests with `refuse_issuance` when
/// no worker can run them (`cirrus up` without an ACME directory).
pub(crate) async fn prepare_with(
    args: ApiArgs,
    store: Arc<dyn Store>,
    refuse_issuance: Option<String>,
) -> Result<PreparedApi, BoxError> {
    if args.master_token.is_some() && args.rotate_master_token {
        return Err("--rotate-master-token applies to the generated token; unset --master-token".into());
    }
    // Checked here rather than with clap's `requires`, which the settings
    // file's values (defaults of a cloned subcommand under `cirrus up`)
    // cannot satisfy.
    if args.admin_user.is_some() != args.admin_password.is_some() {
        return Err("--admin-user and --admin-password (api.admin_user, api.admin_password) go together".into());
    }
    if let (Some(user), Some(password)) = (&args.admin_user, &args.admin_password)
        && cirrus_api::bootstrap_user(&*store, user, password).await?
    {
        tracing::info!(user = %user, "created portal user");
    }
    let mut builder = cirrus_api::Api::builder(store.clone())
        .body_limit(args.body_limit)
        .session_ttl(args.session_ttl)
        .secure_cookies(!args.insecure_cookies)
        .webhook_allow_private(args.webhook_allow_private)
        .rate_limit((args.rate_limit > 0.0).then(|| cirrus_api::RateLimit::new(args.rate_limit, args.rate_burst)))
        .login_limits(cirrus_api::LoginLimits::new(
            args.login_checks,
            (args.login_rate_limit > 0.0).then(|| cirrus_api::RateLimit::new(args.login_rate_limit, args.login_burst)),
            (args.login_user_rate_limit > 0.0)
                .then(|| cirrus_api::RateLimit::new(args.login_user_rate_limit, args.login_burst)),
        ));
    let configured_token = args.master_token.is_some();
    if let Some(token) = args.master_token {
        builder = builder.master_token(token);
    }
    if let Some(zone) = args.zone {
        builder = builder.zone(zone);
    }
    if let Some(resolver) = args.resolver {
        builder = builder.resolver(resolver);
    }
    if let Some(reason) = refuse_issuance {
        builder = builder.refuse_issuance(reason);
    }
    let api = builder.build()?;
    let (listener, _) = bind(args.listen, "api").await?;
    let new_token = if configured_token {
        None
    } else {
        cirrus_api::new_master_token(&*store, args.rotate_master_token).await?
    };
    Ok(PreparedApi {
        api,
        listener,
        store,
        new_token,
    })
}

impl PreparedApi {
    /// The bound address.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The master token this start generated, to show once before
    /// [`PreparedApi::keep_token`].
    pub(crate) fn new_token(&self) -> Option<&str> {
        self.new_token.as_ref().map(|t| t.secret())
    }

    /// Stores the generated master token's hash; call once it was shown.
    pub(crate) async fn keep_token(&mut self) -> Result<(), BoxError> {
        if let Some(token) = self.new_token.take() {
            token.save(&*self.store).await?;
        }
        Ok(())
    }

    /// Serves until `shutdown`, then finishes the requests in flight.
    pub(crate) async fn run(self, shutdown: &Shutdown) -> Result<(), BoxError> {
        tracing::info!("cirrus api listening on http://{}", self.listener.local_addr()?);
        self.api.run(self.listener, shutdown).await?;
        tracing::info!("cirrus api stopped");
        Ok(())
    }
}
