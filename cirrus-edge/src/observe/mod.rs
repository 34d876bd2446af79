//! The observation phase: every answered request counted in the metrics
//! and written to the access log. It reads what the other phases left in
//! the [`RequestSummary`]; it never changes a response.

mod access_log;
mod memory;
mod metrics;
mod openmetrics;
mod series;

pub(crate) use access_log::{AccessLog, Sink};
pub(crate) use memory::MemoryGauges;
pub(crate) use metrics::{EdgeMetrics, UpstreamMetrics, phase};

use crate::session::{RequestSummary, Session};
use crate::trace::RequestSpan;
use opentelemetry::KeyValue;
use std::time::SystemTime;

/// The metrics and the access log of an edge.
#[derive(Debug)]
pub(crate) struct Observer {
    pub(crate) metrics: EdgeMetrics,
    pub(crate) access_log: Option<AccessLog>,
}

impl Observer {
    /// Counts one answered request and writes its access log line.
    pub(crate) fn record(&self, session: &Session, summary: &RequestSummary) {
        let status = summary.status.as_u16();
        let m = &self.metrics;
        let seconds = summary.duration.as_secs_f64();
        m.series.count(session.domain(), status, seconds, summary.cache);
        let host = session.domain().map_or("unknown", |c| c.domain.as_str());
        let trace_id = session.trace().and_then(|t| t.sampled_trace_id());
        if let Some(id) = trace_id {
            let at = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            m.exemplars.record(host, seconds, id, at.as_secs_f64());
        }
        let Some(log) = &self.access_log else { return };
        let cache = summary.cache.map(|c| c.as_str());
        let now = SystemTime::now();
        let since_epoch = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let line = LAST_TIME.with_borrow_mut(|(ms, time)| {
            if *ms != since_epoch.as_millis() || time.is_empty() {
                *ms = since_epoch.as_millis();
                *time = rfc3339_ms(now);
            }
            serde_json::to_string(&Line {
                bytes: summary.body_bytes,
                cache,
                error: summary.error.as_ref().map(|e| e.message()),
                from_peer: session.from_peer(),
                host,
                method: session.method().as_str(),
                path: session.uri().path(),
                peer: session.peer().ip(),
                request_id: session.request_id(),
                status,
                tier: summary.tier.map(|t| t.as_str()),
                time,
                trace_id: trace_id.as_ref().and_then(|id| std::str::from_utf8(id).ok()),
                ts: since_epoch.as_secs_f64(),
                upstream_ms: summary.upstream.map(|d| d.as_secs_f64() * 1000.0),
            })
        });
        let Ok(line) = line else { return };
        if !log.log(line) {
            m.access_log_dropped.inc();
        }
    }
}

/// One access log line, written from borrowed fields (no JSON tree is
/// built); the fields in alphabetical order, as they always were. `time`
/// is RFC 3339 for people and log shippers, `ts` the same instant in Unix
/// seconds for dashboards.
#[derive(serde::Serialize)]
struct Line<'a> {
    bytes: Option<u64>,
    cache: Option<&'a str>,
    error: Option<&'a str>,
    /// Another edge asked, as its shield (left out when not).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    from_peer: bool,
    host: &'a str,
    method: &'a str,
    path: &'a str,
    peer: std::net::IpAddr,
    request_id: &'a str,
    status: u16,
    /// Which tier answered: `cache`, `peer` or `origin`.
    tier: Option<&'a str>,
    time: &'a str,
    /// The trace holding this request's span, when it was sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    ts: f64,
    upstream_ms: Option<f64>,
}

thread_local! {
    /// The access log's last time and its text: requests answered within
    /// the same millisecond on a thread share one formatting.
    static LAST_TIME: std::cell::RefCell<(u128, String)> = const { std::cell::RefCell::new((0, String::new())) };
}

/// `now` in RFC 3339, UTC, with milliseconds (`2026-12-06T01:02:03.045Z`):
/// the calendar from the `time` crate, the digits written here so every
/// line has the same width.
fn rfc3339_ms(now: SystemTime) -> String {
    let t = time::OffsetDateTime::from(now);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The span of a traced request, from what it asked and how it ended.
pub(crate) fn request_span(session: &Session, summary: &RequestSummary) -> RequestSpan {
    let status = summary.status.as_u16();
    let mut attributes = vec![
        KeyValue::new("http.request.method", session.method().as_str().to_string()),
        KeyValue::new("url.path", session.uri().path().to_string()),
        KeyValue::new("url.scheme", if session.is_tls() { "https" } else { "http" }),
        KeyValue::new("client.address", session.peer().ip().to_string()),
        KeyValue::new("http.response.status_code", i64::from(status)),
        KeyValue::new("cirrus.request_id", session.request_id().to_string()),
    ];
    if let Some(conf) = session.domain() {
        attributes.push(KeyValue::new("server.address", conf.domain.clone()));
    }
    if let Some(cache) = summary.cache {
        attributes.push(KeyValue::new("cirrus.cache_status", cache.as_str()));
    }
    if let Some(tier) = summary.tier {
        attributes.push(KeyValue::new("cirrus.tier", tier.as_str()));
    }
    if let Some(bytes) = summary.body_bytes {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        attributes.push(KeyValue::new("http.response.body.size", bytes));
    }
    if let Some(e) = &summary.error {
        attributes.push(KeyValue::new("error.type", format!("{:?}", e.kind())));
    }
    RequestSpan {
        name: session.method().as_str().to_string(),
        attributes,
        // A server span's error is a 5xx (a 4xx is the client's).
        error: (status >= 500).then(|| summary.status.canonical_reason().unwrap_or("server error")),
    }
}
