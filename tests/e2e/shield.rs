//! Shielding between three `cirrus edge` processes on 127.0.0.2, .3 and
//! .4 (one Redis, each edge registered by its own flags only) in front of
//! one origin that counts what reaches it: every object reaches the
//! origin once whichever edges are asked, concurrent misses over the
//! three edges make one origin fetch, a purge empties both tiers, the
//! lower tier keeps the shield's age, forwarding fields are trusted from
//! peers only, forged credentials and loops are refused, and the owner
//! killed costs no request.

use crate::harness::{Running, logged, try_get, until};
use cirrus_core::model::{DomainConf, PurgeRequest, ShieldPolicy};
use cirrus_core::{DomainStore, PurgeLog};
use cirrus_test_support::{RedisServer, free_port, metric_value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DOMAIN: &str = "shop.test";

/// An origin answering `GET /PATH` with `PATH` (cacheable 5 minutes),
/// after 500 ms for paths under `/slow/`; it counts requests per path and
/// keeps the head of the last one.
#[derive(Clone, Default)]
struct Origin {
    counts: Arc<Mutex<HashMap<String, u32>>>,
    last_head: Arc<Mutex<String>>,
}

impl Origin {
    fn start(&self) -> std::net::SocketAddr {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let me = me.clone();
                std::thread::spawn(move || {
                    let (mut buf, mut seen) = ([0u8; 4096], Vec::new());
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&seen[..end]).to_string();
                            seen.drain(..end + 4);
                            let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                            *me.counts.lock().unwrap().entry(path.clone()).or_default() += 1;
                            *me.last_head.lock().unwrap() = head;
                            if path.starts_with("/slow/") {
                                std::thread::sleep(Duration::from_millis(500));
                            }
                            let reply = format!(
                                "HTTP/1.1 200 OK\r\nCache-Control: max-age=300\r\nContent-Length: {}\r\n\r\n{path}",
                                path.len()
                            );
                            if s.write_all(reply.as_bytes()).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    fn count(&self, path: &str) -> u32 {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn total(&self) -> u32 {
        self.counts.lock().unwrap().values().sum()
    }
}

/// `cirrus edge` on 127.0.0.n with only `--listen`, `--node-id` and
/// `--node-ipv4` for its part in the cluster; its HTTP and admin addresses.
fn edge(dir: &std::path::Path, store: &str, n: u8) -> (Running, String, String) {
    let (listen, admin) = (
        format!("127.0.0.{n}:{}", free_port()),
        format!("127.0.0.{n}:{}", free_port()),
    );
    let (id, ip) = (format!("edge-{n}"), format!("127.0.0.{n}"));
    let edge = Running::cirrus(
        dir,
        &[
            "edge",
            "--listen",
            &listen,
            "--metrics-listen",
            &admin,
            "--metrics-allow",
            "127.0.0.0/8",
            "--node-id",
            &id,
            "--node-ipv4",
            &ip,
            "--store",
            store,
            "--no-access-log",
        ],
    );
    logged(&edge.stderr, "registered as a node");
    (edge, listen, admin)
}

fn metrics(admin: &str) -> String {
    try_get(admin, "/metrics", "localhost").unwrap_or_default()
}

/// One GET for `path` on `edge`, with extra header lines; the raw answer.
fn get_with(edge: &str, path: &str, extra: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(edge).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {DOMAIN}\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Every value of the field `name` in a raw head, in order.
fn headers<'a>(answer: &'a str, name: &str) -> Vec<&'a str> {
    answer
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        })
        .collect()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    headers(answer, name).first().copied()
}

#[test]
fn three_edges_shield_each_other_and_the_origin() {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt
        .block_on(async { cirrus_core::RedisStore::connect(&redis.url()) })
        .unwrap();
    let origin = Origin::default();
    let origin_addr = origin.start();
    let mut conf = DomainConf::new(DOMAIN, format!("http://{origin_addr}").parse().unwrap());
    conf.shield = ShieldPolicy::cluster();
    rt.block_on(store.put_domain(&conf)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut edges: Vec<(Running, String, String)> = (2..=4).map(|n| edge(dir.path(), &redis.url(), n)).collect();
    // Each edge sees all three on its ring once they reported their port.
    let started = Instant::now();
    for (_, _, admin) in &edges {
        until("every edge on every ring", Duration::from_secs(40), || {
            metric_value(&metrics(admin), "cirrus_shield_peers") == Some(3.0)
        });
    }
    eprintln!("ring of three after {:?}", started.elapsed());
    let addrs: Vec<String> = edges.iter().map(|(_, a, _)| a.clone()).collect();

    // 300 objects, each asked of all three edges: one origin fetch each.
    for i in 0..300 {
        let path = format!("/obj/{i}");
        for k in 0..3 {
            let a = get_with(&addrs[(i + k) % 3], &path, "");
            assert!(a.starts_with("HTTP/1.1 200"), "{path}: {a}");
            assert!(a.ends_with(&path), "{path}: {a}");
        }
        assert_eq!(origin.count(&path), 1, "{path} reached the origin once");
    }
    let served: f64 = edges
        .iter()
        .map(|(_, _, admin)| {
            metric_value(
                &metrics(admin),
                &format!("cirrus_shield_served_total{{host=\"{DOMAIN}\"}}"),
            )
            .unwrap_or(0.0)
        })
        .sum();
    assert!(served >= 400.0, "the owners answered the other edges' misses: {served}");

    // 50 concurrent misses for one object over the three edges: one fetch.
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let addr = addrs[i % 3].clone();
            std::thread::spawn(move || get_with(&addr, "/slow/one", ""))
        })
        .collect();
    for t in threads {
        let a = t.join().unwrap();
        assert!(a.starts_with("HTTP/1.1 200") && a.ends_with("/slow/one"), "{a}");
    }
    assert_eq!(origin.count("/slow/one"), 1, "50 concurrent misses, one origin fetch");

    // Through two tiers: two Via members, the client's address last in the
    // chain (not the lower edge's), a Cache-Status member per tier, and
    // the shield's stored age kept by the lower tier.
    let a = get_with(&addrs[0], "/age", "X-Forwarded-For: 192.0.2.7\r\n");
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    std::thread::sleep(Duration::from_secs(2));
    for addr in &addrs {
        let a = get_with(addr, "/age", "");
        let age: u64 = header(&a, "age").unwrap_or("0").parse().unwrap();
        assert!(age >= 2, "every tier counts the age stored above it: {a}");
    }
    assert_eq!(origin.count("/age"), 1);
    let mut tiered = None;
    for i in 0..30 {
        let path = format!("/hop/{i}");
        let a = get_with(&addrs[0], &path, "X-Forwarded-For: 192.0.2.7\r\n");
        let head = origin.last_head.lock().unwrap().clone();
        if headers(&head, "via").len() == 2 {
            tiered = Some((a, head));
            break;
        }
    }
    let (a, head) = tiered.expect("one of 30 objects is owned by another edge");
    // The lower edge's address (127.0.0.2) is not added by the owner: the
    // chain a peer sends is trusted, and ends with the client's address.
    assert_eq!(headers(&head, "x-forwarded-for"), ["192.0.2.7, 127.0.0.1"], "{head}");
    assert_eq!(headers(&head, "via"), ["1.1 cirrus", "1.1 cirrus"], "{head}");
    assert_eq!(headers(&head, "cdn-loop"), ["cirrus", "cirrus"], "{head}");
    assert!(
        headers(&head, "cirrus-shield").is_empty(),
        "the credential stays between edges: {head}"
    );
    assert_eq!(
        headers(&a, "cache-status"),
        ["cirrus; fwd=miss; stored", "cirrus; fwd=miss; stored"],
        "one member per tier, the shield's first: {a}"
    );

    // Forged credentials and loops are refused.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let forged = format!("Cirrus-Shield: edge-3 {now} {}\r\n", "ab".repeat(32));
    let a = get_with(&addrs[0], "/obj/1", &forged);
    assert!(a.starts_with("HTTP/1.1 403"), "{a}");
    assert_eq!(header(&a, "cirrus-shield"), Some("refused"), "{a}");
    let a = get_with(&addrs[0], "/obj/1", "CDN-Loop: cirrus, cirrus, cirrus\r\n");
    assert!(a.starts_with("HTTP/1.1 508"), "{a}");

    // A purge empties both tiers: the next request reaches the origin again.
    let before = origin.count("/obj/7");
    let mut purge = PurgeRequest::urls(DOMAIN, ["/obj/7"]);
    purge.id = Some("pg_shield".into());
    rt.block_on(store.publish_purge(&purge)).unwrap();
    until("the purge applied on every edge", Duration::from_secs(10), || {
        let r = rt.block_on(store.purge_record("pg_shield")).unwrap();
        r.is_some_and(|p| p.acks.len() == 3)
    });
    for addr in &addrs {
        let a = get_with(addr, "/obj/7", "");
        assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    }
    assert_eq!(
        origin.count("/obj/7"),
        before + 1,
        "purged from both tiers, fetched once again"
    );

    // The owner of some objects killed: every request still answered.
    let (mut gone, _, _) = edges.remove(0);
    gone.kill();
    let before = origin.total();
    let mut failed = 0;
    for i in 0..100 {
        for (_, addr, _) in &edges {
            let a = try_get(addr, &format!("/after/{i}"), DOMAIN).unwrap_or_default();
            failed += usize::from(!a.starts_with("HTTP/1.1 200"));
        }
    }
    assert_eq!(failed, 0, "no request failed with an edge gone");
    let fetched = origin.total() - before;
    assert!(
        fetched <= 200,
        "each new object fetched at most once per surviving edge: {fetched}"
    );
    let markdowns: f64 = edges
        .iter()
        .map(|(_, _, admin)| {
            metric_value(&metrics(admin), "cirrus_shield_peer_markdowns_total{peer=\"edge-2\"}").unwrap_or(0.0)
        })
        .sum();
    assert!(markdowns >= 1.0, "the dead owner was marked down");
}
