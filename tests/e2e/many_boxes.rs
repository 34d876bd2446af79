//! Many boxes on one machine: a Redis with AOF (or Redis Sentinel: a
//! master, two replicas, three sentinels), one `cirrus api`, one
//! `cirrus dns` with a real NSD as its secondary, and three `cirrus edge`
//! processes on 127.0.0.2, .3 and .4 that register themselves as nodes,
//! and one `cirrus worker` issuing certificates from a real Pebble, which
//! every edge then serves over HTTPS, and delivering a purge's webhooks.

use crate::harness::{Running, ctl, https_body, json_logged, logged, ok, pebble_root, tiny_origin, try_get, until};
use cirrus_core::model::DomainDns;
use cirrus_test_support::{
    Nsd, OwnerResolver, Pebble, RedisServer, SentinelCluster, WebhookReceiver, a_records, free_port, metric_value,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const DOMAIN: &str = "shop.test";
const ZONE: &str = "cdn.test";

/// `cirrus api` on a free port; its URL and the master token it printed
/// (if it generated one).
pub(crate) fn api(dir: &std::path::Path, store: &str) -> (Running, String, Option<String>) {
    let (api, url) = Running::api(dir, store, &["--zone", ZONE, "--webhook-allow-private"]);
    let token = api
        .stdout
        .recv_timeout(Duration::from_millis(300))
        .ok()
        .and_then(|l| l.rsplit(' ').next().map(str::to_string));
    (api, url, token)
}

/// The edges' ports: HTTP, HTTPS, and the admin one the checker probes.
#[derive(Clone, Copy)]
struct Ports {
    http: u16,
    https: u16,
    health: u16,
}

/// `cirrus edge` number `n` on 127.0.0.n, registered as node `edge-n`.
fn edge(dir: &std::path::Path, store: &str, n: u8, ports: Ports) -> Running {
    let (listen, tls, admin, id) = (
        format!("127.0.0.{n}:{}", ports.http),
        format!("127.0.0.{n}:{}", ports.https),
        format!("127.0.0.{n}:{}", ports.health),
        format!("edge-{n}"),
    );
    let edge = Running::cirrus(
        dir,
        &[
            "edge",
            "--listen",
            &listen,
            "--tls-listen",
            &tls,
            "--metrics-listen",
            &admin,
            "--node-id",
            &id,
            "--store",
            store,
            "--no-access-log",
            // Every request traced (to a collector that is not there: the
            // spans are dropped, the exemplars Prometheus reads are kept).
            "--otlp-endpoint",
            "http://127.0.0.1:1",
            "--trace-sample-ratio",
            "1",
        ],
    );
    logged(&edge.stderr, "registered as a node");
    edge
}

/// The store the boxes share, and how it loses its machine.
enum Shared {
    /// One Redis with AOF: restarted from its file.
    Aof(RedisServer),
    /// A master, two replicas and three sentinels: the master is killed
    /// and a replica promoted.
    Sentinel(SentinelCluster),
}

impl Shared {
    fn url(&self) -> String {
        match self {
            Shared::Aof(redis) => redis.url(),
            Shared::Sentinel(cluster) => cluster.url(),
        }
    }

    /// The store's machine goes away and the store comes back.
    fn lose_the_master(&mut self) {
        match self {
            Shared::Aof(redis) => redis.restart(),
            Shared::Sentinel(cluster) => {
                let old = cluster.kill_master();
                cluster.wait_failover(old, Duration::from_secs(30));
            }
        }
    }
}

#[test]
fn three_edges_and_a_worker_on_one_redis_follow_the_api_the_health_checker_and_the_ca() {
    scenario(Shared::Aof(RedisServer::start_with_aof()));
}

#[test]
fn three_edges_and_a_worker_on_redis_sentinel_do_the_same_through_a_failover() {
    scenario(Shared::Sentinel(SentinelCluster::start()));
}

/// The whole scenario on `shared`.
fn scenario(mut redis: Shared) {
    let started = Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
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
    let dns_admin = logged(&dns.stderr, "metrics on http://");

    let ports = Ports {
        http: free_port(),
        https: free_port(),
        health,
    };
    let mut edges: Vec<Running> = (2..=4).map(|n| edge(dir.path(), &store, n, ports)).collect();
    let addr = |n: u8| format!("127.0.0.{n}:{}", ports.http);

    // A domain created through the API is served by every edge.
    let origin = tiny_origin();
    // Shielded: the edges fetch from each other (the offload rules and
    // panel read what that counts).
    ok(c(&[
        "domain",
        "put",
        DOMAIN,
        "--origin",
        &format!("http://{origin}"),
        "--shield",
        "cluster",
    ]));
    for n in 2..=4 {
        until(&format!("edge {n} serving {DOMAIN}"), Duration::from_secs(20), || {
            try_get(&addr(n), "/", DOMAIN).filter(|a| a.starts_with("HTTP/1.1 200"))
        });
        let hit = try_get(&addr(n), "/", DOMAIN).unwrap();
        assert!(hit.contains("x-cache: HIT"), "edge {n}: {hit}");
    }

    // A certificate requested through the API is issued by the worker
    // process and served over HTTPS by every edge.
    let issued = certificate(&rt, dir.path(), &store, master, &c);
    let root = pebble_root(&rt, &issued.pebble);
    for n in 2..=4 {
        let at: SocketAddr = ([127, 0, 0, n], ports.https).into();
        let body = until(
            &format!("edge {n} serving the certificate"),
            Duration::from_secs(20),
            || https_body(&rt, &root, DOMAIN, at),
        );
        assert_eq!(body, "hello", "edge {n}");
    }

    // A webhook for the domain's purges, registered with cirrusctl.
    let receiver = rt.block_on(WebhookReceiver::start("whsec_AAAA"));
    let created = ok(c(&[
        "webhook",
        "create",
        "--endpoint",
        &receiver.url(),
        "--type",
        "purge.completed",
        "--type",
        "purge.requested",
        "--domain",
        DOMAIN,
        "--output",
        "json",
    ]));
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    receiver.set_secret(created["secret"].as_str().unwrap());

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
    let purge_id = status["id"].as_str().unwrap().to_string();
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
    // The worker posts purge.requested, then purge.completed once all three
    // acknowledged, each signed with the endpoint's secret.
    let hooks = rt.block_on(receiver.wait_delivered(2, Duration::from_secs(20)));
    let got: Vec<(&str, &str)> = hooks
        .iter()
        .map(|h| (h.body["type"].as_str().unwrap(), h.body["subject"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("purge.requested", purge_id.as_str()),
            ("purge.completed", purge_id.as_str())
        ]
    );
    assert!(hooks.iter().all(|h| h.verified), "{hooks:#?}");
    assert_eq!(hooks[1].body["data"]["applied"], 3, "{:?}", hooks[1].body);
    let hook_id = created["id"].as_str().unwrap();
    let log = ok(c(&["webhook", "deliveries", hook_id]));
    assert_eq!(log.lines().filter(|l| l.contains(" delivered ")).count(), 2, "{log}");
    let listed = ok(c(&["webhook", "list"]));
    assert!(
        listed.contains(hook_id) && listed.contains("purge.completed,purge.requested"),
        "{listed}"
    );

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
    // The master watches what NSD serves: its serial catches up with the
    // master's, and the DNS role is ready.
    until("NSD's serial in the master's metrics", Duration::from_secs(20), || {
        let text = rt.block_on(async {
            reqwest::get(format!("http://{dns_admin}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()
        })?;
        let ours = metric_value(&text, "cirrus_dns_zone_serial")?;
        let secondary = format!("cirrus_dns_secondary_serial{{secondary=\"{}\"}}", nsd.addr);
        let theirs = metric_value(&text, &secondary)?;
        (ours == theirs && metric_value(&text, "cirrus_ready") == Some(1.0)).then_some(())
    });
    let ready = rt.block_on(async {
        reqwest::get(format!("http://{dns_admin}/readyz"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(ready, 200);

    // A real Prometheus with the shipped configuration scrapes them all.
    let targets = crate::observability::Targets {
        api: url.trim_start_matches("http://").to_string(),
        edges: (2..=4).map(|n| format!("127.0.0.{n}:{health}")).collect(),
        dns: dns_admin.clone(),
        worker: issued.metrics.clone(),
    };
    crate::observability::prometheus_scrapes_every_role(&rt, &targets);

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
    edges[1] = edge(dir.path(), &store, 3, ports);
    answers(master, &all);
    answers(nsd.addr, &all);

    // The API process is killed, Redis restarts from its AOF (or its
    // master is killed and a replica promoted), the API starts again:
    // nothing is lost and the master token still works.
    api_proc.kill();
    redis.lose_the_master();
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
        "many boxes on {}: purge acknowledged by three edges after {delays:?} ms; a dead edge left NSD's answers \
         after {dropped_after:?}; whole scenario {:?}",
        if matches!(redis, Shared::Aof(_)) {
            "Redis with AOF"
        } else {
            "Redis Sentinel"
        },
        started.elapsed()
    );
}

/// Pebble, validating through the owner's resolver, and the worker process.
struct Issued {
    pebble: Pebble,
    /// The worker's `/metrics` (host:port).
    metrics: String,
    _resolver: OwnerResolver,
    _worker: Running,
}

/// Starts Pebble and a `cirrus worker` on `store`, requests a certificate
/// for the domain with `cirrusctl cert issue`, and waits until it is issued.
fn certificate(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    store: &str,
    dns: SocketAddr,
    c: &dyn Fn(&[&str]) -> crate::harness::Out,
) -> Issued {
    let resolver = rt.block_on(OwnerResolver::start(|d| {
        DomainDns::for_domain(d, ZONE).acme_challenge.target
    }));
    resolver.follow(dns);
    let pebble = Pebble::start(resolver.addr);
    let (check, resolver_addr, root) = (
        dns.to_string(),
        resolver.addr.to_string(),
        pebble.tls_cert.display().to_string(),
    );
    // Webhooks to the test's loopback receiver: allowed by the environment.
    let mut worker = Running::command(
        dir,
        &[
            "worker",
            "--store",
            store,
            "--zone",
            ZONE,
            "--acme-directory",
            &pebble.directory,
            "--acme-directory-root",
            &root,
            "--resolver",
            &resolver_addr,
            "--dns-check",
            &check,
            "--retry-first",
            "1",
            "--metrics-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
    );
    worker.env("CIRRUS_WEBHOOK_ALLOW_PRIVATE", "true");
    let worker = Running::start(worker);
    let message = |line: &serde_json::Value, marker: &str| {
        let text = line["message"].as_str()?;
        text.split(marker).nth(1).map(str::to_string)
    };
    let metrics = json_logged(&worker.stderr, |l| message(l, "metrics on http://"));
    json_logged(&worker.stderr, |l| message(l, "running certificate jobs"));
    ok(c(&["cert", "issue", DOMAIN]));
    until("the certificate issued", Duration::from_secs(60), || {
        let out = ok(c(&["cert", "status", DOMAIN, "--output", "json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        (v["status"] == "issued" && v["has_certificate"] == true).then_some(())
    });
    // The worker's JSON lines carry the documented fields at the top level.
    let issued = json_logged(&worker.stderr, |l| (l["event"] == "acme_issued").then(|| l.clone()));
    assert_eq!(
        (&issued["domain"], &issued["level"]),
        (&DOMAIN.into(), &"INFO".into()),
        "{issued}"
    );
    assert!(issued["job"].as_str().is_some_and(|j| !j.is_empty()), "{issued}");
    assert!(
        issued["timestamp"].is_string() && issued["target"].is_string(),
        "{issued}"
    );
    Issued {
        pebble,
        metrics,
        _resolver: resolver,
        _worker: worker,
    }
}
