//! Operations: `/healthz`, `/readyz`, `/metrics`, `/api/v1/audit`, and the JSON
//! answers for unknown routes and methods.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::QueryArgs;
use crate::state::Shared;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cirrus_core::model::{AuditList, Health, Scope};
use serde::Deserialize;

/// 200 `ok` when the store answers a round trip within 500 ms, else 503
/// `unavailable` (the design's health check, which load balancers and the
/// seed's monitors use). The same contract as every role's admin listener.
#[utoipa::path(get, operation_id = "getHealth", path = "/healthz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub(crate) async fn healthz(State(state): State<Shared>) -> Response {
    store_check(&state).await
}

/// Readiness, the same answer: an API that cannot reach its store cannot
/// serve.
#[utoipa::path(get, operation_id = "getReadiness", path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub(crate) async fn readyz(State(state): State<Shared>) -> Response {
    store_check(&state).await
}

/// The store's health: 200 or 503 with the [`Health`] body.
async fn store_check(state: &Shared) -> Response {
    let health = cirrus_core::lifecycle::store_health(&*state.store).await;
    let code = if health.is_serving() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(health)).into_response()
}

/// Prometheus metrics (text format).
#[utoipa::path(get, operation_id = "getMetrics", path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<Shared>) -> Response {
    state.metrics.refresh(&*state.store).await;
    match state.metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Paging of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditArgs {
    /// Records to return, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// The newest audit records, newest first. A token limited to some
/// domains sees the records of those domains only.
#[utoipa::path(get, operation_id = "listAudit", path = "/api/v1/audit", tag = "operations", params(AuditArgs),
    responses((status = 200, body = AuditList), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn audit(
    State(state): State<Shared>,
    caller: Caller,
    QueryArgs(args): QueryArgs<AuditArgs>,
) -> ApiResult<Json<AuditList>> {
    caller.require(Scope::Read)?;
    let limit = args.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be 1-1000"));
    }
    let items = state
        .store
        .recent_audit(limit)
        .await?
        .into_iter()
        .filter(|r| caller.covers(&r.resource))
        .collect();
    Ok(Json(AuditList { items }))
}

/// Unknown route.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /docs")
}

/// Known route, wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}
