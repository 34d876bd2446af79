//! [`WebhookReceiver`]: an HTTP endpoint that takes webhooks as a customer's
//! would, checks every signature with the endpoint's secret (the Standard
//! Webhooks algorithm), and answers as the test tells it: 2xx, an error
//! status, a redirect, a huge body, a hang, or not at all (stopped).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the receiver answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 204.
    Ok,
    /// This status, with a short body.
    Status(u16),
    /// 302 to another URL on the same server.
    Redirect,
    /// 500 with a body of a gigabyte (streamed; the sender should stop reading).
    Huge,
    /// Never answers.
    Hang,
}

/// One webhook as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// The body as JSON.
    pub body: serde_json::Value,
    /// True when a `v1` signature verified with the secret and the
    /// timestamp was within 5 minutes.
    pub verified: bool,
    /// How many signatures the header carried.
    pub signatures: usize,
    /// What the receiver answered.
    pub answered: Answer,
    /// When it arrived.
    pub at: std::time::Instant,
}

#[derive(Debug)]
struct Shared {
    secret: Mutex<String>,
    answer: Mutex<Answer>,
    received: Mutex<Vec<Received>>,
}

/// A webhook receiver on a loopback port.
#[derive(Debug)]
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl WebhookReceiver {
    /// Starts answering 204, verifying with `secret` (`whsec_…`).
    pub async fn start(secret: &str) -> Self {
        let shared = Arc::new(Shared {
            secret: Mutex::new(secret.to_string()),
            answer: Mutex::new(Answer::Ok),
            received: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut receiver = Self {
            addr,
            shared,
            task: None,
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new().fallback(receive).with_state(self.shared.clone());
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// The URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Verifies with `secret` from now on.
    pub fn set_secret(&self, secret: &str) {
        *self.shared.secret.lock().unwrap() = secret.to_string();
    }

    /// Answers `answer` from now on.
    pub fn answer(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    /// Stops listening: connections are refused until [`WebhookReceiver::resume`].
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&mut self) {
        let listener = crate::eventually("the receiver's port again", Duration::from_secs(10), || async {
            tokio::net::TcpListener::bind(self.addr).await.ok()
        })
        .await;
        self.serve(listener);
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (at most `within`) until `n` webhooks were answered 2xx; returns those.
    pub async fn wait_delivered(&self, n: usize, within: Duration) -> Vec<Received> {
        crate::eventually(&format!("{n} webhooks delivered"), within, || async {
            let ok = self.delivered();
            (ok.len() >= n).then_some(ok)
        })
        .await
    }

    /// The webhooks answered 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == Answer::Ok)
            .collect()
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let secret = shared.secret.lock().unwrap().clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let verified = cirrus_core::webhook::verify(&secret, &id, &timestamp, &signature, &body, now, 300).is_ok();
    let answer = shared.answer.lock().unwrap().clone();
    shared.received.lock().unwrap().push(Received {
        id,
        timestamp,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        verified,
        signatures: signature.split(' ').filter(|s| !s.is_empty()).count(),
        answered: answer.clone(),
        at: std::time::Instant::now(),
    });
    match answer {
        Answer::Ok => StatusCode::NO_CONTENT.into_response(),
        Answer::Status(code) => (StatusCode::from_u16(code).unwrap(), "not now").into_response(),
        Answer::Redirect => (StatusCode::FOUND, [("location", "/elsewhere")]).into_response(),
        Answer::Huge => {
            let chunk = Bytes::from(vec![b'x'; 1 << 20]);
            let stream = futures_util::stream::iter((0..1024).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            (StatusCode::INTERNAL_SERVER_ERROR, Body::from_stream(stream)).into_response()
        }
        Answer::Hang => {
            std::future::pending::<()>().await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}
