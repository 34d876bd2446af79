//! Origin connections on real sockets: the keep-alive race (an origin
//! closing idle connections while the edge reuses them) and the idle
//! timeout of the edge's own pool.

use crate::EdgeUnderTest;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a test origin saw.
#[derive(Default)]
struct Seen {
    accepted: AtomicUsize,
    answered: AtomicUsize,
    /// Idle connections the origin closed itself.
    closed: AtomicUsize,
    /// Connections the edge closed.
    dropped: AtomicUsize,
}

/// An origin answering keep-alive requests with `200 ok`. With `flaky` it
/// closes each idle connection after a random 0-2 ms, so the edge's reuse
/// races the close; without, it waits for the edge to close.
async fn origin(flaky: bool) -> (std::net::SocketAddr, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counts.accepted.fetch_add(1, Ordering::Relaxed);
            let seen = counts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut served = false;
                loop {
                    // A new connection gets time for its first request; an
                    // idle one after an answer is closed at a random moment.
                    let idle = Duration::from_micros(rand::thread_rng().gen_range(0..2000));
                    let wait = if flaky && served && buf.is_empty() {
                        idle
                    } else {
                        Duration::from_secs(30)
                    };
                    match tokio::time::timeout(wait, s.read(&mut chunk)).await {
                        Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        Ok(_) => {
                            seen.dropped.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Err(_) => {
                            seen.closed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok";
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                        served = true;
                        seen.answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn edge_for(addr: std::net::SocketAddr, settings: cirrus_edge::EdgeSettings) -> Arc<EdgeUnderTest> {
    let conf = cirrus_core::DomainConf::new(crate::HOST, format!("http://{addr}").parse().unwrap());
    Arc::new(EdgeUnderTest::start_with(conf, settings).await)
}

/// `per_client` requests with `method` from each of 8 concurrent clients:
/// how many answers had each status.
async fn race(e: &Arc<EdgeUnderTest>, method: reqwest::Method, per_client: usize) -> BTreeMap<u16, usize> {
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (e, method) = (e.clone(), method.clone());
            tokio::spawn(async move {
                let mut statuses = BTreeMap::new();
                for _ in 0..per_client {
                    let res = e.http.request(method.clone(), e.url("/race")).send().await.unwrap();
                    *statuses.entry(res.status().as_u16()).or_insert(0) += 1;
                }
                statuses
            })
        })
        .collect();
    let mut all = BTreeMap::new();
    for c in clients {
        for (status, n) in c.await.unwrap() {
            *all.entry(status).or_insert(0) += n;
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keep_alive_race_never_reaches_a_client() {
    let (addr, seen) = origin(true).await;
    let e = edge_for(addr, Default::default()).await;
    let statuses = race(&e, reqwest::Method::GET, 1250).await;
    let metrics = e.edge.render_metrics();
    let retried = metrics
        .lines()
        .find_map(|l| l.strip_prefix("nginx_upstream_errors_total "))
        .unwrap_or("0")
        .to_string();
    let closed = seen.closed.load(Ordering::Relaxed);
    eprintln!(
        "10000 GETs: {statuses:?}; origin closed {closed} idle connections; {retried} attempts died and were retried"
    );
    assert_eq!(
        statuses,
        BTreeMap::from([(200, 10_000)]),
        "no 502 or 504 from the keep-alive race"
    );
    assert!(closed > 100, "the origin really closed idle connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_in_the_keep_alive_race_is_sent_at_most_once() {
    let (addr, seen) = origin(true).await;
    let e = edge_for(addr, Default::default()).await;
    let statuses = race(&e, reqwest::Method::POST, 250).await;
    let ok = statuses.get(&200).copied().unwrap_or(0);
    // The origin counts an answer once it is written: the last one may be
    // counted just after its client has it (bounded wait, never past `ok`).
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut answered = seen.answered.load(Ordering::Relaxed);
    while answered < ok && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        answered = seen.answered.load(Ordering::Relaxed);
    }
    eprintln!("2000 POSTs: {statuses:?}; the origin answered {answered}");
    assert!(
        statuses.keys().all(|s| [200, 502].contains(s)),
        "a POST in the race is answered or refused with 502 (written, then the connection died): {statuses:?}"
    );
    assert_eq!(
        answered, ok,
        "every POST the origin answered reached the client, none was sent twice"
    );
    assert!(ok > 1000, "most POSTs went through: {ok}");
}

#[tokio::test]
async fn idle_origin_connections_are_reused_then_closed_after_the_idle_timeout() {
    let (addr, seen) = origin(false).await;
    let settings = cirrus_edge::EdgeSettings {
        origin_idle_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let e = edge_for(addr, settings).await;
    let get = || async { e.http.get(e.url("/idle")).send().await.unwrap().text().await.unwrap() };
    for _ in 0..5 {
        assert_eq!(get().await, "ok");
    }
    let opened = seen.accepted.load(Ordering::Relaxed);
    assert!(opened <= 2, "5 GETs in a row reuse a connection: {opened} opened");
    cirrus_test_support::eventually(
        "the edge closed its idle connections",
        Duration::from_secs(5),
        || async { seen.dropped.load(Ordering::Relaxed) == opened },
    )
    .await;
    assert_eq!(get().await, "ok");
    assert_eq!(
        seen.accepted.load(Ordering::Relaxed),
        opened + 1,
        "a new connection after the timeout"
    );
}

/// A pooled connection keeps one answer timer across its requests (armed
/// for the first one's deadline): a later request on it still gets the
/// whole origin timeout from its own start, not the rest of the first's.
#[tokio::test]
async fn a_reused_connection_waits_a_whole_origin_timeout_for_each_request() {
    let origin = crate::chaos_origin::ChaosOrigin::start().await;
    let settings = cirrus_edge::EdgeSettings {
        origin_timeout: Duration::from_millis(800),
        ..cirrus_edge::EdgeSettings::default()
    };
    let e = edge_for(origin.addr, settings).await;
    // The connection's timer is armed for 800 ms from now.
    assert_eq!(e.get("/ns/first").await.0, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    origin.set(crate::chaos_origin::Mode::Hung);
    let asked = std::time::Instant::now();
    assert_eq!(e.get("/ns/second").await.0, 504);
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(750) && took < Duration::from_secs(3),
        "timed out after {took:?}, not the origin timeout (800 ms) from the request"
    );
}
