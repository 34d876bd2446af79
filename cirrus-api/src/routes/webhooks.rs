//! `/api/v1/webhooks`: endpoints the worker posts events to. Managed with
//! the `webhooks` scope; a token limited to some domains registers and
//! sees only endpoints filtered on its own domains. The signing secret is
//! in the creation's and a rotation's answer only.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, Segment};
use crate::state::{AppState, RequestId, Shared, now_secs};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cirrus_core::model::{
    CreatedWebhook, RotatedSecret, Scope, SecretRotation, Webhook, WebhookList, WebhookProgress, WebhookSecrets,
    WebhookSpec, WebhookUrl, is_public_ip,
};
use cirrus_core::webhook::new_secret;
use std::time::Duration;

/// How long a rotated-out secret keeps signing unless the request says.
const DEFAULT_OVERLAP: u64 = 86_400;
/// The longest overlap a rotation may ask for (a week).
const MAX_OVERLAP: u64 = 7 * 86_400;
/// How long the URL's host may take to resolve.
const RESOLVE_WITHIN: Duration = Duration::from_secs(5);

/// True when `caller` may see `hook`: every caller that sees every
/// domain, else only endpoints filtered on the caller's domains.
pub(crate) fn visible(caller: &Caller, hook: &Webhook) -> bool {
    caller.covers_all() || (!hook.domains.is_empty() && hook.domains.iter().all(|d| caller.covers(d)))
}

/// The endpoint `id`, when it exists and `caller` may manage it (else 404).
pub(crate) async fn find(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Webhook> {
    caller.require(Scope::Webhooks)?;
    match state.store.get_webhook(id).await? {
        Some(hook) if visible(caller, &hook) => Ok(hook),
        _ => Err(ApiError::not_found(format!("unknown webhook {id}"))),
    }
}

/// Validates `spec` for `caller`: its fields, its domain filter within the
/// caller's domains, and (unless the operator allows private addresses)
/// a URL whose host resolves only to public addresses.
async fn checked(state: &AppState, caller: &Caller, spec: WebhookSpec) -> ApiResult<WebhookSpec> {
    let spec = spec.validated().map_err(ApiError::invalid)?;
    if !caller.covers_all() {
        if spec.domains.is_empty() {
            return Err(ApiError::invalid_field(
                "domains",
                "a token limited to some domains must filter on them",
            ));
        }
        if let Some((i, d)) = spec.domains.iter().enumerate().find(|(_, d)| !caller.covers(d)) {
            return Err(ApiError::invalid_field(
                format!("domains[{i}]"),
                format!("this token may not see {d}"),
            ));
        }
    }
    if !state.config.webhook_allow_private {
        let url = WebhookUrl::parse(&spec.url).map_err(|e| ApiError::invalid_field("url", e))?;
        refuse_private(&url).await?;
    }
    Ok(spec)
}

/// 422 unless every address `url`'s host resolves to is public.
async fn refuse_private(url: &WebhookUrl) -> ApiResult<()> {
    let addrs: Vec<std::net::IpAddr> = if let Ok(ip) = url.host.parse() {
        vec![ip]
    } else {
        let lookup = tokio::net::lookup_host((url.host.as_str(), url.port));
        match tokio::time::timeout(RESOLVE_WITHIN, lookup).await {
            Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
            Ok(Err(e)) => {
                return Err(ApiError::invalid_field(
                    "url",
                    format!("{} does not resolve: {e}", url.host),
                ));
            }
            Err(_) => {
                return Err(ApiError::invalid_field(
                    "url",
                    format!("{} did not resolve in time", url.host),
                ));
            }
        }
    };
    match addrs.iter().find(|ip| !is_public_ip(**ip)) {
        Some(ip) => Err(ApiError::invalid_field(
            "url",
            format!(
                "{} is a private, loopback or link-local address ({ip}); the operator may allow them \
                 (webhook_allow_private)",
                url.host
            ),
        )),
        None if addrs.is_empty() => Err(ApiError::invalid_field("url", format!("{} has no address", url.host))),
        None => Ok(()),
    }
}

/// A new id: `wh_` and 16 hex digits.
fn new_id() -> String {
    format!("wh_{}", cirrus_core::auth::random_hex(8))
}

/// Registers an endpoint; its signing secret is in this answer only.
/// Delivery starts with the events written after it.
#[utoipa::path(post, operation_id = "createWebhook", path = "/api/v1/webhooks", tag = "webhooks", request_body = WebhookSpec,
    responses((status = 201, body = CreatedWebhook), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn create(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    JsonBody(spec): JsonBody<WebhookSpec>,
) -> ApiResult<Response> {
    caller.require(Scope::Webhooks)?;
    let spec = checked(&state, &caller, spec).await?;
    let hook = Webhook::new(new_id(), spec, now_secs(), caller.actor());
    let secret = new_secret();
    let progress = WebhookProgress {
        cursor: state.store.newest_event().await?.map(|id| id.to_string()),
        ..WebhookProgress::default()
    };
    state
        .store
        .create_webhook(&hook, &WebhookSecrets::new(secret.clone()), &progress)
        .await?;
    state.audit(caller.actor(), "webhook.create", &hook.id, &rid).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhook { webhook: hook, secret })).into_response())
}

/// The endpoints the caller may manage, by id.
#[utoipa::path(get, operation_id = "listWebhooks", path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn list(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<WebhookList>> {
    caller.require(Scope::Webhooks)?;
    let items = state
        .store
        .webhooks()
        .await?
        .into_iter()
        .filter(|h| visible(&caller, h))
        .collect();
    Ok(Json(WebhookList { items }))
}

/// One endpoint.
#[utoipa::path(get, operation_id = "getWebhook", path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Webhook), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn get(State(state): State<Shared>, caller: Caller, Segment(id): Segment) -> ApiResult<Json<Webhook>> {
    find(&state, &caller, &id).await.map(Json)
}

/// Replaces an endpoint's URL, filters, description and switch; enabling
/// it clears why the worker disabled it. Delivery carries on where it was.
#[utoipa::path(put, operation_id = "replaceWebhook", path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    request_body = WebhookSpec,
    responses((status = 200, body = Webhook), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn replace(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(id): Segment,
    JsonBody(spec): JsonBody<WebhookSpec>,
) -> ApiResult<Json<Webhook>> {
    let mut hook = find(&state, &caller, &id).await?;
    hook.apply(checked(&state, &caller, spec).await?);
    if !state.store.update_webhook(&hook).await? {
        return Err(ApiError::not_found(format!("unknown webhook {id}")));
    }
    state.audit(caller.actor(), "webhook.update", &id, &rid).await?;
    Ok(Json(hook))
}

/// Deletes an endpoint, its log and its dead letters; nothing more is posted.
#[utoipa::path(delete, operation_id = "deleteWebhook", path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn delete(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(id): Segment,
) -> ApiResult<StatusCode> {
    find(&state, &caller, &id).await?;
    if !state.store.delete_webhook(&id).await? {
        return Err(ApiError::not_found(format!("unknown webhook {id}")));
    }
    state.audit(caller.actor(), "webhook.delete", &id, &rid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the signing secret; the previous one keeps signing too (a
/// second signature in `webhook-signature`) for `overlap_secs`, so
/// receivers can switch without losing a message.
#[utoipa::path(post, operation_id = "rotateWebhookSecret", path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path)), request_body(content = Option<SecretRotation>),
    responses((status = 200, body = RotatedSecret), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn rotate(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(id): Segment,
    body: Option<JsonBody<SecretRotation>>,
) -> ApiResult<Json<RotatedSecret>> {
    find(&state, &caller, &id).await?;
    let overlap = body.and_then(|b| b.0.overlap_secs).unwrap_or(DEFAULT_OVERLAP);
    if overlap > MAX_OVERLAP {
        return Err(ApiError::invalid_field("overlap_secs", "must be 0-604800"));
    }
    let old = state
        .store
        .webhook_secrets(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unknown webhook {id}")))?;
    let secret = new_secret();
    let previous_until = now_secs() + overlap;
    let secrets = WebhookSecrets {
        current: secret.clone(),
        previous: (overlap > 0).then_some(old.current),
        previous_until,
    };
    if !state.store.put_webhook_secrets(&id, &secrets).await? {
        return Err(ApiError::not_found(format!("unknown webhook {id}")));
    }
    state.audit(caller.actor(), "webhook.rotate_secret", &id, &rid).await?;
    Ok(Json(RotatedSecret { secret, previous_until }))
}
