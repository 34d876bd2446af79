//! Reading a role's admin listener: `/readyz` and the readiness gauges,
//! over a raw HTTP/1.0 GET.

use crate::metric_value;
use std::time::Duration;

/// What a role's admin listener says ([`readiness`]).
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The HTTP status of `/readyz`.
    pub status: u16,
    /// Its JSON body (`status`, `checks`, `revision`).
    pub body: serde_json::Value,
    /// The `cirrus_ready` gauge of `/metrics`.
    pub ready: Option<f64>,
    /// The `cirrus_store_up` gauge of `/metrics`.
    pub store_up: Option<f64>,
}

impl Readiness {
    /// The state of the check `name` (`up`, `down`, `unknown`), if any.
    pub fn check(&self, name: &str) -> Option<&str> {
        self.body["checks"][name]["state"].as_str()
    }
}

/// `/readyz` and the readiness gauges of the admin listener at `admin`
/// (the same contract on every role).
pub async fn readiness(admin: std::net::SocketAddr) -> Readiness {
    let (status, body) = get_raw(admin, "/readyz").await;
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("/readyz is not JSON ({e}): {body}"));
    let (_, metrics) = get_raw(admin, "/metrics").await;
    Readiness {
        status,
        body,
        ready: metric_value(&metrics, "cirrus_ready"),
        store_up: metric_value(&metrics, "cirrus_store_up"),
    }
}

/// One `GET path` over HTTP/1.0 to `addr`: the status and the body.
pub async fn get_raw(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&raw).into_owned())
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {path} from {addr}: no answer within 10 s"))
        .unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"));
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
