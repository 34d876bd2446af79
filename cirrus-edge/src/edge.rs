//! The edge as a value: its components, built once by [`EdgeBuilder`],
//! shared by every connection. The request path lives in `proxy` and the
//! phase modules; this file owns construction and the public accessors.

use crate::cache::{Cache, CacheLocks, DiskCache, MemoryCache, Tiers};
use crate::domains::DomainTable;
use crate::error::Result;
use crate::hooks::{DefaultHooks, EdgeHooks};
use crate::observe::{AccessLog, EdgeMetrics, Observer, Sink};
use crate::settings::EdgeSettings;
use crate::source_state::SourceState;
use crate::tls::Certificates;
use crate::upstream::Upstream;
use cirrus_core::{EdgeSource, PurgeRequest};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// A running edge's shared state: cheap to clone, one per process (or
/// more, each with its own cache). `H` is the embedder's logic.
pub struct Edge<H: EdgeHooks = DefaultHooks> {
    pub(crate) inner: Arc<Inner<H>>,
}

impl<H: EdgeHooks> Clone for Edge<H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

pub(crate) struct Inner<H> {
    pub(crate) hooks: H,
    pub(crate) source: Arc<dyn EdgeSource>,
    /// A [`SourceState`], shared with the metrics' readiness gauges.
    pub(crate) source_state: Arc<AtomicU8>,
    /// When the source was last asked (Unix ms; 0: never).
    pub(crate) source_checked_ms: std::sync::atomic::AtomicU64,
    /// The node this edge reports as, when it has a node id.
    pub(crate) reporter: Option<crate::report::Reporter>,
    pub(crate) domains: Arc<DomainTable>,
    pub(crate) cache: Cache,
    pub(crate) upstream: Upstream,
    /// Client connections over every listener and worker: the budget and
    /// the cap per address.
    pub(crate) connections: crate::connections::Connections,
    pub(crate) settings: EdgeSettings,
    pub(crate) observer: Observer,
    pub(crate) tls: Option<TlsState>,
    /// This edge's part in shielding (docs/shielding.md).
    pub(crate) shield: crate::shield::Shield,
    /// How requests are traced; `None`: they are not.
    pub(crate) tracing: Option<crate::Tracing>,
}

impl<H> Inner<H> {
    pub(crate) fn source_state(&self) -> SourceState {
        SourceState::load(&self.source_state)
    }

    /// Records what the source answered just now.
    pub(crate) fn set_source_state(&self, state: SourceState) {
        self.source_state.store(state as u8, Ordering::Relaxed);
        self.source_checked_ms
            .store(cirrus_core::model::now_ms(), Ordering::Relaxed);
    }

    pub(crate) fn metrics(&self) -> &EdgeMetrics {
        &self.observer.metrics
    }
}

/// Certificates and the server configuration built over them.
pub(crate) struct TlsState {
    pub(crate) certs: Certificates,
    pub(crate) config: Arc<rustls::ServerConfig>,
}

impl<H: EdgeHooks> std::fmt::Debug for Edge<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("source", &self.inner.source)
            .field("domains", &self.inner.domains.len())
            .field("cache", &self.inner.cache.tiers().memory)
            .field("tls", &self.inner.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Edge`]: its configuration source, then optionally settings,
/// hooks, a disk tier, TLS, origin roots, an access log and a registry.
///
/// ```
/// use cirrus_core::StaticSource;
/// use cirrus_edge::{Certificates, Edge, EdgeSettings};
/// use std::sync::Arc;
///
/// let edge = Edge::builder(Arc::new(StaticSource::new()))
///     .settings(EdgeSettings::default())
///     .certificates(Certificates::self_signed()?)
///     .build()?;
/// assert!(edge.certificates().is_some());
/// # Ok::<(), cirrus_edge::Error>(())
/// ```
pub struct EdgeBuilder<H: EdgeHooks = DefaultHooks> {
    source: Arc<dyn EdgeSource>,
    hooks: H,
    settings: EdgeSettings,
    disk: Option<DiskCache>,
    certs: Option<Certificates>,
    origin_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    access_log: Option<Sink>,
    registry: Option<prometheus::Registry>,
    node_id: Option<String>,
    tracing: Option<crate::Tracing>,
}

impl<H: EdgeHooks> std::fmt::Debug for EdgeBuilder<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeBuilder")
            .field("source", &self.source)
            .field("settings", &self.settings)
            .field("disk", &self.disk)
            .field("certs", &self.certs)
            .field("access_log", &self.access_log)
            .finish_non_exhaustive()
    }
}

impl<H: EdgeHooks> EdgeBuilder<H> {
    /// The embedder's logic (default: [`DefaultHooks`]).
    pub fn hooks<H2: EdgeHooks>(self, hooks: H2) -> EdgeBuilder<H2> {
        EdgeBuilder {
            source: self.source,
            hooks,
            settings: self.settings,
            disk: self.disk,
            certs: self.certs,
            origin_roots: self.origin_roots,
            access_log: self.access_log,
            registry: self.registry,
            node_id: self.node_id,
            tracing: self.tracing,
        }
    }

    /// Limits, timeouts and cache sizes (default: [`EdgeSettings::default`]).
    pub fn settings(mut self, settings: EdgeSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Backs the memory cache with `disk` (it survives restarts).
    pub fn disk_cache(mut self, disk: DiskCache) -> Self {
        self.disk = Some(disk);
        self
    }

    /// The certificates [`Edge::serve_tls`] presents; those of served
    /// domains are read from the source at their first handshake.
    pub fn certificates(mut self, certs: Certificates) -> Self {
        self.certs = Some(certs);
        self
    }

    /// Trusts the PEM certificates in `pem` for HTTPS origins besides the
    /// platform's roots (an internal CA, say).
    pub fn origin_roots_pem(mut self, pem: &str) -> Result<Self> {
        self.origin_roots.extend(crate::tls::parse_roots(pem)?);
        Ok(self)
    }

    /// Writes one JSON line per request to `out`, from a thread of its own
    /// (default: no access log).
    pub fn access_log(mut self, out: impl std::io::Write + Send + 'static) -> Self {
        self.access_log = Some(Sink::Writer(Box::new(out)));
        self
    }

    /// Hands each request's JSON access log line to `each`, called from a
    /// thread of its own, never from a request.
    pub fn access_log_fn(mut self, each: impl FnMut(&str) + Send + 'static) -> Self {
        self.access_log = Some(Sink::Callback(Box::new(each)));
        self
    }

    /// The node id this edge reports as (default: none, no reports): once
    /// synced, it tells its source the revision it serves and when it
    /// applied it, after every event and every 10 s, and acknowledges each
    /// purge it applied (`GET /api/v1/purges/{id}` lists who did).
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.node_id = Some(id.into());
        self
    }

    /// Registers the edge's metrics in `registry` (default: a registry of
    /// its own, served on the admin listener either way). Fails at
    /// [`EdgeBuilder::build`] if the names are already registered there.
    pub fn registry(mut self, registry: prometheus::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Traces requests (default: not traced): a span per sampled request
    /// with its steps as children, W3C trace context to origins, the
    /// trace id in the access log and as exemplars of the request
    /// duration histogram (docs/observability.md#traces).
    pub fn tracing(mut self, tracing: crate::Tracing) -> Self {
        self.tracing = Some(tracing);
        self
    }

    /// The edge. It serves no domain until its configuration is loaded by
    /// [`Edge::load`] or [`Edge::sync`].
    pub fn build(self) -> Result<Edge<H>> {
        let settings = self.settings;
        let domains = Arc::new(DomainTable::new());
        let cache = Arc::new(Tiers::new(MemoryCache::new(settings.cache_memory), self.disk));
        let registry = self.registry.unwrap_or_default();
        let source_state = Arc::new(AtomicU8::new(SourceState::Starting as u8));
        let metrics = EdgeMetrics::register(registry, cache.clone(), domains.clone(), source_state.clone())?;
        let access_log = self.access_log.map(AccessLog::start).transpose()?;
        let tls = match self.certs {
            Some(certs) => {
                let certs = certs.with_source(self.source.clone());
                Some(TlsState {
                    config: certs.server_config()?,
                    certs,
                })
            }
            None => None,
        };
        let origin_tls = Arc::new(crate::tls::origin_client_config(&self.origin_roots)?);
        let upstream = Upstream::new(&settings, origin_tls, metrics.upstream.clone());
        let connections =
            crate::connections::Connections::new(settings.max_connections, settings.max_connections_per_ip);
        metrics
            .connections_limit
            .set(i64::try_from(connections.limit()).unwrap_or(i64::MAX));
        metrics.add(crate::observe::MemoryGauges::new(cache.clone(), connections.open())?)?;
        let shield_metrics = crate::shield::ShieldMetrics::register(metrics.registry())?;
        let shield = crate::shield::Shield::new(self.node_id.as_deref(), shield_metrics);
        Ok(Edge {
            inner: Arc::new(Inner {
                hooks: self.hooks,
                source: self.source,
                source_state,
                source_checked_ms: std::sync::atomic::AtomicU64::new(0),
                reporter: self.node_id.map(crate::report::Reporter::new),
                domains,
                cache: Cache::new(
                    cache,
                    CacheLocks::new(settings.cache_lock_age, settings.cache_lock_timeout),
                ),
                upstream,
                connections,
                settings,
                observer: Observer { metrics, access_log },
                tls,
                shield,
                tracing: self.tracing,
            }),
        })
    }
}

impl Edge {
    /// A builder for an edge serving the configuration of `source` (a
    /// store, or a [`cirrus_core::StaticSource`]).
    pub fn builder(source: Arc<dyn EdgeSource>) -> EdgeBuilder {
        EdgeBuilder {
            source,
            hooks: DefaultHooks,
            settings: EdgeSettings::default(),
            disk: None,
            certs: None,
            origin_roots: Vec::new(),
            access_log: None,
            registry: None,
            node_id: None,
            tracing: None,
        }
    }
}

impl<H: EdgeHooks> Edge<H> {
    /// The certificates presented by [`Edge::serve_tls`], if any.
    pub fn certificates(&self) -> Option<&Certificates> {
        self.inner.tls.as_ref().map(|t| &t.certs)
    }

    /// The Prometheus text of the edge's registry.
    pub fn render_metrics(&self) -> String {
        self.inner.metrics().render()
    }

    /// The revision of the configuration served (0 before the first load).
    pub fn revision(&self) -> u64 {
        self.inner.domains.revision()
    }

    /// Domains served.
    pub fn domain_count(&self) -> usize {
        self.inner.domains.len()
    }

    /// The memory cache.
    pub fn cache(&self) -> &MemoryCache {
        &self.inner.cache.tiers().memory
    }

    /// The disk cache, if any.
    pub fn disk_cache(&self) -> Option<&DiskCache> {
        self.inner.cache.tiers().disk.as_ref()
    }

    /// Drops what `purge` selects from every tier; returns how many
    /// responses were dropped.
    pub async fn purge(&self, purge: &PurgeRequest) -> usize {
        self.inner.cache.tiers().purge(purge).await
    }

    /// Empties every tier.
    pub async fn clear_cache(&self) {
        self.inner.cache.tiers().clear().await;
    }
}
