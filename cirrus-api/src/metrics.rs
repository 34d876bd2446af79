//! Prometheus metrics of the control plane, in a registry per [`crate::Api`]
//! (several APIs in one process never share counters). The store's gauges
//! are read at each scrape ([`Metrics::refresh`]): its reachability and
//! revision, the job queue's depth, and the purges this API published that
//! some live edge has not applied after a minute.

use cirrus_core::model::{PurgeStatus, now_ms};
use cirrus_core::{ChangeFeed, JobQueue, NodeStore, PurgeLog};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Metric names, frozen by a golden test.
pub(crate) const REQUESTS: &str = "cirrus_api_requests_total";
pub(crate) const DURATION: &str = "cirrus_api_request_duration_seconds";
pub(crate) const QUEUE_DEPTH: &str = "cirrus_jobs_queue_depth";
pub(crate) const JOB_DURATION: &str = "cirrus_job_duration_seconds";
pub(crate) const READY: &str = "cirrus_ready";
pub(crate) const STORE_UP: &str = "cirrus_store_up";
pub(crate) const STORE_REVISION: &str = "cirrus_store_revision";
pub(crate) const PURGES_UNACKED: &str = "cirrus_purges_unacknowledged";

/// A purge older than this that some live edge has not applied is counted.
const PURGE_GRACE_MS: u64 = 60_000;
/// Purges followed at most: the oldest go first (each costs a store read
/// per scrape until every edge applied it).
const PURGES_FOLLOWED: usize = 10_000;

#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    queue_depth: IntGauge,
    job_duration: HistogramVec,
    ready: IntGauge,
    store_up: IntGauge,
    store_revision: IntGauge,
    purges_unacked: IntGauge,
    /// Purges published here and not yet applied by every live edge: id →
    /// publication (Unix ms).
    purges: Arc<Mutex<HashMap<String, u64>>>,
}

impl Metrics {
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(REQUESTS, "API requests answered, by route, method and status."),
            &["route", "method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(DURATION, "API request latency, by route and method.").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route", "method"],
        )?;
        let queue_depth = IntGauge::new(QUEUE_DEPTH, "Jobs enqueued and not yet acknowledged.")?;
        let job_duration = HistogramVec::new(
            HistogramOpts::new(
                JOB_DURATION,
                "Job run time, by kind and outcome, of runners reporting to this API.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]),
            &["kind", "outcome"],
        )?;
        let ready = IntGauge::new(
            READY,
            "1 when the store answered at this scrape (/readyz answers 200), else 0.",
        )?;
        let store_up = IntGauge::new(STORE_UP, "1 when the store answered at this scrape, else 0.")?;
        let store_revision = IntGauge::new(
            STORE_REVISION,
            "The store's revision at this scrape (edges serving less are behind).",
        )?;
        let purges_unacked = IntGauge::new(
            PURGES_UNACKED,
            "Purges published by this API over a minute ago that some live edge has not applied.",
        )?;
        for gauge in [&queue_depth, &ready, &store_up, &store_revision, &purges_unacked] {
            registry.register(Box::new(gauge.clone()))?;
        }
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(job_duration.clone()))?;
        Ok(Self {
            registry,
            requests,
            duration,
            queue_depth,
            job_duration,
            ready,
            store_up,
            store_revision,
            purges_unacked,
            purges: Arc::default(),
        })
    }

    /// Follows a purge this API published until every live edge applied it.
    pub(crate) fn follow_purge(&self, id: &str, published_ms: u64) {
        let Ok(mut purges) = self.purges.lock() else { return };
        if purges.len() >= PURGES_FOLLOWED
            && let Some(oldest) = purges.iter().min_by_key(|(_, at)| **at).map(|(id, _)| id.clone())
        {
            purges.remove(&oldest);
        }
        purges.insert(id.to_string(), published_ms);
    }

    /// Reads the store's gauges; a store that does not answer sets
    /// `cirrus_store_up` and `cirrus_ready` to 0 and leaves the others.
    pub(crate) async fn refresh<S: ChangeFeed + NodeStore + PurgeLog + JobQueue + ?Sized>(&self, store: &S) {
        let revision = match store.revision().await {
            Ok(revision) => revision,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the store does not answer");
                self.store_up.set(0);
                self.ready.set(0);
                return;
            }
        };
        self.store_up.set(1);
        self.ready.set(1);
        self.store_revision.set(i64::try_from(revision).unwrap_or(i64::MAX));
        if let Ok(depth) = store.queue_depth().await {
            self.set_queue_depth(depth);
        }
        if let Some(pending) = self.unacknowledged(store, now_ms()).await {
            self.purges_unacked.set(i64::try_from(pending).unwrap_or(i64::MAX));
        }
    }

    /// How many followed purges past their grace at `now` (Unix ms) some
    /// live edge has not applied; forgets those every edge applied, and
    /// expired ones.
    async fn unacknowledged<S: NodeStore + PurgeLog + ?Sized>(&self, store: &S, now: u64) -> Option<usize> {
        let followed: Vec<(String, u64)> = self.purges.lock().ok()?.iter().map(|(k, v)| (k.clone(), *v)).collect();
        if followed.is_empty() {
            return Some(0);
        }
        let nodes = store.nodes().await.ok()?;
        let mut pending = 0;
        for (id, published) in followed {
            let done = match store.purge_record(&id).await {
                Ok(Some(record)) => PurgeStatus::new(record, &nodes, now).complete,
                Ok(None) => true,
                Err(_) => return None,
            };
            if done {
                if let Ok(mut purges) = self.purges.lock() {
                    purges.remove(&id);
                }
            } else if now.saturating_sub(published) > PURGE_GRACE_MS {
                pending += 1;
            }
        }
        Some(pending)
    }

    pub(crate) fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.duration.with_label_values(&[route, method]).observe(seconds);
    }

    pub(crate) fn set_queue_depth(&self, depth: u64) {
        self.queue_depth.set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    pub(crate) fn job_duration(&self) -> HistogramVec {
        self.job_duration.clone()
    }

    pub(crate) fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&cirrus_core::metrics::gather(&self.registry), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// Feeds job runs into `cirrus_job_duration_seconds`.
#[derive(Debug)]
pub(crate) struct JobMetrics(pub(crate) HistogramVec);

impl cirrus_core::jobs::JobObserver for JobMetrics {
    fn observe(&self, kind: &str, outcome: cirrus_core::jobs::JobOutcome, elapsed: std::time::Duration) {
        self.0
            .with_label_values(&[kind, outcome.as_str()])
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Metrics;
    use cirrus_core::model::{EdgeReport, now_ms};
    use cirrus_core::{EmbeddedStore, Node, PurgeRequest};
    use cirrus_core::{NodeStore, PurgeLog};

    #[tokio::test]
    async fn a_purge_a_live_edge_has_not_applied_counts_after_a_minute_until_it_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let now = now_ms();
        let later = now + 61_000;
        store
            .put_node(&Node::new("edge-1").with_ipv4([192, 0, 2, 1].into()))
            .await
            .unwrap();
        store
            .report_edge("edge-1", &EdgeReport::new(1, later, later))
            .await
            .unwrap();
        let purge = PurgeRequest {
            id: Some("pg_1".into()),
            ..PurgeRequest::urls("a.test", ["/x"])
        };
        store.publish_purge(&purge).await.unwrap();
        let metrics = Metrics::new().unwrap();
        metrics.follow_purge("pg_1", now);
        assert_eq!(
            metrics.unacknowledged(&store, now + 1_000).await,
            Some(0),
            "within its minute"
        );
        assert_eq!(metrics.unacknowledged(&store, later).await, Some(1));
        store.ack_purge("pg_1", "edge-1", later).await.unwrap();
        assert_eq!(metrics.unacknowledged(&store, later).await, Some(0));
        assert!(
            metrics.purges.lock().unwrap().is_empty(),
            "forgotten once applied everywhere"
        );
    }
}
