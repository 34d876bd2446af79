//! The admin listener (default port 9145), the one every role serves
//! ([`cirrus_core::admin`]): `/healthz` and `/readyz` for health checkers
//! and load balancers, `/metrics` for Prometheus (allowed addresses only).

use crate::edge::Edge;
use crate::hooks::EdgeHooks;
use crate::source_state::SourceState;
use cirrus_core::admin::AdminProbe;
use cirrus_core::model::{AllowList, Health, HealthCheck, now_ms};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl<H: EdgeHooks> Edge<H> {
    /// Serves `/healthz`, `/readyz` and `/metrics` on `listener` until
    /// `shutdown`.
    ///
    /// `/healthz` and `/readyz` answer the same (the edge's health is its
    /// readiness: the DNS health checker takes it out of the zone while it
    /// is not ready): `status` is `starting` (503: no configuration loaded
    /// yet), `ok`, or `degraded` (still 200, so load balancers keep the
    /// edge: the source does not answer, or its history went back below
    /// the configuration served, and the edge serves its last
    /// configuration, or the disk tier's writes fail and it serves from
    /// memory); the `store` check says when the source was last asked, the
    /// `disk` check (with a disk tier) whether its writes work, and
    /// `revision` is the configuration served.
    pub async fn serve_admin(
        &self,
        listener: tokio::net::TcpListener,
        allow: AllowList,
        shutdown: impl Future<Output = ()>,
    ) -> crate::Result<()> {
        cirrus_core::admin::serve(listener, allow, Arc::new(self.clone()), shutdown).await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl<H: EdgeHooks> AdminProbe for Edge<H> {
    async fn health(&self) -> Health {
        let checked = self.inner.source_checked_ms.load(Ordering::Relaxed);
        let ago = now_ms().saturating_sub(checked);
        let regressed = self.inner.domains.regressed();
        let (status, store) = match self.inner.source_state() {
            SourceState::Starting => ("starting", HealthCheck::unknown()),
            SourceState::Up if regressed.is_some() => (
                "degraded",
                HealthCheck::down(
                    ago,
                    Some(format!(
                        "the store's history went back below revision {}: serving that configuration until the \
                         store passes it",
                        regressed.unwrap_or_default()
                    )),
                ),
            ),
            SourceState::Up => ("ok", HealthCheck::up(ago)),
            SourceState::Down => (
                "degraded",
                HealthCheck::down(ago, Some("the source does not answer".into())),
            ),
        };
        let mut health = Health::new(status).check("store", store);
        if self.inner.cache.tiers().disk.is_some() {
            let disk = match self.inner.cache.tiers().disk_health.failing() {
                Some((since, error)) => {
                    if health.status == "ok" {
                        health.status = "degraded".into();
                    }
                    let for_s = now_ms().saturating_sub(since) / 1000;
                    HealthCheck::down(
                        0,
                        Some(format!(
                            "disk cache writes fail, for {for_s} s ({error}); serving from memory"
                        )),
                    )
                }
                None => HealthCheck::up(0),
            };
            health = health.check("disk", disk);
        }
        health.revision(Some(self.revision()))
    }

    async fn metrics(&self) -> String {
        self.render_metrics()
    }

    async fn openmetrics(&self) -> Option<String> {
        Some(self.inner.metrics().render_openmetrics())
    }
}
