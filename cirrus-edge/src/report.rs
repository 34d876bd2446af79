//! What an edge with a node id tells its source: the revision it serves
//! and when it applied it (after every event, and every 10 s while nothing
//! changes), and each purge it applied. Failures are logged, never
//! retried: the next report says the same, and an unacknowledged purge
//! shows as pending, which is the truth.

use crate::edge::Edge;
use crate::hooks::EdgeHooks;
pub(crate) use cirrus_core::model::now_ms;
use cirrus_core::model::{EDGE_REPORT_EVERY_MS, EdgeReport, EventType, NewEvent};
use std::sync::atomic::{AtomicU64, Ordering};
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
}

impl Reporter {
    pub(crate) fn new(node: String) -> Self {
        Self {
            node,
            applied_ms: AtomicU64::new(now_ms()),
            reported_ms: AtomicU64::new(0),
            down_since_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn node(&self) -> &str {
        &self.node
    }
}

impl<H: EdgeHooks> Edge<H> {
    /// The source stopped answering (`up` false) or answers again. An
    /// edge cannot write to a source that is down: when it answers again,
    /// `edge.degraded` (since when) and `edge.recovered` (how long) are
    /// written together.
    pub(crate) async fn source_flipped(&self, up: bool) {
        let Some(reporter) = &self.inner.reporter else {
            return;
        };
        let now = now_ms();
        if !up {
            reporter.down_since_ms.store(now, Ordering::Relaxed);
            return;
        }
        let since = reporter.down_since_ms.swap(0, Ordering::Relaxed);
        if since == 0 {
            return;
        }
        let node = reporter.node();
        let data = serde_json::json!({ "since_ms": since, "down_ms": now.saturating_sub(since) });
        let events = [
            NewEvent::new(EventType::EdgeDegraded, node).data(serde_json::json!({ "since_ms": since })),
            NewEvent::new(EventType::EdgeRecovered, node).data(data),
        ];
        match tokio::time::timeout(REPORT_TIMEOUT, self.inner.source.record_events(&events)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(node, error = %e, "the edge's outage events were not written"),
            Err(_) => tracing::warn!(node, "the edge's outage events were not written in time"),
        }
    }

    /// After an event was applied, with the edge at revision `before` until
    /// then: takes `revision` as applied (an event with nothing to re-read),
    /// acknowledges the purge `purge` (when it has an id), and reports the
    /// revision served.
    pub(crate) async fn settle(&self, before: u64, revision: Option<u64>, purge: Option<&str>) {
        if let Some(rev) = revision {
            self.inner.domains.advance(rev);
        }
        let Some(reporter) = &self.inner.reporter else {
            return;
        };
        let source = &*self.inner.source;
        if let Some(id) = purge {
            let at = now_ms();
            match tokio::time::timeout(REPORT_TIMEOUT, source.ack_purge(id, reporter.node(), at)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(purge = id, error = %e, "could not acknowledge a purge"),
                Err(_) => tracing::warn!(purge = id, "acknowledging a purge timed out"),
            }
        }
        if self.revision() > before {
            reporter.applied_ms.store(now_ms(), Ordering::Relaxed);
        }
        self.report().await;
    }

    /// Reports when the last report is [`EDGE_REPORT_EVERY_MS`] old.
    pub(crate) async fn heartbeat(&self) {
        if let Some(reporter) = &self.inner.reporter
            && now_ms().saturating_sub(reporter.reported_ms.load(Ordering::Relaxed)) >= EDGE_REPORT_EVERY_MS
        {
            self.report().await;
        }
    }

    async fn report(&self) {
        let Some(reporter) = &self.inner.reporter else {
            return;
        };
        let now = now_ms();
        let report = EdgeReport::new(self.revision(), reporter.applied_ms.load(Ordering::Relaxed), now);
        let sent = tokio::time::timeout(REPORT_TIMEOUT, self.inner.source.report_edge(reporter.node(), &report)).await;
        match sent {
            Ok(Ok(true)) => reporter.reported_ms.store(now, Ordering::Relaxed),
            Ok(Ok(false)) => tracing::debug!(node = reporter.node(), "source keeps no report for this node"),
            Ok(Err(e)) => tracing::debug!(error = %e, "could not report to the source"),
            Err(_) => tracing::debug!("reporting to the source timed out"),
        }
    }
}
