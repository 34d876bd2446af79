//! The proxy: HTTP/1.1 in, routing by Host, the cache, origins out.

use crate::access_log::AccessLog;
use crate::cache::{CacheKey, CachedResponse, DiskCache, Exchange, MemoryCache, Storability, bypasses, storability};
use crate::domains::DomainTable;
use crate::error::{Error, Result};
use crate::headers::{framing_problem, strip_hop_by_hop};
use crate::metrics::EdgeMetrics;
use crate::origin::OriginHealth;
use crate::server::Conn;
use crate::tls::Certificates;
use bytes::Bytes;
use cirrus_core::DomainConf;
use cirrus_core::model::{HeaderEdits, Origin, Scheme};
use http::header::{
    AGE, CONNECTION, CONTENT_LENGTH, ETAG, HOST, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, LOCATION,
    RANGE, STRICT_TRANSPORT_SECURITY, VIA,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::ServerName;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Bodies the edge sends: cached bytes or a stream from the origin.
pub(crate) type Body = BoxBody<Bytes, BoxError>;

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// Headers that would let a client turn a cached GET into something else.
const METHOD_OVERRIDES: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];
const VIA_VALUE: &str = "1.1 cirrus";

/// Limits and timeouts of an [`Edge`]; every field has a production default.
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// Bytes of memory cache (default 256 MiB).
    pub cache_memory: u64,
    /// Largest response stored (default 16 MiB); larger ones are streamed.
    pub max_object_size: u64,
    /// Largest request head (request line + headers) in bytes (default 32 KiB).
    pub max_header_bytes: usize,
    /// Most request headers (default 100).
    pub max_headers: usize,
    /// Time allowed to send the request head (default 10 s; slowloris).
    pub header_timeout: Duration,
    /// Largest request body forwarded (default 16 MiB); larger → 413.
    pub max_body_size: u64,
    /// Time to connect to an origin (default 3 s).
    pub origin_connect_timeout: Duration,
    /// Time for an origin to answer, and to send a body being cached (default 30 s).
    pub origin_timeout: Duration,
    /// How long an origin that failed is avoided (default 10 s).
    pub origin_down_for: Duration,
    /// Idle time after which pooled origin connections are closed (default
    /// 4 s: below the usual origin keep-alive, so the pool never reuses a
    /// socket the origin is closing).
    pub origin_idle_timeout: Duration,
    /// Write one JSON line per request to stdout (default false).
    pub access_log: bool,
    /// Client connections served at once (default 16384); further ones
    /// wait in the listen backlog.
    pub max_connections: usize,
    /// Concurrent streams per HTTP/2 connection (default 128).
    pub h2_max_concurrent_streams: u32,
    /// Port of the HTTPS listener, used in `force_https` redirects
    /// (default 443, left out of the `Location`).
    pub https_port: u16,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            cache_memory: 256 << 20,
            max_object_size: 16 << 20,
            max_header_bytes: 32 << 10,
            max_headers: 100,
            header_timeout: Duration::from_secs(10),
            max_body_size: 16 << 20,
            origin_connect_timeout: Duration::from_secs(3),
            origin_timeout: Duration::from_secs(30),
            origin_down_for: Duration::from_secs(10),
            origin_idle_timeout: Duration::from_secs(4),
            access_log: false,
            max_connections: 16_384,
            h2_max_concurrent_streams: 128,
            https_port: 443,
        }
    }
}

/// A running edge's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Edge {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) domains: Arc<DomainTable>,
    cache: MemoryCache,
    client: Client<HttpConnector, Body>,
    /// Clients for HTTPS origins, one per TLS server name (the pool must
    /// never hand a connection made for one name to another).
    https_clients: RwLock<HashMap<String, HttpsClient>>,
    origin_tls: Arc<rustls::ClientConfig>,
    health: OriginHealth,
    pub(crate) settings: EdgeSettings,
    pub(crate) metrics: EdgeMetrics,
    access_log: Option<AccessLog>,
    disk: Option<DiskCache>,
    pub(crate) tls: Option<TlsState>,
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Body>;

/// Certificates and the server configuration built over them.
pub(crate) struct TlsState {
    pub(crate) certs: Certificates,
    pub(crate) config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("domains", &self.inner.domains.len())
            .field("cache", &self.inner.cache)
            .field("tls", &self.inner.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds an [`Edge`]: settings, an optional disk tier, optional TLS.
///
/// ```
/// use cirrus_edge::{Certificates, DomainTable, Edge, EdgeSettings};
/// use std::sync::Arc;
///
/// let edge = Edge::builder(Arc::new(DomainTable::new()))
///     .settings(EdgeSettings::default())
///     .certificates(Certificates::self_signed()?)
///     .build()?;
/// assert!(edge.certificates().is_some());
/// # Ok::<(), cirrus_edge::Error>(())
/// ```
#[derive(Debug)]
pub struct EdgeBuilder {
    domains: Arc<DomainTable>,
    settings: EdgeSettings,
    disk: Option<DiskCache>,
    certs: Option<Certificates>,
    origin_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
}

impl EdgeBuilder {
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

    /// The certificates [`Edge::serve_tls`] presents.
    pub fn certificates(mut self, certs: Certificates) -> Self {
        self.certs = Some(certs);
        self
    }

    /// Roots trusted for HTTPS origins besides the platform's (an
    /// internal CA, say); see [`crate::tls::parse_roots`].
    pub fn origin_roots(mut self, roots: Vec<rustls_pki_types::CertificateDer<'static>>) -> Self {
        self.origin_roots = roots;
        self
    }

    /// The edge.
    pub fn build(self) -> Result<Edge> {
        let settings = self.settings;
        let metrics = EdgeMetrics::new().map_err(|e| Error::Config(format!("metrics: {e}")))?;
        let access_log = if settings.access_log {
            Some(AccessLog::start(Box::new(std::io::stdout()))?)
        } else {
            None
        };
        let tls = match self.certs {
            Some(certs) => Some(TlsState {
                config: certs.server_config()?,
                certs,
            }),
            None => None,
        };
        let origin_tls = Arc::new(crate::tls::origin_client_config(&self.origin_roots)?);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(settings.origin_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(http_connector(&settings, false));
        Ok(Edge {
            inner: Arc::new(Inner {
                domains: self.domains,
                cache: MemoryCache::new(settings.cache_memory),
                client,
                https_clients: RwLock::new(HashMap::new()),
                origin_tls,
                health: OriginHealth::default(),
                settings,
                metrics,
                access_log,
                disk: self.disk,
                tls,
            }),
        })
    }
}

/// Plain TCP to origins; `https` lets `https://` URIs through for a TLS wrapper.
fn http_connector(settings: &EdgeSettings, https: bool) -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(settings.origin_connect_timeout));
    connector.set_nodelay(true);
    connector.enforce_http(!https);
    connector
}

impl Edge {
    /// A builder for an edge serving `domains`.
    pub fn builder(domains: Arc<DomainTable>) -> EdgeBuilder {
        EdgeBuilder {
            domains,
            settings: EdgeSettings::default(),
            disk: None,
            certs: None,
            origin_roots: Vec::new(),
        }
    }

    /// An edge serving `domains` with `settings`, caching in memory only,
    /// without TLS.
    pub fn new(domains: Arc<DomainTable>, settings: EdgeSettings) -> Result<Self> {
        Self::builder(domains).settings(settings).build()
    }

    /// The certificates presented by [`Edge::serve_tls`], if any.
    pub fn certificates(&self) -> Option<&Certificates> {
        self.inner.tls.as_ref().map(|t| &t.certs)
    }

    /// The Prometheus text of this edge's metrics.
    pub(crate) fn render_metrics(&self) -> String {
        self.inner
            .metrics
            .render(&self.inner.cache, self.inner.domains.revision())
    }

    /// The domains served.
    pub fn domains(&self) -> &Arc<DomainTable> {
        &self.inner.domains
    }

    /// The memory cache.
    pub fn cache(&self) -> &MemoryCache {
        &self.inner.cache
    }

    /// The disk cache, if any.
    pub fn disk_cache(&self) -> Option<&DiskCache> {
        self.inner.disk.as_ref()
    }

    /// Drops what `purge` selects from every tier; returns how many
    /// responses were dropped.
    pub async fn purge(&self, purge: &cirrus_core::PurgeRequest) -> usize {
        let mut dropped = self.inner.cache.purge(purge);
        if let Some(disk) = &self.inner.disk {
            dropped += disk.purge(purge).await;
        }
        dropped
    }

    /// Empties every tier.
    pub async fn clear_cache(&self) {
        self.inner.cache.clear();
        if let Some(disk) = &self.inner.disk {
            disk.clear().await;
        }
    }
}

/// How a response relates to the cache, for `X-Cache` and `Cache-Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheResult {
    Hit,
    Miss { stored: bool },
    Expired { stored: bool },
    Revalidated,
    Bypass,
}

impl CacheResult {
    fn x_cache(self) -> &'static str {
        match self {
            CacheResult::Hit => "HIT",
            CacheResult::Miss { .. } => "MISS",
            CacheResult::Expired { .. } => "EXPIRED",
            CacheResult::Revalidated => "REVALIDATED",
            CacheResult::Bypass => "BYPASS",
        }
    }

    /// RFC 9211 `Cache-Status`.
    fn cache_status(self) -> &'static str {
        match self {
            CacheResult::Hit => "cirrus; hit",
            CacheResult::Miss { stored: true } => "cirrus; fwd=miss; stored",
            CacheResult::Miss { stored: false } => "cirrus; fwd=miss",
            CacheResult::Expired { stored: true } => "cirrus; fwd=stale; stored",
            CacheResult::Expired { stored: false } => "cirrus; fwd=stale",
            CacheResult::Revalidated => "cirrus; fwd=stale; fwd-status=304; stored",
            CacheResult::Bypass => "cirrus; fwd=bypass",
        }
    }
}

fn text(status: StatusCode, message: &'static str) -> Response<Body> {
    let mut res = Response::new(full(Bytes::from_static(message.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

pub(crate) fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Per-request facts gathered on the way, for metrics and the access log.
#[derive(Debug, Default)]
struct Ctx {
    conf: Option<Arc<DomainConf>>,
    upstream: Option<Duration>,
    cache: Option<&'static str>,
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub(crate) async fn handle(inner: &Inner, mut req: Request<Incoming>, conn: Conn) -> Response<Body> {
    let started = std::time::Instant::now();
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| v.to_str().is_ok_and(cirrus_core::model::is_request_id))
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&format!("{:032x}", rand::random::<u128>())).unwrap_or(HeaderValue::from_static("-"))
        });
    req.headers_mut().insert(X_REQUEST_ID, request_id.clone());
    // Only the access log needs these after the request is consumed.
    let logged = inner
        .access_log
        .as_ref()
        .map(|_| (req.method().clone(), req.uri().path().to_string()));
    let mut ctx = Ctx::default();
    let mut res = route(inner, req, conn, &mut ctx).await;
    res.headers_mut().insert(X_REQUEST_ID, request_id.clone());
    ctx.cache = res
        .headers()
        .get(&X_CACHE)
        .and_then(|v| v.to_str().ok())
        .and_then(cache_label);
    let host = ctx.conf.as_ref().map_or("unknown", |c| c.domain.as_str());
    let status = res.status().as_u16();
    let m = &inner.metrics;
    m.requests.with_label_values(&[host, status_label(status)]).inc();
    m.duration
        .with_label_values(&[host])
        .observe(started.elapsed().as_secs_f64());
    if let Some(c) = ctx.cache {
        m.cache_status.with_label_values(&[c]).inc();
    }
    if let (Some(log), Some((method, path))) = (&inner.access_log, logged) {
        let line = serde_json::json!({
            "ts": SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            "host": host,
            "method": method.as_str(),
            "path": path,
            "status": status,
            "bytes": http_body::Body::size_hint(res.body()).exact(),
            "upstream_ms": ctx.upstream.map(|d| d.as_secs_f64() * 1000.0),
            "cache": ctx.cache,
            "request_id": request_id.to_str().unwrap_or("-"),
            "peer": conn.peer.ip().to_string(),
        });
        if !log.log(line.to_string()) {
            m.access_log_dropped.inc();
        }
    }
    res
}

fn cache_label(x_cache: &str) -> Option<&'static str> {
    ["HIT", "MISS", "EXPIRED", "REVALIDATED", "BYPASS"]
        .into_iter()
        .find(|l| *l == x_cache)
}

/// Status codes as static labels (no allocation per request); rare codes
/// are counted by class.
fn status_label(status: u16) -> &'static str {
    const KNOWN: [(u16, &str); 14] = [
        (200, "200"),
        (204, "204"),
        (206, "206"),
        (301, "301"),
        (302, "302"),
        (304, "304"),
        (400, "400"),
        (403, "403"),
        (404, "404"),
        (413, "413"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    if let Some((_, label)) = KNOWN.iter().find(|(code, _)| *code == status) {
        return label;
    }
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

async fn route(inner: &Inner, req: Request<Incoming>, conn: Conn, ctx: &mut Ctx) -> Response<Body> {
    if let Some(why) = framing_problem(req.method(), req.headers()) {
        tracing::info!(peer = %conn.peer, why, "refused request framing");
        let mut res = text(StatusCode::BAD_REQUEST, "bad request framing\n");
        res.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        return res;
    }
    // The request target's authority wins over `Host` (RFC 9112 §3.2.2);
    // HTTP/2 requests carry only `:authority`.
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(HOST).and_then(|v| v.to_str().ok()))
        .unwrap_or("")
        .to_string();
    let Some(conf) = inner.domains.get(&host) else {
        tracing::info!(host = %host, "router: no conf for host");
        return text(StatusCode::NOT_FOUND, "unknown host\n");
    };
    ctx.conf = Some(conf.clone());
    if !conf.enabled {
        return text(StatusCode::FORBIDDEN, "domain disabled\n");
    }
    if conf.tls.force_https && !conn.tls {
        return to_https(&host, req.method(), req.uri(), inner.settings.https_port);
    }
    let cacheable = matches!(*req.method(), Method::GET | Method::HEAD) && !bypasses(&conf.cache, req.uri().path());
    let mut res = if cacheable {
        // The body of a GET is never read: close an HTTP/1 connection after
        // the answer rather than parse leftovers as a next request (HTTP/2
        // frames each stream, so dropping the body is enough there).
        let close = !req.body().is_end_stream() && req.version() < Version::HTTP_2;
        let mut res = through_cache(inner, &conf, &host, req, conn, ctx).await;
        if close {
            res.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        }
        res
    } else {
        forward(inner, &conf, &host, req, conn, ctx).await
    };
    apply_edits(res.headers_mut(), &conf.response_headers);
    res.headers_mut().append(VIA, HeaderValue::from_static(VIA_VALUE));
    if conn.tls
        && let Some(hsts) = &conf.tls.hsts
    {
        let mut value = format!("max-age={}", hsts.max_age);
        if hsts.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if hsts.preload {
            value.push_str("; preload");
        }
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(STRICT_TRANSPORT_SECURITY, v);
        }
    }
    res
}

/// The redirect of a plain-HTTP request to HTTPS: 301 for GET and HEAD,
/// 308 (method and body kept) for the rest.
fn to_https(host: &str, method: &Method, uri: &http::Uri, port: u16) -> Response<Body> {
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = if port == 443 {
        format!("https://{name}{target}")
    } else {
        format!("https://{name}:{port}{target}")
    };
    let status = if matches!(*method, Method::GET | Method::HEAD) {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let mut res = text(status, "use https\n");
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

fn with_cache_result(mut res: Response<Body>, result: CacheResult) -> Response<Body> {
    res.headers_mut()
        .insert(X_CACHE, HeaderValue::from_static(result.x_cache()));
    res.headers_mut()
        .insert(CACHE_STATUS, HeaderValue::from_static(result.cache_status()));
    res
}

async fn through_cache(
    inner: &Inner,
    conf: &DomainConf,
    host: &str,
    req: Request<Incoming>,
    conn: Conn,
    ctx: &mut Ctx,
) -> Response<Body> {
    let now = SystemTime::now();
    // The body of a GET is never read (see `route`).
    let (req, body) = req.into_parts();
    drop(body);
    let path_and_query = req.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let key = CacheKey::new(&conf.domain, &path_and_query, &req.headers, &conf.cache.key);
    let head = req.method == Method::HEAD;
    let mut stored = inner.cache.get(&key, &req.headers);
    if stored.is_none()
        && let Some(disk) = &inner.disk
        && let Some(found) = disk.get(&key, &req.headers).await
    {
        // Promote to memory: the next HIT costs no disk read.
        inner.cache.insert(key.clone(), &req.headers, found);
        stored = inner.cache.get(&key, &req.headers);
    }
    if let Some(hit) = &stored
        && hit.is_fresh(now)
    {
        return from_cache(hit, &req.headers, head, now, CacheResult::Hit);
    }
    // MISS or stale: one GET to the origin (conditional when we can revalidate).
    let request_headers = &req.headers;
    // The client's headers stay for the cache key, Vary and storability.
    let mut headers = origin_headers(conf, host, req.headers.clone(), conn);
    for name in [IF_NONE_MATCH, IF_MODIFIED_SINCE, IF_RANGE, RANGE] {
        headers.remove(name);
    }
    for name in METHOD_OVERRIDES {
        headers.remove(name);
    }
    if let Some(stale) = &stored {
        if let Some(etag) = stale.headers.get(ETAG) {
            headers.insert(IF_NONE_MATCH, etag.clone());
        }
        if let Some(lm) = stale.headers.get(LAST_MODIFIED) {
            headers.insert(IF_MODIFIED_SINCE, lm.clone());
        }
    }
    let res = match send(inner, conf, &Method::GET, &path_and_query, headers, None, ctx).await {
        Ok(res) => res,
        Err(res) => return res,
    };
    let (mut parts, body) = res.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let (Some(stale), StatusCode::NOT_MODIFIED) = (&stored, parts.status) {
        // Revalidated: the stored body with the origin's fresh headers
        // (RFC 9111 §3.2), except those that describe the body itself.
        let mut merged = stale.headers.clone();
        for name in parts.headers.keys() {
            if *name != CONTENT_LENGTH {
                merged.remove(name);
            }
        }
        for (name, value) in &parts.headers {
            if *name != CONTENT_LENGTH {
                merged.append(name.clone(), value.clone());
            }
        }
        if let Some(refreshed) = store(
            inner,
            conf,
            &key,
            request_headers,
            stale.status,
            merged,
            stale.body.clone(),
            now,
        ) {
            return from_cache(&refreshed, request_headers, head, now, CacheResult::Revalidated);
        }
        let mut res = Response::new(if head { empty() } else { full(stale.body.clone()) });
        *res.status_mut() = stale.status;
        *res.headers_mut() = stale.headers.clone();
        return with_cache_result(res, CacheResult::Expired { stored: false });
    }
    let exchange = Exchange {
        method: &Method::GET,
        path: path_and_query.split('?').next().unwrap_or("/"),
        request: request_headers,
        status: parts.status,
        response: &parts.headers,
    };
    let decision = storability(&conf.cache, &exchange, now);
    let declared = content_length(&parts.headers);
    let fits = declared.is_none_or(|len| len <= inner.settings.max_object_size);
    if matches!(decision, Storability::Store { .. }) && fits {
        let bytes = match read_up_to(body, inner.settings.max_object_size, inner.settings.origin_timeout).await {
            Ok(bytes) => bytes,
            Err(Overflow::Body(rest)) => {
                // Larger than a cacheable object: passed through, not stored.
                let result = if stored.is_some() {
                    CacheResult::Expired { stored: false }
                } else {
                    CacheResult::Miss { stored: false }
                };
                return with_cache_result(Response::from_parts(parts, if head { empty() } else { rest }), result);
            }
            Err(Overflow::Failed) => return text(StatusCode::BAD_GATEWAY, "origin body failed\n"),
        };
        if declared.is_none() {
            // Stored with its real length; the chunked framing was hop-by-hop.
            parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        }
        let kept = store(
            inner,
            conf,
            &key,
            request_headers,
            parts.status,
            parts.headers.clone(),
            bytes.clone(),
            now,
        )
        .is_some();
        let result = if stored.is_some() {
            CacheResult::Expired { stored: kept }
        } else {
            CacheResult::Miss { stored: kept }
        };
        let mut res = Response::from_parts(parts, if head { empty() } else { full(bytes) });
        res.headers_mut().remove(AGE);
        return with_cache_result(res, result);
    }
    let result = if stored.is_some() {
        CacheResult::Expired { stored: false }
    } else {
        CacheResult::Miss { stored: false }
    };
    let body = if head {
        empty()
    } else {
        body.map_err(BoxError::from).boxed()
    };
    with_cache_result(Response::from_parts(parts, body), result)
}

/// Stores a response when its (possibly refreshed) headers allow it;
/// returns the stored entry.
#[allow(clippy::too_many_arguments)]
fn store(
    inner: &Inner,
    conf: &DomainConf,
    key: &CacheKey,
    request_headers: &HeaderMap,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    now: SystemTime,
) -> Option<Arc<CachedResponse>> {
    let Storability::Store { ttl, age, revalidate } = storability(
        &conf.cache,
        &Exchange {
            method: &Method::GET,
            path: key.path(),
            request: request_headers,
            status,
            response: &headers,
        },
        now,
    ) else {
        return None;
    };
    let entry = CachedResponse::new(status, headers, body, now, ttl, age).revalidated_when_stale(revalidate);
    if let Some(disk) = &inner.disk {
        // Written in the background: the client does not wait for the disk.
        let (disk, key, request_headers, entry) = (disk.clone(), key.clone(), request_headers.clone(), entry.clone());
        tokio::spawn(async move {
            if let Err(e) = disk.insert(&key, &request_headers, &entry).await {
                tracing::warn!(error = %e, "disk cache write failed");
            }
        });
    }
    inner.cache.insert(key.clone(), request_headers, entry);
    inner.cache.get(key, request_headers)
}

/// Answers from a stored response: `Age` set, a matching `If-None-Match`
/// answered 304.
fn from_cache(
    entry: &CachedResponse,
    request: &HeaderMap,
    head: bool,
    now: SystemTime,
    result: CacheResult,
) -> Response<Body> {
    let not_modified = match (request.get(IF_NONE_MATCH), entry.headers.get(ETAG)) {
        (Some(inm), Some(etag)) => etag_matches(inm, etag),
        _ => false,
    };
    let mut res = if not_modified || head {
        Response::new(empty())
    } else {
        Response::new(full(entry.body.clone()))
    };
    *res.status_mut() = if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        entry.status
    };
    *res.headers_mut() = entry.headers.clone();
    if not_modified {
        res.headers_mut().remove(CONTENT_LENGTH);
    }
    res.headers_mut().insert(AGE, HeaderValue::from(entry.age(now)));
    with_cache_result(res, result)
}

/// Weak comparison (RFC 9110 §13.1.2): `*`, or any listed tag equal to the
/// stored one once `W/` is dropped.
fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let (Ok(list), Ok(etag)) = (if_none_match.to_str(), etag.to_str()) else {
        return false;
    };
    let etag = strip(etag);
    list.split(',').any(|t| t.trim() == "*" || strip(t) == etag)
}

/// The headers sent to the origin: the client's (taken), minus hop-by-hop
/// ones, with forwarding headers and the domain's edits.
fn origin_headers(conf: &DomainConf, host: &str, mut headers: HeaderMap, conn: Conn) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    let xff = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {}", conn.peer.ip()),
        None => conn.peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    let proto = if conn.tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(X_FORWARDED_HOST, v);
    }
    headers.append(VIA, HeaderValue::from_static(VIA_VALUE));
    apply_edits(&mut headers, &conf.request_headers);
    headers
}

fn apply_edits(headers: &mut HeaderMap, edits: &HeaderEdits) {
    for name in &edits.remove {
        headers.remove(name.as_str());
    }
    for (name, value) in &edits.set {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    }
}

/// Sends to the domain's origins in order until one answers. Idempotent
/// requests without a body are retried on the next origin after a connect
/// error or a timeout; any other request is sent once. The error is the
/// answer to give the client.
async fn send(
    inner: &Inner,
    conf: &DomainConf,
    method: &Method,
    path_and_query: &str,
    mut headers: HeaderMap,
    mut body: Option<Body>,
    ctx: &mut Ctx,
) -> std::result::Result<Response<Incoming>, Response<Body>> {
    let origins = inner.health.order(&conf.origins, rand::random::<f64>());
    let tries = if idempotent(method) && body.is_none() {
        origins.len()
    } else {
        1
    };
    let client_host = headers.get(X_FORWARDED_HOST).cloned();
    let mut last = text(StatusCode::BAD_GATEWAY, "no origin answered\n");
    for (i, origin) in origins.into_iter().take(tries).enumerate() {
        let Ok(uri) = format!("{origin}{path_and_query}").parse::<http::Uri>() else {
            return Err(text(StatusCode::BAD_REQUEST, "bad request target\n"));
        };
        let mut req = Request::new(body.take().unwrap_or_else(empty));
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri;
        // Copied only when another origin may be tried after this one.
        *req.headers_mut() = if i + 1 < tries {
            headers.clone()
        } else {
            std::mem::take(&mut headers)
        };
        let host = origin
            .host_header
            .as_ref()
            .and_then(|h| HeaderValue::from_str(h).ok())
            .or_else(|| client_host.clone());
        if let Some(h) = host {
            req.headers_mut().insert(HOST, h);
        }
        let asked = std::time::Instant::now();
        let request = match origin.scheme {
            Scheme::Https => match inner.https_client(origin) {
                Some(client) => client.request(req),
                None => {
                    tracing::warn!(origin = %origin, "origin: no usable TLS server name");
                    last = text(StatusCode::BAD_GATEWAY, "origin tls name invalid\n");
                    continue;
                }
            },
            _ => inner.client.request(req),
        };
        let outcome = tokio::time::timeout(inner.settings.origin_timeout, request).await;
        let took = asked.elapsed();
        ctx.upstream = Some(ctx.upstream.unwrap_or_default() + took);
        inner.metrics.upstream_response.observe(took.as_secs_f64());
        match outcome {
            Ok(Ok(res)) => return Ok(res),
            Ok(Err(e)) => {
                inner.metrics.upstream_errors.inc();
                tracing::warn!(origin = %origin, error = %e, "origin request failed");
                if e.is_connect() {
                    inner.health.mark_down(origin, inner.settings.origin_down_for);
                }
                last = text(StatusCode::BAD_GATEWAY, "origin unreachable\n");
            }
            Err(_) => {
                inner.metrics.upstream_timeouts.inc();
                tracing::warn!(origin = %origin, "origin timed out");
                inner.health.mark_down(origin, inner.settings.origin_down_for);
                last = text(StatusCode::GATEWAY_TIMEOUT, "origin timed out\n");
            }
        }
    }
    Err(last)
}

impl Inner {
    /// The client for an HTTPS origin, by the TLS server name it is sent
    /// (`sni`, else `host_header`, else `host`).
    /// `None` when that name is not a DNS name or IP address.
    fn https_client(&self, origin: &Origin) -> Option<HttpsClient> {
        let name = origin
            .sni
            .as_deref()
            .or(origin.host_header.as_deref())
            .unwrap_or(&origin.host);
        if let Some(client) = self.https_clients.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Some(client.clone());
        }
        let server_name = ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']').to_string()).ok()?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.origin_tls).clone())
            .https_only()
            .with_server_name_resolver(FixedServerNameResolver::new(server_name))
            .enable_http1()
            .wrap_connector(http_connector(&self.settings, true));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(self.settings.origin_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        let mut clients = self.https_clients.write().unwrap_or_else(|p| p.into_inner());
        Some(clients.entry(name.to_string()).or_insert(client).clone())
    }
}

fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

/// Requests that skip the cache: streamed both ways, body size capped.
async fn forward(
    inner: &Inner,
    conf: &DomainConf,
    host: &str,
    req: Request<Incoming>,
    conn: Conn,
    ctx: &mut Ctx,
) -> Response<Body> {
    let declared = content_length(req.headers());
    if declared.is_some_and(|len| len > inner.settings.max_body_size) {
        let mut res = text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        res.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        return res;
    }
    let (parts, body) = req.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let headers = origin_headers(conf, host, parts.headers, conn);
    let limit = usize::try_from(inner.settings.max_body_size).unwrap_or(usize::MAX);
    let body = (!body.is_end_stream()).then(|| Limited::new(body, limit).boxed());
    let method = parts.method;
    let res = match send(inner, conf, &method, path_and_query, headers, body, ctx).await {
        Ok(res) => res,
        Err(res) => return res,
    };
    let (mut parts, body) = res.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let body = if method == Method::HEAD {
        empty()
    } else {
        body.map_err(BoxError::from).boxed()
    };
    with_cache_result(Response::from_parts(parts, body), CacheResult::Bypass)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Why a body could not be read whole.
enum Overflow {
    /// It grew past the limit: what was read, followed by the rest.
    Body(Body),
    /// The origin failed or was too slow.
    Failed,
}

/// Reads `body` whole if it is at most `max` bytes and arrives within
/// `timeout`; a longer one comes back as a body that replays what was read.
async fn read_up_to(body: Incoming, max: u64, timeout: Duration) -> std::result::Result<Bytes, Overflow> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(next) => next,
            Err(_) => return Err(Overflow::Failed),
        };
        match next {
            None => return Ok(buf.freeze()),
            Some(Err(_)) => return Err(Overflow::Failed),
            Some(Ok(chunk)) => {
                buf.extend_from_slice(&chunk);
                if buf.len() as u64 > max {
                    let read = futures_util::stream::once(async move { Ok::<_, BoxError>(buf.freeze()) });
                    let rest = stream.map(|r| r.map_err(BoxError::from));
                    let frames = read.chain(rest).map(|r| r.map(hyper::body::Frame::data));
                    return Err(Overflow::Body(BodyExt::boxed(http_body_util::StreamBody::new(frames))));
                }
            }
        }
    }
}
