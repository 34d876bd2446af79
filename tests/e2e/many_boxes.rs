//! Many boxes on one machine: a Redis with AOF, one `cirrus api`, one
//! `cirrus dns` with a real NSD as its secondary, and three `cirrus edge`
//! processes on 127.0.0.2, .3 and .4 that register themselves as nodes.

use crate::harness::{Running, ctl, logged, ok, tiny_origin, try_get, until};
use cirrus_core::model::DomainDns;
use cirrus_test_support::{Nsd, RedisServer, a_records, free_port};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const DOMAIN: &str = "shop.test";
const ZONE: &str = "cdn.test";

/// `cirrus api` on a free port; its URL and the master token it printed
/// (if it generated one).
fn api(dir: &std::path::Path, store: &str) -> (Running, String, Option<String>) {
    let api = Running::cirrus(
        dir,
        &["api", "--listen", "127.0.0.1:0", "--store", store, "--zone", ZONE],
    );
    let url = format!("http://{}", logged(&api.stderr, "listening on http://"));
    let token = api
        .stdout
        .recv_timeout(Duration::from_millis(300))
        .ok()
        .and_then(|l| l.rsplit(' ').next().map(str::to_string));
    (api, url, token)
}

/// `cirrus edge` number `n` on 127.0.0.n, registered as node `edge-n`.
fn edge(dir: &std::path::Path, store: &str, n: u8, http: u16, health: u16) -> Running {
    let (listen, admin, id) = (
        format!("127.0.0.{n}:{http}"),
        format!("127.0.0.{n}:{health}"),
        format!("edge-{n}"),
    );
    let edge = Running::cirrus(
        dir,
        &[
            "edge",
            "--listen",
            &listen,
            "--metrics-listen",
            &admin,
            "--node-id",
            &id,
            "--store",
            store,
            "--no-access-log",
        ],
    );
    logged(&edge.stderr, "registered as a node");
    edge
}

#[test]
fn three_edges_on_one_redis_follow_the_api_and_the_health_checker() {
    let started = Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut redis = RedisServer::start_with_aof();
    let store = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let (mut api_proc, url, token) = api(dir.path(), &store);
    let token = token.expect("a master token on first start");
    let c = |args: &[&str]| ctl(&url, &token, args);

    // The DNS master notifies NSD, which transfers the zone from it.
    let dns_port = free_port();
    let master: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let nsd = Nsd::start(ZONE, master);
    let health = free_port();
    let dns = Running::cirrus(
        dir.path(),
        &[
            "dns",
            "--listen",
            &master.to_string(),
            "--zone",
            ZONE,
            "--notify",
            &nsd.addr.to_string(),
            "--metrics-listen",
            "127.0.0.1:0",
            "--replicas",
            "3",
            "--health-port",
            &health.to_string(),
            "--health-interval",
            "1",
            "--health-timeout",
            "1",
            "--fail-after",
            "2",
            "--recover-after",
            "1",
            "--store",
            &store,
        ],
    );
    logged(&dns.stderr, "listening on");

    let http = free_port();
    let mut edges: Vec<Running> = (2..=4).map(|n| edge(dir.path(), &store, n, http, health)).collect();
    let addr = |n: u8| format!("127.0.0.{n}:{http}");

    // A domain created through the API is served by every edge.
    let origin = tiny_origin();
    ok(c(&["domain", "put", DOMAIN, "--origin", &format!("http://{origin}")]));
    for n in 2..=4 {
        until(&format!("edge {n} serving {DOMAIN}"), Duration::from_secs(20), || {
            try_get(&addr(n), "/", DOMAIN).filter(|a| a.starts_with("HTTP/1.1 200"))
        });
        let hit = try_get(&addr(n), "/", DOMAIN).unwrap();
        assert!(hit.contains("x-cache: HIT"), "edge {n}: {hit}");
    }

    // A purge reaches all three, and each acknowledges it: --wait returns
    // once all three have.
    let waited = ok(c(&[
        "purge",
        DOMAIN,
        "--all",
        "--wait",
        "--wait-timeout",
        "10s",
        "--output",
        "json",
    ]));
    let status: serde_json::Value = serde_json::from_str(&waited).unwrap();
    assert_eq!(status["complete"], true, "{status}");
    let acked: Vec<&str> = status["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["node"].as_str().unwrap())
        .collect();
    assert_eq!(acked, ["edge-2", "edge-3", "edge-4"], "{status}");
    let delays: Vec<u64> = status["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["delay_ms"].as_u64().unwrap())
        .collect();
    // Each edge reports the revision it serves, and how far behind it is.
    let nodes: serde_json::Value = serde_json::from_str(&ok(c(&["node", "list", "--output", "json"]))).unwrap();
    for node in nodes.as_array().unwrap() {
        assert!(node["edge"]["revision"].as_u64().unwrap() > 0, "{node}");
        assert!(node["edge"]["behind"].as_u64().is_some(), "{node}");
    }
    for n in 2..=4 {
        until(&format!("edge {n} purged"), Duration::from_secs(10), || {
            try_get(&addr(n), "/", DOMAIN).filter(|a| a.contains("x-cache: MISS"))
        });
    }

    // NSD answers what the master answers: the three registered edges.
    let target = format!("{}.", DomainDns::for_domain(DOMAIN, ZONE).cname.target);
    let all: Vec<Ipv4Addr> = (2..=4).map(|n| Ipv4Addr::new(127, 0, 0, n)).collect();
    let answers = |server: SocketAddr, want: &[Ipv4Addr]| {
        let want = want.to_vec();
        until(&format!("{server} answering {want:?}"), Duration::from_secs(30), || {
            rt.block_on(a_records(server, &target)).filter(|ips| *ips == want)
        });
    };
    answers(master, &all);
    answers(nsd.addr, &all);

    // Edge 3 dies: the checker deactivates it, the zone and NSD drop it.
    edges[1].kill();
    let without: Vec<Ipv4Addr> = vec![Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 4)];
    let down = Instant::now();
    answers(master, &without);
    answers(nsd.addr, &without);
    let dropped_after = down.elapsed();
    let node: serde_json::Value = serde_json::from_str(&ok(c(&["node", "get", "edge-3", "--output", "json"]))).unwrap();
    assert_eq!(node["active"], false, "{node}");

    // It comes back: returned again.
    edges[1] = edge(dir.path(), &store, 3, http, health);
    answers(master, &all);
    answers(nsd.addr, &all);

    // The API process is killed, Redis restarts from its AOF, the API
    // starts again: nothing is lost and the master token still works.
    api_proc.kill();
    redis.restart();
    let (_api, url, again) = api(dir.path(), &store);
    assert_eq!(again, None, "no new master token");
    let got = ok(ctl(&url, &token, &["domain", "get", DOMAIN, "--output", "json"]));
    let got: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(got["origins"][0]["host"], "127.0.0.1", "{got}");
    let nodes = ok(ctl(&url, &token, &["node", "list"]));
    assert!((2..=4).all(|n| nodes.contains(&format!("edge-{n}"))), "{nodes}");
    for n in 2..=4 {
        until(&format!("edge {n} after the restarts"), Duration::from_secs(20), || {
            try_get(&addr(n), "/", DOMAIN).filter(|a| a.starts_with("HTTP/1.1 200"))
        });
    }
    drop(dns);
    eprintln!(
        "many boxes: purge acknowledged by three edges after {delays:?} ms; a dead edge left NSD's answers \
         after {dropped_after:?}; whole scenario {:?}",
        started.elapsed()
    );
}
