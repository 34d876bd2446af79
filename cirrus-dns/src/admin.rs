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

/// 413 from the header for a request announcing a body (the admin
/// endpoints take none), before any byte of it is awaited.
async fn refuse_bodies(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = req.headers();
    let declares_body = headers.contains_key(axum::http::header::TRANSFER_ENCODING)
        || headers
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if declares_body {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the admin endpoints take no request body\n",
        )
            .into_response();
    }
    next.run(req).await
}
