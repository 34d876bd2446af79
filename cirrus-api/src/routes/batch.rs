//! `POST /api/v1/domains:batch`: up to [`MAX_BATCH`] domains created or
//! replaced in one call. Each item is decoded, validated and authorized on
//! its own, so one bad item is refused while the others are written; the
//! written ones are one store commit and one change message, then one
//! `domain.created` or `domain.updated` event each, appended together.

use super::domains::path_domain;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, decode};
use crate::state::{RequestId, Shared};
use axum::extract::State;
use axum::{Extension, Json};
use cirrus_core::DomainConf;
use cirrus_core::model::{
    BatchItem, BatchOutcome, BatchResult, EventType, MAX_BATCH, NewEvent, Scope, normalize_domain,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The body of `POST /api/v1/domains:batch`: domains to create or replace.
// The items stay JSON until each is decoded alone.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = DomainBatch)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBatch {
    /// At most 1,000 `DomainInput`s, each naming its `domain`. Each is
    /// decoded, validated and authorized on its own, as a PUT body would
    /// be: one that is not a valid domain is refused in its result, not by
    /// the request, so the items are free-form here.
    #[schema(max_items = 1000, value_type = Vec<Object>)]
    domains: Vec<Value>,
}

/// Creates or replaces up to 1,000 domains in one call. Each item is a
/// `DomainInput` whose `domain` is required; each gets its own result
/// (`created`, `updated`, `unchanged` or `refused` with the error), in
/// the request's order. The domains written are one store commit,
/// announced to edges and DNS as one change, and one audit record.
#[utoipa::path(post, operation_id = "batchDomains", path = "/api/v1/domains:batch", tag = "domains",
    request_body(content = RawBatch, description = "Domains to create or replace",
        example = json!({"domains": [{"domain": "example.com", "origins": [{"host": "192.0.2.10"}]}]})),
    responses((status = 200, body = BatchResult, description = "Every item's result; refused items do not stop the others"),
        (status = 422, body = ErrorBody, description = "The batch itself is malformed or holds more than 1,000 items"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn batch(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<BatchResult>> {
    caller.require(Scope::DomainsWrite)?;
    let raw: RawBatch = decode(body)?;
    if raw.domains.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "domains",
            format!("at most {MAX_BATCH} domains a batch, not {}", raw.domains.len()),
        ));
    }
    // An item that is not even an object is a malformed batch.
    if let Some(i) = raw.domains.iter().position(|d| !d.is_object()) {
        return Err(ApiError::invalid_field(
            format!("domains[{i}]"),
            "must be a JSON object",
        ));
    }
    let mut seen = HashSet::new();
    let checked: Vec<(Option<String>, ApiResult<DomainConf>)> = raw
        .domains
        .into_iter()
        .map(|item| {
            let name = item
                .get("domain")
                .and_then(Value::as_str)
                .map(|raw| normalize_domain(raw).unwrap_or_else(|_| raw.to_string()));
            let conf = item_conf(&caller, item).and_then(|conf| {
                if seen.insert(conf.domain.clone()) {
                    Ok(conf)
                } else {
                    Err(duplicate(&conf.domain))
                }
            });
            (name, conf)
        })
        .collect();

    let valid: Vec<String> = checked
        .iter()
        .filter_map(|(_, conf)| conf.as_ref().ok().map(|c| c.domain.clone()))
        .collect();
    let before: HashMap<String, DomainConf> = state
        .store
        .get_domains(&valid)
        .await?
        .into_iter()
        .map(|c| (c.domain.clone(), c))
        .collect();

    let mut to_write = Vec::new();
    let mut items = Vec::with_capacity(checked.len());
    for (index, (domain, conf)) in checked.into_iter().enumerate() {
        let (outcome, error) = match conf {
            Err(e) => (BatchOutcome::Refused, Some(e.into_detail())),
            Ok(conf) => {
                let outcome = match before.get(&conf.domain) {
                    None => BatchOutcome::Created,
                    Some(old) if *old == conf => BatchOutcome::Unchanged,
                    Some(_) => BatchOutcome::Updated,
                };
                if outcome != BatchOutcome::Unchanged {
                    to_write.push(conf);
                }
                (outcome, None)
            }
        };
        items.push(BatchItem {
            index,
            domain,
            outcome,
            error,
        });
    }

    let revision = if to_write.is_empty() {
        state.store.revision().await?
    } else {
        let revision = state.store.put_domains(&to_write).await?;
        state
            .audit(caller.actor(), "domain.batch", &summary(&to_write), &rid)
            .await?;
        let actor = caller.actor();
        let events: Vec<NewEvent> = items
            .iter()
            .filter_map(|item| {
                let kind = match item.outcome {
                    BatchOutcome::Created => EventType::DomainCreated,
                    BatchOutcome::Updated => EventType::DomainUpdated,
                    _ => return None,
                };
                let domain = item.domain.as_deref()?;
                Some(NewEvent::new(kind, domain).domain(domain).actor(actor.clone()))
            })
            .collect();
        state.store.append_events(&events).await?;
        revision
    };
    Ok(Json(BatchResult { revision, items }))
}

/// One item, decoded, validated and authorized like the body of a PUT.
fn item_conf(caller: &Caller, mut item: Value) -> ApiResult<DomainConf> {
    let Some(obj) = item.as_object_mut() else {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    };
    // Read-only, as in a PUT: a GET's `dns` may be sent back.
    obj.remove("dns");
    let Some(raw) = obj.get("domain").and_then(Value::as_str) else {
        return Err(ApiError::invalid_field("domain", "required in a batch"));
    };
    let name = path_domain(raw)?;
    obj.insert("domain".into(), Value::String(name.clone()));
    caller.require_domain(Scope::DomainsWrite, &name)?;
    let conf: DomainConf = decode(item)?;
    conf.validated().map_err(ApiError::invalid)
}

fn duplicate(domain: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "duplicate",
        format!("{domain} is already an earlier item of this batch"),
    )
}

/// The audit record's resource: how many, and the first and last names.
fn summary(written: &[DomainConf]) -> String {
    match written {
        [only] => only.domain.clone(),
        [first, .., last] => format!("{} domains ({} … {})", written.len(), first.domain, last.domain),
        [] => String::new(),
    }
}
