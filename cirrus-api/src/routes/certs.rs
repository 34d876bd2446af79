//! `/api/v1/domains/{domain}/certificate`: request issuance (a job on the
//! queue, de-duplicated), read the status, upload a manual certificate;
//! `/api/v1/certificates`: every certificate by the time it ends.

use super::domains::{existing, path_domain};
use crate::auth::Caller;
use crate::cert;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, QueryArgs, Segment};
use crate::state::{AppState, RequestId, Shared, now_secs};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cirrus_core::Lock;
use cirrus_core::model::{
    AcmeState, AcmeStatus, CertBundle, CertificateList, CertificateStatus, CertificateUpload, Scope, TlsMode,
};
use serde::Deserialize;
use std::time::Duration;

/// Filters of `GET /api/v1/certificates`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertificateArgs {
    /// Only the certificates ending within this many days (expired ones
    /// included), 0-3650.
    #[param(minimum = 0, maximum = 3650)]
    expiring_within_days: Option<u64>,
    /// Certificates to return, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// The stored certificates that name their end, soonest end first (expired
/// ones first of all), with their issuance state. A token limited to some
/// domains sees those domains' only.
#[utoipa::path(get, operation_id = "listCertificates", path = "/api/v1/certificates", tag = "certificates", params(CertificateArgs),
    responses((status = 200, body = CertificateList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn list(
    State(state): State<Shared>,
    caller: Caller,
    QueryArgs(args): QueryArgs<CertificateArgs>,
) -> ApiResult<Json<CertificateList>> {
    caller.require(Scope::Read)?;
    let limit = args.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be 1-1000"));
    }
    let within = match args.expiring_within_days {
        Some(days @ 0..=3650) => Some(days * 86_400),
        Some(_) => return Err(ApiError::invalid_field("expiring_within_days", "must be 0-3650")),
        None => None,
    };
    let now = now_secs();
    let mut ends: Vec<(String, u64)> = state
        .store
        .cert_expiries()
        .await?
        .into_iter()
        .filter(|(domain, end)| caller.covers(domain) && within.is_none_or(|w| end.saturating_sub(now) <= w))
        .collect();
    ends.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let mut items = Vec::new();
    for (domain, end) in ends.into_iter().take(limit) {
        let acme = state.store.get_acme_state(&domain).await?.unwrap_or_default();
        items.push(status_from(domain, acme, Some(end)));
    }
    Ok(Json(CertificateList { items }))
}

/// Requests a certificate: 202 with the issuance job. While one is queued or
/// running, the same job is returned.
#[utoipa::path(post, operation_id = "issueCertificate", path = "/api/v1/domains/{domain}/certificate", tag = "certificates", params(("domain" = String, Path)),
    responses((status = 202, body = CertificateStatus), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Issuance is off: no ACME CA is configured")),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn issue(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(raw): Segment,
) -> ApiResult<Response> {
    let domain = path_domain(&raw)?;
    caller.require_domain(Scope::Certs, &domain)?;
    existing(&state, &domain).await?;
    if let Some(reason) = &state.config.issuance_refused {
        return Err(ApiError::new(StatusCode::CONFLICT, "issuance_disabled", reason.clone()));
    }
    // The task lock makes check-then-enqueue atomic across API processes.
    let lock = Lock::AcmeTask(domain.clone());
    let mut held = false;
    for _ in 0..40 {
        if state.store.try_lock(&lock, &rid.0, Duration::from_secs(10)).await? {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !held {
        return Err(ApiError::unavailable(
            "another certificate request for this domain is in progress",
        ));
    }
    let result = enqueue_once(&state, &domain).await;
    let _ = state.store.unlock(&lock, &rid.0).await; // expires by itself if this fails
    let status = result?;
    state.audit(caller.actor(), "certificate.issue", &domain, &rid).await?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

async fn enqueue_once(state: &Shared, domain: &str) -> ApiResult<CertificateStatus> {
    let acme = cirrus_core::jobs::queue_issuance(&*state.store, domain).await?;
    status_of(state, domain, acme).await
}

pub(crate) async fn status_of(state: &AppState, domain: &str, acme: AcmeState) -> ApiResult<CertificateStatus> {
    match state.store.get_cert(domain).await? {
        Some(cert) => Ok(status_from(domain.to_string(), acme, cert.not_after)),
        None => Ok(CertificateStatus {
            has_certificate: false,
            ..status_from(domain.to_string(), acme, None)
        }),
    }
}

/// The status of `domain`'s certificate, stored with the end `cert_end`
/// (else the ACME state's), and its ACME state.
fn status_from(domain: String, acme: AcmeState, cert_end: Option<u64>) -> CertificateStatus {
    CertificateStatus {
        domain,
        status: acme.status,
        job_id: acme.job_id,
        error: acme.last_error,
        not_after: cert_end.or(acme.not_after),
        updated_at: acme.updated_at,
        has_certificate: true,
    }
}

/// Where the domain's certificate stands.
#[utoipa::path(get, operation_id = "getCertificate", path = "/api/v1/domains/{domain}/certificate", tag = "certificates", params(("domain" = String, Path)),
    responses((status = 200, body = CertificateStatus), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn status(
    State(state): State<Shared>,
    caller: Caller,
    Segment(raw): Segment,
) -> ApiResult<Json<CertificateStatus>> {
    let domain = path_domain(&raw)?;
    caller.require_domain(Scope::Read, &domain)?;
    existing(&state, &domain).await?;
    let acme = state.store.get_acme_state(&domain).await?.unwrap_or_default();
    Ok(Json(status_of(&state, &domain, acme).await?))
}

/// Uploads a certificate and key (PEM). Refused unless the PEM parses, the
/// key matches the leaf, and the leaf covers the domain and is valid now.
/// A domain whose TLS mode was `none` becomes `manual`.
#[utoipa::path(put, operation_id = "uploadCertificate", path = "/api/v1/domains/{domain}/certificate", tag = "certificates", params(("domain" = String, Path)),
    request_body = CertificateUpload,
    responses((status = 200, body = CertificateStatus), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub(crate) async fn upload(
    State(state): State<Shared>,
    caller: Caller,
    Extension(rid): Extension<RequestId>,
    Segment(raw): Segment,
    JsonBody(upload): JsonBody<CertificateUpload>,
) -> ApiResult<Json<CertificateStatus>> {
    let domain = path_domain(&raw)?;
    caller.require_domain(Scope::Certs, &domain)?;
    let mut conf = existing(&state, &domain).await?;
    let now = now_secs();
    let not_after = cert::check(&upload.fullchain, &upload.key, &domain, now).map_err(ApiError::invalid)?;
    let bundle = CertBundle::new(upload.fullchain, upload.key, Some(not_after));
    state.store.put_cert(&domain, &bundle).await?;
    // A domain served over HTTPS with an uploaded certificate says so: its
    // TLS mode becomes `manual` unless it already names one.
    if conf.tls.mode == TlsMode::None {
        conf.tls.mode = TlsMode::Manual;
        state.store.put_domain(&conf).await?;
    }
    // Keep the acme-dns registration; the rest describes the new certificate.
    let mut acme: AcmeState = state.store.get_acme_state(&domain).await?.unwrap_or_default();
    acme.status = AcmeStatus::Issued;
    acme.updated_at = now;
    acme.not_after = Some(not_after);
    acme.last_error = None;
    acme.job_id = None;
    state.store.put_acme_state(&domain, &acme).await?;
    state.audit(caller.actor(), "certificate.upload", &domain, &rid).await?;
    Ok(Json(status_of(&state, &domain, acme).await?))
}
