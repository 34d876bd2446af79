//! Log output of the roles: on stderr, readable text (coloured only when
//! stderr is a terminal) or one JSON object per line.

use opentelemetry_sdk::trace::SdkTracer;
use std::io::IsTerminal;
use tracing::Level;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`,
    /// `message` and the event's own fields at the top level, and `span`
    /// (the request being served: `request_id`, `method`, `route`).
    Json,
}

/// `--log`: a filter `tracing` understands, else refused (exit 2) rather
/// than silently replaced.
pub(crate) fn filter(value: &str) -> Result<String, String> {
    match tracing_subscriber::EnvFilter::try_new(value) {
        Ok(_) => Ok(value.to_string()),
        Err(e) => Err(format!(
            "not a log filter ({e}); e.g. `info` or `cirrus_api=debug,info`"
        )),
    }
}

/// Installs the subscriber with `filter` (checked by [`filter`]), and
/// with `traces` the bridge that makes the roles' spans OpenTelemetry
/// spans (the API's requests and store calls, the worker's jobs, the DNS
/// role's rebuilds and transfers; the edge traces its requests itself).
pub(crate) fn init(filter: &str, format: LogFormat, traces: Option<SdkTracer>) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Text => lines.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    let traces = traces.map(|tracer| {
        // Store calls are `debug` spans: traced, never in the log lines.
        let spans = Targets::new()
            .with_target("cirrus_api", Level::INFO)
            .with_target("cirrus_acme", Level::INFO)
            .with_target("cirrus_dns", Level::INFO)
            .with_target("cirrus_core::jobs", Level::INFO)
            .with_target("cirrus_core::store", Level::DEBUG);
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_threads(false)
            .with_location(false)
            .with_filter(spans)
    });
    tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(traces)
        .init();
}
