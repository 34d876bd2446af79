//! An edge whose requests are traced, as an embedder wires it: spans go to
//! the embedder's OpenTelemetry provider (here a processor that prints and
//! keeps them; in production the SDK's OTLP exporter), a caller's
//! `traceparent` is followed, a hook makes a span of its own under the
//! request's, and the origin is told the edge's span as its parent.
//!
//! Run: `cargo run --example traced_edge`

use cirrus::core::{DomainConf, StaticSource};
use cirrus::edge::http::Response;
use cirrus::edge::{Body, Edge, EdgeHooks, ProxyError, Session, Tracing};
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The caller's trace: the id the edge's spans join.
pub const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// One finished span: its name, trace id and parent span id (hex).
#[derive(Debug, Clone)]
pub struct Finished {
    /// The span's name.
    pub name: String,
    /// Its trace.
    pub trace_id: String,
    /// Its own id.
    pub span_id: String,
    /// Its parent's id (zeros for a root).
    pub parent: String,
}

/// Prints each span as it ends, and keeps it.
#[derive(Debug, Clone, Default)]
struct Printer(Arc<Mutex<Vec<Finished>>>);

impl SpanProcessor for Printer {
    fn on_start(&self, _: &mut Span, _: &opentelemetry::Context) {}
    fn on_end(&self, span: SpanData) {
        let took = span.end_time.duration_since(span.start_time).unwrap_or_default();
        let finished = Finished {
            name: span.name.to_string(),
            trace_id: span.span_context.trace_id().to_string(),
            span_id: span.span_context.span_id().to_string(),
            parent: span.parent_span_id.to_string(),
        };
        println!(
            "span {:<22} trace {} parent {} {:>8.3} ms",
            finished.name,
            finished.trace_id,
            finished.parent,
            took.as_secs_f64() * 1e3
        );
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(finished);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// A hook with work worth a span: a price lookup, as a child of the request's span.
struct Pricing {
    tracer: opentelemetry_sdk::trace::SdkTracer,
}

impl EdgeHooks for Pricing {
    type Ctx = ();
    fn new_ctx(&self) {}

    async fn request_filter(&self, s: &mut Session, _: &mut ()) -> Result<Option<Response<Body>>, ProxyError> {
        if let Some(request) = s.trace_context() {
            let parent = opentelemetry::Context::new().with_remote_span_context(request);
            let mut span = self.tracer.start_with_context("pricing lookup", &parent);
            tokio::time::sleep(Duration::from_millis(2)).await;
            span.end();
        }
        Ok(None)
    }
}

/// An origin that answers each request with the `traceparent` it got.
async fn origin() -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut buf, mut head) = ([0u8; 4096], Vec::new());
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(n @ 1..) => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let parent = head
                    .lines()
                    .find_map(|l| l.strip_prefix("traceparent: "))
                    .unwrap_or("-");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{parent}",
                    parent.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    Ok(addr)
}

/// What the demo saw: the spans, and the `traceparent` the origin got.
#[derive(Debug)]
pub struct Seen {
    /// Every span, in the order they ended.
    pub spans: Vec<Finished>,
    /// The `traceparent` the origin got.
    pub origin_got: String,
}

/// Serves one traced request and returns what was recorded.
pub async fn demo() -> Result<Seen, Box<dyn std::error::Error>> {
    let printer = Printer::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(printer.clone())
        .build();
    let tracing = Tracing::new(opentelemetry::global::BoxedTracer::new(Box::new(
        provider.tracer("edge"),
    )))
    .sample_ratio(0.01)
    // The callers are our own services: their sampling decision holds.
    .trust_traceparent(true);
    let conf = DomainConf::new("shop.example", format!("http://{}", origin().await?).parse()?);
    let edge = Edge::builder(Arc::new(StaticSource::new().with_domain(conf)?))
        .hooks(Pricing {
            tracer: provider.tracer("pricing"),
        })
        .tracing(tracing)
        .build()?;
    edge.load().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { edge.serve(listener, std::future::pending()).await });

    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET / HTTP/1.1\r\nHost: shop.example\r\ntraceparent: {CALLER}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).await?;
    let origin_got = answer.rsplit("\r\n\r\n").next().unwrap_or_default().to_string();
    println!("the origin got traceparent {origin_got}");
    let spans = printer.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(Seen { spans, origin_got })
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    demo().await?;
    Ok(())
}
