//! `cirrus dns`: the hidden master, the rebuild loop and the node health
//! checker over the store.

use super::{BoxError, bind, shutdown_on_signal};
use crate::duration::parse_duration;
use cirrus_core::Store;
use cirrus_core::lifecycle::Shutdown;
use cirrus_core::model::AllowList;
use cirrus_dns::{DnsRole, HealthChecker, ZoneSettings};
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
    let mut role = DnsRole::new(store, settings)?
        .notify(args.notify)
        .allow_transfer(args.allow_transfer)
        .admin(admin, args.metrics_allow);
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
