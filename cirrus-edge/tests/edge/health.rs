//! `/healthz` tells the truth about the store: starting, ok and degraded
//! as it comes and goes, and a store that went back in time is not
//! adopted until it passes the edge again.

use crate::{EdgeUnderTest, Origin, conf_for};
use cirrus_core::{RedisStore, Store};
use cirrus_edge::Edge;
use cirrus_test_support::{RedisServer, eventually, metric_value, readiness};
use std::sync::Arc;
use std::time::Duration;

/// `/healthz` as JSON, with its status.
/// `/healthz`: its status and JSON.
async fn health(admin: std::net::SocketAddr) -> (u16, serde_json::Value) {
    let (status, body) = cirrus_test_support::get_raw(admin, "/healthz").await;
    (status, serde_json::from_str(&body).unwrap())
}

async fn admin_of(edge: &Edge) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = edge.clone();
    tokio::spawn(async move {
        served
            .serve_admin(listener, cirrus_edge::AllowList::default(), std::future::pending())
            .await
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_starting_ok_and_degraded_as_the_store_comes_and_goes() {
    // No store answers: not ready.
    let nowhere = format!("redis://127.0.0.1:{}", cirrus_test_support::free_port());
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&nowhere).unwrap());
    let cold = Edge::builder(Arc::new(store)).build().unwrap();
    let cold_admin = admin_of(&cold).await;
    let (status, body) = health(cold_admin).await;
    assert_eq!((status, &body["status"]), (503, &"starting".into()));
    assert_eq!(readiness(cold_admin).await.status, 503, "not ready either");
    let metrics = reqwest::get(format!("http://{cold_admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauges = (
        metric_value(&metrics, "cirrus_ready"),
        metric_value(&metrics, "cirrus_store_up"),
    );
    assert_eq!(gauges, (Some(0.0), Some(0.0)), "{metrics}");

    let mut redis = RedisServer::start_with_aof();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let origin = Origin::start().await;
    store.put_domain(&conf_for(&origin)).await.unwrap();
    let edge = Edge::builder(Arc::new(store)).build().unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    let admin = admin_of(&e.edge).await;
    let (status, body) = health(admin).await;
    assert_eq!(
        (
            status,
            &body["status"],
            &body["checks"]["store"]["state"],
            &body["revision"]
        ),
        (200, &"ok".into(), &"up".into(), &1.into())
    );
    let checked = body["checks"]["store"]["checked_ms_ago"].as_u64();
    assert!(checked.is_some_and(|ms| ms < 60_000), "{body}");
    redis.stop();
    eventually("degraded while the store is down", Duration::from_secs(10), || async {
        let (status, body) = health(admin).await;
        assert_eq!(status, 200, "still in service");
        body["status"] == "degraded" && body["checks"]["store"]["state"] == "down"
    })
    .await;
    assert_eq!(e.get("/cached").await.0, 200, "serving from its last config");
    redis.restart();
    eventually("ok once the store is back", Duration::from_secs(10), || async {
        health(admin).await.1["status"] == "ok"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_went_back_in_time_is_not_adopted_until_it_passes_the_edge() {
    let mut redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let origin = Origin::start().await;
    let mut conf = conf_for(&origin);
    store.put_domain(&conf).await.unwrap();
    store.put_domain(&conf).await.unwrap();
    let kept = store.revision().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let disk = cirrus_edge::DiskCache::open(dir.path(), 1 << 30).await.unwrap();
    let edge = Edge::builder(Arc::new(store.clone())).disk_cache(disk).build().unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    let admin = admin_of(&e.edge).await;
    assert_eq!(e.get("/cached").await.1, "MISS");
    let disk = e.edge.disk_cache().unwrap().clone();
    eventually("written to disk", Duration::from_secs(5), || {
        let disk = disk.clone();
        async move { disk.len() == 1 }
    })
    .await;
    // Redis restarted without its data: the store lost every domain. The
    // edge keeps serving them (no 404), says why, and revalidates its
    // cache (purges of the lost history are lost too).
    redis.restart();
    let body = eventually("degraded: the store went back", Duration::from_secs(15), || async {
        let (status, body) = health(admin).await;
        (status == 200 && body["status"] == "degraded" && body["checks"]["store"]["state"] == "down").then_some(body)
    })
    .await;
    let why = body["checks"]["store"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("went back") && why.contains(&kept.to_string()), "{body}");
    let text = e.edge.render_metrics();
    assert_eq!(metric_value(&text, "cirrus_store_regressed"), Some(1.0), "{text}");
    let (status, cache, _) = e.get("/cached").await;
    assert_eq!(status, 200, "served");
    assert_ne!(
        cache, "HIT",
        "after asking the origin again: the kept copy was marked stale"
    );
    assert_eq!(e.get("/cached").await.0, 200);

    // Writes into the new history that stay below the kept revision are
    // not taken; once the store passes it, the edge follows it again.
    conf.response_headers.set.insert("x-after".into(), "adopted".into());
    eventually(
        "the store passing the kept revision",
        Duration::from_secs(10),
        || async { store.put_domain(&conf).await.is_ok() && store.revision().await.is_ok_and(|r| r > kept) },
    )
    .await;
    eventually(
        "the edge following the store again",
        Duration::from_secs(15),
        || async {
            let res = e.http.get(e.url("/cached")).send().await.unwrap();
            res.headers().get("x-after").is_some_and(|v| v == "adopted")
        },
    )
    .await;
    eventually("ok again", Duration::from_secs(10), || async {
        health(admin).await.1["status"] == "ok"
    })
    .await;
    assert_eq!(
        metric_value(&e.edge.render_metrics(), "cirrus_store_regressed"),
        Some(0.0)
    );
    assert_eq!(
        e.edge.disk_cache().unwrap().len(),
        1,
        "the disk tier was kept, not emptied"
    );
}
