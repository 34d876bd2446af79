//! HTTP caching and framing rules (RFC 9110, 9111, 9112, 9213) checked on
//! real sockets: Age, invalidation by unsafe methods, targeted cache
//! fields, Host rules, the client's broken bodies, the keep-alive race.

use crate::hostile::raw;
use crate::{EdgeUnderTest, Origin, conf_for};
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn age_is_forwarded_and_grows_with_the_time_in_cache() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let miss = e.http.get(e.url("/aged")).send().await.unwrap();
    assert_eq!(header(&miss, "x-cache").as_deref(), Some("MISS"));
    assert_eq!(header(&miss, "age").as_deref(), Some("100"), "the origin's Age goes on");
    cirrus_test_support::eventually("the stored response ages", Duration::from_secs(4), || async {
        let hit = e.http.get(e.url("/aged")).send().await.unwrap();
        assert_eq!(header(&hit, "x-cache").as_deref(), Some("HIT"));
        let age: u64 = header(&hit, "age").unwrap().parse().unwrap();
        assert!((100..110).contains(&age), "{age}");
        age > 100
    })
    .await;
    // A negative Age is not a number the edge can use: ignored, not sent on.
    let miss = e.http.get(e.url("/aged-bad")).send().await.unwrap();
    assert_eq!(header(&miss, "age"), None);
    let hit = e.http.get(e.url("/aged-bad")).send().await.unwrap();
    let age: u64 = header(&hit, "age").unwrap().parse().unwrap();
    assert!(age < 5, "counted from 0: {age}");
}

#[tokio::test]
async fn unsafe_methods_invalidate_the_target_and_its_same_host_locations() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let paths = ["/items", "/items/1", "/list", "/other"];
    for p in paths {
        e.get(p).await;
        assert_eq!(e.get(p).await.1, "HIT", "{p}");
    }
    // A failed POST changes nothing.
    let res = e.http.post(e.url("/nothing-here")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = e.http.post(e.url("/items")).body("new").send().await.unwrap();
    assert_eq!(res.status(), 201);
    for (p, after) in [
        ("/items", "MISS"),
        ("/items/1", "MISS"),
        ("/list", "MISS"),
        ("/other", "HIT"),
    ] {
        assert_eq!(e.get(p).await.1, after, "{p}");
    }
}

#[tokio::test]
async fn targeted_cache_fields_decide_for_the_edge_and_are_documented_downstream() {
    let origin = Origin::start().await;
    let mut conf = conf_for(&origin);
    conf.cache.targeted_field = Some("X-Own-CC".into());
    let e = EdgeUnderTest::start(conf).await;
    // CDN-Cache-Control beats Cache-Control: no-store; both go on downstream.
    e.get("/cdn").await;
    let hit = e.http.get(e.url("/cdn")).send().await.unwrap();
    assert_eq!(header(&hit, "x-cache").as_deref(), Some("HIT"));
    assert_eq!(header(&hit, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&hit, "cdn-cache-control").as_deref(), Some("max-age=60"));
    // The domain's own field beats CDN-Cache-Control, and stays at the edge.
    e.get("/own").await;
    let hit = e.http.get(e.url("/own")).send().await.unwrap();
    assert_eq!(header(&hit, "x-cache").as_deref(), Some("HIT"));
    assert_eq!(header(&hit, "x-own-cc"), None);
    assert_eq!(header(&hit, "cdn-cache-control").as_deref(), Some("no-store"));
    assert_eq!((origin.hits("/cdn"), origin.hits("/own")), (1, 1));
}

#[tokio::test]
async fn host_rules_of_rfc_9112() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    for (case, request) in [
        (
            "two Host fields",
            &b"GET /cached HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"[..],
        ),
        ("no Host", b"GET /cached HTTP/1.1\r\n\r\n"),
        (
            "a Host that is not text",
            b"GET /cached HTTP/1.1\r\nHost: a.\xfftest\r\n\r\n",
        ),
    ] {
        let answer = raw(&e, request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{case}: {answer}");
    }
    assert_eq!(origin.hits("/cached"), 0);
    // The absolute form's authority wins over Host.
    let answer = raw(
        &e,
        b"GET http://a.test/cached HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_broken_client_body_is_the_clients_400_not_a_502() {
    let origin = Origin::start().await;
    let settings = cirrus_edge::EdgeSettings {
        max_body_size: 1024,
        ..Default::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    let bad_chunk =
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n";
    let answer = raw(&e, bad_chunk).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // Chunked past the limit (no Content-Length to refuse up front): 413.
    let mut big = b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        big.extend_from_slice(b"400\r\n");
        big.extend_from_slice(&[b'x'; 1024]);
        big.extend_from_slice(b"\r\n");
    }
    big.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(&e, &big).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// An origin that answers keep-alive requests and closes each idle
/// connection after a random 0-2 ms: the edge's reuse races the close.
/// Counts the connections it closed and the requests it answered.
async fn flaky_keepalive_origin() -> (std::net::SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closes = Arc::new(AtomicUsize::new(0));
    let answers = Arc::new(AtomicUsize::new(0));
    let (counted, answered) = (closes.clone(), answers.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (closes, answered) = (counted.clone(), answered.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut served = false;
                loop {
                    // A new connection gets time for its first request; an
                    // idle one after an answer is closed at a random moment.
                    let idle = Duration::from_micros(rand::thread_rng().gen_range(0..2000));
                    let wait = if served && buf.is_empty() {
                        idle
                    } else {
                        Duration::from_secs(5)
                    };
                    let n = match tokio::time::timeout(wait, s.read(&mut chunk)).await {
                        Ok(Ok(n)) if n > 0 => n,
                        _ => {
                            closes.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok";
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                        served = true;
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (addr, closes, answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keep_alive_race_never_reaches_a_client() {
    let (addr, closes, _) = flaky_keepalive_origin().await;
    let conf = cirrus_core::DomainConf::new(crate::HOST, format!("http://{addr}").parse().unwrap());
    let e = Arc::new(EdgeUnderTest::start(conf).await);
    let bad = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (e, bad) = (e.clone(), bad.clone());
            tokio::spawn(async move {
                for _ in 0..1250 {
                    let res = e.http.get(e.url("/race")).send().await.unwrap();
                    let status = res.status();
                    if status != 200 {
                        eprintln!("{status}: {}", res.text().await.unwrap_or_default());
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let metrics = e.edge.render_metrics();
    let retried = metrics
        .lines()
        .find_map(|l| l.strip_prefix("nginx_upstream_errors_total "))
        .unwrap_or("0")
        .to_string();
    eprintln!(
        "10000 GETs: {} not 200; origin closed {} idle connections; {retried} attempts died and were retried",
        bad.load(Ordering::Relaxed),
        closes.load(Ordering::Relaxed)
    );
    assert_eq!(bad.load(Ordering::Relaxed), 0, "no 502 or 504 from the keep-alive race");
    assert!(
        closes.load(Ordering::Relaxed) > 100,
        "the origin really closed idle connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_in_the_keep_alive_race_is_sent_at_most_once() {
    let (addr, _, answered) = flaky_keepalive_origin().await;
    let conf = cirrus_core::DomainConf::new(crate::HOST, format!("http://{addr}").parse().unwrap());
    let e = Arc::new(EdgeUnderTest::start(conf).await);
    let (ok, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (e, ok, refused) = (e.clone(), ok.clone(), refused.clone());
            tokio::spawn(async move {
                for _ in 0..250 {
                    let status = e.http.post(e.url("/race")).send().await.unwrap().status();
                    match status.as_u16() {
                        200 => ok.fetch_add(1, Ordering::Relaxed),
                        502 => refused.fetch_add(1, Ordering::Relaxed),
                        other => panic!("a POST in the race got {other}"),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (ok, refused, answered) = (
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
    );
    eprintln!(
        "2000 POSTs: {ok} answered, {refused} got 502 (written, then the connection died); the origin answered {answered}"
    );
    assert_eq!(
        answered, ok,
        "every POST the origin answered reached the client, none was sent twice"
    );
    assert!(ok > 1000, "most POSTs went through: {ok}");
}
