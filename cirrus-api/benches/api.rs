//! Load benchmark of the control plane: `cargo bench -p cirrus-api`.
//!
//! For each store (embedded, and a private redis-server), serves the API on
//! 127.0.0.1:0 with 1,000 domains loaded, then drives it with 64 concurrent
//! clients for a fixed number of requests (`CIRRUS_BENCH_REQUESTS`, default
//! 20,000): GET of a domain, then PUT of a changed domain (a real write:
//! revision, events, audit). Prints req/s, p50 and p99. Client and server
//! share the machine's cores.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use cirrus_api::Api;
use cirrus_core::{DomainConf, EmbeddedStore, RedisStore, Store};
use cirrus_test_support::RedisServer;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 64;
const DOMAINS: usize = 1000;
const TOKEN: &str = "bench-master-token-0123456789";

fn conf(i: usize, port: u16) -> DomainConf {
    DomainConf::new(
        format!("d{i}.example.com"),
        format!("https://192.0.2.10:{port}").parse().unwrap(),
    )
}

async fn serve(store: Arc<dyn Store>) -> String {
    let confs: Vec<DomainConf> = (0..DOMAINS).map(|i| conf(i, 443)).collect();
    store.put_domains(&confs).await.unwrap();
    let api = Api::builder(store)
        .master_token(TOKEN)
        .rate_limit(None)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = cirrus_core::lifecycle::Shutdown::new();
    tokio::spawn(async move { api.run(listener, &shutdown).await });
    url
}

#[derive(Clone, Copy)]
enum Op {
    Get,
    Put,
}

async fn drive(url: &str, op: Op, total: usize) -> (f64, Duration, Duration) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, next, url) = (http.clone(), next.clone(), url.to_string());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return latencies;
                    }
                    let i = n % DOMAINS;
                    let target = format!("{url}/api/v1/domains/d{i}.example.com");
                    let t = Instant::now();
                    let req = match op {
                        Op::Get => http.get(target),
                        // Alternate the origin port so every PUT is a real change.
                        Op::Put => http.put(target).json(&conf(i, 8000 + (n % 2) as u16)),
                    };
                    let res = req.bearer_auth(TOKEN).send().await.unwrap();
                    assert!(res.status().is_success(), "{}", res.status());
                    res.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (total as f64 / elapsed.as_secs_f64(), pct(0.50), pct(0.99))
}

async fn bench(name: &str, store: Arc<dyn Store>, total: usize) {
    let url = serve(store).await;
    drive(&url, Op::Get, 2_000).await; // warm up connections and caches
    for (label, op) in [("GET", Op::Get), ("PUT", Op::Put)] {
        let (rps, p50, p99) = drive(&url, op, total).await;
        println!(
            "{name:<8} {label:<3} {total} requests, {CLIENTS} clients: {rps:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    }
}

fn main() {
    // `cargo test --benches` runs this with --bench absent; stay quick then.
    let total = std::env::var("CIRRUS_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::args().any(|a| a == "--bench") {
            20_000
        } else {
            500
        });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        bench("embedded", Arc::new(EmbeddedStore::open(dir.path()).unwrap()), total).await;
        let redis = RedisServer::start();
        bench("redis", Arc::new(RedisStore::connect(&redis.url()).unwrap()), total).await;
    });
}
