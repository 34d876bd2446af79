//! An embedder's traced edge: its spans (collected by a span processor of
//! the test's, in the process), an embedder's hook as a child span, and
//! the context a hook reads to make its own spans children of the request's.

use crate::{EdgeUnderTest, Origin, conf_for};
use cirrus_core::StaticSource;
use cirrus_edge::{Body, Edge, EdgeHooks, ProxyError, Session, Tracing};
use opentelemetry::trace::{SpanContext, SpanKind, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Keeps every finished span.
#[derive(Debug, Clone, Default)]
struct Collected(Arc<Mutex<Vec<SpanData>>>);

impl SpanProcessor for Collected {
    fn on_start(&self, _: &mut Span, _: &opentelemetry::Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.lock().unwrap().push(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// A request hook that notes the trace context it was given.
struct Noting(Arc<Mutex<Vec<Option<SpanContext>>>>);

impl EdgeHooks for Noting {
    type Ctx = ();
    fn new_ctx(&self) {}
    async fn request_filter(
        &self,
        session: &mut Session,
        _: &mut (),
    ) -> Result<Option<http::Response<Body>>, ProxyError> {
        self.0.lock().unwrap().push(session.trace_context());
        Ok(None)
    }
}

async fn traced_edge(
    ratio: f64,
) -> (
    EdgeUnderTest<Noting>,
    Collected,
    Arc<Mutex<Vec<Option<SpanContext>>>>,
    Origin,
) {
    let origin = Origin::start().await;
    let collected = Collected::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(collected.clone())
        .build();
    let tracer = opentelemetry::global::BoxedTracer::new(Box::new(provider.tracer("test")));
    let noted = Arc::new(Mutex::new(Vec::new()));
    let source = StaticSource::new().with_domain(conf_for(&origin)).unwrap();
    let edge = Edge::builder(Arc::new(source))
        .hooks(Noting(noted.clone()))
        .tracing(Tracing::new(tracer).sample_ratio(ratio))
        .build()
        .unwrap();
    (EdgeUnderTest::serve(edge).await, collected, noted, origin)
}

#[tokio::test]
async fn a_sampled_request_is_a_server_span_with_its_steps_and_the_hook_as_children() {
    let (e, collected, noted, _origin) = traced_edge(1.0).await;
    let (status, _, _) = e.get("/cached").await;
    assert_eq!(status, 200);
    let spans = collected.0.lock().unwrap().clone();
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .expect("the request's span");
    let name = |s: &SpanData| s.name.to_string();
    let under = |parent: &SpanData| -> Vec<String> {
        let mut names: Vec<String> = spans
            .iter()
            .filter(|s| s.parent_span_id == parent.span_context.span_id())
            .map(name)
            .collect();
        names.sort();
        names
    };
    // Every asynchronous hook of an embedder's hooks type is a step.
    assert_eq!(
        under(server),
        [
            "cache lookup",
            "hook request_filter",
            "hook response_filter",
            "hook select_origin",
            "hook upstream_request_filter",
            "origin"
        ]
    );
    let exchange = spans.iter().find(|s| s.name == "origin").unwrap();
    assert_eq!(under(exchange), ["connect"], "a new connection's TCP connect");
    assert!(
        spans
            .iter()
            .all(|s| s.span_context.trace_id() == server.span_context.trace_id())
    );
    assert!(
        spans
            .iter()
            .all(|s| s.start_time >= server.start_time && s.end_time <= server.end_time)
    );
    // The hook was given the request span's context, for spans of its own.
    let seen = noted.lock().unwrap()[0].clone().expect("a context");
    assert_eq!(seen.span_id(), server.span_context.span_id());
    assert_eq!(seen.trace_id(), server.span_context.trace_id());
    assert!(seen.is_sampled());
}

#[tokio::test]
async fn an_unsampled_request_makes_no_span_but_still_has_a_context() {
    let (e, collected, noted, _origin) = traced_edge(0.0).await;
    for _ in 0..20 {
        assert_eq!(e.get("/cached").await.0, 200);
    }
    assert!(collected.0.lock().unwrap().is_empty());
    let seen = noted.lock().unwrap();
    assert_eq!(seen.len(), 20);
    assert!(
        seen.iter()
            .all(|c| c.as_ref().is_some_and(|c| c.is_valid() && !c.is_sampled()))
    );
}
