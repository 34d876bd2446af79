//! `cirrus api`: the control plane.

use super::{BoxError, shutdown};
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

/// Flags of `cirrus api`; each also reads the environment variable shown.
#[derive(Debug, Args)]
pub(crate) struct ApiArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is logged).
    #[arg(long, env = "CIRRUS_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// The store: `redis://host:port[/db]` for Redis, or a directory for the embedded store.
    #[arg(long, env = "CIRRUS_STORE", default_value = "./cirrus-data")]
    store: String,
    /// The master token (at least 16 characters). Unset: one is generated
    /// on first start, printed once, and kept (hashed) in the store.
    #[arg(long, env = "CIRRUS_MASTER_TOKEN", hide_env_values = true)]
    master_token: Option<String>,
    /// Replace the generated master token with a new one, printed once.
    #[arg(long)]
    rotate_master_token: bool,
    /// Portal user created at start when missing (needs --admin-password).
    #[arg(long, env = "CIRRUS_ADMIN_USER", requires = "admin_password")]
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
    /// Portal session lifetime in seconds.
    #[arg(long, env = "CIRRUS_SESSION_TTL", default_value_t = 12 * 3600)]
    session_ttl: u64,
    /// Send the session cookie without `Secure` (portal over plain HTTP on a trusted network only).
    #[arg(long, env = "CIRRUS_INSECURE_COOKIES")]
    insecure_cookies: bool,
}

pub(crate) async fn run(args: ApiArgs) -> Result<(), BoxError> {
    let store = cirrus_core::open_store(&args.store)?;
    if args.master_token.is_none() {
        let generated = if args.rotate_master_token {
            Some(cirrus_api::rotate_master_token(&*store).await?)
        } else {
            cirrus_api::ensure_master_token(&*store).await?
        };
        if let Some(secret) = generated {
            println!("Master token (shown once; store it safely): {secret}");
        }
    } else if args.rotate_master_token {
        return Err("--rotate-master-token applies to the generated token; unset --master-token".into());
    }
    if let (Some(user), Some(password)) = (&args.admin_user, &args.admin_password)
        && cirrus_api::bootstrap_user(&*store, user, password).await?
    {
        tracing::info!(user = %user, "created portal user");
    }
    let mut builder = cirrus_api::Api::builder(store)
        .body_limit(args.body_limit)
        .session_ttl(Duration::from_secs(args.session_ttl))
        .secure_cookies(!args.insecure_cookies)
        .rate_limit((args.rate_limit > 0.0).then(|| cirrus_api::RateLimit::new(args.rate_limit, args.rate_burst)));
    if let Some(token) = args.master_token {
        builder = builder.master_token(token);
    }
    let api = builder.build()?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!("cirrus api listening on http://{}", listener.local_addr()?);
    api.serve(listener, shutdown()).await?;
    tracing::info!("cirrus api stopped");
    Ok(())
}
