//! Caching behaviour: MISS → HIT → purge, what is not stored, Vary,
//! revalidation, conditional requests.

use crate::{EdgeUnderTest, HOST, Origin, conf_for};
use cirrus_core::PurgeRequest;
use cirrus_test_support::eventually;
use std::time::Duration;

#[tokio::test]
async fn miss_then_hit_then_each_kind_of_purge() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    assert_eq!(e.get("/cached").await, (200, "MISS".into(), "body of /cached".into()));
    let res = e.http.get(e.url("/cached")).send().await.unwrap();
    assert_eq!(res.headers()["x-cache"], "HIT");
    assert_eq!(res.headers()["cache-status"], "cirrus; hit");
    assert!(res.headers().contains_key("age"));
    assert_eq!(origin.hits("/cached"), 1, "the HIT never reached the origin");

    e.edge.cache().purge(&PurgeRequest::urls(HOST, ["/cached"]));
    assert_eq!(e.get("/cached").await.1, "MISS");
    assert_eq!(origin.hits("/cached"), 2);

    for p in ["/img/a.png", "/img/b.png", "/tagged"] {
        e.get(p).await;
        assert_eq!(e.get(p).await.1, "HIT", "{p}");
    }
    e.edge.cache().purge(&PurgeRequest::prefixes(HOST, ["/img/"]));
    assert_eq!(e.get("/img/a.png").await.1, "MISS");
    assert_eq!(e.get("/tagged").await.1, "HIT", "a prefix purge leaves other paths");
    let by_tag = PurgeRequest::tags(HOST, ["t2"]);
    e.edge.cache().purge(&by_tag);
    assert_eq!(e.get("/tagged").await.1, "MISS");
    e.edge.cache().purge(&PurgeRequest::all(HOST));
    assert_eq!(e.get("/cached").await.1, "MISS");
    assert_eq!(e.get("/img/a.png").await.1, "MISS");
}

#[tokio::test]
async fn private_no_store_cookies_errors_and_unmarked_responses_are_not_cached() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    for path in ["/nostore", "/private", "/cookie", "/plain", "/error"] {
        e.get(path).await;
        let (_, x_cache, _) = e.get(path).await;
        assert_eq!(x_cache, "MISS", "{path}");
        assert_eq!(origin.hits(path), 2, "{path}");
    }
    assert_eq!(e.get("/error").await.0, 500);
}

#[tokio::test]
async fn an_error_with_explicit_freshness_is_stored_like_any_response() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    assert_eq!(
        e.get("/error-fresh").await,
        (503, "MISS".into(), "down for a minute".into())
    );
    assert_eq!(
        e.get("/error-fresh").await,
        (503, "HIT".into(), "down for a minute".into())
    );
    assert_eq!(origin.hits("/error-fresh"), 1);
}

#[tokio::test]
async fn variants_follow_vary() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let get = |lang: &'static str| {
        let req = e.http.get(e.url("/vary")).header("accept-language", lang);
        async move {
            let res = req.send().await.unwrap();
            let x = res.headers()["x-cache"].to_str().unwrap().to_string();
            (x, res.text().await.unwrap())
        }
    };
    assert_eq!(get("fr").await, ("MISS".into(), "lang=fr".into()));
    assert_eq!(get("de").await, ("MISS".into(), "lang=de".into()));
    assert_eq!(get("fr").await, ("HIT".into(), "lang=fr".into()));
    assert_eq!(get("de").await, ("HIT".into(), "lang=de".into()));
}

#[tokio::test]
async fn stale_entries_are_revalidated_with_the_origin() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    assert_eq!(e.get("/short").await.1, "MISS");
    // max-age=1: once stale, the edge asks with If-None-Match and gets 304.
    let e = &e;
    let (status, body) = eventually("a revalidation", Duration::from_secs(5), || async move {
        let (status, x_cache, body) = e.get("/short").await;
        if x_cache != "REVALIDATED" {
            assert_eq!(x_cache, "HIT");
        }
        (x_cache == "REVALIDATED").then_some((status, body))
    })
    .await;
    assert_eq!((status, body.as_str()), (200, "short-lived"));
    let res = e.http.get(e.url("/short")).send().await.unwrap();
    assert_eq!(res.headers()["x-refreshed"], "yes", "headers refreshed from the 304");
    assert_eq!(res.headers()["content-length"], "11");
    let sent = origin.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(sent["if-none-match"], "\"v1\"");
}

#[tokio::test]
async fn conditional_requests_get_304_from_the_cache() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    e.get("/etag").await;
    let res = e
        .http
        .get(e.url("/etag"))
        .header("if-none-match", "W/\"e1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["x-cache"], "HIT");
    assert_eq!(origin.hits("/etag"), 1);
}

#[tokio::test]
async fn forwarding_headers_and_unkeyed_headers() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    e.http
        .get(e.url("/cached"))
        .header("x-forwarded-host", "evil.example")
        .header("connection", "x-secret")
        .header("x-secret", "1")
        .send()
        .await
        .unwrap();
    let sent = origin.last_headers.lock().unwrap().clone().unwrap();
    assert_eq!(sent["x-forwarded-for"], "127.0.0.1");
    assert_eq!(sent["x-forwarded-proto"], "http");
    assert!(sent["host"].to_str().unwrap().starts_with(HOST));
    assert!(sent["via"].to_str().unwrap().contains("cirrus"));
    assert!(
        !sent.contains_key("x-secret"),
        "headers named in Connection are hop-by-hop"
    );
    // A different unkeyed header still gets the stored response.
    let res = e
        .http
        .get(e.url("/cached"))
        .header("x-forwarded-host", "other.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-cache"], "HIT");
}

#[tokio::test]
async fn unknown_and_disabled_hosts() {
    let origin = Origin::start().await;
    let mut conf = conf_for(&origin);
    let source = cirrus_core::StaticSource::new().with_domain(conf.clone()).unwrap();
    let edge = cirrus_edge::Edge::builder(std::sync::Arc::new(source.clone()))
        .build()
        .unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    let res = reqwest::get(format!("http://{}/cached", e.addr)).await.unwrap();
    assert_eq!(res.status(), 404, "Host 127.0.0.1 is no domain of ours");
    conf.enabled = false;
    source.put_domain(conf).unwrap();
    cirrus_test_support::eventually("the change is applied", Duration::from_secs(5), || async {
        e.get("/cached").await.0 == 403
    })
    .await;
}

#[tokio::test]
async fn failed_origins_fall_back_to_the_next() {
    let origin = Origin::start().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut conf = conf_for(&origin);
    conf.origins[0].backup = true;
    conf.origins.insert(0, format!("http://{dead}").parse().unwrap());
    let e = EdgeUnderTest::start(conf).await;
    let res = e.http.post(e.url("/echo")).body("payload").send().await.unwrap();
    assert_eq!(res.status(), 502, "a POST is not retried on another origin");
    // The failed primary is now avoided: requests go to the backup.
    let res = e.http.post(e.url("/echo")).body("payload").send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "POST payload");
    assert_eq!(e.get("/cached").await.0, 200);
}

#[tokio::test]
async fn metrics_and_health_on_the_admin_listener() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    e.get("/cached").await;
    e.get("/cached").await;
    e.http.post(e.url("/echo")).body("x").send().await.unwrap();
    let serve = |allow: cirrus_edge::AllowList| {
        let edge = e.edge.clone();
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { edge.serve_admin(listener, allow, std::future::pending()).await });
            addr
        }
    };
    let admin = serve(cirrus_edge::AllowList::default()).await;
    let health = reqwest::get(format!("http://{admin}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"nginx_http_requests_total{host="a.test",status="200"} 3"#,
        r#"nginx_cache_status_total{status="HIT"} 1"#,
        r#"nginx_cache_status_total{status="MISS"} 1"#,
        r#"nginx_cache_status_total{status="BYPASS"} 1"#,
        "nginx_upstream_response_seconds_count 2",
        "nginx_http_request_duration_seconds_bucket",
        "cirrus_cache_objects 1",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let closed = serve("10.0.0.0/8".parse().unwrap()).await;
    let refused = reqwest::get(format!("http://{closed}/metrics")).await.unwrap();
    assert_eq!(refused.status(), 403, "loopback is not in the allow list");
    assert_eq!(
        reqwest::get(format!("http://{closed}/healthz")).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn chunked_responses_are_cached_up_to_the_object_size_limit() {
    let origin = Origin::start().await;
    let direct = reqwest::get(format!("http://{}/chunked", origin.addr)).await.unwrap();
    assert!(
        direct.headers().get("content-length").is_none(),
        "the origin really sends it chunked"
    );
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let res = e.http.get(e.url("/chunked")).send().await.unwrap();
    assert_eq!(res.headers()["x-cache"], "MISS");
    assert_eq!(res.bytes().await.unwrap().len(), 64 * 1024);
    let res = e.http.get(e.url("/chunked")).send().await.unwrap();
    assert_eq!(res.headers()["x-cache"], "HIT");
    assert_eq!(res.headers()["content-length"], "65536");
    assert_eq!(res.bytes().await.unwrap().len(), 64 * 1024);

    // Over the limit: streamed whole to the client, not stored.
    let small = cirrus_edge::EdgeSettings {
        max_object_size: 10_000,
        ..cirrus_edge::EdgeSettings::default()
    };
    let e = EdgeUnderTest::start_with(conf_for(&origin), small).await;
    for _ in 0..2 {
        let res = e.http.get(e.url("/chunked")).send().await.unwrap();
        assert_eq!(res.headers()["x-cache"], "MISS");
        assert_eq!(res.bytes().await.unwrap(), vec![b'c'; 64 * 1024]);
    }
    let res = e.http.get(e.url("/big")).send().await.unwrap();
    assert_eq!(
        res.bytes().await.unwrap().len(),
        1 << 20,
        "a declared large body streams through"
    );
    assert_eq!(e.get("/big").await.1, "MISS");
}

#[tokio::test]
async fn the_disk_tier_survives_a_restart() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let start = |dir: std::path::PathBuf| {
        let conf = conf_for(&origin);
        async move {
            let disk = cirrus_edge::DiskCache::open(dir, 1 << 30).await.unwrap();
            let source = cirrus_core::StaticSource::new().with_domain(conf).unwrap();
            let edge = cirrus_edge::Edge::builder(std::sync::Arc::new(source))
                .disk_cache(disk)
                .build()
                .unwrap();
            EdgeUnderTest::serve(edge).await
        }
    };
    let first = start(dir.path().to_path_buf()).await;
    assert_eq!(first.get("/cached").await.1, "MISS");
    let disk = first.edge.disk_cache().unwrap().clone();
    cirrus_test_support::eventually("written to disk", Duration::from_secs(5), || {
        let disk = disk.clone();
        async move { disk.len() == 1 }
    })
    .await;
    drop(first);

    let second = start(dir.path().to_path_buf()).await;
    assert_eq!(
        second.get("/cached").await,
        (200, "HIT".into(), "body of /cached".into())
    );
    assert_eq!(origin.hits("/cached"), 1, "served from disk after the restart");
    second.edge.purge(&PurgeRequest::urls(HOST, ["/cached"])).await;
    assert_eq!(
        second.edge.disk_cache().unwrap().len(),
        0,
        "a purge reaches the disk tier"
    );
    assert_eq!(second.get("/cached").await.1, "MISS");
}
