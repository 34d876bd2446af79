//! `/api/v1/auth`: portal login (Argon2id password → session cookie),
//! logout, and who the caller is.

use crate::auth::{Caller, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::JsonBody;
use crate::state::{ClientAddr, RequestId, Shared, now_secs};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cirrus_core::auth::{generate_session_id, random_hex};
use cirrus_core::model::{Identity, LoginRequest, LoginResponse, Session};

/// Opens a session: sets the HttpOnly, SameSite=Strict `cirrus_session`
/// cookie and returns the CSRF token to send in `x-csrf-token`.
#[utoipa::path(post, operation_id = "login", path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn login(
    State(state): State<Shared>,
    Extension(rid): Extension<RequestId>,
    Extension(ClientAddr(address)): Extension<ClientAddr>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    let valid_name = !req.username.is_empty() && req.username.len() <= 128;
    let name = if valid_name { req.username.as_str() } else { "" };
    state.login.admit(&address, name)?;
    let user = if valid_name {
        state.store.get_user(&req.username).await?
    } else {
        None
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = state.login.verify(req.password, hash).await?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::unauthorized("invalid user name or password"));
    };
    let now = now_secs();
    let ttl = state.config.session_ttl;
    let session = Session::new(generate_session_id(), user.name.clone(), random_hex(32), now);
    state.store.put_session(&session, ttl).await?;
    state
        .audit(format!("user:{}", user.name), "session.login", &user.name, &rid)
        .await?;
    let cookie = cookie(&session.id, ttl.as_secs(), state.config.secure_cookies);
    let body = LoginResponse {
        user: user.name,
        csrf_token: session.csrf_token,
        expires_at: now + ttl.as_secs(),
    };
    let mut res = Json(body).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(res)
}

fn cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    // Session ids are hex, so the header value is always valid.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("cirrus_session=; Max-Age=0"))
}

/// Ends the caller's session and clears the cookie (needs `x-csrf-token`).
#[utoipa::path(post, operation_id = "logout", path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 403, body = ErrorBody, description = "A missing CSRF token, or a bearer caller (it has no session)")),
    security(("session" = [])))]
pub(crate) async fn logout(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
) -> ApiResult<Response> {
    let Caller::User(session) = &caller else {
        return Err(ApiError::forbidden(
            "logout ends a portal session; bearer tokens have none",
        ));
    };
    state.store.delete_session(&session.id).await?;
    state
        .audit(caller.actor(), "session.logout", &session.user, &rid)
        .await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, state.config.secure_cookies));
    Ok(res)
}

/// Who the caller is, with scopes and domains.
#[utoipa::path(get, operation_id = "getIdentity", path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Identity), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn me(caller: Caller) -> Json<Identity> {
    Json(caller.identity())
}
