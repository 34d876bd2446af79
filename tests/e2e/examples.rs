//! `examples/custom_proxy.rs`, compiled here as it is, in front of two
//! tiny origins that say who they are.

#[path = "../../examples/custom_proxy.rs"]
mod custom_proxy;

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An origin answering every request with `name` (cacheable for a
/// minute; `/static/` answers set a cookie), saying in `X-Asked-By` which
/// proxy asked, one request per connection.
async fn origin(name: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let asked_by = if head.contains("\r\nx-proxy: custom-proxy\r\n") {
                    "custom-proxy"
                } else {
                    "-"
                };
                let cookie = if head.starts_with("get /static/") {
                    "Set-Cookie: s=1\r\n"
                } else {
                    ""
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n{cookie}X-Asked-By: {asked_by}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn custom_proxy_tags_blocks_and_picks_the_canary() {
    let (main, canary) = (origin("main").await, origin("canary").await);
    let edge = custom_proxy::custom_edge(
        format!("http://{main}").parse().unwrap(),
        format!("http://{canary}").parse().unwrap(),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { edge.serve(listener, std::future::pending()).await });
    let http = reqwest::Client::builder()
        .resolve("example.test", addr)
        .build()
        .unwrap();
    let url = |path: &str| format!("http://example.test:{}{path}", addr.port());

    let res = http.get(url("/")).send().await.unwrap();
    assert_eq!(res.headers()["x-served-by"], "custom-proxy");
    assert_eq!(res.text().await.unwrap(), "main");

    let res = http.get(url("/")).header("x-canary", "1").send().await.unwrap();
    assert_eq!(
        res.text().await.unwrap(),
        "canary",
        "not the main origin's cached answer"
    );
    // Both answers are cached, each under its own key: no poisoning either way.
    for _ in 0..2 {
        let res = http.get(url("/")).send().await.unwrap();
        assert_eq!(res.headers()["x-cache"], "HIT");
        assert_eq!(res.text().await.unwrap(), "main");
        let res = http.get(url("/")).header("x-canary", "1").send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "canary");
    }

    // The origin-side hooks: the origin saw the proxy's field, and a static
    // file's cookie is dropped so the file is cached.
    let res = http.get(url("/static/app.js")).send().await.unwrap();
    assert_eq!(res.headers()["x-asked-by"], "custom-proxy");
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(res.headers()["x-cache"], "MISS");
    let res = http.get(url("/static/app.js")).send().await.unwrap();
    assert_eq!(res.headers()["x-cache"], "HIT");

    let res = http.get(url("/admin/users")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["x-served-by"], "custom-proxy", "on refusals too");
}

#[path = "../../examples/onboard_domain.rs"]
mod onboard_domain;

#[tokio::test]
async fn onboard_domain_waits_until_the_cname_is_in_place() {
    use std::time::Duration;
    let resolver = cirrus_test_support::FakeResolver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(cirrus::core::EmbeddedStore::open(dir.path()).unwrap());
    let api = cirrus::api::Api::builder(store)
        .master_token("example-master-token-0123")
        .zone("cdn.example.net")
        .resolver(resolver.addr())
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = cirrus::core::lifecycle::Shutdown::new();
    tokio::spawn(async move { api.run(listener, &shutdown).await });
    let client = cirrus::client::Client::builder(&url)
        .token("example-master-token-0123")
        .build()
        .unwrap();

    // Not set: the wait gives up, not ready.
    let status = onboard_domain::onboard(
        &client,
        "www.shop.test",
        "http://192.0.2.1",
        Duration::from_millis(50),
        Duration::from_millis(200),
        |_| {},
    )
    .await
    .unwrap();
    assert!(!status.ready);

    // The owner sets the CNAME while the example waits: it returns ready.
    let target = status.cname.target.clone();
    let mut polls = 0;
    let status = onboard_domain::onboard(
        &client,
        "www.shop.test",
        "http://192.0.2.1",
        Duration::from_millis(50),
        Duration::from_secs(10),
        |s| {
            polls += 1;
            if polls == 3 {
                resolver.cname(&s.cname.name, &target);
            }
        },
    )
    .await
    .unwrap();
    assert!(status.ready && status.cname.ok, "{status:?}");
    assert!(polls >= 4, "it waited: {polls} polls");
}

#[path = "../../examples/webhooks.rs"]
mod webhooks;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_example_receives_a_signed_domain_created() {
    let body = webhooks::demo("hooked.example.com").await.unwrap();
    let event: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["subject"].as_str()),
        (Some("domain.created"), Some("hooked.example.com"))
    );
}

#[path = "../../examples/shielded_edges.rs"]
mod shielded_edges;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shielded_edges_example_fetches_once_through_the_shield() {
    let seen = shielded_edges::demo().await.unwrap();
    assert_eq!(
        seen.answers,
        [
            vec!["cirrus; fwd=miss; stored", "cirrus; fwd=miss; stored"],
            vec!["cirrus; fwd=miss; stored", "cirrus; hit"],
            vec!["cirrus; hit"],
        ],
        "a two-tier miss, then a hit at edge-a, then a hit at the shield"
    );
    assert_eq!(seen.origin_requests, 1);
}

#[path = "../../examples/signed_transfer.rs"]
mod signed_transfer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_transfer_example_gets_only_the_changes() {
    let seen = signed_transfer::demo().await.unwrap();
    assert_eq!(seen.unsigned, hickory_proto::op::ResponseCode::NotAuth);
    assert_eq!(seen.axfr.0, seen.zone_records + 1, "every record, the SOA twice");
    // One node of 20 held a tenth of the addresses: each removed and replaced.
    assert!(seen.ixfr.0 > 100 && seen.ixfr.0 * 4 < seen.axfr.0, "{seen:?}");
    assert!(seen.ixfr.1 * 4 < seen.axfr.1, "{seen:?}");
}

#[path = "../../examples/traced_edge.rs"]
mod traced_edge;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traced_edge_example_joins_the_callers_trace() {
    let seen = traced_edge::demo().await.unwrap();
    let caller_trace = &traced_edge::CALLER[3..35];
    let request = seen.spans.iter().find(|s| s.name == "GET").expect("the request's span");
    assert_eq!(request.trace_id, caller_trace);
    assert_eq!(request.parent, &traced_edge::CALLER[36..52]);
    let pricing = seen
        .spans
        .iter()
        .find(|s| s.name == "pricing lookup")
        .expect("the hook's span");
    assert_eq!(
        pricing.parent, request.span_id,
        "the hook's own span is the request's child"
    );
    assert!(
        seen.spans
            .iter()
            .any(|s| s.name == "hook request_filter" && s.parent == request.span_id)
    );
    assert_eq!(seen.origin_got, format!("00-{caller_trace}-{}-01", request.span_id));
}
