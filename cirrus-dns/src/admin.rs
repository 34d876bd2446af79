//! The DNS role's admin listener: `/metrics` for allowed addresses,
//! `/healthz` for everyone.

use crate::metrics::DnsMetrics;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::routing::get;
use cirrus_core::model::AllowList;
use std::future::Future;
use std::net::SocketAddr;

/// Serves until `shutdown` completes; a failure is logged.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    metrics: DnsMetrics,
    allow: AllowList,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = axum::Router::new().route("/healthz", get(|| async { "ok\n" })).route(
        "/metrics",
        get(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
            let (metrics, allowed) = (metrics.clone(), allow.allows(peer.ip()));
            async move {
                if allowed {
                    (StatusCode::OK, metrics.render())
                } else {
                    (StatusCode::FORBIDDEN, "forbidden\n".to_string())
                }
            }
        }),
    );
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "dns metrics listener failed");
    }
}
