//! The store going away: an edge cut off from Redis keeps serving what it
//! knows and says `degraded`; when Redis is back it resubscribes, applies
//! every purge it missed (from the change log) and acknowledges them.

use crate::{EdgeUnderTest, HOST, Origin, conf_for};
use cirrus_core::{Node, PurgeRequest, RedisStore, Store};
use cirrus_edge::Edge;
use cirrus_test_support::{RedisServer, Relay, eventually, readiness};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// An edge on `url` reporting as `node`, with its admin listener.
async fn edge_on(url: &str, node: &str) -> (EdgeUnderTest, SocketAddr) {
    let store = RedisStore::builder(url)
        .response_timeout(Duration::from_millis(500))
        .connection_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let edge = Edge::builder(Arc::new(store)).node_id(node).build().unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let served = edge.clone();
    tokio::spawn(async move {
        served
            .serve_admin(admin, cirrus_edge::AllowList::default(), std::future::pending())
            .await
    });
    (EdgeUnderTest::serve(edge).await, admin_addr)
}

async fn health(admin: SocketAddr) -> String {
    let body = reqwest::get(format!("http://{admin}/healthz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["status"].as_str().unwrap().to_string()
}

async fn acks(store: &dyn Store, id: &str) -> Vec<String> {
    let record = store.purge_record(id).await.unwrap().unwrap();
    record.acks.into_keys().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_sent_while_an_edge_was_cut_off_is_applied_and_acknowledged_when_it_reconnects() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let origin = Origin::start().await;
    store.put_domain(&conf_for(&origin)).await.unwrap();
    for (id, ip) in [("edge-a", 1), ("edge-b", 2)] {
        store
            .put_node(&Node::new(id).with_ipv4([192, 0, 2, ip].into()))
            .await
            .unwrap();
    }
    let relay = Relay::start(([127, 0, 0, 1], redis.port()).into()).await;
    let (a, a_admin) = edge_on(&relay.redis_url(), "edge-a").await;
    let (b, _) = edge_on(&redis.url(), "edge-b").await;
    for e in [&a, &b] {
        e.get("/cached").await;
        assert_eq!(e.get("/cached").await.1, "HIT");
    }
    let reporting = || async {
        let nodes = store.nodes().await.unwrap();
        nodes.iter().all(|n| n.edge.as_ref().is_some_and(|r| r.revision == 3))
    };
    eventually("both edges report revision 3", Duration::from_secs(5), reporting).await;

    let r = readiness(a_admin).await;
    assert_eq!((r.status, r.ready, r.store_up), (200, Some(1.0), Some(1.0)));
    relay.cut();
    eventually("edge A says degraded", Duration::from_secs(10), || async {
        health(a_admin).await == "degraded"
    })
    .await;
    // Still ready (it serves), but its store is down: what the alerts read.
    let r = readiness(a_admin).await;
    assert_eq!((r.status, r.ready, r.store_up), (200, Some(1.0), Some(0.0)));
    let purge = PurgeRequest {
        id: Some("pg_cut".into()),
        ..PurgeRequest::urls(HOST, ["/cached"])
    };
    store.publish_purge(&purge).await.unwrap();
    eventually("edge B applies it", Duration::from_secs(5), || async {
        b.get("/cached").await.1 == "MISS"
    })
    .await;
    assert_eq!(acks(&*store, "pg_cut").await, ["edge-b"]);
    // Cut off, edge A serves what it has: no error, from its cache.
    for _ in 0..20 {
        assert_eq!(a.get("/cached").await.0, 200);
    }
    assert_eq!(a.get("/cached").await.1, "HIT", "edge A has not seen the purge");

    relay.restore();
    eventually(
        "edge A applies the purge it missed",
        Duration::from_secs(15),
        || async { a.get("/cached").await.1 == "MISS" },
    )
    .await;
    eventually("and acknowledges it", Duration::from_secs(5), || async {
        acks(&*store, "pg_cut").await == ["edge-a", "edge-b"]
    })
    .await;
    eventually("edge A is healthy again", Duration::from_secs(5), || async {
        health(a_admin).await == "ok"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_costs_cached_hosts_nothing_and_is_followed_again_after_a_restart() {
    let mut redis = RedisServer::start_with_aof();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let origin = Origin::start().await;
    store.put_domain(&conf_for(&origin)).await.unwrap();
    store
        .put_node(&Node::new("edge-a").with_ipv4([192, 0, 2, 1].into()))
        .await
        .unwrap();
    let (e, admin) = edge_on(&redis.url(), "edge-a").await;
    e.get("/cached").await;
    assert_eq!(e.get("/cached").await.1, "HIT");

    // Load from four clients while Redis dies and stays down.
    let e = Arc::new(e);
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let load = |e: Arc<EdgeUnderTest>, answered: Arc<std::sync::atomic::AtomicUsize>| async move {
        let mut statuses = Vec::new();
        for _ in 0..150 {
            statuses.push(e.get("/cached").await.0);
            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        statuses
    };
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(load(e.clone(), answered.clone())))
        .collect();
    // Redis dies with the load under way: 40 of the 600 requests answered.
    eventually("the load under way", Duration::from_secs(10), || {
        let answered = answered.clone();
        async move { answered.load(std::sync::atomic::Ordering::Relaxed) >= 40 }
    })
    .await;
    redis.stop();
    let mut served = 0;
    for c in clients {
        let statuses = c.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        served += statuses.len();
    }
    assert_eq!(served, 600);
    eventually("degraded while Redis is down", Duration::from_secs(10), || async {
        health(admin).await == "degraded"
    })
    .await;

    redis.restart();
    eventually("healthy again", Duration::from_secs(15), || async {
        health(admin).await == "ok"
    })
    .await;
    // Followed again without a restart: a change made now is applied.
    let mut disabled = conf_for(&origin);
    disabled.enabled = false;
    eventually("the store answers", Duration::from_secs(10), || async {
        store.put_domain(&disabled).await.is_ok()
    })
    .await;
    eventually("the change reaches the edge", Duration::from_secs(15), || async {
        e.get("/cached").await.0 == 403
    })
    .await;
    // The outage, told once the store answers again.
    let outage = eventually("the edge's outage events", Duration::from_secs(10), || async {
        let events = store.events_after(None, 100).await.ok()?;
        let kinds: Vec<String> = events.iter().map(|e| format!("{} {}", e.kind, e.subject)).collect();
        (kinds == ["edge.degraded edge-a", "edge.recovered edge-a"]).then_some(events)
    })
    .await;
    let down_ms = outage[1].data["down_ms"].as_u64().unwrap();
    assert!(down_ms > 0, "{:?}", outage[1].data);
    assert_eq!(outage[0].data["since_ms"], outage[1].data["since_ms"]);
}

/// A running edge's stop switch and its tasks.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops the edge and waits until its tasks ended (its disk cache let go).
    async fn stop(self) {
        let _ = self.stop.send(());
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the edge stops within 10 s")
                .unwrap();
        }
    }
}

/// An edge on `store` over the disk cache in `dir`, serving and syncing
/// until its `Running` is stopped.
async fn disk_edge(store: &Arc<dyn Store>, dir: &std::path::Path) -> (Edge, reqwest::Client, String, Running) {
    let disk = cirrus_edge::DiskCache::open(dir, 1 << 30).await.unwrap();
    let edge = Edge::builder(Arc::new(store.clone())).disk_cache(disk).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = futures_util::FutureExt::shared(async move {
        let _ = stopped.await;
    });
    let (served, synced, s1, s2) = (edge.clone(), edge.clone(), stopped.clone(), stopped);
    let tasks = vec![
        tokio::spawn(async move { drop(served.serve(listener, s1).await) }),
        tokio::spawn(async move { drop(synced.sync(s2).await) }),
    ];
    let http = reqwest::Client::builder().resolve(HOST, addr).build().unwrap();
    (
        edge,
        http,
        format!("http://{HOST}:{}", addr.port()),
        Running { stop, tasks },
    )
}

async fn x_cache(http: &reqwest::Client, base: &str, path: &str) -> String {
    let res = http.get(format!("{base}{path}")).send().await.unwrap();
    let x = res.headers().get("x-cache").map(|v| v.to_str().unwrap().to_string());
    x.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_sent_while_an_edge_was_down_reaches_its_disk_cache_when_it_starts() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let origin = Origin::start().await;
    store.put_domain(&conf_for(&origin)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (edge, http, base, stop) = disk_edge(&store, dir.path()).await;
    eventually("the domain is served", Duration::from_secs(5), || async {
        x_cache(&http, &base, "/cached").await == "MISS"
    })
    .await;
    x_cache(&http, &base, "/img/a.png").await;
    let revision_file = dir.path().join("revision");
    eventually("on disk, with the revision saved", Duration::from_secs(10), || {
        let (disk, file) = (edge.disk_cache().unwrap().clone(), revision_file.clone());
        async move { disk.len() == 2 && std::fs::read_to_string(file).is_ok_and(|r| r == "1") }
    })
    .await;
    stop.stop().await;
    drop(edge);

    // While no edge runs, a purge of one of the two objects.
    store
        .publish_purge(&PurgeRequest::urls(HOST, ["/cached"]))
        .await
        .unwrap();
    let (_edge, http, base, _stop) = disk_edge(&store, dir.path()).await;
    eventually("the new edge serves", Duration::from_secs(5), || async {
        x_cache(&http, &base, "/img/a.png").await == "HIT"
    })
    .await;
    assert_eq!(
        origin.hits("/img/a.png"),
        1,
        "the other object is still served from disk"
    );
    assert_eq!(
        x_cache(&http, &base, "/cached").await,
        "MISS",
        "the purge it missed was applied"
    );
    assert_eq!(origin.hits("/cached"), 2);
}
