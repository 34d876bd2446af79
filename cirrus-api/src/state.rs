//! What every handler shares.

use crate::config::ApiConfig;
use crate::login::LoginGate;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use cirrus_core::Store;
use cirrus_core::model::{AuditRecord, EventType, NewEvent};
use std::sync::Arc;

#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: ApiConfig,
    pub(crate) metrics: Metrics,
    pub(crate) limiter: Option<Limiter>,
    pub(crate) login: LoginGate,
    /// The purges this API published, followed to their end.
    pub(crate) purges: crate::purge_watch::PurgeWatch,
    /// Slots for live event streams (`GET /api/v1/events/stream`).
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
}

/// The client's address as the listener saw it (`unknown` when the router
/// is served without connect info).
#[derive(Debug, Clone)]
pub(crate) struct ClientAddr(pub(crate) String);

pub(crate) type Shared = Arc<AppState>;

/// The request id of the call being served (`x-request-id`).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

impl AppState {
    /// Appends to the audit stream. A failure to audit fails the request
    /// (503 when the store is down): no unaudited change is acknowledged.
    pub(crate) async fn audit(
        &self,
        actor: String,
        action: &str,
        resource: &str,
        request_id: &RequestId,
    ) -> Result<(), cirrus_core::Error> {
        let record = AuditRecord::new(now_ms(), actor, action, resource).with_request_id(request_id.0.clone());
        self.store.append_audit(&record).await
    }

    /// Appends `kind` about `subject` (concerning `domain`, when given)
    /// by `actor` to the event stream, after the change it reports. A
    /// failure fails the request (503 when the store is down), like a
    /// failure to audit.
    pub(crate) async fn event(
        &self,
        kind: EventType,
        subject: &str,
        domain: Option<&str>,
        actor: String,
    ) -> Result<(), cirrus_core::Error> {
        let mut event = NewEvent::new(kind, subject).actor(actor);
        event.domain = domain.map(str::to_string);
        self.store.append_event(&event).await.map(drop)
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn now_secs() -> u64 {
    now_ms() / 1000
}
