//! A sampled request's spans, made once it is answered from the times its
//! steps recorded: the request's server span, a child per step (the
//! cache lookup, each origin or peer exchange, each hook), and under an
//! exchange that opened its connection, the TCP connect and the TLS
//! handshake.

use super::{Detail, Recorder, RequestTrace, Step, Tracing};
use opentelemetry::trace::{
    SamplingDecision, SamplingResult, Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt,
    TraceFlags, TraceId, TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use std::time::{Instant, SystemTime};

/// What a request's span says: its name (the method), its attributes,
/// and the reason of its 5xx (a server span's error).
#[derive(Debug)]
pub(crate) struct RequestSpan {
    pub(crate) name: String,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) error: Option<&'static str>,
}

/// Exports the spans of `trace`, when it was sampled: `span` and its steps.
pub(crate) fn emit(tracing: &Tracing, trace: &RequestTrace, span: impl FnOnce() -> RequestSpan) {
    let Some(rec) = &trace.recorder else { return };
    let at = |i: Instant| at(rec, i);
    let trace_id = TraceId::from_bytes(trace.trace_id);
    let state = trace
        .tracestate()
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let parent = match &trace.parent {
        Some(p) => Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            SpanId::from_bytes(p.span_id),
            TraceFlags::SAMPLED,
            true,
            state.clone(),
        )),
        None => Context::new(),
    };
    let end = at(Instant::now());
    let RequestSpan {
        name,
        attributes,
        error,
    } = span();
    let mut root = SpanBuilder::from_name(name)
        .with_kind(SpanKind::Server)
        .with_trace_id(trace_id)
        .with_span_id(SpanId::from_bytes(trace.span_id))
        .with_start_time(rec.started.0)
        .with_attributes(attributes)
        .with_sampling_result(sampled(state.clone()));
    if let Some(reason) = error {
        root = root.with_status(Status::error(reason));
    }
    tracing.tracer.build_with_context(root, &parent).end_with_timestamp(end);
    let under = |span_id: [u8; 8]| {
        Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            SpanId::from_bytes(span_id),
            TraceFlags::SAMPLED,
            false,
            state.clone(),
        ))
    };
    let steps = std::mem::take(&mut *rec.steps.lock().unwrap_or_else(|p| p.into_inner()));
    let request = under(trace.span_id);
    for Step {
        name,
        start,
        end,
        detail,
    } in steps
    {
        let span_id = crate::hashing::random_u64().max(1).to_be_bytes();
        let mut child = SpanBuilder::from_name(name)
            .with_span_id(SpanId::from_bytes(span_id))
            .with_start_time(at(start))
            .with_sampling_result(sampled(state.clone()));
        let Detail::Exchange { opened } = detail else {
            tracing
                .tracer
                .build_with_context(child, &request)
                .end_with_timestamp(at(end));
            continue;
        };
        let reused = if opened.is_some() { "new" } else { "reused" };
        child = child
            .with_kind(SpanKind::Client)
            .with_attributes([KeyValue::new("cirrus.connection", reused)]);
        tracing
            .tracer
            .build_with_context(child, &request)
            .end_with_timestamp(at(end));
        let Some(o) = opened else { continue };
        let exchange = under(span_id);
        let mut parts = vec![("connect", o.started, o.connected)];
        if let Some(tls) = o.tls_done {
            parts.push(("tls handshake", o.connected, tls));
        }
        for (name, start, end) in parts {
            let part = SpanBuilder::from_name(name)
                .with_start_time(at(start))
                .with_sampling_result(sampled(state.clone()));
            tracing
                .tracer
                .build_with_context(part, &exchange)
                .end_with_timestamp(at(end));
        }
    }
}

/// The wall-clock time of `i`, from the request's start.
fn at(rec: &Recorder, i: Instant) -> SystemTime {
    let (wall, mono) = rec.started;
    match i.checked_duration_since(mono) {
        Some(after) => wall + after,
        None => wall - mono.duration_since(i),
    }
}

/// The decision already made, so the provider's sampler is not asked again.
fn sampled(trace_state: TraceState) -> SamplingResult {
    SamplingResult {
        decision: SamplingDecision::RecordAndSample,
        attributes: Vec::new(),
        trace_state,
    }
}
