//! Origin offload by shielding: three `cirrus edge` processes on
//! 127.0.0.2, .3 and .4 (one private Redis) in front of one origin that
//! counts requests and bytes; a Zipf workload (BENCH_OBJECTS objects,
//! s = 1.0, BENCH_REQUESTS requests, each to a random edge, 16 at a time)
//! run with shielding off, then on (`cluster`), each on fresh edges.
//! Prints the origin's requests and bytes for both, their ratio, the best
//! ratio the workload allows (every object fetched once against once per
//! edge that saw it, computed from the Zipf law), and the latency of a
//! first request for an object: one tier (the edge asked the origin) and
//! two tiers (the edge asked the owner edge, which asked the origin).
//! Run by `scripts/bench-shield`. Target: origin fetches with shielding
//! at most 0.4 of those without.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod procs;

use cirrus_core::DomainStore;
use cirrus_core::model::{DomainConf, ShieldPolicy};
use cirrus_test_support::{RedisServer, free_port, metric_value};
use procs::{Proc, cirrus, logged, ms, summary};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DOMAIN: &str = "bench.test";
const CONCURRENCY: usize = 16;

/// What reached the origin.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// The size of object `i`: 1 to 32 KiB, spread by a hash.
fn size_of(i: usize) -> usize {
    1024 * (1 + (i.wrapping_mul(2_654_435_761) >> 7) % 32)
}

/// An origin answering `GET /o/I` with `size_of(I)` bytes, cacheable an hour.
async fn origin(counts: Arc<Counts>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let counts = counts.clone();
            tokio::spawn(async move {
                let (mut buf, mut have) = (vec![0u8; 16 * 1024], 0);
                loop {
                    match s.read(&mut buf[have..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => have += k,
                    }
                    while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let i: usize = head
                            .split(' ')
                            .nth(1)
                            .and_then(|p| p.strip_prefix("/o/"))
                            .and_then(|i| i.parse().ok())
                            .unwrap_or(0);
                        let size = size_of(i);
                        counts.requests.fetch_add(1, Ordering::Relaxed);
                        counts.bytes.fetch_add(size as u64, Ordering::Relaxed);
                        let mut out =
                            format!("HTTP/1.1 200 OK\r\ncache-control: max-age=3600\r\ncontent-length: {size}\r\n\r\n")
                                .into_bytes();
                        out.resize(out.len() + size, b'x');
                        if s.write_all(&out).await.is_err() {
                            return;
                        }
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                    }
                }
            });
        }
    });
    addr
}

/// Zipf(s) over `n` objects by inverse transform on the cumulative weights.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        Self(
            (1..=n)
                .map(|k| {
                    total += 1.0 / (k as f64).powf(s);
                    total
                })
                .collect(),
        )
    }

    fn sample(&self, u: f64) -> usize {
        let x = u * self.0[self.0.len() - 1];
        self.0.partition_point(|c| *c < x)
    }

    /// Objects expected to be asked at least once in `n` requests.
    fn expected_distinct(&self, n: f64) -> f64 {
        let total = self.0[self.0.len() - 1];
        let mut prev = 0.0;
        self.0
            .iter()
            .map(|c| {
                let p = (c - prev) / total;
                prev = *c;
                1.0 - (1.0 - p).powf(n)
            })
            .sum()
    }
}

/// SplitMix64: the bench's random numbers, seeded per task.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One run: three fresh edges with `shield`, the workload; the origin's
/// requests and bytes, and first-request latencies by tiers (one, two).
async fn run(shield: ShieldPolicy, objects: usize, requests: usize) -> (u64, u64, Vec<f64>, Vec<f64>) {
    let redis = RedisServer::start();
    let store = cirrus_core::RedisStore::connect(&redis.url()).unwrap();
    let counts = Arc::new(Counts::default());
    let mut conf = DomainConf::new(
        DOMAIN,
        format!("http://{}", origin(counts.clone()).await).parse().unwrap(),
    );
    conf.shield = shield;
    store.put_domain(&conf).await.unwrap();
    let mut edges: Vec<(Proc, String, String)> = Vec::new();
    for n in 2..=4u8 {
        let (addr, admin) = (
            format!("127.0.0.{n}:{}", free_port()),
            format!("127.0.0.{n}:{}", free_port()),
        );
        let (id, ip) = (format!("edge-{n}"), format!("127.0.0.{n}"));
        let args = [
            "edge",
            "--listen",
            &addr,
            "--metrics-listen",
            &admin,
            "--metrics-allow",
            "127.0.0.0/8",
            "--node-id",
            &id,
            "--node-ipv4",
            &ip,
            "--store",
            &redis.url(),
            "--no-access-log",
        ];
        let (p, err, _) = cirrus(&args);
        logged(&err, "registered as a node");
        edges.push((p, addr, admin));
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    if !conf.shield.is_off() {
        let deadline = Instant::now() + Duration::from_secs(60);
        for (_, _, admin) in &edges {
            loop {
                let text = http
                    .get(format!("http://{admin}/metrics"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                if metric_value(&text, "cirrus_shield_peers") == Some(3.0) {
                    break;
                }
                assert!(Instant::now() < deadline, "the ring never formed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let addrs: Arc<Vec<String>> = Arc::new(edges.iter().map(|(_, a, _)| a.clone()).collect());
    let zipf = Arc::new(Zipf::new(objects, 1.0));
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..objects).map(|_| AtomicU64::new(0)).collect());
    let per_task = requests / CONCURRENCY;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|task| {
            let (http, addrs, zipf, seen) = (http.clone(), addrs.clone(), zipf.clone(), seen.clone());
            tokio::spawn(async move {
                let (mut one, mut two) = (Vec::new(), Vec::new());
                let mut rng = Rng(task as u64 * 7919 + 1);
                for _ in 0..per_task {
                    let i = zipf.sample(rng.unit());
                    let edge = &addrs[(rng.next() % addrs.len() as u64) as usize];
                    let first = seen[i].fetch_add(1, Ordering::Relaxed) == 0;
                    let t0 = Instant::now();
                    let res = http
                        .get(format!("http://{edge}/o/{i}"))
                        .header("host", DOMAIN)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                    let tiers = res.headers().get_all("cache-status").iter().count();
                    let _ = res.bytes().await.unwrap();
                    if first {
                        if tiers >= 2 { &mut two } else { &mut one }.push(ms(t0.elapsed()));
                    }
                }
                (one, two)
            })
        })
        .collect();
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for t in tasks {
        let (a, b) = t.await.unwrap();
        one.extend(a);
        two.extend(b);
    }
    drop(edges);
    (
        counts.requests.load(Ordering::Relaxed),
        counts.bytes.load(Ordering::Relaxed),
        one,
        two,
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (objects, requests) = (env("BENCH_OBJECTS", 10_000), env("BENCH_REQUESTS", 300_000));
    println!(
        "shielding: {requests} requests, Zipf s=1.0 over {objects} objects (1-32 KiB), 3 edges, {CONCURRENCY} at a time"
    );
    let started = Instant::now();
    let (off_req, off_bytes, off_one, _) = run(ShieldPolicy::default(), objects, requests).await;
    println!(
        "shield off: origin {off_req} requests, {:.1} MiB ({:.1} s)",
        off_bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let (on_req, on_bytes, on_one, on_two) = run(ShieldPolicy::cluster(), objects, requests).await;
    let distinct = (on_one.len() + on_two.len()) as u64;
    println!(
        "shield on:  origin {on_req} requests, {:.1} MiB ({:.1} s)",
        on_bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let zipf = Zipf::new(objects, 1.0);
    let ideal = zipf.expected_distinct(requests as f64) / (3.0 * zipf.expected_distinct(requests as f64 / 3.0));
    let ratio = on_req as f64 / off_req as f64;
    println!(
        "origin requests on/off: {ratio:.3}; bytes on/off: {:.3}; best this workload allows: {ideal:.3}",
        on_bytes as f64 / off_bytes as f64
    );
    println!(
        "origin fetches beyond one per object asked ({distinct} objects): off {}, on {}",
        off_req.saturating_sub(off_one.len() as u64),
        on_req.saturating_sub(distinct)
    );
    summary("first request, shield off (one tier)", off_one);
    summary("first request, shield on, the owner itself (one tier)", on_one);
    summary("first request, shield on, through the owner (two tiers)", on_two);
    let verdict = if ratio <= 0.4 { "met" } else { "missed" };
    println!("target origin fetches on/off <= 0.4: {verdict} ({ratio:.3})");
}
