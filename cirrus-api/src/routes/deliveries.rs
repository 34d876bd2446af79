//! `/api/v1/webhooks/{id}/deliveries` and `/dead-letters`: what the worker
//! tried, newest first, and what it gave up on; replaying one attempt's
//! event posts it once more (out of order, with its original id).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{QueryArgs, Segment, Segments};
use crate::routes::webhooks::find;
use crate::state::{RequestId, Shared, now_ms};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use cirrus_core::DELIVERY_LOG_LEN;
use cirrus_core::model::{Delivery, DeliveryList};
use serde::Deserialize;

/// How many attempts to show.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogArgs {
    /// 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

impl LogArgs {
    fn limit(&self) -> ApiResult<usize> {
        match self.limit.unwrap_or(100) {
            n @ 1..=DELIVERY_LOG_LEN => Ok(n),
            _ => Err(ApiError::invalid_field("limit", "must be 1-1000")),
        }
    }
}

/// The endpoint's newest attempts (the last 1000 are kept), newest first.
#[utoipa::path(get, operation_id = "listWebhookDeliveries", path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), LogArgs),
    responses((status = 200, body = DeliveryList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn list(
    State(state): State<Shared>,
    caller: Caller,
    Segment(id): Segment,
    QueryArgs(args): QueryArgs<LogArgs>,
) -> ApiResult<Json<DeliveryList>> {
    kept(&state, &caller, &id, &args, false).await
}

/// The log (or, `dead`, the dead letters) of an endpoint `caller` may see.
async fn kept(state: &Shared, caller: &Caller, id: &str, args: &LogArgs, dead: bool) -> ApiResult<Json<DeliveryList>> {
    let limit = args.limit()?;
    find(state, caller, id).await?;
    let items = if dead {
        state.store.dead_letters(id, limit).await?
    } else {
        state.store.deliveries(id, limit).await?
    };
    Ok(Json(DeliveryList { items }))
}

/// The events the worker gave up on after retrying for its whole retry
/// period (the last 1000 are kept), newest first; replay one to post it again.
#[utoipa::path(get, operation_id = "listWebhookDeadLetters", path = "/api/v1/webhooks/{id}/dead-letters", tag = "webhooks",
    params(("id" = String, Path), LogArgs),
    responses((status = 200, body = DeliveryList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn dead_letters(
    State(state): State<Shared>,
    caller: Caller,
    Segment(id): Segment,
    QueryArgs(args): QueryArgs<LogArgs>,
) -> ApiResult<Json<DeliveryList>> {
    kept(&state, &caller, &id, &args, true).await
}

/// Queues the event of one attempt (from the log or the dead letters) to
/// be posted once more by the worker, ahead of the stream, with the same
/// `webhook-id`; its outcome shows in the log as a replay.
#[utoipa::path(post, operation_id = "replayWebhookDelivery", path = "/api/v1/webhooks/{id}/deliveries/{delivery}/replay",
    tag = "webhooks", params(("id" = String, Path), ("delivery" = String, Path)),
    responses((status = 202, body = Delivery, description = "Queued: the attempt that will be made"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn replay(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segments(id, delivery): Segments,
) -> ApiResult<(StatusCode, Json<Delivery>)> {
    find(&state, &caller, &id).await?;
    let mut found = None;
    for kept in [
        state.store.deliveries(&id, DELIVERY_LOG_LEN).await?,
        state.store.dead_letters(&id, DELIVERY_LOG_LEN).await?,
    ] {
        found = found.or_else(|| kept.into_iter().find(|d| d.id == delivery));
    }
    let earlier = found.ok_or_else(|| ApiError::not_found(format!("no delivery {delivery} in {id}'s log")))?;
    let queued = Delivery {
        id: format!("dlv_{}", cirrus_core::auth::random_hex(8)),
        event: earlier.event,
        attempt: 1,
        replay: true,
        at: now_ms(),
        duration_ms: 0,
        outcome: cirrus_core::model::DeliveryOutcome::Failed,
        status: None,
        error: Some("queued, not yet posted".into()),
        next_attempt_at: Some(now_ms()),
    };
    state.store.queue_replay(&id, &queued).await?;
    state
        .audit(caller.actor(), "webhook.replay", &format!("{id}/{delivery}"), &rid)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}
