//! An acme-dns-compatible server (the HTTP API of joohoi/acme-dns and its
//! DNS): `POST /register` makes a registration under the server's zone,
//! `POST /update` with `X-Api-User` / `X-Api-Key` sets its TXT value (the
//! latest two are kept, as acme-dns does), and a UDP DNS server answers
//! `<subdomain>.<zone> TXT` with them.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Registration {
    user: String,
    key: String,
    txt: Vec<String>,
}

#[derive(Debug, Default)]
struct Shared {
    zone: String,
    /// By subdomain.
    registrations: Mutex<HashMap<String, Registration>>,
    updates: Mutex<Vec<(String, String)>>,
}

/// An acme-dns-compatible server on free loopback ports.
#[derive(Debug)]
pub struct AcmeDnsServer {
    /// The HTTP API's base URL.
    pub api: String,
    /// The DNS server (UDP) authoritative for the zone.
    pub dns: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for AcmeDnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl AcmeDnsServer {
    /// Serves registrations under `zone` (e.g. `auth.acme-dns.test`).
    pub async fn start(zone: &str) -> Self {
        let shared = Arc::new(Shared {
            zone: zone.trim_end_matches('.').to_ascii_lowercase(),
            ..Shared::default()
        });
        let app = axum::Router::new()
            .route("/register", post(register))
            .route("/update", post(update))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let http = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dns = socket.local_addr().unwrap();
        let answers = shared.clone();
        let udp = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                if let Some(answer) = answer(&answers, &buf[..n]) {
                    let _ = socket.send_to(&answer, peer).await;
                }
            }
        });
        Self {
            api,
            dns,
            shared,
            tasks: vec![http, udp],
        }
    }

    /// Every accepted update so far, as (subdomain, value).
    pub fn updates(&self) -> Vec<(String, String)> {
        self.shared.updates.lock().unwrap().clone()
    }

    /// How many registrations were made.
    pub fn registrations(&self) -> usize {
        self.shared.registrations.lock().unwrap().len()
    }
}

async fn register(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let mut registrations = shared.registrations.lock().unwrap();
    let n = registrations.len() + 1;
    let subdomain = format!("{n:08x}-5a1e-4c0f-9d1b-acmed0000000");
    let registration = Registration {
        user: format!("user-{n}"),
        key: format!("key-{n}-0123456789abcdef0123456789"),
        txt: Vec::new(),
    };
    let body = serde_json::json!({
        "username": registration.user, "password": registration.key, "subdomain": subdomain,
        "fulldomain": format!("{subdomain}.{}", shared.zone), "allowfrom": [],
    });
    registrations.insert(subdomain, registration);
    Json(body)
}

async fn update(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> (StatusCode, String) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (Some(subdomain), Some(txt)) = (body["subdomain"].as_str(), body["txt"].as_str()) else {
        return (StatusCode::BAD_REQUEST, r#"{"error": "malformed_json_payload"}"#.into());
    };
    let mut registrations = shared.registrations.lock().unwrap();
    let Some(registration) = registrations.get_mut(subdomain) else {
        return (StatusCode::UNAUTHORIZED, r#"{"error": "forbidden"}"#.into());
    };
    if registration.user != header("x-api-user") || registration.key != header("x-api-key") {
        return (StatusCode::UNAUTHORIZED, r#"{"error": "forbidden"}"#.into());
    }
    registration.txt.push(txt.to_string());
    if registration.txt.len() > 2 {
        registration.txt.remove(0);
    }
    shared
        .updates
        .lock()
        .unwrap()
        .push((subdomain.to_string(), txt.to_string()));
    (StatusCode::OK, serde_json::json!({ "txt": txt }).to_string())
}

/// The answer to one DNS query: a registration's TXT values, else NXDOMAIN.
fn answer(shared: &Shared, query: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let q = query.queries.first()?.clone();
    let mut answer = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    answer.metadata.authoritative = true;
    answer.add_query(q.clone());
    let name = q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let registrations = shared.registrations.lock().unwrap();
    let found = name
        .strip_suffix(&format!(".{}", shared.zone))
        .and_then(|subdomain| registrations.get(subdomain));
    match found {
        Some(registration) if q.query_type() == RecordType::TXT => {
            for value in &registration.txt {
                let rdata = RData::TXT(TXT::new(vec![value.clone()]));
                answer.add_answer(Record::from_rdata(q.name().clone(), 1, rdata));
            }
        }
        Some(_) => {}
        None => answer.metadata.response_code = ResponseCode::NXDomain,
    }
    answer.to_vec().ok()
}
