//! Purges by tag (from the fields a domain names) and soft purges, which
//! keep the object but make the next request revalidate.

use crate::stale::hits_reach;
use crate::{EdgeUnderTest, HOST, Origin, conf_for};
use cirrus_core::PurgeRequest;
use std::time::Duration;

fn tag(t: &str) -> PurgeRequest {
    PurgeRequest::tags(HOST, [t])
}

#[tokio::test]
async fn a_tag_purge_removes_exactly_the_objects_tagged_in_the_domains_fields() {
    let origin = Origin::start().await;
    let mut conf = conf_for(&origin);
    conf.cache.tag_headers = vec!["X-Tags".into()];
    let e = EdgeUnderTest::start(conf).await;
    let paths = ["/tags-x", "/tags-y", "/tags-z", "/cached"];
    for p in paths {
        e.get(p).await;
        assert_eq!(e.get(p).await.1, "HIT", "{p}");
    }
    e.edge.cache().purge(&tag("s1"));
    assert_eq!(
        status(&e, &paths).await,
        ["HIT"; 4],
        "Surrogate-Key is not this domain's field"
    );
    e.edge.cache().purge(&tag("a"));
    assert_eq!(status(&e, &paths).await, ["MISS", "HIT", "HIT", "HIT"]);
    e.edge.cache().purge(&tag("c"));
    assert_eq!(status(&e, &paths).await, ["HIT", "MISS", "MISS", "HIT"]);
    // /tags-z's 1,100-byte tag was ignored, and counted; its others kept.
    e.edge.cache().purge(&tag("z"));
    assert_eq!(status(&e, &paths).await, ["HIT", "HIT", "MISS", "HIT"]);
    let metrics = e.edge.render_metrics();
    assert!(
        metrics.contains("cirrus_cache_tags_ignored_total 3"),
        "three fills of /tags-z:\n{metrics}"
    );
    assert_eq!((origin.hits("/tags-x"), origin.hits("/cached")), (2, 1));
}

#[tokio::test]
async fn a_soft_purge_revalidates_and_may_serve_stale_meanwhile() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    // /short has an ETag: the next request after a soft purge asks the
    // origin whether it changed, and the 304 refreshes the kept object.
    assert_eq!(e.get("/short").await.1, "MISS");
    assert_eq!(e.get("/short").await.1, "HIT");
    e.edge.cache().purge(&PurgeRequest::urls(HOST, ["/short"]).soft());
    assert_eq!(e.get("/short").await, (200, "REVALIDATED".into(), "short-lived".into()));
    let asked = origin.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(asked["if-none-match"], "\"v1\"");
    assert_eq!(origin.hits("/short"), 2);

    // Within stale-while-revalidate: stale at once, refreshed behind.
    assert_eq!(e.get("/soft-swr").await, (200, "MISS".into(), "v1".into()));
    e.edge.cache().purge(&PurgeRequest::all(HOST).soft());
    assert_eq!(e.get("/soft-swr").await, (200, "UPDATING".into(), "v1".into()));
    hits_reach(&origin, "/soft-swr", 2).await;
    let refreshed = || async { e.get("/soft-swr").await == (200, "HIT".into(), "v2".into()) };
    cirrus_test_support::eventually("the refresh is stored", Duration::from_secs(5), refreshed).await;

    // A hard purge still drops.
    e.edge.cache().purge(&PurgeRequest::all(HOST));
    assert_eq!(e.get("/soft-swr").await, (200, "MISS".into(), "v3".into()));
}

/// X-Cache of a GET to each path, in order.
async fn status(e: &EdgeUnderTest, paths: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for p in paths {
        out.push(e.get(p).await.1);
    }
    out
}
