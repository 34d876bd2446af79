//! What every handler shares.

use crate::config::ApiConfig;
use crate::login::LoginGate;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use cirrus_core::Store;
use cirrus_core::model::AuditRecord;
use std::sync::Arc;

#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: ApiConfig,
    pub(crate) metrics: Metrics,
    pub(crate) limiter: Option<Limiter>,
    pub(crate) login: LoginGate,
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
