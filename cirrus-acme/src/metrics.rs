//! The worker's metrics and its admin listener: job runs
//! (`cirrus_job_duration_seconds{kind,outcome}`, a histogram whose count is
//! the runs of each outcome) and each certificate's time left
//! (`cirrus_acme_cert_expiry_seconds{domain}`: seconds to `notAfter`,
//! negative once expired, read from the store at each scrape so it is
//! never staler than the scrape), with `cirrus_store_up` and
//! `cirrus_ready` (1 when that read succeeded); webhook attempts by outcome
//! (`cirrus_webhook_attempt_duration_seconds{outcome}`), the time from an
//! event to its delivery (`cirrus_webhook_delivery_lag_seconds`) and each
//! endpoint's backlog (`cirrus_webhook_backlog{webhook}`). The admin listener is the
//! one every role serves ([`cirrus_core::admin`]): `/healthz` and
//! `/readyz` (a store round trip: a worker without its store takes no job)
//! answer everyone, `/metrics` the addresses allowed.

use cirrus_core::admin::AdminProbe;
use cirrus_core::jobs::{JobObserver, JobOutcome};
use cirrus_core::model::Health;
use cirrus_core::{CertStore, ChangeFeed, DomainStore, Store};
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::Arc;
use std::time::Duration;

/// Job run durations by kind and outcome.
pub const JOB_DURATION: &str = "cirrus_job_duration_seconds";
/// Seconds until each domain's certificate ends.
pub const CERT_EXPIRY: &str = "cirrus_acme_cert_expiry_seconds";
/// Webhook attempts by outcome (`delivered`, `failed`, `dead`, `gone`): how long each took.
pub const WEBHOOK_ATTEMPTS: &str = "cirrus_webhook_attempt_duration_seconds";
/// From an event being written to its delivery (2xx), per delivered event.
pub const WEBHOOK_LAG: &str = "cirrus_webhook_delivery_lag_seconds";
/// Events waiting for each endpoint (wanted by it, after its cursor).
pub const WEBHOOK_BACKLOG: &str = "cirrus_webhook_backlog";
/// 1 when the worker's store answered at the last scrape.
pub(crate) const STORE_UP: &str = "cirrus_store_up";
/// 1 when the worker is ready (its store answers).
pub(crate) const READY: &str = "cirrus_ready";

/// The worker's Prometheus registry. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    registry: Registry,
    jobs: HistogramVec,
    expiry: GaugeVec,
    store_up: IntGauge,
    ready: IntGauge,
    pub(crate) webhook_attempts: HistogramVec,
    pub(crate) webhook_lag: Histogram,
    pub(crate) webhook_backlog: IntGaugeVec,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkerMetrics {
    /// A fresh registry with the worker's metrics.
    #[allow(clippy::expect_used)] // constant, valid metric definitions
    pub fn new() -> Self {
        let registry = Registry::new();
        let buckets = vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
        let jobs = HistogramVec::new(
            HistogramOpts::new(JOB_DURATION, "Job runs, by kind and outcome.").buckets(buckets),
            &["kind", "outcome"],
        )
        .expect("valid histogram");
        let expiry = GaugeVec::new(
            Opts::new(CERT_EXPIRY, "Seconds until the domain's certificate ends."),
            &["domain"],
        )
        .expect("valid gauge");
        let store_up =
            IntGauge::new(STORE_UP, "1 when the store answered at this scrape, else 0.").expect("valid gauge");
        let ready =
            IntGauge::new(READY, "1 when the worker can take jobs (its store answers), else 0.").expect("valid gauge");
        let seconds = vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
        let webhook_attempts = HistogramVec::new(
            HistogramOpts::new(WEBHOOK_ATTEMPTS, "Webhook attempts by outcome, and how long each took.")
                .buckets(seconds.clone()),
            &["outcome"],
        )
        .expect("valid histogram");
        let mut lag = seconds;
        lag.extend([60.0, 300.0, 3600.0, 86_400.0]);
        let webhook_lag = Histogram::with_opts(
            HistogramOpts::new(WEBHOOK_LAG, "Seconds from an event being written to its delivery.").buckets(lag),
        )
        .expect("valid histogram");
        let webhook_backlog = IntGaugeVec::new(
            Opts::new(
                WEBHOOK_BACKLOG,
                "Events waiting for the endpoint (wanted by it, not yet delivered).",
            ),
            &["webhook"],
        )
        .expect("valid gauge");
        registry
            .register(Box::new(webhook_attempts.clone()))
            .expect("registered once");
        registry
            .register(Box::new(webhook_lag.clone()))
            .expect("registered once");
        registry
            .register(Box::new(webhook_backlog.clone()))
            .expect("registered once");
        registry.register(Box::new(jobs.clone())).expect("registered once");
        registry.register(Box::new(expiry.clone())).expect("registered once");
        registry.register(Box::new(store_up.clone())).expect("registered once");
        registry.register(Box::new(ready.clone())).expect("registered once");
        Self {
            registry,
            jobs,
            expiry,
            store_up,
            ready,
            webhook_attempts,
            webhook_lag,
            webhook_backlog,
        }
    }

    /// Sets the expiry gauge from the store's ACME states, at `now` (Unix
    /// seconds); on a store error the previous values stay.
    pub async fn refresh<S: ChangeFeed + DomainStore + CertStore + ?Sized>(&self, store: &S, now: u64) {
        let read = async {
            let mut left = Vec::new();
            for domain in store.domain_names().await? {
                if let Some(not_after) = store.get_acme_state(&domain).await?.and_then(|s| s.not_after) {
                    left.push((domain, not_after as f64 - now as f64));
                }
            }
            Ok::<_, cirrus_core::Error>(left)
        };
        let read = read.await;
        self.store_up.set(i64::from(read.is_ok()));
        self.ready.set(i64::from(read.is_ok()));
        match read {
            Ok(left) => {
                self.expiry.reset();
                for (domain, seconds) in left {
                    self.expiry.with_label_values(&[domain.as_str()]).set(seconds);
                }
            }
            Err(e) => tracing::warn!(error = %e, "certificate expiry not refreshed"),
        }
    }

    /// The registry in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut buf = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(&cirrus_core::metrics::gather(&self.registry), &mut buf) {
            tracing::warn!(error = %e, "metrics not encoded");
        }
        buf
    }
}

impl JobObserver for WorkerMetrics {
    fn observe(&self, kind: &str, outcome: JobOutcome, elapsed: Duration) {
        self.jobs
            .with_label_values(&[kind, outcome.as_str()])
            .observe(elapsed.as_secs_f64());
    }
}

/// What the worker's admin listener ([`cirrus_core::admin`]) answers:
/// `ok` while the store answers a round trip, else `unavailable` (503: a
/// worker without its store takes no job); the gauges are refreshed from
/// the store at each scrape.
#[derive(Debug)]
pub(crate) struct Probe {
    pub(crate) metrics: WorkerMetrics,
    pub(crate) store: Arc<dyn Store>,
}

#[async_trait::async_trait]
impl AdminProbe for Probe {
    async fn health(&self) -> Health {
        cirrus_core::lifecycle::store_health(&*self.store).await
    }

    async fn metrics(&self) -> String {
        self.metrics
            .refresh(&*self.store, cirrus_core::model::now_ms() / 1000)
            .await;
        self.metrics.render()
    }
}
