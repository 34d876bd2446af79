//! An edge kept in step with a real store: domains appear, change and go;
//! purges published by anyone are applied.

use crate::{EdgeUnderTest, HOST, Origin, conf_for};
use cirrus_core::{PurgeRequest, RedisStore, Store};
use cirrus_edge::Edge;
use cirrus_test_support::{RedisServer, eventually};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_and_purges_follow_the_store() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let origin = Origin::start().await;
    store.put_domain(&conf_for(&origin)).await.unwrap();
    let edge = Edge::builder(Arc::new(store.clone())).build().unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    eventually("the edge loads the domain", Duration::from_secs(5), || async {
        e.get("/cached").await.0 == 200
    })
    .await;
    assert_eq!(e.get("/cached").await.1, "HIT");

    store
        .publish_purge(&PurgeRequest::urls(HOST, ["/cached"]))
        .await
        .unwrap();
    eventually("the purge is applied", Duration::from_secs(5), || async {
        e.get("/cached").await.1 == "MISS"
    })
    .await;

    let mut disabled = conf_for(&origin);
    disabled.enabled = false;
    store.put_domain(&disabled).await.unwrap();
    eventually("the change is applied", Duration::from_secs(5), || async {
        e.get("/cached").await.0 == 403
    })
    .await;
    store.delete_domain(HOST).await.unwrap();
    eventually("the deletion is applied", Duration::from_secs(5), || async {
        e.get("/cached").await.0 == 404
    })
    .await;
    assert!(e.edge.revision() >= 4);
    // Each event's time from the store write to the edge is measured.
    let metrics = e.edge.render_metrics();
    for line in [
        "cirrus_purge_apply_seconds_count 1",
        "cirrus_config_apply_seconds_count 2",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    let bucket = r#"cirrus_purge_apply_seconds_bucket{le="1"} 1"#;
    assert!(metrics.contains(bucket), "the purge took under a second:\n{metrics}");
}
