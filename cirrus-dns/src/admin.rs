//! The DNS role's admin listener, the one every role serves
//! ([`cirrus_core::admin`]): `/metrics` for allowed addresses, `/healthz`
//! and `/readyz` for everyone. `ok` once a zone is served and the store
//! answers, `degraded` (200) while the last zone is served with the store
//! down, `starting` (503) before the first zone. Each answer and each
//! scrape asks the store for its revision (for `cirrus_store_up`).

use crate::metrics::DnsMetrics;
use cirrus_core::ChangeFeed;
use cirrus_core::admin::AdminProbe;
use cirrus_core::lifecycle::check_store;
use cirrus_core::model::{Health, HealthCheck};
use std::sync::Arc;

#[derive(Debug)]
pub(crate) struct Probe<S: ?Sized> {
    pub(crate) metrics: DnsMetrics,
    pub(crate) store: Arc<S>,
}

#[async_trait::async_trait]
impl<S: ChangeFeed + ?Sized> AdminProbe for Probe<S> {
    async fn health(&self) -> Health {
        let (store, revision) = check_store(&*self.store).await;
        let serving = self.metrics.serving();
        let status = match (serving, revision.is_some()) {
            (false, _) => "starting",
            (true, true) => "ok",
            (true, false) => "degraded",
        };
        let zone = if serving {
            HealthCheck::up(0)
        } else {
            HealthCheck::unknown()
        };
        Health::new(status)
            .check("store", store)
            .check("zone", zone)
            .revision(revision)
    }

    async fn metrics(&self) -> String {
        let up = check_store(&*self.store).await.1.is_some();
        self.metrics.store_up.set(i64::from(up));
        self.metrics.ready.set(i64::from(self.metrics.serving()));
        self.metrics.render()
    }
}
