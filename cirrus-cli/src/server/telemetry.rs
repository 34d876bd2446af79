//! Traces of the roles (OpenTelemetry over OTLP/HTTP with protobuf), off
//! unless an endpoint is set (`--otlp-endpoint`,
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
//! The API's, worker's and DNS role's `tracing` spans become OpenTelemetry
//! spans through `tracing-opentelemetry`; the edge makes its own from its
//! requests' steps (cirrus-edge's `trace` module). Finished spans go into
//! a bounded queue that a task exports in batches: a request never waits
//! for the collector, and a span that finds the queue full or whose batch
//! fails to export is dropped and counted in
//! `cirrus_otel_spans_dropped_total`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Spans waiting for export; past it new ones are dropped.
const QUEUE: usize = 4096;
/// Spans per export request.
const BATCH: usize = 512;
/// How long a span waits for its batch to fill before it is sent.
const DELAY: Duration = Duration::from_secs(1);

/// What the process traces with, once [`start`] installed it.
static INSTALLED: OnceLock<Installed> = OnceLock::new();

#[derive(Debug)]
struct Installed {
    /// The share of new traces sampled (for the edge's own decision).
    ratio: f64,
    flush: mpsc::Sender<oneshot::Sender<()>>,
}

/// The sampled share of new traces, from `OTEL_TRACES_SAMPLER` and the
/// ratio; other samplers than these are refused.
fn sampler(ratio: f64) -> Result<(Sampler, f64), String> {
    let name = std::env::var("OTEL_TRACES_SAMPLER").unwrap_or_else(|_| "parentbased_traceidratio".into());
    let ratio = ratio.clamp(0.0, 1.0);
    let (sampler, share) = match name.as_str() {
        "parentbased_traceidratio" => (Sampler::TraceIdRatioBased(ratio), ratio),
        "parentbased_always_on" => (Sampler::AlwaysOn, 1.0),
        "parentbased_always_off" => (Sampler::AlwaysOff, 0.0),
        "traceidratio" => return Ok((Sampler::TraceIdRatioBased(ratio), ratio)),
        "always_on" => return Ok((Sampler::AlwaysOn, 1.0)),
        "always_off" => return Ok((Sampler::AlwaysOff, 0.0)),
        other => {
            return Err(format!(
                "OTEL_TRACES_SAMPLER={other}: not a sampler Cirrus knows (parentbased_traceidratio, \
                 parentbased_always_on, parentbased_always_off, traceidratio, always_on, always_off)"
            ));
        }
    };
    Ok((Sampler::ParentBased(Box::new(sampler)), share))
}

/// `--trace-sample-ratio`: a number from 0 to 1.
pub(crate) fn ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("a share of traces from 0 to 1, e.g. 0.01".into()),
    }
}

/// The process's tracer when tracing is on (an endpoint is set and
/// `OTEL_SDK_DISABLED` is not `true`), its provider installed as the
/// global one. Call within the runtime: the export task is spawned on it.
/// `endpoint` is `--otlp-endpoint` (`/v1/traces` is added), `ratio`
/// `--trace-sample-ratio`, `service` the default `service.name`.
pub(crate) fn start(endpoint: Option<&str>, ratio: f64, service: &str) -> Result<Option<SdkTracer>, String> {
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let traces_endpoint = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    if disabled || (endpoint.is_none() && traces_endpoint.is_none()) {
        return Ok(None);
    }
    let (sampler, share) = sampler(ratio)?;
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(Client::new()?);
    // The traces' own endpoint, when set, is used as it is (the
    // exporter reads it); the base URL gets the signal's path.
    if let (None, Some(base)) = (&traces_endpoint, endpoint) {
        exporter = exporter.with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')));
    }
    let mut exporter = exporter.build().map_err(|e| format!("OTLP exporter: {e}"))?;
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(service.to_string());
    }
    let resource = resource.build();
    exporter.set_resource(&resource);
    let dropped = dropped_counter()?;
    let (spans, queue) = mpsc::channel(QUEUE);
    let (flush, flushes) = mpsc::channel(1);
    tokio::spawn(export(exporter, queue, flushes, dropped.clone()));
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Queue { spans, dropped })
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("cirrus");
    opentelemetry::global::set_tracer_provider(provider);
    let _ = INSTALLED.set(Installed { ratio: share, flush });
    Ok(Some(tracer))
}

/// The edge's tracing when the process traces.
pub(crate) fn edge_tracing(trust_traceparent: bool) -> Option<cirrus_edge::Tracing> {
    let installed = INSTALLED.get()?;
    Some(
        cirrus_edge::Tracing::new(opentelemetry::global::tracer("cirrus-edge"))
            .sample_ratio(installed.ratio)
            .trust_traceparent(trust_traceparent),
    )
}

/// Exports what is queued, waiting at most `within` (at exit).
pub(crate) async fn flush(within: Duration) {
    let Some(installed) = INSTALLED.get() else { return };
    let (done, exported) = oneshot::channel();
    if installed.flush.send(done).await.is_ok() {
        let _ = tokio::time::timeout(within, exported).await;
    }
}

/// `cirrus_otel_spans_dropped_total`, in the default registry, which every
/// role's `/metrics` includes.
fn dropped_counter() -> Result<prometheus::IntCounter, String> {
    let counter = prometheus::IntCounter::new(
        "cirrus_otel_spans_dropped_total",
        "Finished spans not exported: the queue was full, or their batch failed to export.",
    )
    .map_err(|e| e.to_string())?;
    prometheus::default_registry()
        .register(Box::new(counter.clone()))
        .map_err(|e| format!("cirrus_otel_spans_dropped_total: {e}"))?;
    Ok(counter)
}

/// The span processor: each finished span queued, never waited for.
#[derive(Debug)]
struct Queue {
    spans: mpsc::Sender<SpanData>,
    dropped: prometheus::IntCounter,
}

impl SpanProcessor for Queue {
    fn on_start(&self, _span: &mut Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if self.spans.try_send(span).is_err() {
            self.dropped.inc();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Sends the queued spans in batches of [`BATCH`], each at most [`DELAY`]
/// after its first span; a batch that fails is counted as dropped (the
/// failure logged once a minute at most).
async fn export(
    exporter: opentelemetry_otlp::SpanExporter,
    mut queue: mpsc::Receiver<SpanData>,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
    dropped: prometheus::IntCounter,
) {
    let mut last_warning: Option<tokio::time::Instant> = None;
    let mut batch = Vec::new();
    loop {
        let mut flushed = None;
        tokio::select! {
            first = queue.recv() => match first {
                Some(span) => batch.push(span),
                None => return,
            },
            Some(done) = flushes.recv() => flushed = Some(done),
        }
        let deadline = tokio::time::Instant::now() + DELAY;
        while flushed.is_none() && batch.len() < BATCH {
            tokio::select! {
                next = queue.recv() => match next {
                    Some(span) => batch.push(span),
                    None => break,
                },
                Some(done) = flushes.recv() => flushed = Some(done),
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        if flushed.is_some() {
            while let Ok(span) = queue.try_recv() {
                batch.push(span);
            }
        }
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(BATCH));
            let chunk = std::mem::replace(&mut batch, rest);
            let n = chunk.len() as u64;
            if let Err(e) = exporter.export(chunk).await {
                dropped.inc_by(n);
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    last_warning = Some(tokio::time::Instant::now());
                    tracing::warn!(error = %e, spans = n, "traces: export failed; spans dropped (logged once a minute)");
                }
            }
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}

/// The exporter's HTTP client: the workspace's reqwest (opentelemetry-otlp's
/// own `reqwest-client` feature would bring a second major version).
#[derive(Debug)]
struct Client(reqwest::Client);

impl Client {
    fn new() -> Result<Self, String> {
        let ms = ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.parse::<u64>().ok())
            .unwrap_or(10_000);
        reqwest::Client::builder()
            .timeout(Duration::from_millis(ms))
            .build()
            .map(Self)
            .map_err(|e| format!("OTLP exporter's HTTP client: {e}"))
    }
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
        let response = self.0.execute(request).await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            return Err(format!("the collector answered {status}").into());
        }
        Ok(http::Response::builder().status(status).body(body)?)
    }
}
