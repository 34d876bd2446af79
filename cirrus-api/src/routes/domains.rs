//! `/api/v1/domains`: list, get, put (create or replace), patch (JSON merge
//! patch), delete, and purge.

use super::conditional::{self, with_etag};
use super::onboarding::view;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryArgs, Segment, decode, with_path_key};
use crate::state::{RequestId, Shared};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cirrus_core::auth::random_hex;
use cirrus_core::model::{
    DomainPage, DomainView, EventType, PurgeAccepted, PurgeSelection, Scope, normalize_domain, now_ms,
};
use cirrus_core::{DomainConf, PurgeRequest};
use serde::Deserialize;
use serde_json::Value;

/// Paging of `GET /api/v1/domains`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListArgs {
    /// Page size, 1 to the server's maximum (1000 unless configured; default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Normalizes a domain taken from the path.
pub(crate) fn path_domain(raw: &str) -> ApiResult<String> {
    normalize_domain(raw).map_err(|reason| ApiError::invalid_field("domain", reason))
}

/// The domain's configuration, or 404.
pub(crate) async fn existing(state: &Shared, domain: &str) -> ApiResult<DomainConf> {
    state
        .store
        .get_domain(domain)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unknown domain {domain}")))
}

/// Lists domains, in name order, one page at a time.
#[utoipa::path(get, operation_id = "listDomains", path = "/api/v1/domains", tag = "domains", params(ListArgs),
    responses((status = 200, body = DomainPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn list(
    State(state): State<Shared>,
    caller: Caller,
    QueryArgs(args): QueryArgs<ListArgs>,
) -> ApiResult<Json<DomainPage>> {
    caller.require(Scope::Read)?;
    let limit = args.limit.unwrap_or(100);
    if limit == 0 || limit > state.config.max_page {
        return Err(ApiError::invalid_field(
            "limit",
            format!("must be 1-{}", state.config.max_page),
        ));
    }
    let cursor = args.cursor.as_deref();
    let mut page: Vec<String> = match caller.domain_list() {
        // A token limited to some domains: its own list, in order.
        Some(mine) => {
            let mut mine: Vec<String> = mine
                .iter()
                .filter(|d| cursor.is_none_or(|c| d.as_str() > c))
                .cloned()
                .collect();
            mine.sort();
            mine.truncate(limit + 1);
            mine
        }
        // Everyone else: one page of the store's sorted index.
        None => state.store.domain_names_after(cursor, limit + 1).await?,
    };
    let more = page.len() > limit;
    page.truncate(limit);
    let next_cursor = if more { page.last().cloned() } else { None };
    let fetched = state.store.get_domains(&page).await?;
    Ok(Json(DomainPage {
        items: fetched,
        next_cursor,
    }))
}

/// One domain's configuration, with the CNAMEs its owner sets (`dns`).
#[utoipa::path(get, operation_id = "getDomain", path = "/api/v1/domains/{domain}", tag = "domains", params(("domain" = String, Path)),
    responses((status = 200, body = DomainView, headers(("ETag" = String, description = "The configuration's version, for If-Match"))),
        (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn get(State(state): State<Shared>, caller: Caller, Segment(raw): Segment) -> ApiResult<Response> {
    let domain = path_domain(&raw)?;
    caller.require_domain(Scope::Read, &domain)?;
    let conf = existing(&state, &domain).await?;
    Ok(with_etag(Json(view(&state, conf.clone())).into_response(), &conf))
}

/// Creates (201) or replaces (200) a domain. Idempotent: the same body
/// gives the same result and no new revision. `domain` in the body may be
/// omitted; when present it must match the path. The read-only `dns` of
/// a GET may be sent back: it is ignored. `If-Match` (the `ETag` of a GET)
/// replaces only the version read; `If-None-Match: *` creates only.
#[utoipa::path(put, operation_id = "putDomain", path = "/api/v1/domains/{domain}", tag = "domains",
    params(("domain" = String, Path),
        ("If-Match" = Option<String>, Header, description = "Replace only the version with this ETag (or `*`: any existing one)"),
        ("If-None-Match" = Option<String>, Header, description = "`*`: create only, never replace")),
    request_body(content = Object, description = "A `DomainInput`: the configuration; `dns`, if sent back from a GET, is ignored"),
    responses((status = 201, body = DomainView), (status = 200, body = DomainView), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "A precondition failed: the domain changed, exists, or does not exist")),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn put(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    Segment(raw): Segment,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let domain = path_domain(&raw)?;
    caller.require_domain(Scope::DomainsWrite, &domain)?;
    let conf = conf_for_path(body, &domain)?;
    let before = state.store.get_domain(&domain).await?;
    conditional::check(&headers, before.as_ref())?;
    let unchanged = before.as_ref() == Some(&conf);
    let created = if unchanged {
        false
    } else {
        state.store.put_domain(&conf).await?.created
    };
    state.audit(caller.actor(), "domain.put", &domain, &rid).await?;
    if !unchanged {
        let kind = if created {
            EventType::DomainCreated
        } else {
            EventType::DomainUpdated
        };
        state.event(kind, &domain, Some(&domain), caller.actor()).await?;
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(with_etag(
        (status, Json(view(&state, conf.clone()))).into_response(),
        &conf,
    ))
}

/// Changes some fields of a domain (JSON merge patch, RFC 7396); with
/// `If-Match`, only the version read.
#[utoipa::path(patch, operation_id = "patchDomain", path = "/api/v1/domains/{domain}", tag = "domains",
    params(("domain" = String, Path),
        ("If-Match" = Option<String>, Header, description = "Change only the version with this ETag")),
    request_body(content = Object, description = "JSON merge patch of a DomainConf"),
    responses((status = 200, body = DomainView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "The domain changed since the given ETag")),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn patch(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    Segment(raw): Segment,
    JsonBody(patch): JsonBody<Value>,
) -> ApiResult<Response> {
    let domain = path_domain(&raw)?;
    caller.require_domain(Scope::DomainsWrite, &domain)?;
    if !patch.is_object() {
        return Err(ApiError::invalid_field("body", "a merge patch must be a JSON object"));
    }
    let before = existing(&state, &domain).await?;
    conditional::check(&headers, Some(&before))?;
    let mut merged = serde_json::to_value(&before).map_err(ApiError::internal)?;
    merge_patch(&mut merged, patch);
    let conf = conf_for_path(merged, &domain)?;
    if conf != before {
        state.store.put_domain(&conf).await?;
    }
    state.audit(caller.actor(), "domain.patch", &domain, &rid).await?;
    if conf != before {
        let actor = caller.actor();
        state
            .event(EventType::DomainUpdated, &domain, Some(&domain), actor)
            .await?;
    }
    Ok(with_etag(Json(view(&state, conf.clone())).into_response(), &conf))
}

/// Deletes a domain.
#[utoipa::path(delete, operation_id = "deleteDomain", path = "/api/v1/domains/{domain}", tag = "domains", params(("domain" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn delete(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(raw): Segment,
) -> ApiResult<StatusCode> {
    let domain = path_domain(&raw)?;
    caller.require_domain(Scope::DomainsWrite, &domain)?;
    if state.store.delete_domain(&domain).await?.is_none() {
        return Err(ApiError::not_found(format!("unknown domain {domain}")));
    }
    state.audit(caller.actor(), "domain.delete", &domain, &rid).await?;
    state
        .event(EventType::DomainDeleted, &domain, Some(&domain), caller.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Purges cached objects of a domain on every edge: exact URLs, path
/// prefixes, tags, or everything. Published on `cdn:purge`.
#[utoipa::path(post, operation_id = "purgeDomain", path = "/api/v1/domains/{domain}/purge", tag = "domains", params(("domain" = String, Path)),
    request_body = PurgeSelection,
    responses((status = 202, body = PurgeAccepted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn purge(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(raw): Segment,
    JsonBody(sel): JsonBody<PurgeSelection>,
) -> ApiResult<Response> {
    let domain = path_domain(&raw)?;
    caller.require_domain(Scope::Purge, &domain)?;
    existing(&state, &domain).await?;
    let id = format!("pg_{}", random_hex(8));
    let request = PurgeRequest {
        id: Some(id.clone()),
        ..PurgeRequest::of(domain.clone(), sel)
    }
    .validated()
    .map_err(ApiError::invalid)?;
    let revision = state.store.publish_purge(&request).await?;
    state.metrics.follow_purge(&id, now_ms());
    state.purges.follow(&id, now_ms());
    state.audit(caller.actor(), "domain.purge", &domain, &rid).await?;
    state
        .event(EventType::PurgeRequested, &id, Some(&domain), caller.actor())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(PurgeAccepted { id, revision })).into_response())
}

/// A body for `domain` from the path, decoded and validated.
fn conf_for_path(mut body: Value, domain: &str) -> ApiResult<DomainConf> {
    // Read-only: what a GET shows beside the configuration, ignored
    // whatever it holds (the `DomainInput` schema says so).
    if let Value::Object(map) = &mut body {
        map.remove("dns");
    }
    let body = with_path_key(body, "domain", domain, |d| normalize_domain(d).as_deref() == Ok(domain))?;
    let conf: DomainConf = decode(body)?;
    conf.validated().map_err(ApiError::invalid)
}

/// RFC 7396: objects merge recursively, `null` removes, anything else
/// replaces.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(&key);
            } else {
                merge_patch(map.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut doc = json!({"a": [1, 2]});
        merge_patch(&mut doc, json!({"a": [3]}));
        assert_eq!(doc, json!({"a": [3]}));
    }
}
