//! What a request's phases and hooks see of it: the client's request head,
//! the connection it came on, its request id, and from routing on the
//! domain serving it; and, once answered, the summary the logging phase
//! gets.

use crate::cache::CacheStatus;
use crate::error::ProxyError;
use crate::head::{Fields, RequestHead};
use crate::trace::RequestTrace;
use cirrus_core::DomainConf;
use http::{Method, StatusCode, Uri, Version};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What a request handler knows of its connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conn {
    pub(crate) peer: SocketAddr,
    pub(crate) tls: bool,
}

/// One client request on its way through the edge.
///
/// Hooks may change the request head ([`Session::headers_mut`],
/// [`Session::uri_mut`]) in [`crate::EdgeHooks::request_filter`]: what
/// follows (the cache key, the request to the origin) sees the change.
#[derive(Debug)]
pub struct Session {
    head: RequestHead,
    conn: Conn,
    request_id: RequestId,
    domain: Option<Arc<DomainConf>>,
    /// A peer edge asked, with a valid shield credential.
    from_peer: bool,
    /// The request's trace, when the edge traces.
    trace: Option<RequestTrace>,
}

impl Session {
    pub(crate) fn new(head: RequestHead, conn: Conn, request_id: RequestId, trace: Option<RequestTrace>) -> Self {
        Self {
            head,
            conn,
            request_id,
            domain: None,
            from_peer: false,
            trace,
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request target.
    pub fn uri(&self) -> &Uri {
        &self.head.uri
    }

    /// The request target, to rewrite it (before the cache key is made).
    pub fn uri_mut(&mut self) -> &mut Uri {
        &mut self.head.uri
    }

    /// The path and query of the target (`/` when it has none).
    pub fn path_and_query(&self) -> &str {
        self.head.uri.path_and_query().map_or("/", |p| p.as_str())
    }

    /// The HTTP version the client spoke.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The client's request header fields (with `X-Request-Id` set).
    pub fn headers(&self) -> &Fields {
        &self.head.fields
    }

    /// The request header fields, to change what is keyed and forwarded.
    pub fn headers_mut(&mut self) -> &mut Fields {
        &mut self.head.fields
    }

    /// The client's request head: method, target, version and fields.
    pub fn head(&self) -> &RequestHead {
        &self.head
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.conn.peer
    }

    /// True when the request came over TLS.
    pub fn is_tls(&self) -> bool {
        self.conn.tls
    }

    /// The request id: the client's `X-Request-Id` when well formed, else one made here.
    pub fn request_id(&self) -> &str {
        self.request_id.as_str()
    }

    /// The domain serving the request; `None` only before routing found
    /// one (an unknown host, a malformed request).
    pub fn domain(&self) -> Option<&Arc<DomainConf>> {
        self.domain.as_ref()
    }

    /// A copy of the request head, for work that outlives the request (a
    /// background refresh).
    pub(crate) fn detached(&self) -> Self {
        Self {
            head: self.head.clone(),
            conn: self.conn,
            request_id: self.request_id.clone(),
            domain: self.domain.clone(),
            from_peer: self.from_peer,
            trace: None,
        }
    }

    /// True when another edge of the cluster asked, as a shield's client
    /// (its `Cirrus-Shield` credential verified): it is answered from
    /// this edge's cache or origin, never from a third edge, and the
    /// forwarding fields it sent are trusted.
    pub fn from_peer(&self) -> bool {
        self.from_peer
    }

    pub(crate) fn set_from_peer(&mut self) {
        self.from_peer = true;
    }

    pub(crate) fn set_domain(&mut self, conf: Arc<DomainConf>) {
        self.domain = Some(conf);
    }

    /// The request's trace context (its trace id and the edge's span for
    /// it), for a hook's own spans to be its children; `None` when the
    /// edge does not trace ([`crate::EdgeBuilder::tracing`]).
    pub fn trace_context(&self) -> Option<opentelemetry::trace::SpanContext> {
        self.trace.as_ref().map(RequestTrace::span_context)
    }

    pub(crate) fn trace(&self) -> Option<&RequestTrace> {
        self.trace.as_ref()
    }

    /// The clock at the start of a traced step (sampled requests only).
    pub(crate) fn clock(&self) -> Option<std::time::Instant> {
        self.trace.as_ref()?.clock()
    }

    /// Records a traced step that started at `start` ([`Session::clock`]).
    pub(crate) fn step(&self, name: &'static str, start: Option<std::time::Instant>) {
        if let Some(t) = &self.trace {
            t.step(name, start, crate::trace::Detail::None);
        }
    }

    pub(crate) fn conn(&self) -> Conn {
        self.conn
    }

    pub(crate) fn request_id_value(&self) -> &RequestId {
        &self.request_id
    }
}

/// A request's id: one made here, or the client's `X-Request-Id`.
#[derive(Debug, Clone)]
pub(crate) enum RequestId {
    /// 128 random bits in lowercase hex.
    Made([u8; 32]),
    /// The client's, checked with [`cirrus_core::model::is_request_id`].
    Given(Box<str>),
}

impl RequestId {
    /// A new id: 128 bits in hex, two steps of [`random_u64`](crate::hashing::random_u64).
    pub(crate) fn new() -> Self {
        let mut bits = [0u8; 16];
        for half in bits.chunks_exact_mut(8) {
            half.copy_from_slice(&crate::hashing::random_u64().to_le_bytes());
        }
        let mut hex = [0u8; 32];
        cirrus_core::auth::write_hex(&bits, &mut hex);
        Self::Made(hex)
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Hex digits are text.
            Self::Made(hex) => std::str::from_utf8(hex).unwrap_or("-"),
            Self::Given(id) => id,
        }
    }

    /// The id's bytes: visible ASCII, a valid field value.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Made(hex) => hex,
            Self::Given(id) => id.as_bytes(),
        }
    }
}

/// How a request ended, for [`crate::EdgeHooks::logging`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestSummary {
    /// The status answered.
    pub status: StatusCode,
    /// How the cache took part; `None` when the request never reached it
    /// (refused, redirected, answered by a hook).
    pub cache: Option<CacheStatus>,
    /// Time spent waiting for origins' response heads, all attempts together.
    pub upstream: Option<Duration>,
    /// Which tier answered; `None` when the edge answered itself (an
    /// error, a redirect, a hook's answer).
    pub tier: Option<Tier>,
    /// Time from the request head to the response head.
    pub duration: Duration,
    /// Why the request could not be proxied, when it could not.
    pub error: Option<ProxyError>,
    /// Body bytes of the answer, when known in advance.
    pub body_bytes: Option<u64>,
}

/// Which tier answered a request (the access log's `tier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tier {
    /// This edge's cache, with no request upstream (a HIT, a stale answer).
    Cache,
    /// Another edge of the cluster, as the object's shield.
    Peer,
    /// The origin.
    Origin,
}

impl Tier {
    /// `cache`, `peer` or `origin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Cache => "cache",
            Tier::Peer => "peer",
            Tier::Origin => "origin",
        }
    }
}
