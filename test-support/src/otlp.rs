//! [`OtlpReceiver`]: an OpenTelemetry collector's OTLP/HTTP traces endpoint
//! (`POST /v1/traces`, protobuf), decoding each export with
//! `opentelemetry-proto` and keeping its spans for the test to look at.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One span as received, its ids in lowercase hex.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// `service.name` of the resource that sent it.
    pub service: String,
    /// The instrumentation scope's name (the tracer's).
    pub scope: String,
    /// The span's name.
    pub name: String,
    /// Its trace's id.
    pub trace_id: String,
    /// Its own id.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// 1 internal, 2 server, 3 client.
    pub kind: i32,
    /// When it started (Unix ns).
    pub start_unix_nano: u64,
    /// When it ended (Unix ns).
    pub end_unix_nano: u64,
    /// Attributes as text (`"200"` for an integer 200).
    pub attributes: Vec<(String, String)>,
}

impl ReceivedSpan {
    /// The attribute `key`, as text.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// An OTLP/HTTP traces receiver on a loopback port.
#[derive(Debug)]
pub struct OtlpReceiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OtlpReceiver {
    /// Starts listening on a free loopback port.
    pub async fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(receive))
            .with_state(spans.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, spans, task }
    }

    /// The base URL (`--otlp-endpoint`; `/v1/traces` is added by the sender).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits (at most `within`) for a span that `pick` accepts.
    pub async fn wait_for(&self, what: &str, within: Duration, pick: impl Fn(&ReceivedSpan) -> bool) -> ReceivedSpan {
        crate::eventually(what, within, || async { self.spans().into_iter().find(|s| pick(s)) }).await
    }
}

async fn receive(State(spans): State<Arc<Mutex<Vec<ReceivedSpan>>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let protobuf = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes() == b"application/x-protobuf");
    if !protobuf {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut received = Vec::new();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            let scope_name = scope.scope.map(|s| s.name).unwrap_or_default();
            for span in scope.spans {
                received.push(ReceivedSpan {
                    service: service.clone(),
                    scope: scope_name.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: span.kind,
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                    attributes: span
                        .attributes
                        .into_iter()
                        .map(|kv| (kv.key, text(kv.value.as_ref().and_then(|v| v.value.as_ref()))))
                        .collect(),
                });
            }
        }
    }
    spans.lock().unwrap().extend(received);
    StatusCode::OK
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
