//! The onboarding check: is a domain's CNAME in place (asked of the API's
//! resolver), its `_acme-challenge` delegation, its certificate. Each
//! check that can tell records the answer in the store; a change writes
//! `domain.ready` (the domain became ready) or `domain.not_ready` (a ready
//! domain no longer is). Checks run when someone asks
//! (`GET /api/v1/domains/{d}/status`) and in a sweep that goes through
//! every domain a few at a time ([`ApiBuilder::onboarding_sweep`](crate::ApiBuilder::onboarding_sweep)).

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, Shared};
use cirrus_core::DomainConf;
use cirrus_core::model::{DomainDns, DomainStatus, EventType, NewEvent};
use cirrus_core::resolve::is_conclusive;
use std::future::Future;

/// Checks `conf`'s domain, records what it found, and writes the event
/// of a change.
pub(crate) async fn check(state: &AppState, conf: DomainConf) -> ApiResult<DomainStatus> {
    let domain = conf.domain.clone();
    let Some(mut dns) = state.config.zone.as_deref().map(|z| DomainDns::for_domain(&domain, z)) else {
        return Err(ApiError::unavailable(
            "the API was started without a zone (--zone, CNAME_BASE_DOMAIN): CNAME targets are unknown",
        ));
    };
    let dns_error = dns.name_problem();
    let acme = state.store.get_acme_state(&domain).await?.unwrap_or_default();
    // With the acme-dns solver, the challenge goes to the domain's
    // registration there once the worker has made it.
    if let Some(registration) = &acme.acme_dns {
        dns.acme_challenge.target = registration.fulldomain.trim_end_matches('.').to_ascii_lowercase();
    }
    let resolver = state.config.resolver;
    let (cname, acme_challenge) = tokio::join!(
        cirrus_core::resolve::check(resolver, &dns.cname),
        cirrus_core::resolve::check(resolver, &dns.acme_challenge)
    );
    let certificate = crate::routes::certificate_status(state, &domain, acme).await?;
    let edges = crate::routes::edges_serving(&*state.store, &domain).await?;
    let status = DomainStatus {
        edges,
        ready: conf.enabled && cname.ok && dns_error.is_none(),
        enabled: conf.enabled,
        dns_error,
        domain,
        cname,
        acme_challenge,
        certificate,
    };
    record(state, &status).await?;
    Ok(status)
}

/// Records `status`'s answer when it is one (a resolver that could not
/// tell changes nothing), and writes the event of a change.
async fn record(state: &AppState, status: &DomainStatus) -> cirrus_core::Result<()> {
    let conclusive = !status.enabled || status.dns_error.is_some() || is_conclusive(&status.cname);
    if !conclusive {
        return Ok(());
    }
    let before = state.store.record_readiness(&status.domain, status.ready).await?;
    let kind = match (before, status.ready) {
        (Some(false) | None, true) => EventType::DomainReady,
        (Some(true), false) => EventType::DomainNotReady,
        _ => return Ok(()),
    };
    let why = if !status.enabled {
        Some("disabled".to_string())
    } else {
        status
            .dns_error
            .clone()
            .or_else(|| status.cname.error.clone())
            .or_else(|| {
                (!status.cname.ok).then(|| format!("{} points elsewhere: {:?}", status.cname.name, status.cname.found))
            })
    };
    let mut data = serde_json::json!({ "cname": status.cname.target });
    if let (false, Some(why)) = (status.ready, why) {
        data["reason"] = why.into();
    }
    let event = NewEvent::new(kind, &status.domain).domain(&status.domain).data(data);
    state.store.append_event(&event).await.map(drop)
}

/// Checks every domain, `batch` at a time every `every`, going round by
/// name, until `shutdown` completes. A failed check is logged and the
/// sweep goes on.
pub(crate) async fn sweep(state: Shared, every: std::time::Duration, batch: usize, shutdown: impl Future<Output = ()>) {
    if state.config.zone.is_none() {
        return shutdown.await;
    }
    let round = async {
        let mut after: Option<String> = None;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let names = match state.store.domain_names_after(after.as_deref(), batch).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(error = %e, "onboarding sweep: domains not listed; the next tick retries");
                    continue;
                }
            };
            after = names.last().cloned().filter(|_| names.len() == batch);
            let confs = match state.store.get_domains(&names).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "onboarding sweep: domains not read; the next tick retries");
                    continue;
                }
            };
            for conf in confs {
                let domain = conf.domain.clone();
                if let Err(e) = check(&state, conf).await {
                    tracing::debug!(domain = %domain, error = %e.into_detail().message, "onboarding check failed");
                }
            }
        }
    };
    tokio::select! {
        () = round => {}
        () = shutdown => {}
    }
}
