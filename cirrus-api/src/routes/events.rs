//! `GET /api/v1/events`: the event stream a page at a time, and
//! `GET /api/v1/events/stream`: the same as Server-Sent Events, resumed
//! from `Last-Event-ID`. Both filter by type and subject; a token limited
//! to some domains sees only their events.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::QueryArgs;
use crate::state::Shared;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use cirrus_core::model::{EventId, EventList, EventRecord, EventType, Scope};
use futures_util::Stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

/// Events read for one page at most, as a multiple of its limit: a filter
/// that matches little answers a short page (and where it stopped)
/// instead of reading the whole stream.
const SCAN: usize = 10;
/// How often a live stream asks the store for what is new.
const POLL: Duration = Duration::from_millis(250);

/// Paging and filters of `GET /api/v1/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventArgs {
    /// The `next_after` (or an event's `id`) of the last page: events
    /// after it. From the oldest kept when absent.
    #[param(pattern = r"^[0-9]{1,20}-[0-9]{1,20}$")]
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

/// Where a live stream starts and what it shows.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamArgs {
    /// Events after this id; without it (and without `Last-Event-ID`),
    /// only what is written from now on.
    #[param(pattern = r"^[0-9]{1,20}-[0-9]{1,20}$")]
    after: Option<String>,
    /// Only these types, comma-separated.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only events about this subject.
    subject: Option<String>,
}

/// What a reader asked to see, and may see.
struct Filter {
    kinds: Option<Vec<EventType>>,
    subject: Option<String>,
    caller: Caller,
}

impl Filter {
    fn new(caller: Caller, kinds: Option<&str>, subject: Option<String>) -> ApiResult<Self> {
        let kinds = kinds
            .map(|list| list.split(',').map(|t| t.trim().parse()).collect())
            .transpose()
            .map_err(|e: String| ApiError::invalid_field("type", e))?;
        Ok(Self { kinds, subject, caller })
    }

    fn matches(&self, e: &EventRecord) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&e.kind))
            && self.subject.as_ref().is_none_or(|s| *s == e.subject)
            && (self.caller.covers_all() || e.domain.as_deref().is_some_and(|d| self.caller.covers(d)))
    }
}

fn event_id(field: &str, raw: Option<&str>) -> ApiResult<Option<EventId>> {
    raw.map(str::parse)
        .transpose()
        .map_err(|e: String| ApiError::invalid_field(field, e))
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
    let after = event_id("after", args.after.as_deref())?;
    let filter = Filter::new(caller, args.kind.as_deref(), args.subject)?;
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
            if filter.matches(&event) {
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

/// The events as they are written, as Server-Sent Events (`id` the
/// event's id, `event` its type, `data` the event's JSON). A reconnecting
/// client's `Last-Event-ID` resumes after that event; `after` does the
/// same for the first connection; with neither, the stream starts now.
/// The stream ends when the store fails (reconnect to resume).
#[utoipa::path(get, operation_id = "streamEvents", path = "/api/v1/events/stream", tag = "operations", params(StreamArgs,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (sent by EventSource on reconnect)")),
    responses((status = 200, content_type = "text/event-stream", description = "Server-Sent Events, one per event"),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "Too many streams open on this API process")),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn stream(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    QueryArgs(args): QueryArgs<StreamArgs>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    caller.require(Scope::Read)?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let from = match resume {
        Some(id) => event_id("Last-Event-ID", Some(id))?,
        None => event_id("after", args.after.as_deref())?,
    };
    let filter = Filter::new(caller, args.kind.as_deref(), args.subject)?;
    let slot = state.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "too many event streams open; retry later",
        )
    })?;
    let cursor = match (resume, args.after.as_deref()) {
        (None, None) => state.store.newest_event().await?,
        _ => from,
    };
    let live = Live {
        state,
        filter,
        cursor,
        ready: VecDeque::new(),
        _slot: slot,
    };
    // Opened with the reconnection delay: the headers and a first chunk
    // leave at once, before any event is written.
    let opened = SseEvent::default().retry(Duration::from_secs(2)).comment("open");
    let events = futures_util::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok(event), live))
    });
    let events = futures_util::StreamExt::chain(futures_util::stream::once(async { Ok(opened) }), events);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One live stream: where it is, what it holds back, its slot.
struct Live {
    state: Shared,
    filter: Filter,
    cursor: Option<EventId>,
    ready: VecDeque<EventRecord>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Live {
    /// The next matching event as an SSE event, waiting for one to be
    /// written; `None` (the end) when the store fails.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                let data = serde_json::to_string(&e).ok()?;
                return Some(SseEvent::default().id(e.id).event(e.kind.as_str()).data(data));
            }
            let page = match self.state.store.events_after(self.cursor, 100).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "event stream ended: the store failed");
                    return None;
                }
            };
            if page.is_empty() {
                tokio::time::sleep(POLL).await;
                continue;
            }
            for event in page {
                self.cursor = event.id.parse().ok();
                if self.filter.matches(&event) {
                    self.ready.push_back(event);
                }
            }
        }
    }
}
