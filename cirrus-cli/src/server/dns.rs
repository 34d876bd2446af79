//! `cirrus dns`: the hidden master, the rebuild loop and the node health
//! checker over the store.

use super::{BoxError, bind, shutdown_on_signal};
use crate::duration::parse_duration;
use cirrus_core::Store;
use cirrus_core::lifecycle::Shutdown;
use cirrus_core::model::AllowList;
use cirrus_dns::{DnsRole, HealthChecker, JournalLimits, TsigKey, ZoneSettings};
use clap::Args;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `cirrus dns`; each also reads the environment variable shown.
#[derive(Debug, Args)]
pub(crate) struct DnsArgs {
    /// Address for DNS over UDP and TCP (port 0 picks a free port; the bound address is logged).
    #[arg(long, env = "CIRRUS_DNS_LISTEN", default_value = "127.0.0.1:5353")]
    listen: SocketAddr,
    /// Port to listen on, replacing the port of `--listen` (the seed's variable).
    #[arg(long, env = "DNS_MASTER_PORT")]
    port: Option<u16>,
    /// The zone served, under which every domain gets its CNAME target.
    #[arg(long, env = "CNAME_BASE_DOMAIN")]
    zone: String,
    /// Authoritative nameservers of the zone (NS records; comma-separated). Default: `ns1.<zone>`.
    #[arg(long, env = "CIRRUS_DNS_NAMESERVERS", value_delimiter = ',')]
    nameserver: Vec<String>,
    /// Addresses and CIDR blocks allowed to transfer the zone (AXFR) and ask for its SOA.
    #[arg(long, env = "CIRRUS_DNS_ALLOW_TRANSFER", default_value = "127.0.0.0/8,::1")]
    allow_transfer: AllowList,
    /// TSIG keys (RFC 8945), `NAME:ALGORITHM:BASE64SECRET` with `hmac-sha256` or `hmac-sha512` (repeatable, comma-separated): once one is set, every zone transfer must be signed with one of them (the address allow list still applies) and every NOTIFY is signed with the first.
    #[arg(long, env = "CIRRUS_DNS_TSIG_KEY", value_delimiter = ',', hide_env_values = true)]
    tsig_key: Vec<String>,
    /// A file of TSIG keys, one `NAME:ALGORITHM:BASE64SECRET` per line (blank lines and `#` comments skipped), taken after `--tsig-key`.
    #[arg(long, env = "CIRRUS_DNS_TSIG_KEY_FILE")]
    tsig_key_file: Option<std::path::PathBuf>,
    /// Zone differences kept for IXFR (0: every IXFR gets the whole zone).
    #[arg(long, env = "CIRRUS_DNS_IXFR_HISTORY", default_value_t = 64)]
    ixfr_history: usize,
    /// Largest wire size of the zone differences kept for IXFR, e.g. `16MiB`.
    #[arg(long, env = "CIRRUS_DNS_IXFR_HISTORY_SIZE", default_value = "16MiB", value_parser = cirrus_core::units::parse_size)]
    ixfr_history_size: u64,
    /// Threads answering DNS over UDP (default: the CPUs the process may use, at most 4; 0: hickory-server's UDP path).
    #[arg(long, env = "CIRRUS_DNS_UDP_THREADS")]
    udp_threads: Option<usize>,
    /// Secondaries sent a NOTIFY after every rebuild, e.g. `127.0.0.1:5300` (comma-separated).
    #[arg(long, env = "CIRRUS_DNS_NOTIFY", value_delimiter = ',')]
    notify: Vec<SocketAddr>,
    /// Edge nodes per domain, unless a domain sets its own.
    #[arg(long, env = "CIRRUS_DNS_REPLICAS", default_value_t = 2)]
    replicas: usize,
    /// TTL of the nodes' A and AAAA records, in seconds.
    #[arg(long, env = "CIRRUS_DNS_TTL", default_value_t = 60)]
    ttl: u32,
    /// Run no node health checker (another process checks the nodes).
    #[arg(long, env = "CIRRUS_DNS_NO_HEALTH_CHECK")]
    no_health_check: bool,
    /// Port of the nodes' health endpoint (`http://<node>:<port>/healthz`).
    #[arg(long, env = "CIRRUS_HEALTH_PORT", default_value_t = 9145)]
    health_port: u16,
    /// Time between health rounds (`10s`; at least 1s).
    #[arg(long, env = "CIRRUS_HEALTH_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    health_interval: Duration,
    /// Time a health probe may take (`2s`).
    #[arg(long, env = "CIRRUS_HEALTH_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    health_timeout: Duration,
    /// Failed probes in a row that mark a node down.
    #[arg(long, env = "CIRRUS_HEALTH_FAIL_AFTER", default_value_t = 3)]
    fail_after: u32,
    /// Successful probes in a row that bring a node back.
    #[arg(long, env = "CIRRUS_HEALTH_RECOVER_AFTER", default_value_t = 2)]
    recover_after: u32,
    /// Address of `/metrics` (Prometheus), `/healthz` and `/readyz`.
    #[arg(long, env = "CIRRUS_DNS_METRICS_LISTEN", default_value = "127.0.0.1:9153")]
    metrics_listen: SocketAddr,
    /// Addresses and CIDR blocks allowed to read `/metrics` (comma-separated).
    #[arg(long, env = "CIRRUS_DNS_METRICS_ALLOW", default_value = "127.0.0.0/8,::1")]
    metrics_allow: AllowList,
    /// The store: `redis://[user:password@]host:port[/db]`, `rediss://…` (TLS), `redis+unix://…`, `redis+sentinel://host:port,…/master`, or the embedded store's directory (a path, or `file:PATH` / `embedded:PATH` with settings such as `?cache=8MiB&purge_records=1000`, docs/operations.md#the-embedded-stores-memory); any other `scheme://` is refused.
    #[arg(long, env = "CIRRUS_STORE", default_value = "./cirrus-data", value_parser = super::store_location)]
    store: String,
}

pub(crate) async fn run(args: DnsArgs) -> Result<(), BoxError> {
    let store = cirrus_core::open_store(&args.store)?;
    prepare(args, store).await?.run(&shutdown_on_signal()).await
}

/// The DNS role ready to run: configured, its sockets bound.
pub(crate) struct PreparedDns {
    role: DnsRole,
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    /// Bound addresses: DNS (UDP and TCP), admin.
    pub(crate) dns: SocketAddr,
    pub(crate) admin: SocketAddr,
    /// The zone served.
    pub(crate) zone: String,
}

pub(crate) async fn prepare(args: DnsArgs, store: Arc<dyn Store>) -> Result<PreparedDns, BoxError> {
    let mut settings = ZoneSettings::builder(&args.zone)
        .replicas_per_site(args.replicas)
        .ttl(args.ttl);
    for ns in &args.nameserver {
        settings = settings.nameserver(ns);
    }
    let settings = settings.build()?;
    let mut listen = args.listen;
    if let Some(port) = args.port {
        listen.set_port(port);
    }
    let (udp, tcp) = cirrus_dns::bind(listen)
        .await
        .map_err(|e| format!("dns listener {listen}: {e}"))?;
    let (admin, admin_addr) = bind(args.metrics_listen, "dns metrics").await?;
    let dns = tcp.local_addr()?;
    let keys = tsig_keys(&args.tsig_key, args.tsig_key_file.as_deref())?;
    let history = JournalLimits::new(
        args.ixfr_history,
        usize::try_from(args.ixfr_history_size).unwrap_or(usize::MAX),
    );
    let mut role = DnsRole::new(store, settings)?
        .notify(args.notify)
        .allow_transfer(args.allow_transfer)
        .tsig_keys(keys)
        .journal(history)
        .admin(admin, args.metrics_allow);
    if let Some(threads) = args.udp_threads {
        role = role.udp_threads(threads);
    }
    if !args.no_health_check {
        role = role.health_checker(
            HealthChecker::builder()
                .port(args.health_port)
                .interval(args.health_interval.max(Duration::from_secs(1)))
                .timeout(args.health_timeout.max(Duration::from_millis(100)))
                .fail_after(args.fail_after)
                .recover_after(args.recover_after),
        );
    }
    Ok(PreparedDns {
        role,
        udp,
        tcp,
        dns,
        admin: admin_addr,
        zone: args.zone,
    })
}

/// The keys of `--tsig-key`, then those of `--tsig-key-file`; an error
/// names the flag or the file's line, never the secret.
fn tsig_keys(given: &[String], file: Option<&std::path::Path>) -> Result<Vec<TsigKey>, BoxError> {
    let mut keys = Vec::new();
    for (i, spec) in given.iter().enumerate() {
        keys.push(spec.parse().map_err(|e| format!("--tsig-key #{}: {e}", i + 1))?);
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("--tsig-key-file {}: {e}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = line
                .parse()
                .map_err(|e| format!("--tsig-key-file {} line {}: {e}", path.display(), n + 1))?;
            keys.push(key);
        }
    }
    Ok(keys)
}

impl PreparedDns {
    /// Runs until `shutdown`.
    pub(crate) async fn run(self, shutdown: &Shutdown) -> Result<(), BoxError> {
        tracing::info!("cirrus dns listening on {} (udp and tcp)", self.dns);
        tracing::info!("cirrus dns metrics on http://{}", self.admin);
        self.role.run(self.udp, self.tcp, shutdown).await?;
        tracing::info!("cirrus dns stopped");
        Ok(())
    }
}
