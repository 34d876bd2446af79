//! `/api/v1/nodes`: edge nodes with their health; enable/disable
//! (quarantine) without touching the rest of the node.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, Segment, decode, with_path_key};
use crate::state::{RequestId, Shared};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cirrus_core::Node;
use cirrus_core::model::{EventType, NodeList, Scope};
use serde_json::Value;

/// Fields of a node that the health checker and the edge own: ignored in
/// a PUT (see the `NodeInput` schema).
pub(crate) const SERVER_OWNED: &[&str] = &["active", "health", "last_seen", "edge"];

async fn existing(state: &Shared, id: &str) -> ApiResult<Node> {
    state
        .store
        .get_node(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unknown node {id}")))
}

/// All nodes, sorted by id, health included, and for each that runs an
/// edge the revision it serves, when it applied it and how far behind it is.
#[utoipa::path(get, operation_id = "listNodes", path = "/api/v1/nodes", tag = "nodes",
    responses((status = 200, body = NodeList), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn list(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<NodeList>> {
    caller.require(Scope::Read)?;
    let items = super::purges::with_lag(&*state.store, state.store.nodes().await?).await?;
    Ok(Json(NodeList { items }))
}

/// One node, health included.
#[utoipa::path(get, operation_id = "getNode", path = "/api/v1/nodes/{id}", tag = "nodes", params(("id" = String, Path)),
    responses((status = 200, body = Node), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn get(State(state): State<Shared>, caller: Caller, Segment(id): Segment) -> ApiResult<Json<Node>> {
    caller.require(Scope::Read)?;
    let node = existing(&state, &id).await?;
    let nodes = super::purges::with_lag(&*state.store, vec![node]).await?;
    let node = nodes
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("unknown node {id}")))?;
    Ok(Json(node))
}

/// Creates (201) or replaces (200) a node's operator settings (addresses,
/// weight, enabled); the server-owned `active`, `health`, `last_seen` and
/// `edge` are read-only: ignored when sent, kept as the checker and the
/// edge wrote them. `id` in the body may be omitted; when present it must
/// match the path.
#[utoipa::path(put, operation_id = "putNode", path = "/api/v1/nodes/{id}", tag = "nodes", params(("id" = String, Path)),
    request_body(content = Object, description = "A `NodeInput`: the operator's settings; server-owned fields are ignored"),
    responses((status = 201, body = Node), (status = 200, body = Node), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn put(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(id): Segment,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    caller.require(Scope::Nodes)?;
    let mut body = with_path_key(body, "id", &id, |v| v == id)?;
    // Health is the checker's and `edge` the edge's: what a caller sends
    // for them is ignored, whatever it holds (a new node starts active, as
    // the checker would find it until a probe fails).
    if let Value::Object(map) = &mut body {
        for server_owned in SERVER_OWNED {
            map.remove(*server_owned);
        }
    }
    let node: Node = decode(body)?;
    let node = node.validated().map_err(ApiError::invalid)?;
    let was_enabled = state.store.get_node(&node.id).await?.map(|n| n.enabled);
    let write = state.store.put_node(&node).await?;
    state.audit(caller.actor(), "node.put", &node.id, &rid).await?;
    match was_enabled {
        Some(false) if node.enabled => {
            state
                .event(EventType::NodeEnabled, &node.id, None, caller.actor())
                .await?
        }
        Some(true) if !node.enabled => {
            state
                .event(EventType::NodeDisabled, &node.id, None, caller.actor())
                .await?
        }
        _ => {}
    }
    let stored = existing(&state, &node.id).await?;
    let status = if write.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(stored)).into_response())
}

/// Deletes a node.
#[utoipa::path(delete, operation_id = "deleteNode", path = "/api/v1/nodes/{id}", tag = "nodes", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn delete(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(id): Segment,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Nodes)?;
    if state.store.delete_node(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("unknown node {id}")));
    }
    state.audit(caller.actor(), "node.delete", &id, &rid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts a node back into service.
#[utoipa::path(post, operation_id = "enableNode", path = "/api/v1/nodes/{id}/enable", tag = "nodes", params(("id" = String, Path)),
    responses((status = 200, body = Node), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn enable(
    state: State<Shared>,
    caller: Caller,
    rid: Extension<RequestId>,
    id: Segment,
) -> ApiResult<Json<Node>> {
    set_enabled(state, caller, rid, id, true).await
}

/// Quarantines a node: it keeps its settings but gets no traffic.
#[utoipa::path(post, operation_id = "disableNode", path = "/api/v1/nodes/{id}/disable", tag = "nodes", params(("id" = String, Path)),
    responses((status = 200, body = Node), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn disable(
    state: State<Shared>,
    caller: Caller,
    rid: Extension<RequestId>,
    id: Segment,
) -> ApiResult<Json<Node>> {
    set_enabled(state, caller, rid, id, false).await
}

async fn set_enabled(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(id): Segment,
    enabled: bool,
) -> ApiResult<Json<Node>> {
    caller.require(Scope::Nodes)?;
    let mut node = existing(&state, &id).await?;
    let flipped = node.enabled != enabled;
    if flipped {
        node.enabled = enabled;
        state.store.put_node(&node).await?;
    }
    let action = if enabled { "node.enable" } else { "node.disable" };
    state.audit(caller.actor(), action, &id, &rid).await?;
    if flipped {
        let kind = if enabled {
            EventType::NodeEnabled
        } else {
            EventType::NodeDisabled
        };
        state.event(kind, &id, None, caller.actor()).await?;
    }
    Ok(Json(existing(&state, &id).await?))
}
