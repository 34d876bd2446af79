//! Hostile traffic: ambiguous framing, oversized heads, slow clients.

use crate::{EdgeUnderTest, HOST, Origin, conf_for};
use cirrus_edge::EdgeSettings;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends raw bytes; returns everything the edge answered before closing.
pub async fn raw(e: &EdgeUnderTest, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the edge closes the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn first_status(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("")
}

#[tokio::test]
async fn ambiguous_framing_is_refused_and_the_connection_closed() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let cases: [&[u8]; 9] = [
        // Content-Length with Transfer-Encoding, either order, a smuggled request behind.
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /cached HTTP/1.1\r\nHost: a.test\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /cached HTTP/1.1\r\nHost: a.test\r\n\r\n",
        // Bare LF line endings, in the head and at its end.
        b"GET /cached HTTP/1.1\nHost: a.test\r\n\r\n",
        b"GET /cached HTTP/1.1\r\nHost: a.test\n\n",
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: +5\r\n\r\nhello",
        b"GET /cached HTTP/1.1\r\nHost: a.test\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET /cached HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    ];
    for (i, case) in cases.iter().enumerate() {
        let answer = raw(&e, case).await;
        assert_eq!(first_status(&answer), "400", "case {i}: {answer}");
        assert_eq!(
            answer.matches("HTTP/1.1").count(),
            1,
            "case {i}: one answer, then the connection closed"
        );
    }
    assert_eq!(origin.hits("/echo"), 0, "no ambiguous request reached the origin");
    assert_eq!(origin.hits("/cached"), 0, "nor anything smuggled behind one");
    // A bare LF in the second request of a keep-alive connection: the first
    // is answered, the second refused, the connection closed.
    let answer = raw(
        &e,
        b"GET /cached HTTP/1.1\r\nHost: a.test\r\n\r\nGET /etag HTTP/1.1\nHost: a.test\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 400").count(), 1, "{answer}");
    assert_eq!(origin.hits("/etag"), 0);
}

#[tokio::test]
async fn a_body_on_a_cache_hit_closes_the_connection() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    e.get("/cached").await;
    // The "body" is a smuggled request; it must never be answered.
    let smuggled = b"GET /cached HTTP/1.1\r\nHost: a.test\r\nContent-Length: 37\r\n\r\nGET /private HTTP/1.1\r\nHost: a.test\r\n\r\n";
    let answer = raw(&e, smuggled).await;
    assert_eq!(first_status(&answer), "200");
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert_eq!(origin.hits("/private"), 0);
}

#[tokio::test]
async fn oversized_heads_are_refused() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        max_header_bytes: 8192,
        max_headers: 20,
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    let big = format!(
        "GET /cached HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let answer = raw(&e, big.as_bytes()).await;
    assert!(matches!(first_status(&answer), "431" | "400" | ""), "{answer}");
    let many: String = (0..40).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = raw(
        &e,
        format!("GET /cached HTTP/1.1\r\nHost: {HOST}\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert!(matches!(first_status(&answer), "431" | "400" | ""), "{answer}");
    assert_eq!(origin.hits("/cached"), 0);
}

#[tokio::test]
async fn slow_headers_time_out() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        header_timeout: Duration::from_millis(300),
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    let mut s = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    s.write_all(b"GET /cached HTTP/1.1\r\nHost: a.te").await.unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the edge gives up on a slow client")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(origin.hits("/cached"), 0);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        max_body_size: 1024,
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    let res = e.http.post(e.url("/echo")).body(vec![b'x'; 4096]).send().await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(origin.hits("/echo"), 0);
}

#[tokio::test]
async fn past_the_budget_idle_connections_make_room_and_busy_ones_are_waited_for() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        max_connections: 2,
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    const SLOW: &[u8] = b"GET /slow HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    const CACHED: &[u8] = b"GET /cached HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    async fn sent(addr: std::net::SocketAddr, request: &[u8]) -> tokio::net::TcpStream {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        s
    }
    async fn answer(mut s: tokio::net::TcpStream, within: Duration) -> String {
        let mut out = Vec::new();
        tokio::time::timeout(within, s.read_to_end(&mut out))
            .await
            .expect("an answer in time")
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    // One connection busy with a slow request, one idle: a newcomer
    // reclaims the idle one and is served at once.
    let busy = sent(e.addr, SLOW).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let idle = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = sent(e.addr, CACHED).await;
    let started = std::time::Instant::now();
    let got = answer(third, Duration::from_secs(5)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "served by reclaiming the idle connection, not after the slow one: {:?}",
        started.elapsed()
    );
    assert_eq!(
        answer(idle, Duration::from_secs(2)).await,
        "",
        "the idle connection was closed"
    );
    let got = answer(busy, Duration::from_secs(5)).await;
    assert!(got.contains("slow but sure"), "the busy connection finished: {got}");
    let metrics = e.edge.render_metrics();
    let metric = |name| cirrus_test_support::metric_value(&metrics, name).unwrap_or(-1.0);
    assert!(metric("cirrus_connections_reclaimed_total") >= 1.0, "{metrics}");
    assert_eq!(metric("cirrus_connections_limit"), 2.0);

    // Both busy: a newcomer waits for one to finish.
    let (slow1, slow2) = (sent(e.addr, SLOW).await, sent(e.addr, SLOW).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = sent(e.addr, CACHED).await;
    let started = std::time::Instant::now();
    let got = answer(third, Duration::from_secs(5)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited for a busy connection to end: {:?}",
        started.elapsed()
    );
    for s in [slow1, slow2] {
        assert!(answer(s, Duration::from_secs(5)).await.contains("slow but sure"));
    }
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        max_connections_per_ip: 3,
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(tokio::net::TcpStream::connect(e.addr).await.unwrap());
    }
    // Held: the fourth is closed at once, unanswered, and counted.
    let mut fourth = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    let _ = fourth
        .write_all(b"GET /cached HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), fourth.read_to_end(&mut out)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "closed without an answer: {closed:?} {}",
        String::from_utf8_lossy(&out)
    );
    let metrics = e.edge.render_metrics();
    assert_eq!(
        cirrus_test_support::metric_value(&metrics, "cirrus_connections_refused_total"),
        Some(1.0),
        "{metrics}"
    );
    // One given back: the address is served again.
    drop(idle.pop());
    let served = cirrus_test_support::eventually("a connection served again", Duration::from_secs(5), || async {
        let mut s = tokio::net::TcpStream::connect(e.addr).await.ok()?;
        s.write_all(b"GET /cached HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&out).into_owned();
        text.starts_with("HTTP/1.1 200").then_some(text)
    })
    .await;
    assert!(served.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn http10_bodies_are_framed_by_content_length_only() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    // HTTP/1.0 knows no chunked encoding: refused, connection closed.
    let te = b"POST /echo HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let answer = raw(&e, te).await;
    assert_eq!(first_status(&answer), "400", "{answer}");
    // With a Content-Length it is served, and the connection closed (1.0 default).
    let cl = b"POST /echo HTTP/1.0\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello";
    let answer = raw(&e, cl).await;
    assert!(answer.ends_with("POST hello"), "{answer}");
    assert_eq!(origin.hits("/echo"), 1);
}

#[tokio::test]
async fn process_memory_is_broken_down_by_component() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let res = e.http.get(e.url("/cached")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(tokio::net::TcpStream::connect(e.addr).await.unwrap());
    }
    let metric = |text: &str, component: &str| {
        cirrus_test_support::metric_value(
            text,
            &format!("cirrus_process_memory_bytes{{component=\"{component}\"}}"),
        )
        .unwrap_or(-1.0)
    };
    let text = cirrus_test_support::until("the connection counted", Duration::from_secs(5), || {
        let text = e.edge.render_metrics();
        (metric(&text, "connections") >= 3.0 * 9216.0).then_some(text)
    });
    let cache = cirrus_test_support::metric_value(&text, "cirrus_cache_bytes").unwrap();
    assert!(cache > 0.0);
    assert_eq!(metric(&text, "cache"), cache, "{text}");
    let resident = metric(&text, "resident");
    assert!(resident > 1e6, "{text}");
    assert!(
        metric(&text, "files") > 0.0 && metric(&text, "files") < resident,
        "{text}"
    );
    assert_eq!(
        metric(&text, "other"),
        resident - metric(&text, "files") - cache - metric(&text, "connections"),
        "{text}"
    );
}

#[tokio::test]
async fn what_reaches_the_origin_is_the_clients_head_without_hop_by_hop_fields_and_with_forwarding() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let request = b"GET /nostore HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, X-Secret\r\n\
X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n\
X-Forwarded-For: 203.0.113.9\r\nX-Request-Id: 0123456789abcdef0123456789abcdef\r\n\
X-Request-Id: fedcba9876543210fedcba9876543210\r\nX-Custom: One\r\nx-custom: two\r\n\
Connection: close\r\n\r\n";
    let answer = raw(&e, request).await;
    assert_eq!(first_status(&answer), "200", "{answer}");
    let sent = origin
        .last_headers
        .lock()
        .unwrap()
        .clone()
        .expect("the origin was asked");
    for gone in ["x-secret", "keep-alive", "te", "proxy-connection"] {
        assert!(!sent.contains_key(gone), "{gone} crossed: {sent:?}");
    }
    assert_eq!(sent["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(sent["x-forwarded-proto"], "http");
    assert_eq!(sent["x-forwarded-host"], "a.test");
    assert!(sent["via"].to_str().unwrap().contains("cirrus"));
    let ids: Vec<_> = sent.get_all("x-request-id").iter().collect();
    assert_eq!(ids, ["0123456789abcdef0123456789abcdef"], "one id: the client's first");
    let custom: Vec<_> = sent.get_all("x-custom").iter().collect();
    assert_eq!(custom, ["One", "two"], "repeated fields keep their order");
    assert!(
        answer.contains("x-request-id: 0123456789abcdef0123456789abcdef"),
        "{answer}"
    );
}
