//! `cirrus`: runs the server roles over a Redis or embedded store:
//! `cirrus api` (control plane), `cirrus edge` (proxy and cache) and
//! `cirrus dns` (authoritative DNS).

mod api;
mod dns;
mod edge;

use clap::{Parser, Subcommand};

/// Cirrus, a programmable CDN: run a server role.
#[derive(Debug, Parser)]
#[command(name = "cirrus", version, about = "Cirrus, a programmable CDN: run a server role.")]
pub struct Cli {
    #[command(subcommand)]
    role: Role,
    /// Log filter, e.g. `info` or `cirrus_api=debug`.
    #[arg(long, env = "CIRRUS_LOG", default_value = "info", global = true)]
    log: String,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// The control-plane REST API (`/api/v1`, `/healthz`, `/metrics`, `/docs`).
    Api(api::ApiArgs),
    /// The edge: reverse proxy and cache, kept in step with the store.
    Edge(edge::EdgeArgs),
    /// Authoritative DNS: the hidden master of the CNAME zone, rebuilt on store changes.
    Dns(dns::DnsArgs),
}

/// Parses the command line, runs the role, returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    let result = match cli.role {
        Role::Api(args) => runtime.block_on(api::run(args)),
        Role::Edge(args) => runtime.block_on(edge::run(args)),
        Role::Dns(args) => runtime.block_on(dns::run(args)),
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail(&*e),
    }
}

fn fail(e: &dyn std::fmt::Display) -> i32 {
    eprintln!("Error: {e}");
    1
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Tells a role's background tasks to stop once its main listener has
/// returned: each [`Stop::stopped`] future completes after [`Stop::stop`].
#[derive(Debug, Clone)]
pub(crate) struct Stop(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl Stop {
    pub(crate) fn new() -> Self {
        Self(std::sync::Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Completes when [`Stop::stop`] is called (at once if it was).
    pub(crate) fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    pub(crate) fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
