//! HTTP caching and framing rules (RFC 9110, 9111, 9112, 9213) checked on
//! real sockets: Age, invalidation by unsafe methods, targeted cache
//! fields, Host rules, the client's broken bodies.

use crate::hostile::raw;
use crate::{EdgeUnderTest, Origin, conf_for};
use std::time::Duration;

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
