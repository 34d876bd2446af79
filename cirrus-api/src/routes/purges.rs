//! `GET /api/v1/purges/{id}`: which registered edges applied a purge, with
//! their delays, and which have not; `GET /api/v1/purges`: the recent ones;
//! and the convergence helpers the node and domain views share (how far
//! each edge is behind).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{QueryArgs, Segment};
use crate::state::Shared;
use axum::Json;
use axum::extract::State;
use cirrus_core::model::{EdgeConvergence, PurgeList, PurgeStatus, Scope, now_ms};
use cirrus_core::{Change, ChangeFeed, Event, Node, NodeStore};
use serde::Deserialize;

/// Purges the store keeps (a day, at most this many): what a filtered
/// listing reads.
const KEPT: usize = 10_000;

/// Filters of `GET /api/v1/purges`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PurgeArgs {
    /// Purges to return, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Only the purges some reporting edge has not applied yet.
    pending: Option<bool>,
    /// Only this domain's purges (a name that cannot be a domain matches
    /// none).
    domain: Option<String>,
}

/// The purges of the last day, newest first, each with where it stands on
/// the edges (as `GET /api/v1/purges/{id}`). A token limited to some
/// domains sees the purges of those domains only.
#[utoipa::path(get, operation_id = "listPurges", path = "/api/v1/purges", tag = "domains", params(PurgeArgs),
    responses((status = 200, body = PurgeList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn list(
    State(state): State<Shared>,
    caller: Caller,
    QueryArgs(args): QueryArgs<PurgeArgs>,
) -> ApiResult<Json<PurgeList>> {
    caller.require(Scope::Read)?;
    let limit = args.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be 1-1000"));
    }
    // A name that cannot be a domain matches no purge.
    let domain = args
        .domain
        .map(|d| cirrus_core::model::normalize_domain(&d).unwrap_or(d));
    let pending = args.pending.unwrap_or(false);
    // Unfiltered, the newest `limit` are the answer; filtered, every kept one is read.
    let filtered = pending || domain.is_some() || !caller.covers_all();
    let records = state.store.recent_purges(if filtered { KEPT } else { limit }).await?;
    let nodes = state.store.nodes().await?;
    let now = now_ms();
    let items = records
        .into_iter()
        .filter(|r| caller.covers(&r.domain) && domain.as_ref().is_none_or(|d| *d == r.domain))
        .map(|r| PurgeStatus::new(r, &nodes, now))
        .filter(|s| !pending || !s.complete)
        .take(limit)
        .collect();
    Ok(Json(PurgeList { items }))
}

/// Where a purge stands: the edges that applied it (with when, and the
/// delay from publication), the reporting edges still pending, and the
/// registered nodes whose edge is silent (not waited for). Purges are kept
/// for a day.
#[utoipa::path(get, operation_id = "getPurge", path = "/api/v1/purges/{id}", tag = "domains", params(("id" = String, Path)),
    responses((status = 200, body = PurgeStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn get(
    State(state): State<Shared>,
    caller: Caller,
    Segment(id): Segment,
) -> ApiResult<Json<PurgeStatus>> {
    caller.require(Scope::Read)?;
    let unknown = || ApiError::not_found(format!("unknown purge {id} (purges are kept for a day)"));
    let record = state.store.purge_record(&id).await?.ok_or_else(unknown)?;
    // A token limited to other domains learns nothing, not even that it exists.
    caller
        .require_domain(Scope::Read, &record.domain)
        .map_err(|_| unknown())?;
    let nodes = state.store.nodes().await?;
    Ok(Json(PurgeStatus::new(record, &nodes, now_ms())))
}

/// `nodes` with how many revisions each edge is behind the store.
pub(crate) async fn with_lag(store: &dyn ChangeFeed, mut nodes: Vec<Node>) -> ApiResult<Vec<Node>> {
    if nodes.iter().any(|n| n.edge.is_some()) {
        let current = store.revision().await?;
        for report in nodes.iter_mut().filter_map(|n| n.edge.as_mut()) {
            report.behind = Some(current.saturating_sub(report.revision));
        }
    }
    Ok(nodes)
}

/// Each reporting edge, and whether it serves `domain`'s current
/// configuration: its revision is at or past the domain's last change.
pub(crate) async fn edges_serving<S: ChangeFeed + NodeStore + ?Sized>(
    store: &S,
    domain: &str,
) -> ApiResult<Vec<EdgeConvergence>> {
    let now = now_ms();
    let edges: Vec<(String, u64)> = store
        .nodes()
        .await?
        .into_iter()
        .filter_map(|n| Some((n.id, n.edge.filter(|e| e.is_live(now))?.revision)))
        .collect();
    let Some(oldest) = edges.iter().map(|(_, rev)| *rev).min() else {
        return Ok(Vec::new());
    };
    // The domain's last change after the oldest edge's revision, if any.
    let since = store.changes_since(oldest).await?;
    let changed = since
        .records
        .iter()
        .rev()
        .find(|r| {
            r.events()
                .iter()
                .any(|e| matches!(e, Event::Changed { change: Change::Domain(d), .. } if d == domain))
        })
        .map(|r| r.revision);
    Ok(edges
        .into_iter()
        .map(|(node, revision)| {
            // A trimmed log cannot show what an edge that far behind missed.
            let current = since.complete && changed.is_none_or(|c| revision >= c);
            EdgeConvergence {
                node,
                revision,
                current,
            }
        })
        .collect())
}
