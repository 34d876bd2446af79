//! Edge metrics with the seed's names (so existing nginx dashboards keep
//! working), in a registry per [`crate::Edge`].

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Metric names, frozen by a test.
pub(crate) const NAMES: [&str; 13] = [
    "nginx_http_requests_total",
    "nginx_http_request_duration_seconds",
    "nginx_cache_status_total",
    "nginx_upstream_errors_total",
    "nginx_upstream_timeouts_total",
    "nginx_upstream_response_seconds",
    "cirrus_cache_bytes",
    "cirrus_cache_objects",
    "cirrus_cache_evictions_total",
    "cirrus_config_revision",
    "cirrus_access_log_dropped_total",
    "nginx_ssl_handshake_errors_total",
    "cirrus_tls_handshakes_total",
];

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Clone)]
pub(crate) struct EdgeMetrics {
    registry: Registry,
    pub(crate) requests: IntCounterVec,
    pub(crate) duration: HistogramVec,
    pub(crate) cache_status: IntCounterVec,
    pub(crate) upstream_errors: IntCounter,
    pub(crate) upstream_timeouts: IntCounter,
    pub(crate) upstream_response: Histogram,
    cache_bytes: IntGauge,
    cache_objects: IntGauge,
    cache_evictions: IntGauge,
    revision: IntGauge,
    pub(crate) access_log_dropped: IntCounter,
    pub(crate) handshake_errors: IntCounterVec,
    pub(crate) handshakes: IntCounterVec,
}

impl EdgeMetrics {
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(NAMES[0], "Requests answered, by host and status."),
            &["host", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(NAMES[1], "Time to answer a request, by host.").buckets(BUCKETS.to_vec()),
            &["host"],
        )?;
        let cache_status = IntCounterVec::new(
            Opts::new(NAMES[2], "Requests by cache result (HIT, MISS, ...)."),
            &["status"],
        )?;
        let upstream_errors = IntCounter::new(NAMES[3], "Origin requests that failed (connect, protocol).")?;
        let upstream_timeouts = IntCounter::new(NAMES[4], "Origin requests that timed out.")?;
        let upstream_response = Histogram::with_opts(
            HistogramOpts::new(NAMES[5], "Time for an origin to answer (headers).").buckets(BUCKETS.to_vec()),
        )?;
        let cache_bytes = IntGauge::new(NAMES[6], "Bytes in the memory cache.")?;
        let cache_objects = IntGauge::new(NAMES[7], "Responses in the memory cache.")?;
        let cache_evictions = IntGauge::new(NAMES[8], "Responses evicted from the memory cache to make room.")?;
        let revision = IntGauge::new(NAMES[9], "Store revision of the configuration served.")?;
        let access_log_dropped =
            IntCounter::new(NAMES[10], "Access log lines dropped because the writer fell behind.")?;
        let handshake_errors = IntCounterVec::new(
            Opts::new(
                NAMES[11],
                "TLS handshakes that failed, by phase (client_hello, certificate, handshake, timeout).",
            ),
            &["phase"],
        )?;
        let handshakes = IntCounterVec::new(
            Opts::new(
                NAMES[12],
                "TLS handshakes completed, by whether the session was resumed.",
            ),
            &["resumed"],
        )?;
        // Every phase shows from the start, at 0, for dashboards and alerts.
        use crate::server::phase;
        for p in [
            phase::CLIENT_HELLO,
            phase::CERTIFICATE,
            phase::HANDSHAKE,
            phase::TIMEOUT,
        ] {
            handshake_errors.with_label_values(&[p]);
        }
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(cache_status.clone()),
            Box::new(upstream_errors.clone()),
            Box::new(upstream_timeouts.clone()),
            Box::new(upstream_response.clone()),
            Box::new(cache_bytes.clone()),
            Box::new(cache_objects.clone()),
            Box::new(cache_evictions.clone()),
            Box::new(revision.clone()),
            Box::new(access_log_dropped.clone()),
            Box::new(handshake_errors.clone()),
            Box::new(handshakes.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Self {
            registry,
            requests,
            duration,
            cache_status,
            upstream_errors,
            upstream_timeouts,
            upstream_response,
            cache_bytes,
            cache_objects,
            cache_evictions,
            revision,
            access_log_dropped,
            handshake_errors,
            handshakes,
        })
    }

    /// The text exposition, with the gauges read now.
    pub(crate) fn render(&self, cache: &crate::cache::MemoryCache, revision: u64) -> String {
        self.cache_bytes.set(i64::try_from(cache.bytes()).unwrap_or(i64::MAX));
        self.cache_objects.set(i64::try_from(cache.len()).unwrap_or(i64::MAX));
        self.cache_evictions
            .set(i64::try_from(cache.evictions()).unwrap_or(i64::MAX));
        self.revision.set(i64::try_from(revision).unwrap_or(i64::MAX));
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}
