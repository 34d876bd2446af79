//! `GET /api/v1/events`: the event stream, a page at a time, filtered by
//! type and subject; a token limited to some domains sees only their
//! events.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::QueryArgs;
use crate::state::Shared;
use axum::Json;
use axum::extract::State;
use cirrus_core::model::{EventId, EventList, EventRecord, EventType, Scope};
use serde::Deserialize;

/// Events read for one page at most, as a multiple of its limit: a filter
/// that matches little answers a short page (and where it stopped)
/// instead of reading the whole stream.
const SCAN: usize = 10;

/// Paging and filters of `GET /api/v1/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventArgs {
    /// The `next_after` (or an event's `id`) of the last page: events
    /// after it. From the oldest kept when absent.
    after: Option<String>,
    /// Only these types, comma-separated (`domain.created,domain.deleted`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only events about this subject (a domain, node id, token id or purge id).
    subject: Option<String>,
    /// Events to return, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// The events after `after`, oldest first, that match the filters. Poll
/// with the answer's `next_after` to follow the stream.
#[utoipa::path(get, operation_id = "listEvents", path = "/api/v1/events", tag = "operations", params(EventArgs),
    responses((status = 200, body = EventList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn list(
    State(state): State<Shared>,
    caller: Caller,
    QueryArgs(args): QueryArgs<EventArgs>,
) -> ApiResult<Json<EventList>> {
    caller.require(Scope::Read)?;
    let limit = args.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::invalid_field("limit", "must be 1-1000"));
    }
    let after: Option<EventId> = args
        .after
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: String| ApiError::invalid_field("after", e))?;
    let kinds: Option<Vec<EventType>> = args
        .kind
        .as_deref()
        .map(|list| list.split(',').map(|t| t.trim().parse()).collect())
        .transpose()
        .map_err(|e: String| ApiError::invalid_field("type", e))?;
    let wanted = |e: &EventRecord| {
        kinds.as_ref().is_none_or(|k| k.contains(&e.kind))
            && args.subject.as_ref().is_none_or(|s| *s == e.subject)
            && (caller.covers_all() || e.domain.as_deref().is_some_and(|d| caller.covers(d)))
    };

    let mut cursor = after;
    let mut items = Vec::new();
    let mut scanned = 0;
    'pages: while scanned < SCAN * limit {
        let page = state.store.events_after(cursor, limit).await?;
        if page.is_empty() {
            break;
        }
        for event in page {
            scanned += 1;
            cursor = event.id.parse().ok();
            if wanted(&event) {
                items.push(event);
                if items.len() == limit {
                    break 'pages;
                }
            }
        }
    }
    Ok(Json(EventList {
        items,
        next_after: cursor.map(|c| c.to_string()),
    }))
}
