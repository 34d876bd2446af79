//! Shielding in one process: two edges on one embedded store, `edge-a`
//! and `edge-b`, registered as nodes; the domain is shielded by `edge-b`,
//! so `edge-a` fetches its misses from `edge-b`, which alone asks the
//! origin. Prints each answer's `Cache-Status` (one member per tier) and
//! how many requests reached the origin.
//!
//! Run: `cargo run --example shielded_edges`

use cirrus::core::lifecycle::Shutdown;
use cirrus::core::model::{Node, ShieldPolicy};
use cirrus::core::{DomainConf, EmbeddedStore, Store};
use cirrus::edge::{Edge, EdgeListeners};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the demo saw: each answer's `Cache-Status` fields, in order, and
/// the requests that reached the origin.
#[derive(Debug)]
pub struct Seen {
    /// Each answer's `Cache-Status` fields.
    pub answers: Vec<Vec<String>>,
    /// The requests that reached the origin.
    pub origin_requests: usize,
}

/// An origin answering every GET with a cacheable "hello", counting them.
async fn origin(count: Arc<AtomicUsize>) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let (mut buf, mut seen) = ([0u8; 2048], Vec::new());
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        count.fetch_add(1, Ordering::Relaxed);
                        let answer = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 5\r\n\r\nhello";
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// Runs the two edges and asks `edge-a`, `edge-a` again, then `edge-b`.
pub async fn demo() -> Result<Seen, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path())?);
    let count = Arc::new(AtomicUsize::new(0));
    let mut conf = DomainConf::new(
        "shop.example",
        format!("http://{}", origin(count.clone()).await?).parse()?,
    );
    conf.shield = ShieldPolicy::nodes(["edge-b"]);
    store.put_domain(&conf).await?;
    let shutdown = Shutdown::new();
    let mut urls = Vec::new();
    let mut edges = Vec::new();
    for id in ["edge-a", "edge-b"] {
        // The node's address is where its peers reach it; its edge
        // reports the port (Edge::run does, every 10 s).
        store.put_node(&Node::new(id).with_ipv4([127, 0, 0, 1].into())).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        urls.push(format!("http://{}/", listener.local_addr()?));
        let edge = Edge::builder(Arc::new(store.clone())).node_id(id).build()?;
        edges.push(edge.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move { edge.run(EdgeListeners::new(listener), &shutdown).await });
    }
    // Wait until edge-a has both edges on its ring (read every 5 s).
    for _ in 0..300 {
        if edges[0].render_metrics().contains("cirrus_shield_peers 2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for url in [&urls[0], &urls[0], &urls[1]] {
        let res = http.get(url).header("host", "shop.example").send().await?;
        let status: Vec<String> = res
            .headers()
            .get_all("cache-status")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        println!("{url}: {} {}", res.status(), status.join(", "));
        answers.push(status);
    }
    let origin_requests = count.load(Ordering::Relaxed);
    println!("requests that reached the origin: {origin_requests}");
    shutdown.trigger();
    Ok(Seen {
        answers,
        origin_requests,
    })
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    demo().await.map(|_| ())
}
