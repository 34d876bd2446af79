//! Edge metrics with the seed's names (so existing nginx dashboards keep
//! working), registered in the registry the edge is given (its own by
//! default). The cache, revision and readiness gauges are read when
//! gathered.

use super::series::Series;
use crate::cache::Tiers;
use crate::domains::DomainTable;
use crate::source_state::SourceState;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use std::sync::Arc;
use std::sync::atomic::AtomicU8;

/// Metric names, frozen by a test.
pub(crate) const NAMES: [&str; 25] = [
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
    "cirrus_cache_tags_ignored_total",
    "cirrus_config_apply_seconds",
    "cirrus_purge_apply_seconds",
    "cirrus_ready",
    "cirrus_store_up",
    "cirrus_store_regressed",
    "cirrus_connections_refused_total",
    "cirrus_accept_errors_total",
    "cirrus_connections_reclaimed_total",
    "cirrus_connections_limit",
    "cirrus_cache_disk_write_errors_total",
    "cirrus_cache_disk_failing",
];

/// Propagation takes milliseconds, or minutes when a store was away.
const PROPAGATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0,
];

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Phases of a failed TLS handshake, the `phase` label of
/// `nginx_ssl_handshake_errors_total`.
pub(crate) mod phase {
    /// The first bytes were not a TLS ClientHello rustls accepts.
    pub(crate) const CLIENT_HELLO: &str = "client_hello";
    /// The served domain's stored certificate could not be read or used
    /// (the fallback certificate was presented instead).
    pub(crate) const CERTIFICATE: &str = "certificate";
    /// The handshake failed after the ClientHello (no common parameters,
    /// the client refused the certificate, the connection dropped).
    pub(crate) const HANDSHAKE: &str = "handshake";
    /// The handshake took longer than the header timeout.
    pub(crate) const TIMEOUT: &str = "timeout";
}

/// What the upstream phase counts.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamMetrics {
    pub(crate) errors: IntCounter,
    pub(crate) timeouts: IntCounter,
    pub(crate) response: Histogram,
}

#[derive(Debug, Clone)]
pub(crate) struct EdgeMetrics {
    registry: Registry,
    /// The request and cache-status series, resolved once per domain.
    pub(crate) series: Arc<Series>,
    /// Sampled traces on the request duration histogram's buckets.
    pub(crate) exemplars: Arc<super::openmetrics::Exemplars>,
    pub(crate) upstream: UpstreamMetrics,
    pub(crate) access_log_dropped: IntCounter,
    pub(crate) handshake_errors: IntCounterVec,
    pub(crate) handshakes: IntCounterVec,
    /// Store write → this edge applied it, for configuration changes.
    pub(crate) config_apply: Histogram,
    /// Store write → this edge applied (and acknowledged) it, for purges.
    pub(crate) purge_apply: Histogram,
    /// Connections closed at accept: their client address held the most allowed.
    pub(crate) refused_per_ip: IntCounter,
    /// Accept errors (out of file descriptors and the like), each followed by a pause.
    pub(crate) accept_errors: IntCounter,
    /// Idle connections closed to make room for a newcomer.
    pub(crate) reclaimed: IntCounter,
    /// The connection budget: max_connections, or less under the descriptor limit.
    pub(crate) connections_limit: prometheus::IntGauge,
}

impl EdgeMetrics {
    /// Registers every edge metric in `registry`.
    pub(crate) fn register(
        registry: Registry,
        tiers: Arc<Tiers>,
        domains: Arc<DomainTable>,
        source_state: Arc<AtomicU8>,
    ) -> Result<Self, prometheus::Error> {
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
        let upstream = UpstreamMetrics {
            errors: IntCounter::new(NAMES[3], "Origin requests that failed (connect, protocol).")?,
            timeouts: IntCounter::new(NAMES[4], "Origin requests that timed out.")?,
            response: Histogram::with_opts(
                HistogramOpts::new(NAMES[5], "Time for an origin to answer (headers).").buckets(BUCKETS.to_vec()),
            )?,
        };
        let live = LiveGauges {
            bytes: IntGauge::new(NAMES[6], "Bytes in the memory cache.")?,
            objects: IntGauge::new(NAMES[7], "Responses in the memory cache.")?,
            evictions: IntGauge::new(NAMES[8], "Responses evicted from the memory cache to make room.")?,
            revision: IntGauge::new(NAMES[9], "Store revision of the configuration served.")?,
            tags_ignored: IntCounter::new(
                NAMES[13],
                "Origin tags ignored: longer than 1,024 bytes or past 16 KiB of a tag field.",
            )?,
            ready: IntGauge::new(
                NAMES[16],
                "1 when the edge serves a configuration (its /readyz answers 200), else 0.",
            )?,
            store_up: IntGauge::new(
                NAMES[17],
                "1 when the edge's last read of its source succeeded; 0 while it serves its last configuration.",
            )?,
            regressed: IntGauge::new(
                NAMES[18],
                "1 while the store's history is behind the configuration this edge serves (it keeps serving it).",
            )?,
            disk_errors: IntCounter::new(
                NAMES[23],
                "Writes to the disk tier that failed (a full or failing disk); the memory tier keeps serving.",
            )?,
            disk_failing: IntGauge::new(
                NAMES[24],
                "1 while the disk tier's writes fail (its last write failed); /healthz says degraded.",
            )?,
            source_state,
            tiers,
            domains,
        };
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
        let propagation = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(PROPAGATION_BUCKETS.to_vec()))
        };
        let config_apply = propagation(
            NAMES[14],
            "Time from a configuration change written in the store to this edge serving it.",
        )?;
        let purge_apply = propagation(
            NAMES[15],
            "Time from a purge written in the store to this edge applying it; the slowest edge's is the time to the last acknowledgement.",
        )?;
        let refused_per_ip = IntCounter::new(
            NAMES[19],
            "Client connections closed at once: their address already held the most allowed (max_connections_per_ip).",
        )?;
        let accept_errors = IntCounter::new(
            NAMES[20],
            "Accept errors (out of file descriptors and the like); each is followed by a pause, never a busy loop.",
        )?;
        let reclaimed = IntCounter::new(
            NAMES[21],
            "Idle client connections (no request yet, or between keep-alive requests) closed to make room: the connection budget was spent.",
        )?;
        let connections_limit = prometheus::IntGauge::new(
            NAMES[22],
            "Client connections served at once: max_connections, or less when the descriptor limit leaves no room for it.",
        )?;
        // Every phase shows from the start, at 0, for dashboards and alerts.
        for p in [
            phase::CLIENT_HELLO,
            phase::CERTIFICATE,
            phase::HANDSHAKE,
            phase::TIMEOUT,
        ] {
            handshake_errors.with_label_values(&[p]);
        }
        for c in [
            Box::new(requests.clone()) as Box<dyn Collector>,
            Box::new(duration.clone()),
            Box::new(cache_status.clone()),
            Box::new(upstream.errors.clone()),
            Box::new(upstream.timeouts.clone()),
            Box::new(upstream.response.clone()),
            Box::new(live),
            Box::new(access_log_dropped.clone()),
            Box::new(handshake_errors.clone()),
            Box::new(handshakes.clone()),
            Box::new(config_apply.clone()),
            Box::new(purge_apply.clone()),
            Box::new(refused_per_ip.clone()),
            Box::new(accept_errors.clone()),
            Box::new(reclaimed.clone()),
            Box::new(connections_limit.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Self {
            registry,
            series: Arc::new(Series::new(requests, duration, cache_status)),
            exemplars: Arc::new(super::openmetrics::Exemplars::new(&BUCKETS)),
            upstream,
            access_log_dropped,
            handshake_errors,
            handshakes,
            config_apply,
            purge_apply,
            refused_per_ip,
            accept_errors,
            reclaimed,
            connections_limit,
        })
    }

    /// Registers one more collector of the edge's in its registry.
    /// The registry every edge metric is in.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn add(&self, collector: impl Collector + 'static) -> Result<(), prometheus::Error> {
        self.registry.register(Box::new(collector))
    }

    /// The text exposition of the whole registry.
    pub(crate) fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&cirrus_core::metrics::gather(&self.registry), &mut buf) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The OpenMetrics exposition of the whole registry, with exemplars.
    pub(crate) fn render_openmetrics(&self) -> String {
        super::openmetrics::encode(&cirrus_core::metrics::gather(&self.registry), NAMES[1], &self.exemplars)
    }
}

/// The gauges read from the cache and the domain table when gathered.
struct LiveGauges {
    bytes: IntGauge,
    objects: IntGauge,
    evictions: IntGauge,
    revision: IntGauge,
    tags_ignored: IntCounter,
    ready: IntGauge,
    store_up: IntGauge,
    regressed: IntGauge,
    disk_errors: IntCounter,
    disk_failing: IntGauge,
    /// The edge's [`SourceState`].
    source_state: Arc<AtomicU8>,
    tiers: Arc<Tiers>,
    domains: Arc<DomainTable>,
}

impl LiveGauges {
    fn gauges(&self) -> [&IntGauge; 8] {
        [
            &self.disk_failing,
            &self.bytes,
            &self.objects,
            &self.evictions,
            &self.revision,
            &self.ready,
            &self.store_up,
            &self.regressed,
        ]
    }
}

impl Collector for LiveGauges {
    fn desc(&self) -> Vec<&Desc> {
        let mut desc: Vec<&Desc> = self.gauges().into_iter().flat_map(|g| g.desc()).collect();
        desc.extend(self.tags_ignored.desc());
        desc.extend(self.disk_errors.desc());
        desc
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let gauge = |g: &IntGauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        let memory = &self.tiers.memory;
        gauge(&self.bytes, memory.bytes());
        gauge(&self.objects, memory.len() as u64);
        gauge(&self.evictions, memory.evictions());
        gauge(&self.revision, self.domains.revision());
        let state = SourceState::load(&self.source_state);
        self.ready.set(i64::from(state != SourceState::Starting));
        self.store_up.set(i64::from(state == SourceState::Up));
        self.regressed.set(i64::from(self.domains.regressed().is_some()));
        // A counter kept by the cache: brought up to its count.
        let ignored = self.tiers.tags_ignored();
        self.tags_ignored
            .inc_by(ignored.saturating_sub(self.tags_ignored.get()));
        let disk = &self.tiers.disk_health;
        self.disk_failing.set(i64::from(disk.failing().is_some()));
        self.disk_errors
            .inc_by(disk.errors().saturating_sub(self.disk_errors.get()));
        let mut families: Vec<MetricFamily> = self.gauges().into_iter().flat_map(|g| g.collect()).collect();
        families.extend(self.tags_ignored.collect());
        families.extend(self.disk_errors.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_frozen() {
        let tiers = Arc::new(Tiers::new(crate::cache::MemoryCache::new(1 << 20), None));
        let registry = Registry::new();
        let state = Arc::new(AtomicU8::new(SourceState::Starting as u8));
        let m = EdgeMetrics::register(registry.clone(), tiers, Arc::new(DomainTable::new()), state).expect("registers");
        // Vectors without a label value are not gathered.
        let conf = Arc::new(cirrus_core::DomainConf::new(
            "a.test",
            "http://192.0.2.1".parse().expect("origin"),
        ));
        m.series
            .count(Some(&conf), 200, 0.1, Some(crate::cache::CacheStatus::Hit));
        m.handshakes.with_label_values(&["true"]).inc();
        let mut names: Vec<String> = registry.gather().iter().map(|f| f.name().to_string()).collect();
        names.sort();
        let mut frozen = NAMES.map(String::from).to_vec();
        frozen.sort();
        assert_eq!(names, frozen);
        assert_eq!(
            NAMES[..6],
            [
                "nginx_http_requests_total",
                "nginx_http_request_duration_seconds",
                "nginx_cache_status_total",
                "nginx_upstream_errors_total",
                "nginx_upstream_timeouts_total",
                "nginx_upstream_response_seconds",
            ],
            "the seed's dashboards read these"
        );
    }
}
