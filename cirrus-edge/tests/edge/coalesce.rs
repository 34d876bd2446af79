//! Request coalescing: concurrent misses for one key make one origin
//! fetch; a failed fetch is retried by one waiter; waiters on an answer
//! that is not storable are never stuck.

use crate::{EdgeUnderTest, Origin, conf_for};
use cirrus_edge::EdgeSettings;
use futures_util::future::join_all;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_hundred_concurrent_misses_make_one_origin_request() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let answers = join_all((0..100).map(|_| e.get("/slow-cached"))).await;
    assert!(
        answers
            .iter()
            .all(|(status, _, body)| *status == 200 && body == "worth the wait")
    );
    assert_eq!(origin.hits("/slow-cached"), 1, "one fetch for all of them");
    let misses = answers.iter().filter(|(_, x_cache, _)| x_cache == "MISS").count();
    assert_eq!(
        misses, 1,
        "the writer's answer is the only MISS; the rest were served from it"
    );
}

#[tokio::test]
async fn a_failed_fetch_is_retried_by_one_waiter() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        origin_timeout: Duration::from_millis(500),
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    let answers = join_all((0..20).map(|_| e.get("/stalls-once"))).await;
    let ok = answers.iter().filter(|(status, _, _)| *status == 200).count();
    assert_eq!(ok, 19, "only the stalled writer's client sees the failure: {answers:?}");
    assert_eq!(origin.hits("/stalls-once"), 2, "the failed fetch, then one retry");
}

#[tokio::test]
async fn waiters_on_an_answer_that_is_not_stored_go_to_the_origin_unstuck() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    // /slow: 600 ms, no-store. The first round waits for the writer once,
    // then goes to the origin side by side.
    let started = Instant::now();
    let answers = join_all((0..20).map(|_| e.get("/slow"))).await;
    assert!(answers.iter().all(|(status, _, _)| *status == 200));
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(origin.hits("/slow"), 20);
    // Known not to be storable now: nobody waits at all.
    let started = Instant::now();
    join_all((0..20).map(|_| e.get("/slow"))).await;
    assert!(
        started.elapsed() < Duration::from_millis(1_100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(origin.hits("/slow"), 40);
}

#[tokio::test]
async fn a_zero_lock_timeout_turns_coalescing_off() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        cache_lock_timeout: Duration::ZERO,
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    join_all((0..10).map(|_| e.get("/slow-cached"))).await;
    assert!(origin.hits("/slow-cached") > 1, "every miss went to the origin");
}

#[tokio::test]
async fn a_waiter_past_the_lock_timeout_fetches_for_itself_and_stores_nothing() {
    let origin = Origin::start().await;
    let settings = EdgeSettings {
        cache_lock_timeout: Duration::from_millis(100),
        ..EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), settings).await;
    let cache_status = |_| async {
        let res = e.http.get(e.url("/slow-cached")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.headers()["cache-status"].to_str().unwrap().to_string()
    };
    let answers = join_all((0..5).map(cache_status)).await;
    assert_eq!(
        origin.hits("/slow-cached"),
        5,
        "the writer, and four that gave up waiting"
    );
    let stored = answers.iter().filter(|s| s.ends_with("; stored")).count();
    assert_eq!(stored, 1, "only the writer stored its answer: {answers:?}");
    assert_eq!(e.get("/slow-cached").await.1, "HIT", "the writer's answer was stored");
    assert_eq!(origin.hits("/slow-cached"), 5);
}
