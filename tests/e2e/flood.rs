//! Connection hygiene of `cirrus edge` as a process whose descriptor limit
//! is lowered (util-linux's `prlimit`): 5,000 idle and half-open
//! connections from ten addresses, while normal requests keep getting
//! answers and the process does not spin.

use crate::harness::{Running, raw_get, tiny_origin};
use cirrus_test_support::until;
use cirrus_test_support::{RedisServer, metric_value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const FLOOD: usize = 5_000;

/// Raises this process's descriptor limit to its hard limit: the flood's
/// client side needs more than the usual 1,024.
fn enough_descriptors() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).unwrap();
    let have = limit.current.unwrap_or(u64::MAX);
    assert!(
        have > FLOOD as u64 + 500,
        "this test opens {FLOOD} connections; the hard descriptor limit is {have}"
    );
}

/// The user and system CPU seconds `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// One flood connection from `source`: idle, a partial HTTP head, or the
/// first bytes of a TLS record.
async fn hostile(source: std::net::IpAddr, edge: SocketAddr, kind: usize) -> Option<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(source, 0)).ok()?;
    let mut s = tokio::time::timeout(Duration::from_secs(5), socket.connect(edge))
        .await
        .ok()?
        .ok()?;
    let start: &[u8] = match kind % 3 {
        0 => b"",
        1 => b"GET /hello HTTP/1.1\r\nHost: a.test\r\nX-Slow:",
        _ => b"\x16\x03\x01\x02\x00\x01",
    };
    s.write_all(start).await.ok()?;
    Some(s)
}

#[test]
fn five_thousand_idle_and_half_open_connections_do_not_stop_normal_requests() {
    enough_descriptors();
    let redis = RedisServer::start();
    let origin = tiny_origin();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = cirrus_core::RedisStore::connect(&redis.url()).unwrap();
        let conf = cirrus_core::DomainConf::new("a.test", format!("http://{origin}").parse().unwrap());
        cirrus_core::DomainStore::put_domain(&store, &conf).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("prlimit");
    cmd.args(["--nofile=1024:1024", "--", env!("CARGO_BIN_EXE_cirrus")])
        .args(["edge", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args(["--store", &redis.url()])
        .current_dir(dir.path())
        .env_remove("CIRRUS_STORE")
        .env_remove("CIRRUS_CONFIG");
    let mut edge = Running::start(cmd);
    let addr = crate::harness::logged(&edge.stderr, "listening on http://");
    let admin = crate::harness::logged(&edge.stderr, "metrics on http://");
    let metrics = || {
        let text = raw_get(&admin, "/metrics", "localhost");
        move |name: &str| metric_value(&text, name).unwrap_or(-1.0)
    };
    until("the domain served", Duration::from_secs(10), || {
        Some(raw_get(&addr, "/hello", "a.test")).filter(|a| a.starts_with("HTTP/1.1 200"))
    });
    assert_eq!(
        metrics()("cirrus_connections_limit"),
        448.0,
        "(1024 - 128) / 2: each client connection may need an origin one"
    );

    let edge_addr: SocketAddr = addr.parse().unwrap();
    let started = Instant::now();
    let held = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
        for i in 0..FLOOD {
            let source = std::net::IpAddr::from([127, 0, 0, 2 + (i % 10) as u8]);
            let gate = gate.clone();
            tasks.spawn(async move {
                let _p = gate.acquire().await;
                hostile(source, edge_addr, i).await
            });
        }
        let mut held = Vec::new();
        while let Some(s) = tasks.join_next().await {
            held.extend(s.unwrap());
        }
        held
    });
    let flooded = started.elapsed();
    let cpu_before = cpu_seconds(edge.child.id());
    let window = Instant::now();

    // Normal clients, one fresh connection each, while the flood is held.
    let mut slowest = Duration::ZERO;
    for _ in 0..50 {
        let asked = Instant::now();
        let answer = raw_get(&addr, "/hello", "a.test");
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
            "{answer}"
        );
        slowest = slowest.max(asked.elapsed());
    }
    std::thread::sleep(Duration::from_secs(2));
    let cpu = cpu_seconds(edge.child.id()) - cpu_before;
    let m = metrics();
    let (reclaimed, accept_errors) = (m("cirrus_connections_reclaimed_total"), m("cirrus_accept_errors_total"));
    eprintln!(
        "flood: {} of {FLOOD} connections made in {flooded:.1?}; 50 normal requests, slowest {slowest:.1?}; \
         edge CPU {cpu:.2} s over the next {:.1?}; reclaimed {reclaimed}, accept errors {accept_errors}",
        held.len(),
        window.elapsed()
    );
    for line in edge.stderr.try_iter().filter(|l| l.contains("accept")).take(3) {
        eprintln!("{line}");
    }
    assert!(held.len() >= FLOOD / 2, "the flood got in: {}", held.len());
    assert!(slowest < Duration::from_secs(2), "a normal request waited {slowest:?}");
    assert!(
        reclaimed >= (held.len() - 448) as f64 / 2.0,
        "idle connections were reclaimed: {reclaimed}"
    );
    assert!(cpu < 1.5, "the edge does not spin: {cpu:.2} s of CPU");
    assert!(edge.child.try_wait().unwrap().is_none(), "the edge is still running");
    drop(held);
    let ready = raw_get(&admin, "/healthz", "localhost");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(raw_get(&addr, "/hello", "a.test").starts_with("HTTP/1.1 200"));
}
