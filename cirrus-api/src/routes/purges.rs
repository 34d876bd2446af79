//! `GET /api/v1/purges/{id}`: which registered edges applied a purge, with
//! their delays, and which have not; and the convergence helpers the node
//! and domain views share (how far each edge is behind).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Segment;
use crate::state::Shared;
use axum::Json;
use axum::extract::State;
use cirrus_core::model::{EdgeConvergence, PurgeStatus, Scope, now_ms};
use cirrus_core::{Change, Event, Node, Store};

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
pub(crate) async fn with_lag(store: &dyn Store, mut nodes: Vec<Node>) -> ApiResult<Vec<Node>> {
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
pub(crate) async fn edges_serving(store: &dyn Store, domain: &str) -> ApiResult<Vec<EdgeConvergence>> {
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
