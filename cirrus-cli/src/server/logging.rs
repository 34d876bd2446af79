//! Log output of the roles: on stderr, readable text (coloured only when
//! stderr is a terminal) or one JSON object per line.

use std::io::IsTerminal;

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

/// Installs the subscriber with `filter` (checked by [`filter`]).
pub(crate) fn init(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}
