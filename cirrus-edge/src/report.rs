//! What an edge with a node id tells its source: the revision it serves
//! and when it applied it (after every event, and every 10 s while nothing
//! changes), and each purge it applied. Failures are logged, never
//! retried: the next report says the same, and an unacknowledged purge
//! shows as pending, which is the truth.

use cirrus_core::EdgeSource;
pub(crate) use cirrus_core::model::now_ms;
use cirrus_core::model::{EDGE_REPORT_EVERY_MS, EdgeReport, EventType, NewEvent};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

/// How long one report or acknowledgement may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(1);

/// The node an edge reports as, and what it last reported.
#[derive(Debug)]
pub(crate) struct Reporter {
    node: String,
    /// When the served revision last advanced (Unix ms).
    applied_ms: AtomicU64,
    /// When the last report was written (Unix ms; 0: never).
    reported_ms: AtomicU64,
    /// Since when the source has not answered (Unix ms; 0: it answers).
    down_since_ms: AtomicU64,
    /// The port peers ask this edge on as a shield (0: none yet).
    shield_port: AtomicU16,
}

impl Reporter {
    pub(crate) fn new(node: String) -> Self {
        Self {
            node,
            applied_ms: AtomicU64::new(now_ms()),
            reported_ms: AtomicU64::new(0),
            down_since_ms: AtomicU64::new(0),
            shield_port: AtomicU16::new(0),
        }
    }

    /// From now on, reports say peers may ask this edge on `port`.
    pub(crate) fn set_shield_port(&self, port: u16) {
        self.shield_port.store(port, Ordering::Relaxed);
    }

    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// The source stopped answering (`up` false) or answers again. An
    /// edge cannot write to a source that is down: when it answers again,
    /// `edge.degraded` (since when) and `edge.recovered` (how long) are
    /// written together.
    pub(crate) async fn source_flipped(&self, source: &dyn EdgeSource, up: bool) {
        let now = now_ms();
        if !up {
            self.down_since_ms.store(now, Ordering::Relaxed);
            return;
        }
        let since = self.down_since_ms.swap(0, Ordering::Relaxed);
        if since == 0 {
            return;
        }
        let node = self.node();
        let data = serde_json::json!({ "since_ms": since, "down_ms": now.saturating_sub(since) });
        let events = [
            NewEvent::new(EventType::EdgeDegraded, node).data(serde_json::json!({ "since_ms": since })),
            NewEvent::new(EventType::EdgeRecovered, node).data(data),
        ];
        match tokio::time::timeout(REPORT_TIMEOUT, source.record_events(&events)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(node, error = %e, "the edge's outage events were not written"),
            Err(_) => tracing::warn!(node, "the edge's outage events were not written in time"),
        }
    }

    /// After an event was applied: acknowledges the purge `purge` (when it
    /// has an id), notes when the served revision advanced (`advanced`),
    /// and reports `revision` as served.
    pub(crate) async fn settle(&self, source: &dyn EdgeSource, revision: u64, advanced: bool, purge: Option<&str>) {
        if let Some(id) = purge {
            let at = now_ms();
            match tokio::time::timeout(REPORT_TIMEOUT, source.ack_purge(id, self.node(), at)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(purge = id, error = %e, "could not acknowledge a purge"),
                Err(_) => tracing::warn!(purge = id, "acknowledging a purge timed out"),
            }
        }
        if advanced {
            self.applied_ms.store(now_ms(), Ordering::Relaxed);
        }
        self.report(source, revision).await;
    }

    /// Reports when the last report is [`EDGE_REPORT_EVERY_MS`] old.
    pub(crate) async fn heartbeat(&self, source: &dyn EdgeSource, revision: u64) {
        if now_ms().saturating_sub(self.reported_ms.load(Ordering::Relaxed)) >= EDGE_REPORT_EVERY_MS {
            self.report(source, revision).await;
        }
    }

    async fn report(&self, source: &dyn EdgeSource, revision: u64) {
        let now = now_ms();
        let port = Some(self.shield_port.load(Ordering::Relaxed)).filter(|p| *p != 0);
        let report = EdgeReport::new(revision, self.applied_ms.load(Ordering::Relaxed), now).with_shield_port(port);
        match tokio::time::timeout(REPORT_TIMEOUT, source.report_edge(self.node(), &report)).await {
            Ok(Ok(true)) => self.reported_ms.store(now, Ordering::Relaxed),
            Ok(Ok(false)) => tracing::debug!(node = self.node(), "source keeps no report for this node"),
            Ok(Err(e)) => tracing::debug!(error = %e, "could not report to the source"),
            Err(_) => tracing::debug!("reporting to the source timed out"),
        }
    }
}
