//! The admin listener (default port 9145): `/healthz` for health checkers
//! and `/metrics` for Prometheus, the latter only to allowed addresses.

use crate::proxy::{Body, Edge, full};
use crate::server::accept;
use bytes::Bytes;
use cirrus_core::model::AllowList;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

impl Edge {
    /// Serves `/healthz` and `/metrics` on `listener` until `shutdown`.
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
}

fn admin(edge: &Edge, req: &Request<Incoming>, allowed: bool) -> Response<Body> {
    let reply = |status: StatusCode, body: String| {
        let mut res = Response::new(full(Bytes::from(body)));
        *res.status_mut() = status;
        res
    };
    match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/healthz") => reply(StatusCode::OK, "ok\n".into()),
        (&Method::GET, "/metrics") if allowed => {
            let mut res = reply(StatusCode::OK, edge.render_metrics());
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            res
        }
        (&Method::GET, "/metrics") => reply(
            StatusCode::FORBIDDEN,
            "metrics are not allowed from this address\n".into(),
        ),
        _ => reply(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}
