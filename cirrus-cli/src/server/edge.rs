//! `cirrus edge`: the proxy and cache, its admin listener, and the sync with
//! the store.

use super::{BoxError, bind, shutdown_on_signal};
use crate::duration::parse_duration;
use cirrus_core::Store;
use cirrus_core::lifecycle::{Shutdown, register_node, retry};
use cirrus_core::model::CertBundle;
use cirrus_edge::{AllowList, Certificates, Edge, EdgeListeners, EdgeSettings};
use clap::Args;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Flags of `cirrus edge`; each also reads the environment variable shown.
#[derive(Debug, Args)]
pub(crate) struct EdgeArgs {
    /// Address for HTTP traffic (port 0 picks a free port; the bound address is logged).
    #[arg(long, env = "CIRRUS_EDGE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address for HTTPS traffic (HTTP/2 and HTTP/1.1 by ALPN; certificates
    /// chosen by SNI from the store). No HTTPS listener when absent.
    #[arg(long, env = "CIRRUS_EDGE_TLS_LISTEN")]
    tls_listen: Option<SocketAddr>,
    /// PEM certificate chain presented for names without a certificate
    /// (default: a self-signed certificate made at start).
    #[arg(long, env = "CIRRUS_TLS_FALLBACK_CERT", requires = "tls_fallback_key")]
    tls_fallback_cert: Option<std::path::PathBuf>,
    /// PEM private key of `--tls-fallback-cert`.
    #[arg(long, env = "CIRRUS_TLS_FALLBACK_KEY", requires = "tls_fallback_cert")]
    tls_fallback_key: Option<std::path::PathBuf>,
    /// PEM file of roots trusted for HTTPS origins besides the system's.
    #[arg(long, env = "CIRRUS_ORIGIN_CA")]
    origin_ca: Option<std::path::PathBuf>,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "CIRRUS_METRICS_LISTEN", default_value = "127.0.0.1:9145")]
    metrics_listen: SocketAddr,
    /// Addresses and CIDR blocks allowed to read `/metrics` (comma-separated).
    #[arg(long, env = "NGX_METRICS_ALLOW", default_value = "127.0.0.0/8,::1")]
    metrics_allow: AllowList,
    /// The store: `redis://[user:password@]host:port[/db]`, `rediss://…` (TLS), `redis+unix://…`, `redis+sentinel://host:port,…/master`, or the embedded store's directory (a path, or `file:PATH` / `embedded:PATH` with settings such as `?cache=8MiB&purge_records=1000`, docs/operations.md#the-embedded-stores-memory); any other `scheme://` is refused.
    #[arg(long, env = "CIRRUS_STORE", default_value = "./cirrus-data", value_parser = super::store_location)]
    store: String,
    /// Memory cache size, e.g. `256MiB`, `2GiB`.
    #[arg(long, env = "CIRRUS_CACHE_MEM", default_value = "256MiB", value_parser = cirrus_core::units::parse_size)]
    cache_mem: u64,
    /// Directory of the disk cache tier (kept across restarts); none: memory only.
    #[arg(long, env = "CIRRUS_CACHE_DIR")]
    cache_dir: Option<std::path::PathBuf>,
    /// Disk cache size, e.g. `10GiB`.
    #[arg(long, env = "CIRRUS_CACHE_DISK", default_value = "10GiB", value_parser = cirrus_core::units::parse_size)]
    cache_disk: u64,
    /// Largest response cached, e.g. `16MiB`.
    #[arg(long, env = "CIRRUS_MAX_OBJECT_SIZE", default_value = "16MiB", value_parser = cirrus_core::units::parse_size)]
    max_object_size: u64,
    /// Largest request body forwarded, e.g. `16MiB`.
    #[arg(long, env = "CIRRUS_MAX_BODY_SIZE", default_value = "16MiB", value_parser = cirrus_core::units::parse_size)]
    max_body_size: u64,
    /// Client connections served at once, over all listeners (lowered to
    /// what the descriptor limit leaves room for); past it, idle ones are
    /// closed to make room, or newcomers wait in the listen backlog.
    #[arg(long, env = "CIRRUS_MAX_CONNECTIONS", default_value_t = 16_384)]
    max_connections: usize,
    /// Client connections one address may hold at once (0: no limit); one more is closed at accept.
    #[arg(long, env = "CIRRUS_MAX_CONNECTIONS_PER_IP", default_value_t = 1024)]
    max_connections_per_ip: usize,
    /// Serve HTTP and HTTPS on this many threads, each with a runtime of
    /// one thread and its own listener on the same address (SO_REUSEPORT);
    /// the process's runtime keeps the store sync and the metrics listener
    /// (give it `--threads 1`). 0: serve on the process's runtime. Against
    /// a multi-threaded runtime: docs/performance.md.
    #[arg(long, env = "CIRRUS_EDGE_WORKERS", default_value_t = 0)]
    workers: usize,
    /// Write no access log (one JSON line per request on stdout otherwise).
    #[arg(long, env = "CIRRUS_NO_ACCESS_LOG")]
    no_access_log: bool,
    /// When tracing (`--otlp-endpoint`), follow a client's W3C
    /// `traceparent` and `tracestate`: its trace id, its span as parent,
    /// its sampling decision. Off: every request starts a trace of its own
    /// (set it when the clients are your own services or other edges).
    #[arg(long, env = "CIRRUS_TRUST_TRACEPARENT")]
    trust_traceparent: bool,
    /// On shutdown, how long requests in flight may take to finish before
    /// their connections are closed, e.g. `30s`, `500ms`.
    #[arg(long, env = "CIRRUS_DRAIN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Request coalescing: how long one request's fetch of a key may keep
    /// the other misses for it waiting before the next takes over, e.g. `5s`.
    #[arg(long, env = "CIRRUS_CACHE_LOCK_AGE", default_value = "5s", value_parser = parse_duration)]
    cache_lock_age: Duration,
    /// Request coalescing: how long a miss waits for another's fetch of the
    /// same key before going to the origin itself (not storing what it
    /// gets); `0s` turns coalescing off.
    #[arg(long, env = "CIRRUS_CACHE_LOCK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    cache_lock_timeout: Duration,
    /// Register this edge in the store as the node with this id, so the
    /// DNS publishes it (the addresses come from --node-ipv4/--node-ipv6,
    /// else from --listen when it is a specific IPv4 address). An existing
    /// node keeps its weight and its enabled and active flags. The edge
    /// then reports, under this id, the revision it serves and each purge
    /// it applied.
    #[arg(long, env = "CIRRUS_NODE_ID")]
    node_id: Option<String>,
    /// IPv4 address published for this node (with --node-id).
    #[arg(long, env = "CIRRUS_NODE_IPV4", requires = "node_id")]
    node_ipv4: Option<Ipv4Addr>,
    /// IPv6 address published for this node (with --node-id).
    #[arg(long, env = "CIRRUS_NODE_IPV6", requires = "node_id")]
    node_ipv6: Option<Ipv6Addr>,
}

fn read(path: &std::path::Path) -> Result<String, BoxError> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()).into())
}

pub(crate) async fn run(args: EdgeArgs) -> Result<(), BoxError> {
    let store = cirrus_core::open_store(&args.store)?;
    prepare(args, store).await?.run(&shutdown_on_signal()).await
}

/// An edge ready to run: built, its listeners bound.
pub(crate) struct PreparedEdge {
    edge: Edge,
    listeners: EdgeListeners,
    store: Arc<dyn Store>,
    /// The node registered at start: id, IPv4, IPv6.
    node: Option<(String, Option<Ipv4Addr>, Option<Ipv6Addr>)>,
    /// Bound addresses: HTTP, HTTPS, admin.
    pub(crate) http: SocketAddr,
    pub(crate) https: Option<SocketAddr>,
    pub(crate) admin: SocketAddr,
}

pub(crate) async fn prepare(args: EdgeArgs, store: Arc<dyn Store>) -> Result<PreparedEdge, BoxError> {
    let node = match &args.node_id {
        Some(id) => {
            let listen_v4 = match args.listen.ip() {
                IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
                _ => None,
            };
            let ipv4 = args
                .node_ipv4
                .or(if args.node_ipv6.is_none() { listen_v4 } else { None });
            if ipv4.is_none() && args.node_ipv6.is_none() {
                return Err(format!(
                    "--node-id {id}: give --node-ipv4 or --node-ipv6 (--listen {} names no address to publish)",
                    args.listen
                )
                .into());
            }
            Some((id.clone(), ipv4, args.node_ipv6))
        }
        None => None,
    };
    let mut settings = EdgeSettings {
        cache_memory: args.cache_mem,
        max_object_size: args.max_object_size,
        max_body_size: args.max_body_size,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        drain_timeout: args.drain_timeout,
        cache_lock_age: args.cache_lock_age,
        cache_lock_timeout: args.cache_lock_timeout,
        ..EdgeSettings::default()
    };
    let mut builder = Edge::builder(Arc::new(store.clone()));
    if let Some(gauges) = super::allocator::collector() {
        let registry = prometheus::Registry::new();
        registry.register(gauges)?;
        builder = builder.registry(registry);
    }
    if let Some(id) = &args.node_id {
        builder = builder.node_id(id);
    }
    if let Some(dir) = &args.cache_dir {
        builder = builder.disk_cache(cirrus_edge::DiskCache::open(dir, args.cache_disk).await?);
    }
    if let Some(path) = &args.origin_ca {
        builder = builder.origin_roots_pem(&read(path)?)?;
    }
    if !args.no_access_log {
        builder = builder.access_log(std::io::stdout());
    }
    if let Some(tracing) = super::telemetry::edge_tracing(args.trust_traceparent) {
        builder = builder.tracing(tracing);
    }
    let bind = async |addr: SocketAddr, what: &str| {
        if args.workers == 0 {
            return bind(addr, what).await;
        }
        let l = cirrus_edge::bind_shared(addr).map_err(|e| format!("{what} listener {addr}: {e}"))?;
        let bound = l.local_addr()?;
        Ok::<_, BoxError>((l, bound))
    };
    let http = bind(args.listen, "edge HTTP").await?;
    let mut listeners = EdgeListeners::new(http.0).workers(args.workers);
    let mut https = None;
    if let Some(addr) = args.tls_listen {
        let fallback = match (&args.tls_fallback_cert, &args.tls_fallback_key) {
            (Some(cert), Some(key)) => Certificates::new(&CertBundle::new(read(cert)?, read(key)?, None))?,
            _ => Certificates::self_signed()?,
        };
        builder = builder.certificates(fallback);
        let (l, bound) = bind(addr, "edge HTTPS").await?;
        settings.https_port = bound.port();
        listeners = listeners.https(l);
        https = Some(bound);
    }
    let (admin, admin_addr) = super::bind(args.metrics_listen, "edge metrics").await?;
    listeners = listeners.admin(admin, args.metrics_allow);
    Ok(PreparedEdge {
        edge: builder.settings(settings).build()?,
        listeners,
        store,
        node,
        http: http.1,
        https,
        admin: admin_addr,
    })
}

impl PreparedEdge {
    /// Runs until `shutdown`, then drains every listener.
    pub(crate) async fn run(self, shutdown: &Shutdown) -> Result<(), BoxError> {
        tracing::info!("cirrus edge listening on http://{}", self.http);
        if let Some(a) = self.https {
            tracing::info!("cirrus edge listening on https://{a}");
        }
        tracing::info!("cirrus edge metrics on http://{}", self.admin);
        let register = async {
            if let Some((id, v4, v6)) = &self.node {
                let store = &*self.store;
                if let Some(node) = retry("registering the node", shutdown, || register_node(store, id, *v4, *v6)).await
                {
                    tracing::info!(node = %node.id, ipv4 = ?node.ipv4, ipv6 = ?node.ipv6, "registered as a node");
                }
            }
        };
        let (_, served) = tokio::join!(register, self.edge.run(self.listeners, shutdown));
        tracing::info!("cirrus edge stopped");
        Ok(served?)
    }
}
