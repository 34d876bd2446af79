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

/// Two real edges on one store: `lower`, whose domain is shielded by
/// `owner`, and `owner`, both run as `cirrus edge` runs them (reporting
/// the port peers ask them on), once `lower` sees both.
struct Tiers {
    http: reqwest::Client,
    /// The base URLs of `lower` and `owner`.
    urls: [String; 2],
    edges: Vec<Edge>,
    /// Each edge's access log lines.
    logs: Vec<Arc<Mutex<Vec<String>>>>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn two_tiers(conf: cirrus_core::DomainConf) -> Tiers {
    let dir = tempfile::tempdir().unwrap();
    let store = cirrus_core::open_store(&dir.path().display().to_string()).unwrap();
    store.put_domain(&conf).await.unwrap();
    let (mut urls, mut edges, mut logs) = (Vec::new(), Vec::new(), Vec::new());
    for id in ["lower", "owner"] {
        store
            .put_node(&Node::new(id).with_ipv4([127, 0, 0, 1].into()))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{HOST}:{}", listener.local_addr().unwrap().port()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        let edge = Edge::builder(Arc::new(store.clone()))
            .node_id(id)
            .access_log_fn(move |line| lines.lock().unwrap().push(line.to_string()))
            .build()
            .unwrap();
        edges.push(edge.clone());
        logs.push(log);
        tokio::spawn(async move {
            let shutdown = cirrus_core::lifecycle::Shutdown::new();
            let _ = edge.run(cirrus_edge::EdgeListeners::new(listener), &shutdown).await;
        });
    }
    cirrus_test_support::eventually("both edges on the ring", Duration::from_secs(20), || async {
        edges[0].render_metrics().contains("cirrus_shield_peers 2")
    })
    .await;
    let http = reqwest::Client::builder()
        .resolve(HOST, ([127, 0, 0, 1], 0).into())
        .build()
        .unwrap();
    Tiers {
        http,
        urls: [urls[0].clone(), urls[1].clone()],
        edges,
        logs,
        store,
        _dir: dir,
    }
}

#[tokio::test]
async fn slices_no_store_and_purges_go_through_two_tiers() {
    let origin = Origin::start().await;
    let mut conf = conf_for(&origin);
    conf.shield = ShieldPolicy::nodes(["owner"]);
    conf.slice_size = Some(64 * 1024);
    let tiers = two_tiers(conf).await;
    let (http, [lower, owner], store) = (&tiers.http, &tiers.urls, &tiers.store);
    let get = |url: String, range: Option<&'static str>| {
        let mut req = http.get(url);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        req.send()
    };
    // A range through the lower tier: one slice from the origin, stored by both.
    let res = get(format!("{lower}/sliced"), Some("bytes=1048000-1048575"))
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap(), crate::slices::object().slice(1_048_000..));
    assert_eq!(
        (origin.hits("/sliced"), origin.sent("/sliced")),
        (1, 64 * 1024),
        "one slice"
    );
    let res = get(format!("{owner}/sliced"), Some("bytes=1048000-1048100"))
        .await
        .unwrap();
    assert_eq!(res.headers()["x-cache"], "HIT", "the shield stored the slice");
    // The whole object through the lower tier: each slice fetched once.
    let res = get(format!("{lower}/sliced"), None).await.unwrap();
    assert_eq!(res.bytes().await.unwrap(), crate::slices::object());
    assert_eq!(origin.sent("/sliced"), 1 << 20, "every slice once from the origin");
    // The access logs say which tier answered.
    let logged = |i: usize, path: &str| -> Vec<serde_json::Value> {
        let lines = tiers.logs[i].lock().unwrap().clone();
        let parsed = lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap());
        parsed.filter(|v| v["path"] == path).collect()
    };
    cirrus_test_support::eventually("the access log lines", Duration::from_secs(5), || async {
        logged(0, "/sliced").len() == 2
    })
    .await;
    let lower_lines = logged(0, "/sliced");
    assert_eq!(lower_lines[0]["tier"], "peer", "{lower_lines:?}");
    assert!(lower_lines[0].get("from_peer").is_none());
    let owner_lines = logged(1, "/sliced");
    assert_eq!(owner_lines[0]["tier"], "origin", "{owner_lines:?}");
    assert_eq!(owner_lines[0]["from_peer"], true);
    assert!(
        owner_lines.iter().any(|l| l["tier"] == "cache"),
        "the owner's HIT: {owner_lines:?}"
    );
    // no-store passes through both tiers, stored by neither.
    for n in 1..=2 {
        let res = get(format!("{lower}/nostore"), None).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(origin.hits("/nostore"), n);
    }
    // A purge reaches both tiers: the next range goes to the origin again.
    let mut purge = cirrus_core::model::PurgeRequest::urls(HOST, ["/sliced"]);
    purge.id = Some("pg_tiers".into());
    store.publish_purge(&purge).await.unwrap();
    cirrus_test_support::eventually("the purge applied by both", Duration::from_secs(10), || async {
        let record = store.purge_record("pg_tiers").await.unwrap();
        record.is_some_and(|r| r.acks.len() == 2)
    })
    .await;
    let hits = origin.hits("/sliced");
    let res = get(format!("{lower}/sliced"), Some("bytes=0-99")).await.unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(origin.hits("/sliced"), hits + 1, "neither tier kept the slice");
}

#[tokio::test]
async fn each_tier_stores_a_compressible_object_once_and_encodes_it_for_its_clients() {
    let origin = Origin::start().await;
    let mut conf = conf_for(&origin);
    conf.shield = ShieldPolicy::nodes(["owner"]);
    let tiers = two_tiers(conf).await;
    let (http, [lower, _]) = (&tiers.http, &tiers.urls);
    let text = "<p>compress me</p>\n".repeat(200);
    for (accept, encoding) in [("gzip, br", "br"), ("identity", ""), ("gzip", "gzip"), ("br", "br")] {
        let res = http
            .get(format!("{lower}/text"))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let got = res
            .headers()
            .get("content-encoding")
            .map_or("", |v| v.to_str().unwrap())
            .to_string();
        assert_eq!(got, encoding, "{accept}");
        assert!(res.headers()["vary"].to_str().unwrap().contains("Accept-Encoding"));
        let body = res.bytes().await.unwrap();
        let plain = match encoding {
            "br" => {
                let mut out = String::new();
                std::io::Read::read_to_string(&mut brotli::Decompressor::new(&body[..], 4096), &mut out).unwrap();
                out
            }
            "gzip" => {
                let mut out = String::new();
                std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut out).unwrap();
                out
            }
            _ => String::from_utf8(body.to_vec()).unwrap(),
        };
        assert_eq!(plain, text, "{accept}");
    }
    assert_eq!(origin.hits("/text"), 1);
    let served = tiers.edges[1].render_metrics();
    let asked = cirrus_test_support::metric_value(&served, &format!("cirrus_shield_served_total{{host=\"{HOST}\"}}"));
    assert_eq!(
        asked,
        Some(1.0),
        "the lower tier asked the owner once, for every encoding"
    );
}

#[tokio::test]
async fn variants_and_stale_answers_at_each_tier() {
    let origin = Origin::start().await;
    let mut conf = conf_for(&origin);
    conf.shield = ShieldPolicy::nodes(["owner"]);
    let tiers = two_tiers(conf).await;
    let (http, [lower, owner]) = (&tiers.http, &tiers.urls);
    let get =
        |base: &str, path: &str, lang: &str| http.get(format!("{base}{path}")).header("accept-language", lang).send();
    // Vary: each variant once from the origin, stored by both tiers.
    for lang in ["en", "fr", "en"] {
        let res = get(lower, "/vary", lang).await.unwrap();
        assert_eq!(res.text().await.unwrap(), format!("lang={lang}"));
    }
    assert_eq!(origin.hits("/vary"), 2);
    let res = get(owner, "/vary", "fr").await.unwrap();
    assert_eq!(res.headers()["x-cache"], "HIT");
    assert_eq!(res.text().await.unwrap(), "lang=fr");

    // stale-if-error: the origin fails, the owner serves its stale copy,
    // and the lower tier passes it on.
    assert_eq!(get(lower, "/sie", "en").await.unwrap().text().await.unwrap(), "good");
    let res = get(lower, "/sie", "en").await.unwrap();
    assert_eq!(res.status(), 200);
    let statuses: Vec<String> = res
        .headers()
        .get_all("cache-status")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(res.text().await.unwrap(), "good");
    assert_eq!(origin.hits("/sie"), 2, "the origin asked again, and failed");
    assert!(
        statuses[0].contains("stale-if-error"),
        "the owner served it stale: {statuses:?}"
    );

    // stale-while-revalidate: the lower tier answers stale at once and
    // refreshes through the owner, which does the same with the origin.
    assert_eq!(get(lower, "/swr", "en").await.unwrap().text().await.unwrap(), "v1");
    let asked = std::time::Instant::now();
    let res = get(lower, "/swr", "en").await.unwrap();
    assert_eq!(res.headers()["x-cache"], "UPDATING");
    assert_eq!(res.text().await.unwrap(), "v1");
    assert!(
        asked.elapsed() < Duration::from_millis(150),
        "answered before the origin's 200 ms"
    );
    cirrus_test_support::eventually(
        "a refreshed copy through both tiers",
        Duration::from_secs(10),
        || async { get(lower, "/swr", "en").await.unwrap().text().await.unwrap() != "v1" },
    )
    .await;
}
