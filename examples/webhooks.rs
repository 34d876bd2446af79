//! Webhooks end to end in one process: the API and the worker's webhook
//! deliverer over an embedded store, a receiver that checks each
//! signature as a customer's would, a webhook registered through the
//! typed client, and the signed `domain.created` it receives.
//!
//! Run: `cargo run --example webhooks`

use cirrus::acme::{WebhookDeliverer, WebhookSettings};
use cirrus::api::Api;
use cirrus::client::Client;
use cirrus::core::model::{EventType, WebhookSpec};
use cirrus::core::webhook::verify;
use cirrus::core::{DomainConf, EmbeddedStore};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

const MASTER: &str = "example-master-token-change-me";

/// Accepts webhooks on `listener` (one request per connection), checks
/// each with the current `secret`, and sends the verified bodies to `out`;
/// a bad signature gets 401.
pub async fn receive(listener: tokio::net::TcpListener, secret: watch::Receiver<String>, out: mpsc::Sender<String>) {
    while let Ok((mut conn, _)) = listener.accept().await {
        let (secret, out) = (secret.clone(), out.clone());
        tokio::spawn(async move {
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then the body its Content-Length announces.
            let (head, body) = loop {
                match conn.read(&mut buf).await {
                    Ok(n) if n > 0 => raw.extend_from_slice(&buf[..n]),
                    _ => return,
                }
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                    let len = header(&head, "content-length")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0);
                    if raw.len() >= end + 4 + len {
                        break (head, raw[end + 4..end + 4 + len].to_vec());
                    }
                }
            };
            let key = secret.borrow().clone();
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let (id, ts, sig) = (
                header(&head, "webhook-id").unwrap_or_default(),
                header(&head, "webhook-timestamp").unwrap_or_default(),
                header(&head, "webhook-signature").unwrap_or_default(),
            );
            let status = match verify(&key, &id, &ts, &sig, &body, now, 300) {
                Ok(()) => {
                    let _ = out.send(String::from_utf8_lossy(&body).into_owned()).await;
                    "204 No Content"
                }
                Err(_) => "401 Unauthorized",
            };
            let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = conn.write_all(answer.as_bytes()).await;
        });
    }
}

/// The value of header `name` (lower-case) in a request head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// Runs the whole example: answers the body of the verified webhook
/// `domain.created` of `domain`.
pub async fn demo(domain: &str) -> Result<String, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(EmbeddedStore::open(dir.path())?);
    // The receiver is on loopback: both the API and the deliverer must allow it.
    let api = Api::builder(store.clone())
        .master_token(MASTER)
        .webhook_allow_private(true)
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let shutdown = cirrus::core::lifecycle::Shutdown::new();
    let serving = shutdown.clone();
    tokio::spawn(async move { api.run(listener, &serving).await });
    let deliverer = WebhookDeliverer::new(store, "example", WebhookSettings::new().allow_private(true));
    let stopping = shutdown.clone();
    tokio::spawn(async move { deliverer.run(stopping.wait()).await });

    let hooks = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/cirrus", hooks.local_addr()?);
    let (secret_tx, secret_rx) = watch::channel(String::new());
    let (got_tx, mut got) = mpsc::channel(16);
    tokio::spawn(receive(hooks, secret_rx, got_tx));

    let client = Client::builder(&url).token(MASTER).build()?;
    let mut spec = WebhookSpec::new(&hook_url);
    spec.types = vec![EventType::DomainCreated];
    let created = client.create_webhook(&spec).await?;
    println!("webhook {} -> {hook_url}", created.webhook.id);
    secret_tx.send(created.secret)?;

    client
        .put_domain(&DomainConf::new(domain, "https://192.0.2.10".parse()?))
        .await?;
    let body = tokio::time::timeout(Duration::from_secs(10), got.recv())
        .await?
        .ok_or("the receiver stopped")?;
    shutdown.trigger();
    Ok(body)
}

#[allow(dead_code)] // compiled into the examples' test too, which calls `demo`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let body = demo("shop.example.com").await?;
    println!("received, signature verified: {body}");
    Ok(())
}
