//! `cirrus`: runs the server roles over a Redis or embedded store:
//! `cirrus up` (every role in one process), `cirrus api` (control plane),
//! `cirrus edge` (proxy and cache) and `cirrus dns` (authoritative DNS),
//! and `cirrus config check`. Settings come from flags, the environment, a
//! TOML file and defaults, in that order ([`config`](self)).

pub mod allocator;
mod api;
mod config;
mod config_check;
mod dns;
mod edge;
mod logging;
mod reference;
mod runtime;
mod store;
mod telemetry;
mod up;
mod worker;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use config::{ConfigFile, ROLES};
use std::ffi::OsString;

/// Cirrus, a programmable CDN: run a server role.
#[derive(Debug, Parser)]
#[command(name = "cirrus", version, about = "Cirrus, a programmable CDN: run a server role.")]
pub struct Cli {
    #[command(subcommand)]
    role: Role,
    /// TOML configuration file: top-level `store`, `zone`, `log`,
    /// `log_format`, `threads`, `otlp_endpoint`, `trace_sample_ratio`, and tables `[api]`, `[edge]`, `[dns]`, `[worker]` keyed by the
    /// roles' flags (flags and environment variables override it).
    #[arg(long, env = "CIRRUS_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,
    /// Log filter, e.g. `info` or `cirrus_api=debug`.
    #[arg(long, env = "CIRRUS_LOG", default_value = "info", global = true, value_parser = logging::filter)]
    log: String,
    /// Log lines as `text` (colours only on a terminal) or `json` (one
    /// object per line, for log shippers).
    #[arg(long, env = "CIRRUS_LOG_FORMAT", default_value = "text", global = true)]
    log_format: logging::LogFormat,
    /// Worker threads of the process (default: `TOKIO_WORKER_THREADS`, else
    /// the CPUs the process may run on). With 1, a single-threaded runtime
    /// runs everything: on one core it spends about a fifth less CPU per
    /// proxied MISS than a one-worker multi-threaded one (docs/performance.md).
    #[arg(long, env = "CIRRUS_THREADS", global = true)]
    threads: Option<std::num::NonZeroUsize>,
    /// OpenTelemetry collector to send traces to, over OTLP/HTTP with
    /// protobuf (`/v1/traces` is added), e.g. `http://127.0.0.1:4318`.
    /// No traces without one. The other `OTEL_*` variables apply
    /// (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
    /// `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, …;
    /// docs/observability.md#traces).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    otlp_endpoint: Option<String>,
    /// The share of new traces sampled, 0 to 1 (a trusted caller's
    /// decision is followed: `parentbased_traceidratio`).
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", default_value_t = 0.01, global = true, value_parser = telemetry::ratio)]
    trace_sample_ratio: f64,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Every role in one process (API, edge, DNS, health checker, worker) on the
    /// embedded store: the whole CDN on one machine.
    Up(up::UpArgs),
    /// The control-plane REST API (`/api/v1`, `/healthz`, `/metrics`, `/docs`).
    Api(api::ApiArgs),
    /// The edge: reverse proxy and cache, kept in step with the store.
    Edge(edge::EdgeArgs),
    /// Authoritative DNS: the hidden master of the CNAME zone, rebuilt on store changes.
    Dns(dns::DnsArgs),
    /// Certificates: runs the ACME DNS-01 jobs the API queues.
    Worker(worker::WorkerArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Store tools: adopt a store whose history went back.
    #[command(subcommand)]
    Store(store::StoreCmd),
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Prints the effective configuration of a role (as a TOML file, each
    /// value with its source) and every error in it; exits 2 on errors.
    Check {
        /// The role: `up` (default), `api`, `edge`, `dns` or `worker`.
        #[arg(default_value = "up", value_parser = ["up", "api", "edge", "dns", "worker"])]
        role: String,
    },
    /// Prints the reference of every setting (Markdown: key, flag,
    /// environment variable, default, meaning), as in docs/configuration.md.
    Reference,
}

/// Parses the command line, runs the role, returns the exit code.
pub fn main() -> i32 {
    main_with_args(std::env::args_os().collect())
}

/// [`main`] with these arguments (the first is the program name).
pub fn main_with_args(argv: Vec<OsString>) -> i32 {
    let file = match config::config_path(&argv) {
        Some(path) => match ConfigFile::read(&path) {
            Ok(f) => f,
            Err(e) => return usage_errors(&[e]),
        },
        None => ConfigFile::default(),
    };
    let (root, file_errors) = with_file(&file);
    // Every problem of the file and the environment at once, before clap
    // (which stops at the first bad value).
    let asks_help = argv
        .iter()
        .any(|a| ["--help", "-h", "--version", "-V", "help"].contains(&&*a.to_string_lossy()));
    match role_in(&argv).as_deref() {
        _ if asks_help => {}
        Some("config") => {
            if let Some(role) = checked_role(&argv) {
                return config_check::check(&root, &file, &role, file_errors);
            }
        }
        Some(role) => {
            let given = |id: &str| flag_given(&root, role, id, &argv);
            let mut errors = file_errors;
            errors.extend(role_errors(&root, &file, role, &given));
            if !errors.is_empty() {
                return usage_errors(&errors);
            }
        }
        None if !file_errors.is_empty() => return usage_errors(&file_errors),
        None => {}
    }
    let matches = match root.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match &cli.role {
        Role::Config(ConfigCmd::Check { role }) => return config_check::check(&root, &file, role, Vec::new()),
        Role::Config(ConfigCmd::Reference) => {
            print!("{}", reference::reference(&Cli::command()));
            return 0;
        }
        _ => {}
    }
    let runtime = match runtime::runtime(cli.threads) {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    // Traces name the role: `cirrus-edge`, …, `cirrus` for `cirrus up`.
    let service = role_in(&argv)
        .filter(|r| r != "up")
        .map_or("cirrus".into(), |r| format!("cirrus-{r}"));
    let endpoint = cli.otlp_endpoint.as_deref().filter(|e| !e.is_empty());
    let tracer = match runtime.block_on(async { telemetry::start(endpoint, cli.trace_sample_ratio, &service) }) {
        Ok(tracer) => tracer,
        Err(e) => return usage_errors(&[e]),
    };
    logging::init(&cli.log, cli.log_format, tracer);
    let result = match cli.role {
        Role::Up(args) => runtime.block_on(up::run(args, &file)),
        Role::Api(args) => runtime.block_on(api::run(args)),
        Role::Edge(args) => runtime.block_on(edge::run(args)),
        Role::Dns(args) => runtime.block_on(dns::run(args)),
        Role::Worker(args) => runtime.block_on(worker::run(args)),
        Role::Store(cmd) => runtime.block_on(store::run(cmd)),
        Role::Config(_) => Ok(()),
    };
    runtime.block_on(telemetry::flush(std::time::Duration::from_secs(2)));
    match result {
        Ok(()) => 0,
        Err(e) => fail(&*e),
    }
}

/// A `--store` value, checked: a Redis URL or an embedded store's
/// directory, never a `scheme://` Cirrus does not know.
fn store_location(s: &str) -> Result<String, String> {
    cirrus_core::StoreLocation::parse(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string().trim_start_matches("store error: ").to_string())
}

/// The command line with the file's values as defaults; every unknown key
/// and unusable value is an error.
fn with_file(file: &ConfigFile) -> (clap::Command, Vec<String>) {
    let mut root = Cli::command();
    let mut errors = file.unknown_keys(&root);
    root = file.apply(root, None, false).unwrap_or_else(|e| {
        errors.extend(e);
        Cli::command()
    });
    for role in ["up"].iter().chain(ROLES) {
        let role_name = (*role != "up").then_some(*role);
        root = root.mut_subcommand(*role, |cmd| match file.apply(cmd.clone(), role_name, false) {
            Ok(c) => c,
            Err(e) => {
                errors.extend(e);
                cmd
            }
        });
    }
    (root, errors)
}

/// The subcommand named on the command line (after the global flags).
fn role_in(argv: &[OsString]) -> Option<String> {
    let mut it = argv.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if [
            "--config",
            "--log",
            "--log-format",
            "--otlp-endpoint",
            "--trace-sample-ratio",
        ]
        .contains(&a.as_ref())
        {
            it.next();
        } else if !a.starts_with('-') {
            return Some(a.into_owned());
        }
    }
    None
}

/// The role of `cirrus … config check [ROLE]`, when that is the command.
fn checked_role(argv: &[OsString]) -> Option<String> {
    let words: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| !a.starts_with('-'))
        .collect();
    let at = words.iter().position(|w| w == "config")?;
    match (words.get(at + 1).map(String::as_str), words.get(at + 2)) {
        (Some("check"), None) => Some("up".into()),
        (Some("check"), Some(r)) if ["up", "api", "edge", "dns", "worker"].contains(&r.as_str()) => Some(r.clone()),
        _ => None,
    }
}

/// Whether the flag of `id` in `role` is on the command line.
fn flag_given(root: &clap::Command, role: &str, id: &str, argv: &[OsString]) -> bool {
    let long = root
        .find_subcommand(role)
        .and_then(|c| c.get_arguments().find(|a| a.get_id() == id))
        .and_then(|a| a.get_long());
    long.is_some_and(|l| {
        let (flag, with_value) = (format!("--{l}"), format!("--{l}="));
        argv.iter().any(|a| {
            let a = a.to_string_lossy();
            a == flag.as_str() || a.starts_with(&with_value)
        })
    })
}

/// The command of `role` as `cirrus up` runs it: the file, then `up`'s own
/// defaults.
pub(crate) fn up_command(file: &ConfigFile, role: &str) -> Result<clap::Command, Vec<String>> {
    let cmd = Cli::command()
        .find_subcommand(role)
        .cloned()
        .ok_or_else(|| vec![format!("no role {role}")])?;
    file.apply(cmd, Some(role), true)
}

/// Every problem in the environment and file values of `role`.
fn role_errors(root: &clap::Command, file: &ConfigFile, role: &str, given: &dyn Fn(&str) -> bool) -> Vec<String> {
    let roles: Vec<&str> = if role == "up" { ROLES.to_vec() } else { vec![role] };
    let mut errors = Vec::new();
    for r in roles {
        let cmd = if role == "up" {
            match up_command(file, r) {
                Ok(c) => c,
                Err(e) => return e,
            }
        } else {
            match root.find_subcommand(r) {
                Some(c) => c.clone(),
                None => continue,
            }
        };
        // Under `up`, the command line holds `up`'s flags, not the role's.
        let none = |_: &str| false;
        let given = if role == "up" { &none } else { given };
        errors.extend(config::check(&cmd, r, file, role == "up", given).1);
    }
    errors
}

fn usage_errors(errors: &[String]) -> i32 {
    for e in errors {
        eprintln!("Error: {e}");
    }
    2
}

fn fail(e: &dyn std::fmt::Display) -> i32 {
    eprintln!("Error: {e}");
    1
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Binds a role's TCP listener; the error names what and where. Returns
/// the bound address too (port 0 picks one).
pub(crate) async fn bind(
    addr: std::net::SocketAddr,
    what: &str,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), BoxError> {
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{what} listener {addr}: {e}"))?;
    let bound = l.local_addr()?;
    Ok((l, bound))
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn signal() {
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

/// A shutdown triggered by the first signal; a second signal exits at once.
pub(crate) fn shutdown_on_signal() -> cirrus_core::lifecycle::Shutdown {
    let shutdown = cirrus_core::lifecycle::Shutdown::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("stopping: draining connections (a second signal exits at once)");
        trigger.trigger();
        signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
    shutdown
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::num::NonZeroUsize;
    use tokio::runtime::RuntimeFlavor;

    #[test]
    fn one_thread_is_the_single_threaded_runtime() {
        let flavor = |n| {
            super::runtime::runtime(NonZeroUsize::new(n))
                .unwrap()
                .handle()
                .runtime_flavor()
        };
        assert_eq!(flavor(1), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor(2), RuntimeFlavor::MultiThread);
    }
}
