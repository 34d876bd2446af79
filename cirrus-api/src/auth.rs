//! Who is calling and what they may do: the master token, service tokens
//! with scopes and domain lists, and portal sessions (cookie + CSRF).

use crate::error::{ApiError, ApiResult};
use crate::state::{ClientAddr, Shared, now_secs};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cirrus_core::auth::{hash_secret, secrets_equal};
use cirrus_core::model::{Identity, Scope, ServiceToken, Session};
use std::net::SocketAddr;

/// Id under which a generated master token's hash is stored.
pub(crate) const MASTER_TOKEN_ID: &str = "master";
/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "cirrus_session";
/// Header carrying the CSRF token of a session.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The master token: everything, including token management.
    Master,
    /// A service token: its scopes, on its domains.
    Token(ServiceToken),
    /// A portal user: every scope on every domain, but no token management.
    User(Session),
}

impl Caller {
    /// Identity recorded in the audit stream; also the rate-limit key.
    pub(crate) fn actor(&self) -> String {
        match self {
            Caller::Master => "master".into(),
            Caller::Token(t) => format!("token:{}", t.id),
            Caller::User(s) => format!("user:{}", s.user),
        }
    }

    pub(crate) fn identity(&self) -> Identity {
        let (kind, id, scopes, domains) = match self {
            Caller::Master => ("master", "master".to_string(), Scope::ALL.to_vec(), None),
            Caller::Token(t) => ("token", t.id.clone(), t.scopes.clone(), t.domains.clone()),
            Caller::User(s) => ("user", s.user.clone(), Scope::ALL.to_vec(), None),
        };
        Identity {
            kind: kind.into(),
            id,
            scopes,
            domains,
        }
    }

    /// 403 unless the caller holds `scope`.
    pub(crate) fn require(&self, scope: Scope) -> ApiResult<()> {
        match self {
            Caller::Token(t) if !t.has_scope(scope) => Err(ApiError::forbidden(format!(
                "this token lacks the {:?} scope",
                scope.as_str()
            ))),
            _ => Ok(()),
        }
    }

    /// 403 unless the caller holds `scope` and may touch `domain`.
    pub(crate) fn require_domain(&self, scope: Scope, domain: &str) -> ApiResult<()> {
        self.require(scope)?;
        if self.covers(domain) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("this token may not touch {domain}")))
        }
    }

    /// The domains a token is limited to; `None` for every domain.
    pub(crate) fn domain_list(&self) -> Option<&[String]> {
        match self {
            Caller::Token(t) => t.domains.as_deref(),
            _ => None,
        }
    }

    /// True when the caller may see every domain (no token domain list).
    pub(crate) fn covers_all(&self) -> bool {
        match self {
            Caller::Token(t) => t.domains.is_none(),
            _ => true,
        }
    }

    /// True when the caller may see or touch `domain`.
    pub(crate) fn covers(&self, domain: &str) -> bool {
        match self {
            Caller::Token(t) => t.covers_domain(domain),
            _ => true,
        }
    }

    /// 403 unless this caller may manage service tokens: the master token,
    /// or a portal user (an administrator the operator created, holding
    /// every scope already). Service tokens never mint tokens.
    pub(crate) fn require_token_admin(&self) -> ApiResult<()> {
        match self {
            Caller::Master | Caller::User(_) => Ok(()),
            Caller::Token(_) => Err(ApiError::forbidden(
                "service tokens are managed with the master token or a portal session",
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("authentication required"))
    }
}

/// Authenticates, rate-limits and checks CSRF for `/api/v1` (login is only
/// rate-limited). Unauthenticated callers are limited by IP address.
pub(crate) async fn guard(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
    req.extensions_mut().insert(ClientAddr(ip.clone()));
    let login = req.uri().path().ends_with("/auth/login");
    let caller = if login {
        Ok(None)
    } else {
        resolve(&state, req.method(), req.headers()).await.map(Some)
    };
    let key = match &caller {
        Ok(Some(c)) => c.actor(),
        _ => format!("ip:{ip}"),
    };
    if let Some(limiter) = &state.limiter
        && let Err(retry_after) = limiter.check(&key)
    {
        return ApiError::rate_limited(retry_after).into_response();
    }
    if caller.is_ok()
        && !login
        && req.method() != Method::GET
        && !req.uri().path().contains("/auth/")
        && !req.uri().path().ends_with("/purge")
        && let Err(e) = history_adopted(&state).await
    {
        return e.into_response();
    }
    match caller {
        Ok(Some(c)) => {
            req.extensions_mut().insert(c);
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(e) => {
            let unauthorized = e.status() == axum::http::StatusCode::UNAUTHORIZED;
            let mut res = e.into_response();
            if unauthorized {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            res
        }
    }
}

/// 503 while edges report the store behind the configuration they serve
/// (its history went back: Redis restarted without its data, an older
/// restore): a write now would build on what was lost. Purges stay
/// allowed (edges apply them whatever the store's history). `cirrus store
/// adopt` takes the store as it is and lifts it.
async fn history_adopted(state: &Shared) -> ApiResult<()> {
    let behind = state.store.regressions().await?;
    let Some((node, kept)) = behind.iter().max_by_key(|(_, k)| *k) else {
        return Ok(());
    };
    let store = state.store.revision().await?;
    Err(ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "store_regressed",
        format!(
            "the store is at revision {store} but edge {node} serves revision {kept} ({} edges report it behind): \
             its history went back, so writes are refused; restore it from a backup, or take it as it is with \
             `cirrus store adopt`",
            behind.len()
        ),
    ))
}

async fn resolve(state: &Shared, method: &Method, headers: &HeaderMap) -> ApiResult<Caller> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, secret)| secret.trim())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::unauthorized("malformed Authorization header; expected `Bearer <token>`"))?;
        return bearer(state, secret).await;
    }
    if let Some(id) = session_cookie(headers) {
        let session = state
            .store
            .get_session(id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("session expired or unknown; log in again"))?;
        let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if mutating {
            let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !secrets_equal(presented, &session.csrf_token) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf_failed",
                    format!("missing or wrong CSRF token: send the login's csrf_token in {CSRF_HEADER}"),
                ));
            }
        }
        return Ok(Caller::User(session));
    }
    Err(ApiError::unauthorized(
        "authentication required: send `Authorization: Bearer <token>` or log in",
    ))
}

async fn bearer(state: &Shared, secret: &str) -> ApiResult<Caller> {
    if let Some(master) = &state.config.master_token
        && secrets_equal(secret, master)
    {
        return Ok(Caller::Master);
    }
    let token = state
        .store
        .token_by_secret_hash(&hash_secret(secret))
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
    if token.id == MASTER_TOKEN_ID {
        // A generated master token counts only while none is configured.
        return match state.config.master_token {
            None => Ok(Caller::Master),
            Some(_) => Err(ApiError::unauthorized("unknown or revoked token")),
        };
    }
    if token.is_expired(now_secs()) {
        return Err(ApiError::unauthorized("token expired"));
    }
    Ok(Caller::Token(token))
}

/// The session id in the `Cookie` header, if any.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}
