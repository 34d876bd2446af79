//! A chain of caches and CDNs. `CDN-Loop` (RFC 8586): every request to
//! an origin carries the edge's member, after any the client sent; a
//! request that already passed through Cirrus edges more than a chain of
//! tiers needs is refused with 508, so a domain whose origin leads back to
//! the edges ends at once instead of looping until connections run out.
//! `Cache-Status` (RFC 9211): the edge adds its member after those of the
//! caches before it.

use crate::{EdgeUnderTest, HOST, Origin, conf_for};
use cirrus_core::{DomainConf, StaticSource};
use cirrus_edge::{Edge, EdgeSettings};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn the_origin_gets_the_edge_member_after_the_clients() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    e.get("/cached").await;
    let sent = origin.last_headers.lock().unwrap().clone().unwrap();
    let members: Vec<_> = sent.get_all("cdn-loop").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(members, ["cirrus"]);

    let res = e
        .http
        .get(e.url("/nostore"))
        .header("cdn-loop", "other-cdn; v=2, cirrus")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "one pass through Cirrus before is a chain, not a loop"
    );
    let sent = origin.last_headers.lock().unwrap().clone().unwrap();
    let members: Vec<_> = sent.get_all("cdn-loop").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(members, ["other-cdn; v=2, cirrus", "cirrus"]);
}

#[tokio::test]
async fn a_request_that_passed_through_too_often_is_refused_with_508() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let before = origin.hits("/cached");
    for looped in ["cirrus, cirrus, Cirrus", "cirrus;x=1, a.example", "cirrus, cirrus"] {
        let res = e
            .http
            .get(e.url("/cached"))
            .header("cdn-loop", looped)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let passes = looped.to_ascii_lowercase().matches("cirrus").count();
        if passes > 2 {
            assert_eq!(status, 508, "{looped}");
            assert!(res.text().await.unwrap().contains("loop detected"));
        } else {
            assert_eq!(status, 200, "{looped}");
        }
    }
    // The refused request never reached the origin (the others: one fetch, then HITs).
    assert_eq!(origin.hits("/cached") - before, 1);
}

#[tokio::test]
async fn a_domain_whose_origin_is_the_edge_itself_ends_in_508() {
    // The edge's own address as the domain's origin: each pass adds a
    // member, and the fourth arrival is refused; the refusal travels back.
    // A GET's second pass waits for the first pass's cache lock (which
    // waits for it): the lock timeout is short here.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conf = DomainConf::new(HOST, format!("http://{addr}").parse().unwrap());
    let source = StaticSource::new().with_domain(conf).unwrap();
    let settings = EdgeSettings {
        cache_lock_timeout: Duration::from_millis(200),
        ..EdgeSettings::default()
    };
    let edge: Edge = Edge::builder(Arc::new(source)).settings(settings).build().unwrap();
    let e = EdgeUnderTest::serve_on(listener, edge).await;
    for method in [http::Method::GET, http::Method::POST] {
        let asked = e.http.request(method.clone(), e.url("/anything")).send();
        let res = tokio::time::timeout(Duration::from_secs(10), asked)
            .await
            .expect("the loop ends")
            .unwrap();
        assert_eq!(res.status(), 508, "{method}");
        assert!(res.text().await.unwrap().contains("loop detected"));
    }
}

/// An origin behind a cache of its own: every answer says so in
/// `Cache-Status`.
async fn origin_behind_a_cache() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = s.read(&mut chunk).await {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer = "HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\n\
                            cache-status: OriginCache; hit; ttl=30\r\ncontent-length: 2\r\n\r\nok";
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn the_edge_adds_its_cache_status_member_after_the_origins() {
    let addr = origin_behind_a_cache().await;
    let conf = DomainConf::new(HOST, format!("http://{addr}").parse().unwrap());
    let e = EdgeUnderTest::start(conf).await;
    for expected in ["cirrus; fwd=miss; stored", "cirrus; hit"] {
        let res = e.http.get(e.url("/behind")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let members: Vec<_> = res
            .headers()
            .get_all("cache-status")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        // The cache closest to the origin first (RFC 9211 §2).
        assert_eq!(members, ["OriginCache; hit; ttl=30", expected]);
    }
}
