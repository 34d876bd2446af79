//! The renewal scan: every ACME-managed domain (`tls.mode = "acme"`) whose
//! certificate ends within the window is queued for issuance, as the API
//! queues a request (`cirrus_core::jobs::queue_issuance`, under the task
//! lock, so scans of several workers and API requests never queue twice).
//! Each domain's window is shortened by a share of up to a tenth of it
//! derived from its name, so certificates issued together do not all
//! renew in the same scan.

use crate::error::Result;
use cirrus_core::model::TlsMode;
use cirrus_core::{Lock, Store};
use std::sync::Arc;
use std::time::Duration;

/// Queues renewals of certificates close to their end.
#[derive(Debug, Clone)]
pub struct RenewalScan {
    store: Arc<dyn Store>,
    window: Duration,
    owner: String,
}

impl RenewalScan {
    /// Scans `store` with a window of 30 days; `owner` names the scanner
    /// in the task locks it takes.
    pub fn new(store: Arc<dyn Store>, owner: impl Into<String>) -> Self {
        Self {
            store,
            window: Duration::from_secs(30 * 86_400),
            owner: owner.into(),
        }
    }

    /// Renews certificates ending within `window`.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The window of `domain`: the scan's, less its share of a tenth.
    fn window_of(&self, domain: &str) -> u64 {
        let window = self.window.as_secs();
        let spread = (window / 10).max(1);
        window - cirrus_core::stable_hash(domain.as_bytes()) % spread
    }

    /// One scan at `now` (Unix seconds); returns the domains queued.
    pub async fn scan(&self, now: u64) -> Result<Vec<String>> {
        let mut queued = Vec::new();
        for conf in self.store.domains().await? {
            if conf.tls.mode != TlsMode::Acme {
                continue;
            }
            let Some(not_after) = self.store.get_cert(&conf.domain).await?.and_then(|c| c.not_after) else {
                continue;
            };
            if not_after.saturating_sub(now) > self.window_of(&conf.domain) {
                continue;
            }
            let lock = Lock::AcmeTask(conf.domain.clone());
            if !self.store.try_lock(&lock, &self.owner, Duration::from_secs(30)).await? {
                continue;
            }
            let result = cirrus_core::jobs::queue_issuance(&*self.store, &conf.domain).await;
            let _ = self.store.unlock(&lock, &self.owner).await; // expires by itself otherwise
            let state = result?;
            tracing::info!(domain = %conf.domain, not_after, job = ?state.job_id, "renewal queued");
            queued.push(conf.domain);
        }
        Ok(queued)
    }
}
