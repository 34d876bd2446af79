//! `cirrus dns`: the hidden master, the rebuild loop and the node health
//! checker over the store.

use super::{BoxError, Stop, shutdown};
use cirrus_core::model::AllowList;
use cirrus_dns::{DnsMetrics, HealthChecker, HiddenMaster, Rebuilder, ZoneSettings};
use clap::Args;
use std::net::SocketAddr;
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
    /// Seconds between health rounds.
    #[arg(long, env = "CIRRUS_HEALTH_INTERVAL", default_value_t = 10)]
    health_interval: u64,
    /// Seconds a health probe may take.
    #[arg(long, env = "CIRRUS_HEALTH_TIMEOUT", default_value_t = 2)]
    health_timeout: u64,
    /// Failed probes in a row that mark a node down.
    #[arg(long, env = "CIRRUS_HEALTH_FAIL_AFTER", default_value_t = 3)]
    fail_after: u32,
    /// Successful probes in a row that bring a node back.
    #[arg(long, env = "CIRRUS_HEALTH_RECOVER_AFTER", default_value_t = 2)]
    recover_after: u32,
    /// Address of `/metrics` (Prometheus) and `/healthz`.
    #[arg(long, env = "CIRRUS_DNS_METRICS_LISTEN", default_value = "127.0.0.1:9153")]
    metrics_listen: SocketAddr,
    /// Addresses and CIDR blocks allowed to read `/metrics` (comma-separated).
    #[arg(long, env = "CIRRUS_DNS_METRICS_ALLOW", default_value = "127.0.0.0/8,::1")]
    metrics_allow: AllowList,
    /// The store: `redis://host:port[/db]` for Redis, or a directory for the embedded store.
    #[arg(long, env = "CIRRUS_STORE", default_value = "./cirrus-data")]
    store: String,
}

pub(crate) async fn run(args: DnsArgs) -> Result<(), BoxError> {
    let store = cirrus_core::open_store(&args.store)?;
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
    let (udp, tcp) = cirrus_dns::bind(listen).await?;
    let metrics = DnsMetrics::new()?;
    let checker = if args.no_health_check {
        None
    } else {
        Some(
            HealthChecker::builder()
                .port(args.health_port)
                .interval(Duration::from_secs(args.health_interval.max(1)))
                .timeout(Duration::from_secs(args.health_timeout.max(1)))
                .fail_after(args.fail_after)
                .recover_after(args.recover_after)
                .metrics(metrics.clone())
                .build(store.clone())?,
        )
    };
    let mut rebuilder = Rebuilder::new(store, settings)
        .notify(args.notify)
        .metrics(metrics.clone());
    // The first zone comes from the store; wait for it rather than serve
    // an empty zone a secondary could transfer.
    let mut delay = Duration::from_secs(1);
    while let Err(e) = rebuilder.rebuild().await {
        tracing::warn!(error = %e, "cannot build the zone; retrying in {delay:?}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
    let zone = rebuilder.zone().ok_or("no zone after a rebuild")?.clone();
    let admin = tokio::net::TcpListener::bind(args.metrics_listen).await?;
    tracing::info!("cirrus dns listening on {} (udp and tcp)", tcp.local_addr()?);
    tracing::info!("cirrus dns metrics on http://{}", admin.local_addr()?);
    let stop = Stop::new();
    let loop_task = tokio::spawn(rebuilder.run(stop.stopped()));
    let check_task = checker.map(|c| {
        let done = stop.stopped();
        tokio::spawn(async move { c.run(done).await })
    });
    let admin_task = tokio::spawn(serve_admin(admin, metrics.clone(), args.metrics_allow, stop.stopped()));
    let master = HiddenMaster::builder(zone)
        .allow_transfer(args.allow_transfer)
        .metrics(metrics)
        .build();
    let served = master.serve(udp, tcp, shutdown()).await;
    stop.stop();
    if let Ok(Err(e)) = loop_task.await {
        tracing::warn!(error = %e, "rebuild loop ended with an error");
    }
    if let Some(task) = check_task {
        let _ = task.await;
    }
    let _ = admin_task.await;
    tracing::info!("cirrus dns stopped");
    Ok(served?)
}

/// `/metrics` for allowed addresses, `/healthz` for everyone.
async fn serve_admin(
    listener: tokio::net::TcpListener,
    metrics: DnsMetrics,
    allow: AllowList,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use axum::extract::ConnectInfo;
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new().route("/healthz", get(|| async { "ok\n" })).route(
        "/metrics",
        get(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
            let (metrics, allowed) = (metrics.clone(), allow.allows(peer.ip()));
            async move {
                if allowed {
                    (StatusCode::OK, metrics.render())
                } else {
                    (StatusCode::FORBIDDEN, "forbidden\n".to_string())
                }
            }
        }),
    );
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "dns metrics listener failed");
    }
}
