//! The DNS role's admin listener: `/metrics` for allowed addresses,
//! `/healthz` (liveness) and `/readyz` (a zone is served: 200 with its
//! serial, else 503 `starting`) for everyone. At each scrape the store is
//! asked for its revision, for `cirrus_store_up`.

use crate::metrics::DnsMetrics;
use axum::Json;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::routing::get;
use cirrus_core::Store;
use cirrus_core::model::AllowList;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Serves until `shutdown` completes; a failure is logged.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    metrics: DnsMetrics,
    store: Arc<dyn Store>,
    allow: AllowList,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let readiness = metrics.clone();
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let (serving, serial, records) = (
                    readiness.serving(),
                    readiness.zone_serial.get(),
                    readiness.zone_records.get(),
                );
                async move {
                    if serving {
                        let body = serde_json::json!({ "status": "ready", "serial": serial, "records": records });
                        (StatusCode::OK, Json(body))
                    } else {
                        let body = serde_json::json!({ "status": "starting" });
                        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
                let (metrics, store, allowed) = (metrics.clone(), store.clone(), allow.allows(peer.ip()));
                async move {
                    if !allowed {
                        return (StatusCode::FORBIDDEN, "forbidden\n".to_string());
                    }
                    metrics.store_up.set(i64::from(store.revision().await.is_ok()));
                    metrics.ready.set(i64::from(metrics.serving()));
                    (StatusCode::OK, metrics.render())
                }
            }),
        )
        .layer(axum::middleware::from_fn(refuse_bodies));
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "dns metrics listener failed");
    }
}

/// 413 from the head for a request announcing a body (see
/// [`cirrus_core::lifecycle::declares_body`]).
async fn refuse_bodies(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    use axum::response::IntoResponse;
    let headers = req.headers();
    let length = headers.get(CONTENT_LENGTH).map(|v| v.as_bytes());
    if cirrus_core::lifecycle::declares_body(length, headers.contains_key(TRANSFER_ENCODING)) {
        let status = axum::http::StatusCode::PAYLOAD_TOO_LARGE;
        return (status, cirrus_core::lifecycle::ADMIN_BODY_REFUSED).into_response();
    }
    next.run(req).await
}
