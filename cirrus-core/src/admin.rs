//! The admin listener every role serves (the edge, the DNS role, the
//! worker): one implementation, one contract.
//!
//! - `GET /healthz` and `GET /readyz` (and `HEAD`): the role's [`Health`]
//!   as JSON, 200 while it serves (`ok`, `degraded`), 503 otherwise
//!   (`starting`, `unavailable`), for everyone;
//! - `GET /metrics`: the Prometheus exposition, for the allowed addresses
//!   only (403 otherwise);
//! - a request announcing a body: 413 from its head; anything else: 404.
//!
//! Errors are the API's `{"error": {"code", "message"}}`. The listener
//! never stops the role: an accept error (out of descriptors) is logged
//! and retried after a pause; it returns when `shutdown` completes.
//!
//! ```no_run
//! use cirrus_core::admin::{AdminProbe, serve};
//! use cirrus_core::model::{AllowList, Health};
//! use std::sync::Arc;
//!
//! #[derive(Debug)]
//! struct Always;
//! #[async_trait::async_trait]
//! impl AdminProbe for Always {
//!     async fn health(&self) -> Health {
//!         Health::new("ok")
//!     }
//!     async fn metrics(&self) -> String {
//!         String::new()
//!     }
//! }
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! serve(listener, AllowList::default(), Arc::new(Always), std::future::pending()).await;
//! # Ok(()) }
//! ```

use crate::model::{AllowList, ErrorBody, ErrorDetail, Health};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What a role tells its admin listener.
#[async_trait::async_trait]
pub trait AdminProbe: Send + Sync + std::fmt::Debug + 'static {
    /// The role's health and readiness, checked now or from its last
    /// check (each [`crate::model::HealthCheck`] says how long ago).
    async fn health(&self) -> Health;
    /// The Prometheus text exposition, its gauges refreshed.
    async fn metrics(&self) -> String;
    /// The OpenMetrics exposition (with exemplars), for a scraper that
    /// asks for `application/openmetrics-text`; `None` (the default):
    /// the role has only the Prometheus text.
    async fn openmetrics(&self) -> Option<String> {
        None
    }
}

/// Serves the admin endpoints on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    allow: AllowList,
    probe: Arc<dyn AdminProbe>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut pause = Duration::from_millis(50);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "admin listener: accept failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        pause = Duration::from_millis(50);
        let allowed = allow.allows(peer.ip());
        let probe = probe.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let probe = probe.clone();
                async move { Ok::<_, Infallible>(answer(&*probe, &req, allowed).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The answer to one admin request.
async fn answer(probe: &dyn AdminProbe, req: &Request<Incoming>, allowed: bool) -> Response<Full<Bytes>> {
    let length = req.headers().get(CONTENT_LENGTH).map(|v| v.as_bytes());
    if crate::lifecycle::declares_body(length, req.headers().contains_key(TRANSFER_ENCODING)) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the admin endpoints take no request body",
        );
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/healthz" | "/readyz") => {
            let health = probe.health().await;
            let status = if health.is_serving() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(status, &health)
        }
        (&Method::GET, "/metrics") if allowed => {
            let accept = req.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok());
            let open = match accept {
                Some(a) if a.contains("application/openmetrics-text") => probe.openmetrics().await,
                _ => None,
            };
            match open {
                Some(text) => reply(StatusCode::OK, OPENMETRICS, text.into()),
                None => reply(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    probe.metrics().await.into(),
                ),
            }
        }
        (&Method::GET, "/metrics") => error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "metrics are not allowed from this address",
        ),
        (_, "/healthz" | "/readyz" | "/metrics") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "only GET")
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint: /healthz, /readyz, /metrics",
        ),
    }
}

/// The content type of the OpenMetrics text exposition.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    reply(status, "application/json", body.into())
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.into(),
            message: message.into(),
            details: Vec::new(),
        },
    };
    json(status, &body)
}
