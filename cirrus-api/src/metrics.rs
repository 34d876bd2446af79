//! Prometheus metrics of the control plane, in a registry per [`crate::Api`]
//! (several APIs in one process never share counters).

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// Metric names, frozen by a golden test.
pub(crate) const REQUESTS: &str = "cirrus_api_requests_total";
pub(crate) const DURATION: &str = "cirrus_api_request_duration_seconds";
pub(crate) const QUEUE_DEPTH: &str = "cirrus_jobs_queue_depth";
pub(crate) const JOB_DURATION: &str = "cirrus_job_duration_seconds";

#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    queue_depth: IntGauge,
    job_duration: HistogramVec,
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
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(job_duration.clone()))?;
        Ok(Self {
            registry,
            requests,
            duration,
            queue_depth,
            job_duration,
        })
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
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
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
