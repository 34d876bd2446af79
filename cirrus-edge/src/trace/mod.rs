//! Traces of requests (OpenTelemetry), off unless the edge is built with
//! [`Tracing`]. A request's trace ids and sampling decision are made when
//! it arrives; an unsampled request records nothing and costs a few
//! random numbers (its ids still go to the origin, marked not sampled, so
//! the origin's own traces stay consistent). A sampled request records
//! when its steps started and ended, and its spans are made from them
//! once it is answered: the request path never waits on the exporter.

mod context;
mod emit;

use context::{TRACEPARENT, TRACESTATE, traceparent};

use crate::head::Fields;
use opentelemetry::global::BoxedTracer;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

/// How an edge traces requests: where its spans go, which requests are
/// sampled, and whether a client's trace context is followed.
///
/// ```
/// use cirrus_edge::Tracing;
/// // The tracer of the process's provider (a no-op until one is installed).
/// let tracing = Tracing::new(opentelemetry::global::tracer("cirrus-edge"))
///     .sample_ratio(0.01)
///     .trust_traceparent(true);
/// assert_eq!(tracing.ratio(), 0.01);
/// ```
pub struct Tracing {
    tracer: BoxedTracer,
    ratio: f64,
    trust: bool,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing")
            .field("ratio", &self.ratio)
            .field("trust_traceparent", &self.trust)
            .finish_non_exhaustive()
    }
}

impl Tracing {
    /// Spans go to `tracer`; every request is sampled, no client's trace
    /// context is trusted.
    pub fn new(tracer: BoxedTracer) -> Self {
        Self {
            tracer,
            ratio: 1.0,
            trust: false,
        }
    }

    /// The share of new traces sampled, 0 to 1 (clamped), decided from the
    /// trace id as OpenTelemetry's `traceidratio` sampler does; a trusted
    /// caller's decision is followed (`parentbased_traceidratio`).
    pub fn sample_ratio(mut self, ratio: f64) -> Self {
        self.ratio = if ratio.is_nan() { 0.0 } else { ratio.clamp(0.0, 1.0) };
        self
    }

    /// The sampled share of new traces.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Follows a client's `traceparent` and `tracestate` (its trace id,
    /// its span as the parent, its sampling decision). Off by default: a
    /// client could otherwise have every one of its requests sampled, and
    /// its own ids written in the logs; the edge then starts a trace of
    /// its own and replaces the client's context toward the origin.
    pub fn trust_traceparent(mut self, trust: bool) -> Self {
        self.trust = trust;
        self
    }

    /// A new request's trace, from its request fields.
    pub(crate) fn start(&self, fields: &Fields) -> RequestTrace {
        let parent = if self.trust { context::parent(fields) } else { None };
        let span_id = nonzero(crate::hashing::random_u64).to_be_bytes();
        let (trace_id, sampled) = match &parent {
            Some(p) => (p.trace_id, p.sampled),
            None => {
                let high = crate::hashing::random_u64();
                let low = nonzero(crate::hashing::random_u64);
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&high.to_be_bytes());
                id[8..].copy_from_slice(&low.to_be_bytes());
                (id, ratio_samples(self.ratio, low))
            }
        };
        let recorder = sampled.then(|| {
            Box::new(Recorder {
                started: (SystemTime::now(), Instant::now()),
                steps: Mutex::new(Vec::new()),
            })
        });
        RequestTrace {
            trace_id,
            span_id,
            parent,
            recorder,
        }
    }
}

/// A random number other than 0 (an id of zeros is invalid).
fn nonzero(random: fn() -> u64) -> u64 {
    loop {
        let n = random();
        if n != 0 {
            return n;
        }
    }
}

/// OpenTelemetry's `traceidratio` decision: the trace id's low 63 bits
/// under the ratio's share of 2^63, so that every service sampling by
/// ratio keeps or drops the same traces.
fn ratio_samples(ratio: f64, low: u64) -> bool {
    const SPAN: f64 = (1u64 << 63) as f64;
    let bound = (ratio * SPAN) as u64;
    (low >> 1) < bound
}

/// One request's trace: its ids, its caller's context when trusted, and
/// for a sampled request what its steps recorded.
#[derive(Debug)]
pub(crate) struct RequestTrace {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<context::Parent>,
    recorder: Option<Box<Recorder>>,
}

/// A sampled request's start and its steps.
#[derive(Debug)]
struct Recorder {
    started: (SystemTime, Instant),
    /// Locked once per step, by the request alone (a hook borrows the
    /// session, so the steps cannot be a `&mut`).
    steps: Mutex<Vec<Step>>,
}

/// One step of a sampled request: a child span of its span.
#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) name: &'static str,
    pub(crate) start: Instant,
    pub(crate) end: Instant,
    pub(crate) detail: Detail,
}

/// What a step adds to its span.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Detail {
    None,
    /// An origin or peer exchange: whether it opened its connection,
    /// when the TCP connection and the TLS handshake ended.
    Exchange {
        /// The connection's steps when it was opened for this exchange.
        opened: Option<Opened>,
    },
}

/// When a new origin connection's steps ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opened {
    pub(crate) started: Instant,
    pub(crate) connected: Instant,
    pub(crate) tls_done: Option<Instant>,
}

impl RequestTrace {
    /// True when the request's spans are recorded and exported.
    pub(crate) fn is_sampled(&self) -> bool {
        self.recorder.is_some()
    }

    /// The clock at the start of a step, when the request is sampled.
    pub(crate) fn clock(&self) -> Option<Instant> {
        self.recorder.as_ref().map(|_| Instant::now())
    }

    /// Records a step that started at `start` (from [`RequestTrace::clock`]) and ends now.
    pub(crate) fn step(&self, name: &'static str, start: Option<Instant>, detail: Detail) {
        let (Some(rec), Some(start)) = (&self.recorder, start) else {
            return;
        };
        let step = Step {
            name,
            start,
            end: Instant::now(),
            detail,
        };
        rec.steps.lock().unwrap_or_else(|p| p.into_inner()).push(step);
    }

    /// The `traceparent` for the origin: this request's span as the parent.
    pub(crate) fn traceparent(&self) -> [u8; 55] {
        traceparent(&self.trace_id, &self.span_id, self.is_sampled())
    }

    /// The trusted caller's `tracestate`, passed on.
    pub(crate) fn tracestate(&self) -> Option<&str> {
        self.parent.as_ref()?.state.as_deref()
    }

    /// The trace id in hex, for a sampled request's access log line.
    pub(crate) fn sampled_trace_id(&self) -> Option<[u8; 32]> {
        self.recorder.as_ref()?;
        let mut hex = [0u8; 32];
        cirrus_core::auth::write_hex(&self.trace_id, &mut hex);
        Some(hex)
    }

    /// The trace id and this request's span id, for the hooks' own spans.
    pub(crate) fn span_context(&self) -> opentelemetry::trace::SpanContext {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        let sampled = self.is_sampled();
        let state = self
            .tracestate()
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.span_id),
            if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            false,
            state,
        )
    }
}

/// Sets the request's trace context on the fields for an origin or a peer.
pub(crate) fn propagate(trace: &RequestTrace, fields: &mut Fields) {
    fields.remove(TRACESTATE);
    // The value is hex digits and dashes, the state a checked field value.
    let _ = fields.insert(TRACEPARENT, trace.traceparent());
    if let Some(state) = trace.tracestate() {
        let _ = fields.insert(TRACESTATE, state);
    }
}

pub(crate) use emit::{RequestSpan, emit};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_keeps_its_share_of_trace_ids() {
        let kept = (0..100_000u64)
            .filter(|_| ratio_samples(0.1, crate::hashing::random_u64()))
            .count();
        assert!((9_000..11_000).contains(&kept), "{kept}");
        assert!(!ratio_samples(0.0, u64::MAX >> 1));
        assert!(ratio_samples(1.0, u64::MAX));
    }

    #[test]
    fn a_trusted_parent_decides_and_an_untrusted_one_is_replaced() {
        let mut f = Fields::new();
        f.append(TRACEPARENT, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        let tracer = || opentelemetry::global::tracer("test");
        let trusted = Tracing::new(tracer())
            .sample_ratio(0.0)
            .trust_traceparent(true)
            .start(&f);
        assert!(trusted.is_sampled(), "the caller sampled it");
        let sent = trusted.traceparent();
        assert!(sent.starts_with(b"00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(sent.ends_with(b"-01"));
        assert_ne!(
            &sent[36..52],
            b"00f067aa0ba902b7",
            "the edge's span is the origin's parent"
        );
        let untrusted = Tracing::new(tracer()).sample_ratio(0.0).start(&f);
        assert!(!untrusted.is_sampled());
        assert!(
            !untrusted
                .traceparent()
                .starts_with(b"00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        assert!(untrusted.traceparent().ends_with(b"-00"));
        assert_eq!(untrusted.sampled_trace_id(), None);
    }
}
