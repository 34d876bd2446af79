//! Origin response framing, on real sockets: a corpus of raw origin
//! responses, each sent by a raw origin as the answer to the first request
//! on a connection (later requests on it get `next`), through the edge —
//! streamed (`no-store`) and read whole for the cache (`max-age`) — and
//! through hyper's client, which must agree except where a case says why
//! hyper is wrong. A malformed response is a 502 (or, once streaming, a
//! broken body) and its connection is never used again.

use crate::{EdgeUnderTest, HOST};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a client got.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// A complete response: status and body, and whether the origin
    /// connection carried the next request (`next` came back).
    Ok(u16, String, bool),
    /// A 502, or a body that broke off.
    Bad,
}

fn ok(status: u16, body: &str, reused: bool) -> Seen {
    Seen::Ok(status, body.to_string(), reused)
}

struct Case {
    name: &'static str,
    /// The origin's answer; `{cc}` becomes a Cache-Control field.
    raw: String,
    /// The origin closes the connection after answering.
    close: bool,
    /// Sent as HEAD (through a domain without a cache, so the origin
    /// gets the HEAD too).
    head: bool,
    expect: Seen,
    /// What hyper's client does instead, and why the edge is right.
    hyper: Option<(Seen, &'static str)>,
}

fn case(name: &'static str, raw: &str, expect: Seen) -> Case {
    Case {
        name,
        raw: raw.to_string(),
        close: false,
        head: false,
        expect,
        hyper: None,
    }
}

impl Case {
    fn closing(mut self) -> Self {
        self.close = true;
        self
    }
    fn head(mut self) -> Self {
        self.head = true;
        self
    }
    fn hyper_differs(mut self, seen: Seen, why: &'static str) -> Self {
        self.hyper = Some((seen, why));
        self
    }
}

fn corpus() -> Vec<Case> {
    let chunked = "HTTP/1.1 200 OK\r\n{cc}Transfer-Encoding: chunked\r\n\r\n";
    vec![
        case("length", "HTTP/1.1 200 OK\r\n{cc}Content-Length: 5\r\n\r\nhello", ok(200, "hello", true)),
        case("length repeated", "HTTP/1.1 200 OK\r\n{cc}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", ok(200, "hello", true)),
        case("length list", "HTTP/1.1 200 OK\r\n{cc}Content-Length: 5, 5\r\n\r\nhello", ok(200, "hello", true)),
        case("lengths conflict", "HTTP/1.1 200 OK\r\n{cc}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", Seen::Bad),
        case("length list conflicts", "HTTP/1.1 200 OK\r\n{cc}Content-Length: 5, 6\r\n\r\nhello!", Seen::Bad),
        case("length with a sign", "HTTP/1.1 200 OK\r\n{cc}Content-Length: +5\r\n\r\nhello", Seen::Bad),
        case("negative length", "HTTP/1.1 200 OK\r\n{cc}Content-Length: -1\r\n\r\nhello", Seen::Bad),
        case("hex length", "HTTP/1.1 200 OK\r\n{cc}Content-Length: 0x5\r\n\r\nhello", Seen::Bad),
        case("length past u64", "HTTP/1.1 200 OK\r\n{cc}Content-Length: 99999999999999999999\r\n\r\nhello", Seen::Bad),
        case("longer than its length", "HTTP/1.1 200 OK\r\n{cc}Content-Length: 5\r\n\r\nhelloEXTRA", ok(200, "hello", false)),
        case("shorter than its length", "HTTP/1.1 200 OK\r\n{cc}Content-Length: 10\r\n\r\nhello", Seen::Bad).closing(),
        case("chunked", &format!("{chunked}5\r\nhello\r\n0\r\n\r\n"), ok(200, "hello", true)),
        case("chunked in pieces", &format!("{chunked}2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"), ok(200, "hello", true)),
        case("chunk extensions", &format!("{chunked}5;a=b;c\r\nhello\r\n0;x=\"y\"\r\n\r\n"), ok(200, "hello", true)),
        case("trailers", &format!("{chunked}5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-More: 2\r\n\r\n"), ok(200, "hello", true)),
        case("chunked, capitalised", "HTTP/1.1 200 OK\r\n{cc}Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", ok(200, "hello", true)),
        case("bad chunk size", &format!("{chunked}zz\r\nhello\r\n0\r\n\r\n"), Seen::Bad),
        case("chunk size overflows", &format!("{chunked}fffffffffffffffff\r\nhello\r\n0\r\n\r\n"), Seen::Bad),
        case("chunk longer than its size", &format!("{chunked}5\r\nhello!\r\n0\r\n\r\n"), Seen::Bad),
        case("no last chunk", &format!("{chunked}5\r\nhello\r\n"), Seen::Bad).closing(),
        case("bare LF in chunks", &format!("{chunked}5\nhello\n0\n\n"), Seen::Bad),
        case("chunked and a length", "HTTP/1.1 200 OK\r\n{cc}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", Seen::Bad)
            .hyper_differs(
                ok(200, "hello", true),
                "RFC 9112 §6.3: both is a sign of smuggling and ought to be handled as an error; a proxy must not reuse the connection",
            ),
        case("gzip then chunked", "HTTP/1.1 200 OK\r\n{cc}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", Seen::Bad)
            .hyper_differs(
                ok(200, "hello", true),
                "the edge decodes no transfer coding but chunked; hyper hands on a body still gzip-coded without saying so",
            ),
        case("chunked twice", "HTTP/1.1 200 OK\r\n{cc}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", Seen::Bad)
            .hyper_differs(
                ok(200, "hello", true),
                "RFC 9112 §6.1: chunked must not be applied more than once; decoded once, the body is still chunked",
            ),
        case("chunked in HTTP/1.0", "HTTP/1.0 200 OK\r\n{cc}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", Seen::Bad),
        case("until close", "HTTP/1.1 200 OK\r\n{cc}\r\nhello", ok(200, "hello", false)).closing(),
        case("HTTP/1.0", "HTTP/1.0 200 OK\r\n{cc}Content-Length: 5\r\n\r\nhello", ok(200, "hello", false)),
        case("HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\n{cc}Connection: keep-alive\r\nContent-Length: 5\r\n\r\nhello", ok(200, "hello", true)),
        case("connection close", "HTTP/1.1 200 OK\r\n{cc}Connection: close\r\nContent-Length: 5\r\n\r\nhello", ok(200, "hello", false)),
        case("100 continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n{cc}Content-Length: 5\r\n\r\nhello", ok(200, "hello", true)),
        case("103 early hints first", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n{cc}Content-Length: 5\r\n\r\nhello", ok(200, "hello", true)),
        case("101 unasked", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", Seen::Bad).hyper_differs(
            ok(101, "", false),
            "the edge asked for no upgrade (RFC 9110 §15.2.2: a 101 answers an Upgrade request); passed on, it would hand the client a raw socket",
        ),
        case("204", "HTTP/1.1 204 No Content\r\n{cc}\r\n", ok(204, "", true)),
        case("204 announcing a body", "HTTP/1.1 204 No Content\r\n{cc}Content-Length: 5\r\n\r\nhello", ok(204, "", false)),
        case("304 with a length", "HTTP/1.1 304 Not Modified\r\n{cc}Content-Length: 5\r\n\r\n", ok(304, "", true)),
        case("HEAD with a length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", ok(200, "", true)).head(),
        case("HEAD chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ok(200, "", true)).head(),
        case("LF line ends in the head", "HTTP/1.1 200 OK\n{cc}Content-Length: 5\n\nhello", ok(200, "hello", true)),
        case("folded field", "HTTP/1.1 200 OK\r\n{cc}X-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello", Seen::Bad),
        case("space before colon", "HTTP/1.1 200 OK\r\n{cc}Content-Length : 5\r\n\r\nhello", Seen::Bad),
        case("not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n", Seen::Bad),
        case("HTTP/2 status line", "HTTP/2 200\r\n{cc}Content-Length: 5\r\n\r\nhello", Seen::Bad),
        case("nothing, then close", "", Seen::Bad).closing(),
        case("head cut short", "HTTP/1.1 200 OK\r\nContent-Le", Seen::Bad).closing(),
        case("head too large", &format!("HTTP/1.1 200 OK\r\n{{cc}}X-Big: {}\r\nContent-Length: 5\r\n\r\nhello", "b".repeat(70_000)), Seen::Bad)
            .hyper_differs(
                ok(200, "hello", true),
                "the edge caps an origin head at 64 KiB (as nginx's proxy_buffer_size caps it lower); hyper allows ~400 KiB",
            ),
    ]
}

/// A raw origin: the first request on each connection gets `raw`, later
/// ones `next`; with `close`, the connection is closed after `raw`; with
/// `tls`, behind TLS.
async fn raw_origin(raw: String, close: bool, tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let (raw, tls) = (raw.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(tls) => {
                        if let Ok(s) = tls.accept(s).await {
                            answer(s, &raw, close).await;
                        }
                    }
                    None => answer(s, &raw, close).await,
                }
            });
        }
    });
    addr
}

async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S, raw: &str, close: bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut first = true;
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            let answer: &[u8] = if first {
                raw.as_bytes()
            } else {
                b"HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 4\r\n\r\nnext"
            };
            if s.write_all(answer).await.is_err() {
                return;
            }
            if first && close {
                let _ = s.shutdown().await;
                return;
            }
            first = false;
        }
        match s.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
}

const WAIT: Duration = Duration::from_secs(5);

async fn through_edge(e: &EdgeUnderTest, method: reqwest::Method) -> Seen {
    // The second request is a GET, whose body says which connection took it.
    let seen = async |method: reqwest::Method, path: &str| {
        let Ok(Ok(res)) = tokio::time::timeout(WAIT, e.http.request(method, e.url(path)).send()).await else {
            return None;
        };
        let status = res.status().as_u16();
        match tokio::time::timeout(WAIT, res.text()).await {
            Ok(Ok(body)) if status != 502 => Some((status, body)),
            _ => None,
        }
    };
    let Some((status, body)) = seen(method, "/first").await else {
        // Whatever the origin sends next must not come from that connection.
        let next = seen(reqwest::Method::GET, "/second").await;
        assert_ne!(next.map(|n| n.1), Some("next".into()), "a broken connection was reused");
        return Seen::Bad;
    };
    let reused = seen(reqwest::Method::GET, "/second")
        .await
        .is_some_and(|(_, b)| b == "next");
    Seen::Ok(status, body, reused)
}

async fn through_hyper(addr: SocketAddr, method: http::Method) -> Seen {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = |method: http::Method, path: &str| {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", HOST)
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let Ok(Ok(res)) = tokio::time::timeout(WAIT, sender.send_request(request(method.clone(), "/first"))).await else {
        return Seen::Bad;
    };
    let status = res.status().as_u16();
    let Ok(Ok(body)) = tokio::time::timeout(WAIT, res.into_body().collect()).await else {
        return Seen::Bad;
    };
    let body = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    let mut reused = false;
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_millis(500), sender.ready()).await
        && let Ok(Ok(res)) =
            tokio::time::timeout(WAIT, sender.send_request(request(http::Method::GET, "/second"))).await
        && let Ok(Ok(next)) = tokio::time::timeout(WAIT, res.into_body().collect()).await
    {
        reused = next.to_bytes() == "next";
    }
    Seen::Ok(status, body, reused)
}

#[tokio::test]
async fn origin_framing_corpus_through_the_edge_and_hyper() {
    let mut failures = Vec::new();
    let mut hyper_agrees = 0;
    let corpus = corpus();
    for c in &corpus {
        let modes: &[&str] = if c.head { &[""] } else { &["no-store", "max-age=60"] };
        for cc in modes {
            let raw = c.raw.replace(
                "{cc}",
                &if cc.is_empty() {
                    String::new()
                } else {
                    format!("Cache-Control: {cc}\r\n")
                },
            );
            let addr = raw_origin(raw, c.close, None).await;
            let mut conf = cirrus_core::DomainConf::new(HOST, format!("http://{addr}").parse().unwrap());
            conf.cache.enabled = !c.head;
            let e = EdgeUnderTest::start(conf).await;
            let method = if c.head {
                reqwest::Method::HEAD
            } else {
                reqwest::Method::GET
            };
            let seen = through_edge(&e, method.clone()).await;
            if seen != c.expect {
                failures.push(format!("edge, {} ({cc}): {seen:?}, expected {:?}", c.name, c.expect));
            }
            if *cc == modes[0] {
                let hyper = through_hyper(addr, method).await;
                let expected = c.hyper.as_ref().map_or(&c.expect, |(seen, _)| seen);
                if hyper == *expected {
                    hyper_agrees += usize::from(c.hyper.is_none());
                } else {
                    failures.push(format!("hyper, {}: {hyper:?}, expected {expected:?}", c.name));
                }
            }
        }
    }
    let differs: Vec<_> = corpus
        .iter()
        .filter_map(|c| c.hyper.as_ref().map(|(_, why)| (c.name, *why)))
        .collect();
    eprintln!(
        "{} cases; hyper agrees on {hyper_agrees}, differs on {}: {differs:#?}",
        corpus.len(),
        differs.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn origins_over_tls_are_framed_the_same() {
    let ca = crate::tls::TestCa::new();
    let acceptor = ca.acceptor(&["origin.test"]);
    let big = "x".repeat(12 * 1024);
    let mut cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|c| {
            [
                "longer than its length",
                "shorter than its length",
                "chunked",
                "trailers",
                "bad chunk size",
                "until close",
                "connection close",
            ]
            .contains(&c.name)
        })
        .collect();
    // Larger than a read, so the extra bytes may still sit in TLS's own buffer.
    cases.push(case(
        "12 KiB, longer than its length",
        &format!(
            "HTTP/1.1 200 OK\r\n{{cc}}Content-Length: {}\r\n\r\n{big}EXTRA",
            big.len()
        ),
        ok(200, &big, false),
    ));
    assert_eq!(cases.len(), 8);
    for c in &cases {
        let raw = c.raw.replace("{cc}", "Cache-Control: no-store\r\n");
        let addr = raw_origin(raw, c.close, Some(acceptor.clone())).await;
        let mut conf = cirrus_core::DomainConf::new(HOST, format!("https://{addr}").parse().unwrap());
        conf.origins[0].sni = Some("origin.test".into());
        let source = cirrus_core::StaticSource::new().with_domain(conf).unwrap();
        let edge = cirrus_edge::Edge::builder(std::sync::Arc::new(source))
            .origin_roots_pem(&ca.pem())
            .unwrap()
            .build()
            .unwrap();
        let e = EdgeUnderTest::serve(edge).await;
        let seen = through_edge(&e, reqwest::Method::GET).await;
        assert_eq!(seen, c.expect, "over TLS: {}", c.name);
    }
}

#[tokio::test]
async fn an_origin_sending_its_head_a_byte_at_a_time_is_read_whole() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        s.set_nodelay(true).unwrap();
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 5\r\n\r\nslow!";
        for byte in raw {
            if s.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let _ = s.read(&mut buf).await;
    });
    let conf = cirrus_core::DomainConf::new(HOST, format!("http://{addr}").parse().unwrap());
    let e = EdgeUnderTest::start(conf).await;
    let res = tokio::time::timeout(WAIT, e.get("/")).await.expect("answered");
    assert_eq!(res, (200, "MISS".into(), "slow!".into()));
}
