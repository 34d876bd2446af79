//! The store failing under load, each scenario with its figures: a Redis
//! Sentinel failover, a Redis that lost its data (adopted by an operator),
//! a Redis frozen for 10 s.
//!
//! The failover: every role on
//! `redis+sentinel://`: a master, two replicas and three sentinels, one
//! `cirrus api`, two `cirrus edge` processes serving a cached domain to a
//! steady stream of requests, one `cirrus dns` and one `cirrus worker`.
//! The master is killed: cached traffic gets no error, the API answers
//! 503 with `Retry-After` only for the failover window and then accepts
//! writes, every write acknowledged before the kill is there after it, a
//! purge sent during the failover reaches both edges, and the DNS role
//! and the worker are ready again by themselves.

use crate::harness::{Running, ctl, logged, ok, tiny_origin, try_get, until};
use cirrus_test_support::{SentinelCluster, free_port};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DOMAIN: &str = "shop.test";

/// `cirrus edge` as node `edge-n` on `store`, registered; its address.
fn edge(dir: &std::path::Path, store: &str, n: u8) -> (Running, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let id = format!("edge-{n}");
    let edge = Running::cirrus(
        dir,
        &[
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
            store,
            "--no-access-log",
        ],
    );
    logged(&edge.stderr, "registered as a node");
    (edge, addr)
}

/// Steady cached traffic on edges (a GET of the domain, back to back with a
/// short pause: steady, not saturating, so sentinels keep the CPU to
/// elect), every answer counted.
struct Load {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// One thread per address in `addrs`.
    fn start(addrs: &[String]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let threads = addrs
            .iter()
            .map(|addr| {
                let (addr, stop, served, failed) = (addr.clone(), stop.clone(), served.clone(), failed.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match try_get(&addr, "/", DOMAIN) {
                            Some(a) if a.starts_with("HTTP/1.1 200") => served.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                        std::thread::sleep(Duration::from_micros(500));
                    }
                })
            })
            .collect();
        Self {
            stop,
            served,
            failed,
            threads,
        }
    }

    /// Stops it: the answers served (200) and failed.
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        (self.served.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

fn ready(rt: &tokio::runtime::Runtime, admin: &str) -> bool {
    let url = format!("http://{admin}/readyz");
    rt.block_on(async { reqwest::get(&url).await.map(|r| r.status() == 200).unwrap_or(false) })
}

#[test]
fn a_sentinel_failover_under_load_loses_no_write_and_fails_no_cached_request() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut cluster = SentinelCluster::start();
    let store = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let (api, url) = Running::api(dir.path(), &store, &["--rate-limit", "0"]);
    let token = api
        .stdout
        .recv_timeout(Duration::from_secs(5))
        .ok()
        .and_then(|l| l.rsplit(' ').next().map(str::to_string))
        .expect("a master token");
    let c = |args: &[&str]| ctl(&url, &token, args);
    let edges: Vec<(Running, String)> = (1..=2).map(|n| edge(dir.path(), &store, n)).collect();
    let dns_args: Vec<&str> = crate::dns::DNS.iter().copied().chain(["--store", &store]).collect();
    let dns = Running::cirrus(dir.path(), &dns_args);
    let dns_admin = logged(&dns.stderr, "metrics on http://");
    let worker = Running::cirrus(
        dir.path(),
        &[
            "worker",
            "--store",
            &store,
            "--zone",
            "cdn.test",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let worker_admin = logged(&worker.stderr, "metrics on http://");

    let origin = tiny_origin();
    ok(c(&["domain", "put", DOMAIN, "--origin", &format!("http://{origin}")]));
    for (_, addr) in &edges {
        until(
            &format!("{addr} serving {DOMAIN} from its cache"),
            Duration::from_secs(20),
            || try_get(addr, "/", DOMAIN).filter(|a| a.contains("x-cache: HIT")),
        );
    }
    // Written and acknowledged before the fault.
    let acknowledged: Vec<String> = (0..20).map(|i| format!("d{i}.test")).collect();
    for d in &acknowledged {
        ok(c(&["domain", "put", d, "--origin", "http://192.0.2.10"]));
    }

    // Steady cached traffic on both edges, every answer counted.
    let addrs: Vec<String> = edges.iter().map(|(_, a)| a.clone()).collect();
    let load = Load::start(&addrs);
    std::thread::sleep(Duration::from_millis(500));

    let killed = Instant::now();
    let old = cluster.kill_master();
    // A purge during the failover: retried on 503 (each with Retry-After) until accepted.
    let http = reqwest::Client::new();
    let mut refused = 0;
    let purge_id = rt.block_on(async {
        loop {
            let res = http
                .post(format!("{url}/api/v1/domains/{DOMAIN}/purge"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"all": true}))
                .send()
                .await
                .unwrap();
            match res.status().as_u16() {
                202 => {
                    return res.json::<serde_json::Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_string();
                }
                503 => {
                    assert!(
                        res.headers().contains_key("retry-after"),
                        "a 503 says when to come back"
                    );
                    refused += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("the API answered {other} during the failover"),
            }
            assert!(
                killed.elapsed() < Duration::from_secs(60),
                "no write accepted within 60 s"
            );
        }
    });
    let writable_after = killed.elapsed();
    let new = cluster.master_port();
    until("the purge applied by both edges", Duration::from_secs(20), || {
        let status: serde_json::Value = serde_json::from_str(&ok(c(&["purges", "--output", "json"]))).ok()?;
        let item = status
            .as_array()?
            .iter()
            .find(|p| p["id"] == purge_id.as_str())?
            .clone();
        (item["applied"].as_array()?.len() == 2).then_some(())
    });
    let purged_after = killed.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let (served, failed) = load.finish();
    assert_eq!(failed, 0, "cached traffic failed {failed} times of {}", served + failed);
    assert!(served > 100, "{served} requests served");

    // Nothing acknowledged before the kill is lost; writes work again.
    for d in &acknowledged {
        ok(c(&["domain", "get", d]));
    }
    ok(c(&["domain", "put", "after.test", "--origin", "http://192.0.2.10"]));
    until(
        "the DNS role and the worker ready again",
        Duration::from_secs(20),
        || (ready(&rt, &dns_admin) && ready(&rt, &worker_admin)).then_some(()),
    );
    eprintln!(
        "sentinel failover under load: master {old} -> {new}; first write accepted {writable_after:?} after the kill \
         ({refused} answers 503 with Retry-After before it); purge applied by both edges {purged_after:?} after the \
         kill; cached requests: {served} served, {failed} failed; writes lost: 0 of {}",
        acknowledged.len()
    );
    drop((api, edges, dns, worker));
}

/// Redis restarted without its data under a `cirrus api` and a `cirrus
/// edge`: the edge keeps serving (no 404), tells the store, the API
/// refuses writes until `cirrus store adopt --yes`, after which the edge
/// follows the store as it is and the domain written again is served.
#[test]
fn a_store_that_lost_its_data_is_adopted_by_an_operator_not_by_the_edges() {
    let mut redis = cirrus_test_support::RedisServer::start();
    let store = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let (api, url) = Running::api(dir.path(), &store, &["--master-token", "adopt-test-master-token-0123"]);
    let c = |args: &[&str]| ctl(&url, "adopt-test-master-token-0123", args);
    let (edge, addr) = edge(dir.path(), &store, 1);
    let origin = tiny_origin();
    ok(c(&["domain", "put", DOMAIN, "--origin", &format!("http://{origin}")]));
    for filler in ["f1.test", "f2.test"] {
        ok(c(&["domain", "put", filler, "--origin", "http://192.0.2.10"]));
    }
    until("the edge serving the domain", Duration::from_secs(20), || {
        try_get(&addr, "/", DOMAIN).filter(|a| a.starts_with("HTTP/1.1 200"))
    });

    redis.restart();
    until(
        "the edge telling the store it went back",
        Duration::from_secs(20),
        || {
            let told = cirrus_test_support::redis_cli(redis.port(), &["HGET", "cdn:regressed", "edge-1"]);
            (!told.is_empty()).then_some(())
        },
    );
    let refused = c(&["domain", "put", "other.test", "--origin", "http://192.0.2.10"]);
    assert!(refused.stderr.contains("cirrus store adopt"), "{}", refused.stderr);
    let answer = try_get(&addr, "/", DOMAIN).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "served from the kept configuration: {answer}"
    );

    let adopt = |yes: bool| {
        let mut args = vec!["store", "adopt", "--store", store.as_str()];
        if yes {
            args.push("--yes");
        }
        let out = Running::command(dir.path(), &args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let asked = adopt(false);
    assert!(
        asked.contains("edge edge-1 serves revision") && asked.contains("--yes"),
        "{asked}"
    );
    let still = c(&["domain", "put", "other.test", "--origin", "http://192.0.2.10"]);
    assert!(
        still.stderr.contains("cirrus store adopt"),
        "not adopted without --yes: {}",
        still.stderr
    );
    let adopted = adopt(true);
    assert!(adopted.contains("adopted"), "{adopted}");
    ok(c(&["domain", "put", DOMAIN, "--origin", &format!("http://{origin}")]));
    until("the edge following the adopted store", Duration::from_secs(20), || {
        try_get(&addr, "/", DOMAIN).filter(|a| a.starts_with("HTTP/1.1 200"))
    });
    drop((api, edge));
}

/// Redis frozen (SIGSTOP) for 10 s under load, then thawed: cached traffic
/// gets no error, the API answers 503 with `Retry-After` within its
/// response timeout (never hangs), and the first write after the thaw is
/// accepted and served by the edge.
#[test]
fn redis_paused_ten_seconds_under_load_fails_no_cached_request() {
    let redis = cirrus_test_support::RedisServer::start_with_aof();
    let store = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let (api, url) = Running::api(dir.path(), &store, &["--master-token", "pause-test-master-token-0123"]);
    let c = |args: &[&str]| ctl(&url, "pause-test-master-token-0123", args);
    let (edge, addr) = edge(dir.path(), &store, 1);
    let origin = tiny_origin();
    ok(c(&["domain", "put", DOMAIN, "--origin", &format!("http://{origin}")]));
    until("the edge serving from its cache", Duration::from_secs(20), || {
        try_get(&addr, "/", DOMAIN).filter(|a| a.contains("x-cache: HIT"))
    });
    let load = Load::start(std::slice::from_ref(&addr));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    // A PUT of a domain: its status, and whether it said when to retry.
    let http = || -> (u16, bool) {
        rt.block_on(async {
            let sent = client
                .put(format!("{url}/api/v1/domains/paused.test"))
                .bearer_auth("pause-test-master-token-0123")
                .json(&serde_json::json!({"origins": [{"host": "192.0.2.10"}]}))
                .send()
                .await;
            match sent {
                Ok(r) => (r.status().as_u16(), r.headers().contains_key("retry-after")),
                Err(_) => (0, false),
            }
        })
    };
    redis.pause();
    let paused = Instant::now();
    let mut answers = Vec::new();
    while paused.elapsed() < Duration::from_secs(10) {
        let asked = Instant::now();
        let status = http();
        answers.push((status, asked.elapsed()));
    }
    redis.resume();
    let resumed = Instant::now();
    until("a write accepted after the thaw", Duration::from_secs(20), || {
        let status = http().0;
        (status == 200 || status == 201).then_some(())
    });
    let writable_after = resumed.elapsed();
    let (served, failed) = load.finish();
    assert_eq!(failed, 0, "cached traffic failed {failed} times of {}", served + failed);
    assert!(served > 100, "{served}");
    for (status, took) in &answers {
        assert_eq!(status.0, 503, "writes while Redis is frozen: {answers:?}");
        assert!(status.1, "with Retry-After");
        assert!(
            *took < Duration::from_secs(8),
            "answered within the response timeout, not hung: {took:?}"
        );
    }
    eprintln!(
        "redis paused 10 s: cached requests {served} served, {failed} failed; {} writes answered 503 (slowest {:?}); \
         first write accepted {writable_after:?} after the thaw",
        answers.len(),
        answers.iter().map(|(_, t)| *t).max().unwrap_or_default()
    );
    drop((api, edge));
}
