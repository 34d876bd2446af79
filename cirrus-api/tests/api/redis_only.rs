//! Redis down: the API answers 503 with Retry-After, never crashes, and
//! recovers when Redis is back.

use crate::{Backend, Harness, domain};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_down_degrades_to_503_and_recovers() {
    let mut h = Harness::start(Backend::Redis).await;
    h.master.put_domain(&domain("a.com")).await.unwrap();
    h.redis.as_mut().unwrap().stop();
    let health = h.anonymous().health().await.unwrap();
    assert_eq!(health.status, "unavailable");
    let ready = reqwest::get(format!("{}/readyz", h.url)).await.unwrap();
    assert_eq!(ready.status(), 503, "not ready without its store");
    let text = h.anonymous().metrics().await.unwrap();
    assert!(
        text.contains("\ncirrus_ready 0\n") && text.contains("\ncirrus_store_up 0\n"),
        "{text}"
    );
    let res = h
        .raw(reqwest::Method::GET, "/api/v1/domains/a.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    let e = h.master.put_domain(&domain("b.com")).await.unwrap_err();
    assert_eq!(e.status(), Some(503));

    h.redis.as_mut().unwrap().restart();
    let master = h.master.clone();
    cirrus_test_support::eventually("API serves again", std::time::Duration::from_secs(10), || {
        let master = master.clone();
        async move { master.put_domain(&domain("b.com")).await.is_ok() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_store_makes_health_answer_503_within_a_second() {
    let h = Harness::start(Backend::Redis).await;
    h.master.put_domain(&domain("a.com")).await.unwrap();
    let redis = h.redis.as_ref().unwrap();
    redis.pause();
    for probe in ["/healthz", "/readyz"] {
        let started = std::time::Instant::now();
        let res = reqwest::get(format!("{}{probe}", h.url)).await.unwrap();
        let took = started.elapsed();
        assert_eq!(res.status(), 503, "{probe}");
        assert!(took < std::time::Duration::from_secs(1), "{probe} took {took:?}");
    }
    redis.resume();
    let anonymous = h.anonymous();
    cirrus_test_support::eventually("healthy again", std::time::Duration::from_secs(10), || {
        let anonymous = anonymous.clone();
        async move { anonymous.health().await.is_ok_and(|h| h.status == "ok") }
    })
    .await;
}

/// Edges report the store behind them (its history went back): writes are
/// refused with `store_regressed`, reads still answer, until the store is
/// adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_a_store_that_went_back_to_be_adopted() {
    let h = Harness::start(Backend::Redis).await;
    h.master.put_domain(&domain("a.com")).await.unwrap();
    h.store.report_regression("edge-1", 99).await.unwrap();
    let e = h.master.put_domain(&domain("b.com")).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(503), Some("store_regressed")), "{e}");
    assert!(
        e.to_string().contains("cirrus store adopt") && e.to_string().contains("edge-1"),
        "{e}"
    );
    assert!(h.master.get_domain("a.com").await.is_ok(), "reads still answer");
    let all = cirrus_core::model::PurgeSelection {
        all: true,
        ..Default::default()
    };
    assert!(h.master.purge("a.com", &all).await.is_ok(), "purges still go out");
    assert!(h.master.me().await.is_ok());
    let adopted = h.store.adopt_history().await.unwrap();
    assert!(adopted > 99);
    h.master.put_domain(&domain("b.com")).await.unwrap();
}
