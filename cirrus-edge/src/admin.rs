//! The admin listener (default port 9145): `/healthz` (and its alias
//! `/readyz`) for health checkers and load balancers, `/metrics` for
//! Prometheus (allowed addresses only).

use crate::body::Body;
use crate::downstream::accept;
use crate::edge::{Edge, SourceState};
use crate::hooks::EdgeHooks;
use cirrus_core::model::AllowList;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

impl<H: EdgeHooks> Edge<H> {
    /// Serves `/healthz`, `/readyz` and `/metrics` on `listener` until
    /// `shutdown`.
    ///
    /// `/healthz` and `/readyz` answer the same JSON (the edge's health is
    /// its readiness: the DNS health checker takes it out of the zone
    /// while it is not ready): `status` is `starting` (503: no
    /// configuration loaded yet), `ok`, or `degraded` (still 200, so load
    /// balancers keep the edge: the source does not answer and the edge
    /// serves its last configuration); with `store` (`up`, `down`,
    /// `unknown`), the configuration `revision` served and the number of
    /// `domains`.
    pub async fn serve_admin(
        &self,
        listener: tokio::net::TcpListener,
        allow: AllowList,
        shutdown: impl Future<Output = ()>,
    ) -> crate::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = accept(&listener) => accepted,
            };
            let (edge, allow) = (self.clone(), allow.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let allowed = allow.allows(peer.ip());
                    let edge = edge.clone();
                    async move { Ok::<_, Infallible>(admin(&edge, &req, allowed)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// The `/healthz` answer: status code and JSON body.
    fn health(&self) -> (StatusCode, String) {
        let (status, store, code) = match self.inner.source_state() {
            SourceState::Starting => ("starting", "unknown", StatusCode::SERVICE_UNAVAILABLE),
            SourceState::Up => ("ok", "up", StatusCode::OK),
            SourceState::Down => ("degraded", "down", StatusCode::OK),
        };
        let body = serde_json::json!({
            "status": status,
            "store": store,
            "revision": self.revision(),
            "domains": self.domain_count(),
        });
        (code, format!("{body}\n"))
    }
}

fn admin<H: EdgeHooks>(edge: &Edge<H>, req: &Request<Incoming>, allowed: bool) -> Response<Body> {
    let reply = |status: StatusCode, content_type: &'static str, body: String| {
        let mut res = Response::new(Body::full(body));
        *res.status_mut() = status;
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        res
    };
    // The admin endpoints take no body: one declared is refused from the
    // header, before any byte of it is awaited.
    let length = req.headers().get(http::header::CONTENT_LENGTH).map(|v| v.as_bytes());
    let chunked = req.headers().contains_key(http::header::TRANSFER_ENCODING);
    if cirrus_core::lifecycle::declares_body(length, chunked) {
        let refused = cirrus_core::lifecycle::ADMIN_BODY_REFUSED;
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain; charset=utf-8",
            refused.into(),
        );
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/healthz" | "/readyz") => {
            let (status, body) = edge.health();
            reply(status, "application/json", body)
        }
        (&Method::GET, "/metrics") if allowed => {
            reply(StatusCode::OK, "text/plain; version=0.0.4", edge.render_metrics())
        }
        (&Method::GET, "/metrics") => reply(
            StatusCode::FORBIDDEN,
            "text/plain; charset=utf-8",
            "metrics are not allowed from this address\n".into(),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n".into()),
    }
}
