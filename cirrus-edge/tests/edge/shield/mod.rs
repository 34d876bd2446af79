//! Shielding at one edge, its peer a scripted server registered in the
//! edge's store: what the edge sends a peer (a signed GET), what it makes
//! of the peer's answers (stored with the peer's age; a 5xx, a refused
//! credential or no connection send it to the origin, the last also
//! marking the peer down), and what it does with a peer's request to it
//! (the credential checked, the forwarded chain trusted).

use crate::{EdgeUnderTest, HOST, Origin, conf_for};
use cirrus_core::Store;
use cirrus_core::model::{EdgeReport, Node, ShieldPolicy, now_ms};
use cirrus_edge::Edge;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod tiers;

/// A peer edge that answers every request with `reply` and keeps the heads.
struct Peer {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    async fn start(reply: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            kept.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&seen[..end]).to_lowercase());
                            seen.drain(..end + 4);
                            if s.write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Self { port, heads }
    }
}

/// An edge registered as `edge-a` whose domain is shielded by the node
/// `peer` (listening on `peer_port`), in front of `origin`; and its store.
async fn shielded_edge(origin: &Origin, peer_port: u16) -> (EdgeUnderTest, Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = cirrus_core::open_store(&dir.path().display().to_string()).unwrap();
    let mut conf = conf_for(origin);
    conf.shield = ShieldPolicy::nodes(["peer"]);
    store.put_domain(&conf).await.unwrap();
    for id in ["edge-a", "peer"] {
        store
            .put_node(&Node::new(id).with_ipv4([127, 0, 0, 1].into()))
            .await
            .unwrap();
    }
    let report = EdgeReport::new(1, now_ms(), now_ms()).with_shield_port(Some(peer_port));
    assert!(store.report_edge("peer", &report).await.unwrap());
    let edge = Edge::builder(Arc::new(store.clone()))
        .node_id("edge-a")
        .build()
        .unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    cirrus_test_support::eventually("the peer on the ring", Duration::from_secs(10), || async {
        e.edge.render_metrics().contains("cirrus_shield_peers 1")
    })
    .await;
    (e, store, dir)
}

fn metric(e: &EdgeUnderTest, sample: &str) -> f64 {
    cirrus_test_support::metric_value(&e.edge.render_metrics(), sample).unwrap_or(0.0)
}

#[tokio::test]
async fn a_peers_answer_is_stored_with_its_age_and_the_origin_not_asked() {
    let origin = Origin::start().await;
    let peer =
        Peer::start("HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nAge: 100\r\nContent-Length: 9\r\n\r\nfrom peer")
            .await;
    let (e, _store, _dir) = shielded_edge(&origin, peer.port).await;
    let (status, x_cache, body) = e.get("/cached").await;
    assert_eq!((status, x_cache.as_str(), body.as_str()), (200, "MISS", "from peer"));
    assert_eq!(origin.hits("/cached"), 0, "the shield answered");
    let head = peer.heads.lock().unwrap()[0].clone();
    assert!(head.starts_with("get /cached http/1.1"), "{head}");
    assert!(head.contains(&format!("host: {HOST}")), "{head}");
    assert!(head.contains("\r\ncirrus-shield: edge-a "), "a signed request: {head}");
    let res = e.http.get(e.url("/cached")).send().await.unwrap();
    assert_eq!(res.headers()["x-cache"], "HIT");
    let age: u64 = res.headers()["age"].to_str().unwrap().parse().unwrap();
    assert!((100..110).contains(&age), "the peer's stored age counts: {age}");
    assert_eq!(peer.heads.lock().unwrap().len(), 1);
    assert_eq!(
        metric(
            &e,
            &format!("cirrus_shield_fetches_total{{from=\"peer\",host=\"{HOST}\"}}")
        ),
        1.0
    );
    assert_eq!(
        metric(
            &e,
            &format!("cirrus_shield_fetched_bytes_total{{from=\"peer\",host=\"{HOST}\"}}")
        ),
        9.0
    );
}

#[tokio::test]
async fn a_failing_or_refusing_peer_sends_the_edge_to_the_origin() {
    for reply in [
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
        "HTTP/1.1 403 Forbidden\r\nCirrus-Shield: refused\r\nContent-Length: 7\r\n\r\nrefused",
    ] {
        let origin = Origin::start().await;
        let peer = Peer::start(reply).await;
        let (e, _store, _dir) = shielded_edge(&origin, peer.port).await;
        let (status, x_cache, _) = e.get("/cached").await;
        assert_eq!((status, x_cache.as_str()), (200, "MISS"), "{reply}");
        assert_eq!(origin.hits("/cached"), 1, "{reply}");
        assert_eq!(peer.heads.lock().unwrap().len(), 1, "{reply}");
        assert_eq!(
            metric(&e, "cirrus_shield_peer_errors_total{peer=\"peer\"}"),
            1.0,
            "{reply}"
        );
        assert_eq!(
            metric(&e, "cirrus_shield_peer_markdowns_total{peer=\"peer\"}"),
            0.0,
            "{reply}"
        );
        assert_eq!(
            metric(
                &e,
                &format!("cirrus_shield_fetches_total{{from=\"origin\",host=\"{HOST}\"}}")
            ),
            1.0
        );
    }
}

#[tokio::test]
async fn an_unreachable_peer_is_marked_down_and_skipped() {
    let origin = Origin::start().await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (e, _store, _dir) = shielded_edge(&origin, port).await;
    assert_eq!(e.get("/cached").await.0, 200);
    assert_eq!(e.get("/items").await.0, 200);
    assert_eq!((origin.hits("/cached"), origin.hits("/items")), (1, 1));
    assert_eq!(metric(&e, "cirrus_shield_peer_markdowns_total{peer=\"peer\"}"), 1.0);
    assert_eq!(
        metric(&e, "cirrus_shield_peer_errors_total{peer=\"peer\"}"),
        1.0,
        "skipped while down"
    );
}

/// The `Cirrus-Shield` value the peer `node` would send for GET `target`.
fn credential(secret: &str, node: &str, time: u64, target: &str) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let signed = format!("{node}\n{time}\nGET\n{HOST}\n{target}");
    let tag = hmac::sign(&key, signed.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{node} {time} {hex}")
}

#[tokio::test]
async fn a_peers_request_is_verified_and_its_chain_trusted() {
    let origin = Origin::start().await;
    let peer = Peer::start("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").await;
    let (e, store, _dir) = shielded_edge(&origin, peer.port).await;
    let secret = store.cluster_secret().await.unwrap();
    let now = now_ms() / 1000;
    let ask = |value: String| {
        e.http
            .get(e.url("/cached"))
            .header("cirrus-shield", value)
            .header("x-forwarded-for", "192.0.2.7, 198.51.100.9")
            .header("x-forwarded-proto", "https")
            .send()
    };
    for bad in [
        credential("another cluster", "peer", now, "/cached"),
        credential(&secret, "peer", now - 600, "/cached"),
        credential(&secret, "peer", now, "/other"),
        "peer".to_string(),
    ] {
        let res = ask(bad.clone()).await.unwrap();
        assert_eq!(res.status(), 403, "{bad}");
        assert_eq!(res.headers()["cirrus-shield"], "refused");
        assert!(res.text().await.unwrap().contains("shield credential refused"));
    }
    assert_eq!(origin.hits("/cached"), 0);
    // A domain this edge does not serve (yet): the asking edge is told to
    // go on without it, as for any error page of this edge's own.
    let res = e
        .http
        .get(e.url("/cached"))
        .header("host", "unknown.test")
        .header("cirrus-shield", credential(&secret, "peer", now, "/cached"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["cirrus-shield"], "refused");
    let res = ask(credential(&secret, "peer", now, "/cached")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        peer.heads.lock().unwrap().is_empty(),
        "a peer's request never goes to a third edge"
    );
    let sent = origin.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(
        sent["x-forwarded-for"], "192.0.2.7, 198.51.100.9",
        "the peer's chain kept as sent"
    );
    assert_eq!(sent["x-forwarded-proto"], "https", "the scheme its client used");
    assert!(sent.get("cirrus-shield").is_none());
    assert_eq!(
        metric(&e, &format!("cirrus_shield_served_total{{host=\"{HOST}\"}}")),
        1.0
    );
}
