//! Serving stale: `stale-while-revalidate` answers at once and refreshes
//! once in the background; `stale-if-error` (or the domain's default)
//! covers an origin that answers 5xx or times out, and `must-revalidate`
//! forbids it.

use crate::{EdgeUnderTest, Origin, conf_for};
use cirrus_edge::EdgeSettings;
use cirrus_test_support::{eventually, stays};
use futures_util::future::join_all;
use std::time::{Duration, Instant};

/// Waits (bounded) until the origin has seen `n` requests for `path`.
pub async fn hits_reach(origin: &Origin, path: &str, n: usize) {
    let what = format!("{n} origin hits for {path}");
    eventually(&what, Duration::from_secs(2), || {
        std::future::ready(origin.hits(path) >= n)
    })
    .await;
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_refreshes_once() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    assert_eq!(e.get("/swr").await, (200, "MISS".into(), "v1".into()));
    // Stale at once (max-age=0): served without waiting for the 200 ms origin.
    let started = Instant::now();
    assert_eq!(e.get("/swr").await, (200, "UPDATING".into(), "v1".into()));
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    hits_reach(&origin, "/swr", 2).await;
    // Ten at once while stale: all answered stale, one refresh between them.
    tokio::time::sleep(Duration::from_millis(300)).await; // the refresh stores v2
    let answers = join_all((0..10).map(|_| e.get("/swr"))).await;
    assert!(
        answers.iter().all(|a| *a == (200, "UPDATING".into(), "v2".into())),
        "{answers:?}"
    );
    hits_reach(&origin, "/swr", 3).await;
    stays("one background refresh for the ten", Duration::from_millis(400), || {
        std::future::ready(origin.hits("/swr") == 3)
    })
    .await;
}

#[tokio::test]
async fn stale_if_error_covers_5xx_and_timeouts_but_not_must_revalidate() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        origin_timeout: Duration::from_millis(500),
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    for path in ["/sie", "/sie-strict", "/sie-stall"] {
        assert_eq!(e.get(path).await, (200, "MISS".into(), "good".into()), "{path}");
    }
    assert_eq!(
        e.get("/sie").await,
        (200, "STALE".into(), "good".into()),
        "503 from the origin"
    );
    assert_eq!(
        e.get("/sie-stall").await,
        (200, "STALE".into(), "good".into()),
        "origin timed out"
    );
    let (status, _, body) = e.get("/sie-strict").await;
    assert_eq!((status, body.as_str()), (503, "down"), "must-revalidate forbids stale");
    let res = e.http.get(e.url("/sie")).send().await.unwrap();
    let cache_status = res.headers()["cache-status"].to_str().unwrap();
    assert!(cache_status.contains("detail=stale-if-error"), "{cache_status}");
}

#[tokio::test]
async fn the_domains_stale_if_error_applies_to_responses_without_one() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    e.get("/flaps").await;
    assert_eq!(
        e.get("/flaps").await.0,
        503,
        "no stale-if-error anywhere: the origin's 503"
    );

    let origin = Origin::start().await;
    let mut conf = conf_for(&origin);
    conf.cache.stale_if_error = Some(60);
    let e = EdgeUnderTest::start(conf).await;
    e.get("/flaps").await;
    assert_eq!(e.get("/flaps").await, (200, "STALE".into(), "good".into()));
}
