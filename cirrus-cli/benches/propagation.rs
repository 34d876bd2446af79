//! Propagation: two `cirrus edge` processes on one private Redis behind a
//! `cirrus api`; the time from an API call until *every* edge serves the
//! new answer, over purges and configuration changes, with the purge
//! acknowledgement delays the API reports. Run by `scripts/bench-propagation`.
//!
//! The API runs without its rate limit: the bench calls it faster than
//! the default 50 requests/s. Each purge is of one cached URL: done when both edges answer MISS.
//! Each configuration change sets a response header: done when both edges
//! send the new value. Edges are polled back to back over keep-alive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod procs;

use cirrus_client::Client;
use cirrus_core::DomainConf;
use cirrus_core::model::PurgeSelection;
use cirrus_test_support::{RedisServer, free_port};
use procs::{cirrus, logged, ms, summary};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DOMAIN: &str = "bench.test";

/// An origin answering every GET with a new body, cacheable for 10 minutes.
async fn origin() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok((mut s, _)) = listener.accept().await {
            n += 1000;
            let mut count = n;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut have = 0;
                loop {
                    match s.read(&mut buf[have..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => have += k,
                    }
                    while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        count += 1;
                        let body = format!("v{count}");
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncache-control: max-age=600\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(head.as_bytes()).await.is_err() {
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

/// `(x-cache, x-ver)` of a GET of `/obj` from `edge`.
async fn look(http: &reqwest::Client, edge: &str) -> (String, String) {
    let res = http
        .get(format!("http://{edge}/obj"))
        .header("host", DOMAIN)
        .send()
        .await
        .unwrap();
    let header = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let seen = (header("x-cache"), header("x-ver"));
    let _ = res.bytes().await;
    seen
}

/// Polls `edge` until `done`; returns when it first was, from `t0`.
async fn until(http: &reqwest::Client, edge: &str, t0: Instant, done: impl Fn(&(String, String)) -> bool) -> Duration {
    let deadline = t0 + Duration::from_secs(10);
    loop {
        if done(&look(http, edge).await) {
            return t0.elapsed();
        }
        assert!(Instant::now() < deadline, "{edge} never converged");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let redis = RedisServer::start();
    let store = redis.url();
    let (_api, url, token) = procs::api(&store, &[]);
    let mut edges = Vec::new();
    let mut addrs = Vec::new();
    for n in 1..=2 {
        let addr = format!("127.0.0.1:{}", free_port());
        let id = format!("edge-{n}");
        let args = [
            "edge",
            "--listen",
            &addr,
            "--metrics-listen",
            "127.0.0.1:0",
            "--node-id",
            &id,
            "--node-ipv4",
            "127.0.0.1",
            "--store",
            &store,
            "--no-access-log",
        ];
        let (p, err, _) = cirrus(&args);
        logged(&err, "registered as a node");
        edges.push(p);
        addrs.push(addr);
    }
    let api = Client::builder(&url).token(&token).build().unwrap();
    let mut conf = DomainConf::new(DOMAIN, format!("http://{}", origin().await).parse().unwrap());
    api.put_domain(&conf).await.unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(4).build().unwrap();
    for edge in &addrs {
        until(&http, edge, Instant::now(), |(cache, _)| cache == "HIT").await;
    }
    // Every edge reports before the purges, so each waits for both acks.
    let deadline = Instant::now() + Duration::from_secs(15);
    while api
        .nodes()
        .await
        .unwrap()
        .items
        .iter()
        .filter(|n| n.edge.is_some())
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "the edges never reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (mut purges, mut acks, mut last_acks) = (Vec::new(), Vec::new(), Vec::new());
    let only_obj = PurgeSelection {
        urls: vec!["/obj".into()],
        ..PurgeSelection::default()
    };
    for _ in 0..rounds {
        for edge in &addrs {
            until(&http, edge, Instant::now(), |(cache, _)| cache == "HIT").await;
        }
        let t0 = Instant::now();
        let accepted = api.purge(DOMAIN, &only_obj).await.unwrap();
        let (a, b) = tokio::join!(
            until(&http, &addrs[0], t0, |(c, _)| c != "HIT"),
            until(&http, &addrs[1], t0, |(c, _)| c != "HIT")
        );
        purges.push(ms(a.max(b)));
        let status = loop {
            let s = api.purge_status(&accepted.id).await.unwrap();
            if s.complete {
                break s;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "{s:?}");
        };
        let delays: Vec<f64> = status.applied.iter().map(|a| a.delay_ms as f64).collect();
        last_acks.push(delays.iter().copied().fold(0.0, f64::max));
        acks.extend(delays);
    }

    let mut changes = Vec::new();
    for i in 0..rounds {
        let want = i.to_string();
        conf.response_headers.set.insert("x-ver".into(), want.clone());
        let t0 = Instant::now();
        api.put_domain(&conf).await.unwrap();
        let (a, b) = tokio::join!(
            until(&http, &addrs[0], t0, |(_, v)| *v == want),
            until(&http, &addrs[1], t0, |(_, v)| *v == want)
        );
        changes.push(ms(a.max(b)));
    }

    println!("propagation with 2 edges on one Redis, {rounds} of each, from the API call:");
    let p = summary("purge served by every edge", purges);
    let c = summary("config change served by every edge", changes);
    summary("purge ack delay, each edge (API)", acks);
    summary("purge ack delay, last edge (API)", last_acks);
    let verdict = if p.max(c) < 10.0 { "met" } else { "missed" };
    println!("target p99 < 10 ms: {verdict} (worst p99 {:.2} ms)", p.max(c));
    drop(edges);
}
