//! Scale: a private redis-server filled with N domains (default 100,000;
//! `BENCH_DOMAINS`), then four figures: the import rate of
//! `cirrusctl domain import` into a real `cirrus api`, the time of one `GET /api/v1/domains?limit=100`
//! page from a real `cirrus api` (the first page and one from the middle,
//! median of 50), and a `cirrus edge`'s resident memory per domain and its
//! time from start to ready with all of them loaded. Run by
//! `scripts/bench-scale`; targets (issue 30, at 1,000,000 domains): a page
//! < 10 ms, import >= 10,000 domains/s, edge RSS <= 1 KB per domain, edge
//! start < 5 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cirrus_test_support::{RedisServer, get_raw, until};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cirrus args…` with its logs discarded.
fn cirrus(args: &[&str]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(args)
        .env_remove("CIRRUS_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cirrus runs");
    Proc(child)
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn port() -> u16 {
    cirrus_test_support::free_port()
}

/// Starts an edge on `store`; returns it, its RSS (KiB) once ready and how
/// long it took to be ready.
fn edge(store: &str) -> (Proc, u64, Duration) {
    let admin = format!("127.0.0.1:{}", port());
    let started = Instant::now();
    let edge = cirrus(&[
        "edge",
        "--listen",
        &format!("127.0.0.1:{}", port()),
        "--metrics-listen",
        &admin,
        "--store",
        store,
        "--no-access-log",
    ]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = admin.parse().unwrap();
    until("the edge ready", Duration::from_secs(600), || {
        let probe = std::net::TcpStream::connect(addr).is_ok() && rt.block_on(get_raw(addr, "/readyz")).0 == 200;
        probe.then_some(())
    });
    let ready = started.elapsed();
    // Let the allocator settle after the load.
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_kib(edge.0.id());
    (edge, rss, ready)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::var("BENCH_DOMAINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let redis = RedisServer::start();
    let url = redis.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // The edge's footprint with no domain, for the per-domain figure.
    let (empty_edge, empty_rss, _) = edge(&url);
    drop(empty_edge);

    // 1. Import, through a real API, as an operator does it:
    // `cirrusctl domain import FILE`, 1,000 domains a request.
    let api_addr = format!("127.0.0.1:{}", port());
    let _api = cirrus(&[
        "api",
        "--listen",
        &api_addr,
        "--store",
        &url,
        "--master-token",
        "bench-master-token-0123456",
    ]);
    let http = reqwest::Client::new();
    let page = |cursor: Option<String>| {
        let http = http.clone();
        let api = api_addr.clone();
        async move {
            let mut req = http
                .get(format!("http://{api}/api/v1/domains"))
                .bearer_auth("bench-master-token-0123456")
                .query(&[("limit", "100")]);
            if let Some(c) = cursor {
                req = req.query(&[("cursor", c)]);
            }
            let started = Instant::now();
            let res = req.send().await.ok()?;
            let ok = res.status().is_success();
            let body: serde_json::Value = res.json().await.ok()?;
            (ok && body["items"].as_array().is_some_and(|a| a.len() == 100)).then(|| started.elapsed())
        }
    };
    until("the API answering", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&api_addr).ok()
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("domains.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"domain":"d{i:07}.example.com","origins":[{{"scheme":"http","host":"192.0.2.10"}}]}}"#))
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    drop(lines);
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_cirrusctl"))
        .args(["domain", "import", file.to_str().unwrap()])
        .env("CIRRUS_URL", format!("http://{api_addr}"))
        .env("CIRRUS_TOKEN", "bench-master-token-0123456")
        .output()
        .unwrap();
    let import = started.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // 2. A page of the listing.
    until("the API answering", Duration::from_secs(30), || rt.block_on(page(None)));
    let middle = Some(format!("d{:07}.example.com", n / 2));
    let first: Vec<Duration> = (0..50).map(|_| rt.block_on(page(None)).unwrap()).collect();
    let mid: Vec<Duration> = (0..50).map(|_| rt.block_on(page(middle.clone())).unwrap()).collect();

    // 3 and 4. An edge loading all of them.
    let (_edge, rss, ready) = edge(&url);
    let per_domain = (rss.saturating_sub(empty_rss) * 1024) as f64 / n as f64;

    println!("domains: {n}");
    println!(
        "import (cirrusctl domain import, 1,000 a request): {:.1} s, {:.0} domains/s",
        import.as_secs_f64(),
        n as f64 / import.as_secs_f64()
    );
    println!(
        "GET /api/v1/domains?limit=100: first page {:.2} ms, middle page {:.2} ms (median of 50)",
        median(first).as_secs_f64() * 1e3,
        median(mid).as_secs_f64() * 1e3
    );
    println!(
        "edge: ready with all domains after {:.2} s; RSS {} KiB ({} KiB empty), {:.0} bytes per domain",
        ready.as_secs_f64(),
        rss,
        empty_rss,
        per_domain
    );
}
