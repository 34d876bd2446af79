//! The worker's metrics and its admin listener: job runs
//! (`cirrus_job_duration_seconds{kind,outcome}`, a histogram whose count is
//! the runs of each outcome) and each certificate's time left
//! (`cirrus_acme_cert_expiry_seconds{domain}`: seconds to `notAfter`,
//! negative once expired, read from the store at each scrape so it is
//! never staler than the scrape), with `cirrus_store_up` and
//! `cirrus_ready` (1 when that read succeeded). `/healthz` (liveness) and
//! `/readyz` (a store round trip: a worker without its store takes no
//! job) answer everyone, `/metrics` the addresses allowed.

use cirrus_core::jobs::{JobObserver, JobOutcome};
use cirrus_core::model::AllowList;
use cirrus_core::{CertStore, ChangeFeed, DomainStore, Store};
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntGauge, Opts, Registry, TextEncoder};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Job run durations by kind and outcome.
pub const JOB_DURATION: &str = "cirrus_job_duration_seconds";
/// Seconds until each domain's certificate ends.
pub const CERT_EXPIRY: &str = "cirrus_acme_cert_expiry_seconds";
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
        if let Err(e) = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut buf) {
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

/// Serves `/healthz`, `/readyz` and `/metrics` (for `allow`) on
/// `listener` until `shutdown`; the gauges are refreshed from `store` at
/// each scrape.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    metrics: WorkerMetrics,
    store: Arc<dyn Store>,
    allow: AllowList,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use axum::extract::ConnectInfo;
    use axum::http::StatusCode;
    use axum::routing::get;
    let store_ready = store.clone();
    let scrape = move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
        let (metrics, store, allowed) = (metrics.clone(), store.clone(), allow.allows(peer.ip()));
        async move {
            if !allowed {
                return (StatusCode::FORBIDDEN, "forbidden\n".to_string());
            }
            metrics.refresh(&*store, cirrus_core::model::now_ms() / 1000).await;
            (StatusCode::OK, metrics.render())
        }
    };
    let ready = move || {
        let store = store_ready.clone();
        async move {
            match store.revision().await {
                Ok(revision) => (
                    StatusCode::OK,
                    axum::Json(serde_json::json!({ "status": "ready", "revision": revision })),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: the store does not answer");
                    let body = serde_json::json!({ "status": "unavailable", "error": e.to_string() });
                    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body))
                }
            }
        }
    };
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(scrape))
        .layer(axum::middleware::from_fn(refuse_bodies));
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "worker metrics listener failed");
    }
}

/// 413 from the head for a request announcing a body (see
/// [`cirrus_core::lifecycle::declares_body`]).
async fn refuse_bodies(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    use axum::response::IntoResponse;
    let headers = req.headers();
    let length = headers.get(CONTENT_LENGTH).map(|v| v.as_bytes());
    if cirrus_core::lifecycle::declares_body(length, headers.contains_key(TRANSFER_ENCODING)) {
        let status = axum::http::StatusCode::PAYLOAD_TOO_LARGE;
        return (status, cirrus_core::lifecycle::ADMIN_BODY_REFUSED).into_response();
    }
    next.run(req).await
}
