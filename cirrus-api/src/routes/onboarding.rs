//! What a domain's owner must do: the CNAMEs shown with the domain, and
//! `GET /api/v1/domains/{domain}/status` checking them and the certificate.

use super::domains::{existing, path_domain};
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Segment;
use crate::state::{AppState, Shared};
use axum::Json;
use axum::extract::State;
use cirrus_core::DomainConf;
use cirrus_core::model::{DomainDns, DomainStatus, DomainView, Scope};

/// The domain as the API shows it.
pub(crate) fn view(state: &AppState, conf: DomainConf) -> DomainView {
    let dns = state
        .config
        .zone
        .as_deref()
        .map(|z| DomainDns::for_domain(&conf.domain, z));
    DomainView { conf, dns }
}

/// Whether the domain is ready: its CNAME in place (asked of the API's
/// resolver), its `_acme-challenge` delegation, its certificate. A change
/// since the last check writes `domain.ready` or `domain.not_ready`.
#[utoipa::path(get, operation_id = "getDomainStatus", path = "/api/v1/domains/{domain}/status", tag = "domains",
    params(("domain" = String, Path, description = "A domain name, e.g. www.example.com")),
    responses((status = 200, body = DomainStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "The store is unavailable, or the API has no zone configured")),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn status(
    State(state): State<Shared>,
    caller: Caller,
    Segment(raw): Segment,
) -> ApiResult<Json<DomainStatus>> {
    let domain = path_domain(&raw)?;
    caller.require_domain(Scope::Read, &domain)?;
    let conf = existing(&state, &domain).await?;
    crate::readiness::check(&state, conf).await.map(Json)
}
