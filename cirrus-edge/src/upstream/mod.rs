//! The upstream phase: the request head sent to origins (hop-by-hop
//! headers out, forwarding headers in, the domain's edits), the order in
//! which origins are tried, and the exchange with retries. Failures come
//! back as [`ProxyError`]s; whether to try again is decided from them.

mod body;
mod choice;
mod conn;
mod key;
mod pool;

use crate::body::Body;
use crate::error::{ErrorKind, ProxyError};
use crate::headers::{apply_edits, strip_hop_by_hop};
use crate::observe::UpstreamMetrics;
use crate::session::Conn;
use crate::settings::EdgeSettings;
pub(crate) use body::OriginBody;
use choice::OriginHealth;
use cirrus_core::DomainConf;
use cirrus_core::model::Origin;
use http::header::VIA;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
pub(crate) use pool::set_worker;
use pool::{Failed, Pools};
use std::sync::Arc;
use std::time::Duration;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub(crate) const VIA_VALUE: &str = "1.1 cirrus";

/// The headers sent to the origin: the client's, minus hop-by-hop ones,
/// with forwarding headers and the domain's edits.
pub(crate) fn origin_headers(conf: &DomainConf, host: &str, mut headers: HeaderMap, conn: Conn) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    let xff = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {}", conn.peer.ip()),
        None => conn.peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::try_from(xff) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    let proto = if conn.tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    // The client's own `Host` value when it is the host (shared, not copied).
    let value = match headers.get(http::header::HOST) {
        Some(v) if v.as_bytes() == host.as_bytes() => Some(v.clone()),
        _ => HeaderValue::from_str(host).ok(),
    };
    if let Some(v) = value {
        headers.insert(X_FORWARDED_HOST, v);
    }
    headers.append(VIA, HeaderValue::from_static(VIA_VALUE));
    apply_edits(&mut headers, &conf.request_headers);
    headers
}

/// The head of a request to the origin: `method`, the origin-form of
/// `target` (path and query), `headers`.
pub(crate) fn upstream_head(method: Method, target: &http::Uri, headers: HeaderMap) -> http::request::Parts {
    let mut req = Request::new(());
    *req.method_mut() = method;
    if let Some(pq) = target.path_and_query() {
        *req.uri_mut() = http::Uri::from(pq.clone());
    }
    *req.headers_mut() = headers;
    req.into_parts().0
}

/// Which origins a request may go to.
#[derive(Debug)]
pub(crate) enum Targets<'a> {
    /// The domain's, by weight and health, with failover.
    Domain(&'a [Origin]),
    /// One origin a hook chose: no failover.
    Only(Origin),
}

/// Everything the edge needs to talk to origins.
#[derive(Debug)]
pub(crate) struct Upstream {
    pools: Pools,
    health: OriginHealth,
    timeout: Duration,
    down_for: Duration,
    metrics: UpstreamMetrics,
}

impl Upstream {
    pub(crate) fn new(settings: &EdgeSettings, tls: Arc<rustls::ClientConfig>, metrics: UpstreamMetrics) -> Self {
        Self {
            pools: Pools::new(settings, tls),
            health: OriginHealth::default(),
            timeout: settings.origin_timeout,
            down_for: settings.origin_down_for,
            metrics,
        }
    }

    /// Whether every origin of `targets` failed recently (connect error or
    /// timeout within `origin_down_for`, and none answered since).
    pub(crate) fn all_down(&self, targets: &Targets<'_>) -> bool {
        match targets {
            Targets::Domain(origins) => self.health.all_down(origins, self.down_for),
            Targets::Only(origin) => self.health.all_down(std::slice::from_ref(origin), self.down_for),
        }
    }

    /// Sends `head` (with an origin-form target) and `body` until an origin
    /// answers. An idempotent request without a body goes to the next
    /// origin after an error that allows a retry, and once more on a new
    /// connection to the same origin when a reused one died before any byte
    /// of the answer (the keep-alive race); any other request is sent once.
    /// `waited` accumulates the time spent waiting for answers.
    pub(crate) async fn send(
        &self,
        targets: Targets<'_>,
        head: http::request::Parts,
        body: Option<Body>,
        waited: &mut Option<Duration>,
    ) -> Result<Response<OriginBody>, ProxyError> {
        let ordered = match &targets {
            Targets::Domain(origins) => self.health.order(origins, rand::random::<f64>()),
            Targets::Only(origin) => vec![origin],
        };
        let replayable = idempotent(&head.method) && body.is_none();
        let tries = if replayable { ordered.len() } else { 1 };
        let mut body = body;
        let mut last = None;
        let mut raced = false;
        let attempts = ordered.into_iter().take(tries).flat_map(|o| [(o, false), (o, true)]);
        for (origin, fresh) in attempts {
            if fresh && !(replayable && raced) {
                continue;
            }
            let host = host_for(origin, &head.headers);
            // One clock read for the deadline and the timing.
            let asked = tokio::time::Instant::now();
            let sent = self.pools.send(origin, &head, &host, body.take(), fresh);
            let outcome = tokio::time::timeout_at(asked + self.timeout, sent).await;
            let took = asked.elapsed();
            *waited = Some(waited.unwrap_or_default() + took);
            self.metrics.response.observe(took.as_secs_f64());
            let Failed { error, reused } = match outcome {
                Ok(Ok(res)) => {
                    self.health.mark_up(origin);
                    return Ok(res);
                }
                Ok(Err(failed)) => failed,
                Err(_) => Failed {
                    error: ProxyError::new(ErrorKind::OriginTimeout, "origin timed out"),
                    reused: false,
                },
            };
            match error.kind() {
                ErrorKind::OriginTimeout => self.metrics.timeouts.inc(),
                _ => self.metrics.errors.inc(),
            }
            tracing::warn!(origin = %origin, error = %error, fresh, reused, "origin request failed");
            if matches!(error.kind(), ErrorKind::OriginConnect | ErrorKind::OriginTimeout) {
                self.health.mark_down(origin, self.down_for);
            }
            raced = reused && error.kind() == ErrorKind::OriginClosed;
            let retry = error.retryable();
            last = Some(error);
            if !retry {
                break;
            }
        }
        Err(last.unwrap_or_else(|| ProxyError::new(ErrorKind::OriginConnect, "no origin answered")))
    }
}

/// The `Host` sent to `origin`: its `host_header`, else the client's, else
/// the origin's address.
fn host_for(origin: &Origin, headers: &HeaderMap) -> HeaderValue {
    origin
        .host_header
        .as_ref()
        .and_then(|h| HeaderValue::from_str(h).ok())
        .or_else(|| headers.get(X_FORWARDED_HOST).cloned())
        .or_else(|| {
            let o = origin.to_string();
            HeaderValue::from_str(o.split_once("://").map_or(o.as_str(), |(_, authority)| authority)).ok()
        })
        .unwrap_or(HeaderValue::from_static("localhost"))
}

fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}
