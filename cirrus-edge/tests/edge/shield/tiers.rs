//! Two real edges on one store, the lower tier shielded by the other:
//! slices, no-store, purges, variants, stale answers and compression
//! through both tiers, and what each access log says.

use crate::{HOST, Origin, conf_for};
use cirrus_core::Store;
use cirrus_core::model::{Node, ShieldPolicy};
use cirrus_edge::Edge;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
