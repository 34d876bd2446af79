//! `/api/v1/tokens`: service tokens, managed with the master token or a
//! portal session (never by a service token).
//! The secret is returned once, at creation; the store keeps its SHA-256.

use crate::auth::{Caller, MASTER_TOKEN_ID};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, Segment};
use crate::state::{RequestId, Shared, now_secs};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cirrus_core::auth::{generate_token, hash_secret};
use cirrus_core::model::{CreatedToken, EventType, ServiceToken, TokenList, TokenRequest};

/// The latest expiry a token may have (Unix seconds: 9999-12-31T23:59:59Z),
/// as the OpenAPI document says.
const LATEST_EXPIRY: u64 = 253_402_300_799;

/// Creates a service token; the secret is in this answer only.
#[utoipa::path(post, operation_id = "createToken", path = "/api/v1/tokens", tag = "tokens", request_body = TokenRequest,
    responses((status = 201, body = CreatedToken), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn create(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> ApiResult<Response> {
    caller.require_token_admin()?;
    let now = now_secs();
    if req.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::invalid_field("expires_at", "must be in the future"));
    }
    if req.expires_at.is_some_and(|e| e > LATEST_EXPIRY) {
        return Err(ApiError::invalid_field(
            "expires_at",
            "must be at most 253402300799 (the end of year 9999)",
        ));
    }
    let new = generate_token();
    let token = ServiceToken {
        id: new.id,
        name: req.name,
        scopes: req.scopes,
        domains: req.domains,
        created_at: now,
        expires_at: req.expires_at,
    }
    .validated()
    .map_err(ApiError::invalid)?;
    state.store.put_token(&token, &hash_secret(&new.secret)).await?;
    state.audit(caller.actor(), "token.create", &token.id, &rid).await?;
    state
        .event(EventType::TokenCreated, &token.id, None, caller.actor())
        .await?;
    let body = CreatedToken {
        token,
        secret: new.secret,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Lists service tokens (metadata, never secrets).
#[utoipa::path(get, operation_id = "listTokens", path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn list(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<TokenList>> {
    caller.require_token_admin()?;
    let items = state
        .store
        .tokens()
        .await?
        .into_iter()
        .filter(|t| t.id != MASTER_TOKEN_ID)
        .collect();
    Ok(Json(TokenList { items }))
}

/// Revokes a service token at once.
#[utoipa::path(delete, operation_id = "revokeToken", path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody, description = "No such service token (the master token is none: rotate it instead)"),
        (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn revoke(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(id): Segment,
) -> ApiResult<StatusCode> {
    caller.require_token_admin()?;
    if id == MASTER_TOKEN_ID {
        return Err(ApiError::not_found(
            "the master token is not a service token; rotate it with `cirrus api --rotate-master-token`",
        ));
    }
    if !state.store.delete_token(&id).await? {
        return Err(ApiError::not_found(format!("unknown token {id}")));
    }
    state.audit(caller.actor(), "token.revoke", &id, &rid).await?;
    state.event(EventType::TokenRevoked, &id, None, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
