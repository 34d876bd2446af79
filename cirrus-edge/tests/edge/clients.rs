//! The edge's own HTTP/1.1 connection to clients: pipelining, request
//! bodies (chunked, `Expect: 100-continue`), HTTP/1.0 keep-alive, and the
//! heads it refuses with their status.

use crate::hostile::raw;
use crate::{EdgeUnderTest, Origin, conf_for};
use cirrus_edge::EdgeSettings;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn statuses(answer: &str) -> Vec<&str> {
    answer
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|a| a.split(' ').next().unwrap_or(""))
        .collect()
}

/// Reads until `needle` has arrived (bounded), returning what was read.
async fn read_until(s: &mut TcpStream, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(5), async {
        while !String::from_utf8_lossy(&got).contains(needle) {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before {needle:?}: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {}", String::from_utf8_lossy(&got)));
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let answer = raw(
        &e,
        b"GET /cached HTTP/1.1\r\nHost: a.test\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello\
          GET /etag HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), ["200", "200", "200"], "{answer}");
    let echo = answer.find("POST hello").expect("the POST was answered");
    let etag = answer.find("with etag").expect("the last GET was answered");
    assert!(
        answer.find("body of /cached").is_some_and(|c| c < echo) && echo < etag,
        "{answer}"
    );
    assert!(answer.contains("connection: close"), "{answer}");
    assert_eq!(origin.hits("/echo"), 1);
}

#[tokio::test]
async fn chunked_request_bodies_reach_the_origin_whole() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let answer = raw(
        &e,
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), ["200"], "{answer}");
    assert!(answer.ends_with("POST hello world"), "{answer}");
    // A malformed chunk size is the client's error, not the origin's.
    let answer = raw(
        &e,
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), ["400"], "{answer}");
}

#[tokio::test]
async fn expect_100_continue_gets_its_go_ahead_only_when_the_body_is_wanted() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        max_body_size: 1024,
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    let mut s = TcpStream::connect(e.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let interim = read_until(&mut s, "\r\n\r\n").await;
    assert!(interim.starts_with("HTTP/1.1 100 Continue\r\n\r\n"), "{interim}");
    s.write_all(b"hello").await.unwrap();
    let answer = read_until(&mut s, "POST hello").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Too large by its Content-Length: refused before the body is asked for.
    let answer = raw(
        &e,
        b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), ["413"], "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert_eq!(origin.hits("/echo"), 1);
}

#[tokio::test]
async fn http10_keeps_the_connection_only_when_asked() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let answer = raw(
        &e,
        b"GET /cached HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\nGET /etag HTTP/1.0\r\nHost: a.test\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), ["200", "200"], "{answer}");
    let second = answer.rfind("HTTP/1.1 ").unwrap_or(0);
    assert!(answer[..second].contains("connection: keep-alive"), "{answer}");
    assert!(!answer[..second].contains("connection: close"), "{answer}");
    assert!(
        answer[second..].contains("connection: close"),
        "the second closes: {answer}"
    );
}

#[tokio::test]
async fn refused_heads_get_their_status_and_the_connection_closes() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        header_timeout: Duration::from_millis(300),
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    let cases: [(&[u8], &str); 4] = [
        (b"GET /cached HTTP/1.1\r\n\r\n", "400"),
        (b"GET /cached HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", "400"),
        (b"GET /cached HTTP/2.0\r\nHost: a.test\r\n\r\n", "505"),
        // Still incomplete when the header timeout passes.
        (b"GET /cached HTTP/1.1\r\nHost: a.te", "408"),
    ];
    for (request, status) in cases {
        let answer = raw(&e, request).await;
        assert_eq!(statuses(&answer), [status], "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
    }
    assert_eq!(origin.hits("/cached"), 0);
}

#[tokio::test]
async fn a_head_sent_a_byte_at_a_time_is_served() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let mut s = TcpStream::connect(e.addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    for byte in b"GET /cached HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n" {
        s.write_all(&[*byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
