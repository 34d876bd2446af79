//! `cirrus worker`: runs the certificate jobs the API queues (ACME DNS-01)
//! and delivers webhooks.

use super::{BoxError, shutdown_on_signal};
use crate::duration::parse_duration;
use cirrus_acme::{LETS_ENCRYPT, SolverChoice, WebhookSettings, WorkerRole};
use cirrus_core::Store;
use cirrus_core::lifecycle::Shutdown;
use cirrus_core::model::AllowList;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `cirrus worker`; each also reads the environment variable shown.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The CA's ACME directory. Unset: Let's Encrypt production for
    /// `cirrus worker`; for `cirrus up`, no CA (certificate requests are
    /// refused, uploads work; Let's Encrypt staging is
    /// https://acme-staging-v02.api.letsencrypt.org/directory).
    #[arg(long, env = "CIRRUS_ACME_DIRECTORY")]
    pub(crate) acme_directory: Option<String>,
    /// A PEM file with the CA certificate to trust for the directory's HTTPS (a private CA).
    #[arg(long, env = "CIRRUS_ACME_DIRECTORY_ROOT")]
    acme_directory_root: Option<PathBuf>,
    /// The CDN's zone: the built-in solver's challenge records live under it.
    #[arg(long, env = "CNAME_BASE_DOMAIN")]
    zone: Option<String>,
    /// Publish challenges through this acme-dns server's API instead of the built-in solver.
    #[arg(long, env = "CIRRUS_ACMEDNS_API")]
    acme_dns_api: Option<String>,
    /// Authoritative servers asked for a challenge value before the CA is told to look (comma-separated).
    #[arg(long, env = "CIRRUS_ACME_DNS_CHECK", value_delimiter = ',')]
    dns_check: Vec<SocketAddr>,
    /// Time the challenge value may take to be visible there (`60s`).
    #[arg(long, env = "CIRRUS_ACME_DNS_CHECK_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    dns_check_timeout: Duration,
    /// DNS resolver (`ip:port`) asked whether a domain's `_acme-challenge` CNAME is in place before an order
    /// is placed. Default: the first nameserver of /etc/resolv.conf.
    #[arg(long, env = "CIRRUS_RESOLVER")]
    resolver: Option<SocketAddr>,
    /// Time a claimed job stays invisible to other workers: a job whose worker died comes back after it.
    #[arg(long, env = "CIRRUS_JOB_VISIBILITY", default_value = "10m", value_parser = parse_duration)]
    job_visibility: Duration,
    /// Attempts per certificate job before it is dropped (its failure stays recorded).
    #[arg(long, env = "CIRRUS_ACME_MAX_ATTEMPTS", default_value_t = 5)]
    max_attempts: u32,
    /// Wait before a failed job's first retry; each further one waits twice as long.
    #[arg(long, env = "CIRRUS_ACME_RETRY_FIRST", default_value = "30s", value_parser = parse_duration)]
    retry_first: Duration,
    /// The longest wait between retries (a CA's longer Retry-After is still honoured).
    #[arg(long, env = "CIRRUS_ACME_RETRY_MAX", default_value = "1h", value_parser = parse_duration)]
    retry_max: Duration,
    /// Renew certificates ending within this time (`30d`).
    #[arg(long, env = "CIRRUS_ACME_RENEW_WITHIN", default_value = "30d", value_parser = parse_duration)]
    renew_within: Duration,
    /// Time between renewal scans (the first at start).
    #[arg(long, env = "CIRRUS_ACME_RENEW_SCAN", default_value = "1h", value_parser = parse_duration)]
    renew_scan_interval: Duration,
    /// Address of `/metrics` (Prometheus), `/healthz` and `/readyz`.
    #[arg(long, env = "CIRRUS_WORKER_METRICS_LISTEN", default_value = "127.0.0.1:9155")]
    metrics_listen: SocketAddr,
    /// Addresses and CIDR blocks allowed to read `/metrics` (comma-separated).
    #[arg(long, env = "CIRRUS_WORKER_METRICS_ALLOW", default_value = "127.0.0.0/8,::1")]
    metrics_allow: AllowList,
    /// This worker's name in the job queue (unique per process; default: host and process id).
    #[arg(long, env = "CIRRUS_WORKER_NAME")]
    name: Option<String>,
    /// The store: `redis://[user:password@]host:port[/db]`, `rediss://…` (TLS), `redis+unix://…`, `redis+sentinel://host:port,…/master`, or the embedded store's directory (a path, or `file:PATH` / `embedded:PATH` with settings such as `?cache=8MiB&purge_records=1000`, docs/operations.md#the-embedded-stores-memory); any other `scheme://` is refused.
    #[arg(long, env = "CIRRUS_STORE", default_value = "./cirrus-data", value_parser = super::store_location)]
    store: String,
    /// Post webhooks to private, loopback and link-local addresses too (refused by default, against
    /// server-side request forgery).
    #[arg(long, env = "CIRRUS_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
    /// The longest a webhook attempt may take, answer included.
    #[arg(long, env = "CIRRUS_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    webhook_timeout: Duration,
    /// Wait before a failed webhook attempt's first retry; each further one waits about twice as long.
    #[arg(long, env = "CIRRUS_WEBHOOK_RETRY_FIRST", default_value = "5s", value_parser = parse_duration)]
    webhook_retry_first: Duration,
    /// The longest wait between webhook retries.
    #[arg(long, env = "CIRRUS_WEBHOOK_RETRY_MAX", default_value = "1h", value_parser = parse_duration)]
    webhook_retry_max: Duration,
    /// How long an event is retried before it goes to the endpoint's dead letters.
    #[arg(long, env = "CIRRUS_WEBHOOK_RETRY_FOR", default_value = "24h", value_parser = parse_duration)]
    webhook_retry_for: Duration,
}

pub(crate) async fn run(args: WorkerArgs) -> Result<(), BoxError> {
    let store = cirrus_core::open_store(&args.store)?;
    prepare(args, store, Vec::new(), true)?.run(&shutdown_on_signal()).await
}

/// The worker ready to run.
pub(crate) struct PreparedWorker {
    role: WorkerRole,
    /// The CA asked, when it runs certificate jobs.
    pub(crate) directory: Option<String>,
    /// Where `/metrics` and `/healthz` are served.
    pub(crate) admin: SocketAddr,
}

/// The worker for `args`; `default_check` is used when `--dns-check` names
/// no server; without `certificates`, it only delivers webhooks.
pub(crate) fn prepare(
    args: WorkerArgs,
    store: Arc<dyn Store>,
    default_check: Vec<SocketAddr>,
    certificates: bool,
) -> Result<PreparedWorker, BoxError> {
    let solver = match (args.acme_dns_api, args.zone) {
        (Some(api), _) => SolverChoice::AcmeDns { api },
        (None, Some(zone)) => SolverChoice::BuiltIn { zone },
        (None, None) => {
            return Err("cirrus worker: give --zone (the built-in solver) or --acme-dns-api".into());
        }
    };
    let name = args.name.unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
        format!("{host}-{}", std::process::id())
    });
    let check = if args.dns_check.is_empty() {
        default_check
    } else {
        args.dns_check
    };
    let directory = args.acme_directory.unwrap_or_else(|| LETS_ENCRYPT.to_string());
    let mut role = WorkerRole::new(store, name, solver)
        .directory(&directory)
        .check(check, args.dns_check_timeout.max(Duration::from_secs(1)))
        .max_attempts(args.max_attempts)
        .visibility(args.job_visibility.max(Duration::from_secs(1)))
        .backoff(args.retry_first, args.retry_max.max(args.retry_first))
        .renew(args.renew_within, args.renew_scan_interval.max(Duration::from_secs(1)))
        .certificates(certificates)
        .webhooks(
            WebhookSettings::new()
                .allow_private(args.webhook_allow_private)
                .timeout(args.webhook_timeout)
                .retry(args.webhook_retry_first, args.webhook_retry_max, args.webhook_retry_for),
        );
    if let Some(resolver) = args.resolver {
        role = role.resolver(resolver);
    }
    if let Some(root) = args.acme_directory_root {
        role = role.directory_root(root);
    }
    // Fails now, not at the first job, on a setting that cannot work.
    if certificates {
        role.runner()?;
    }
    let listen = args.metrics_listen;
    let bound = std::net::TcpListener::bind(listen)
        .and_then(|l| {
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .map_err(|e| format!("worker metrics listener {listen}: {e}"))?;
    let admin = bound.local_addr()?;
    let role = role.admin(tokio::net::TcpListener::from_std(bound)?, args.metrics_allow);
    let directory = certificates.then_some(directory);
    Ok(PreparedWorker { role, directory, admin })
}

impl PreparedWorker {
    /// Runs until `shutdown`.
    pub(crate) async fn run(self, shutdown: &Shutdown) -> Result<(), BoxError> {
        tracing::info!("cirrus worker metrics on http://{}", self.admin);
        self.role.run(shutdown).await?;
        tracing::info!("cirrus worker stopped");
        Ok(())
    }
}
