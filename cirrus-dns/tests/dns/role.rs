//! The `cirrus dns` role's readiness: its admin listener answers from the
//! start, `/readyz` says `starting` (503) while the first zone waits for
//! the store, and `ready` with the zone's serial once it is served; the
//! `cirrus_ready` and `cirrus_store_up` gauges say the same.

use crate::settings;
use cirrus_core::lifecycle::Shutdown;
use cirrus_core::model::AllowList;
use cirrus_core::{RedisStore, Store};
use cirrus_dns::DnsRole;
use cirrus_test_support::{RedisServer, Relay, eventually, metric_value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// `/readyz`'s status and body, and the `cirrus_ready` and `cirrus_store_up` gauges.
async fn readiness(admin: SocketAddr) -> (u16, serde_json::Value, Option<f64>, Option<f64>) {
    let res = reqwest::get(format!("http://{admin}/readyz")).await.unwrap();
    let status = res.status().as_u16();
    let body = res.json().await.unwrap();
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauges = (
        metric_value(&text, "cirrus_ready"),
        metric_value(&text, "cirrus_store_up"),
    );
    (status, body, gauges.0, gauges.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_says_starting_until_its_first_zone_then_ready_with_its_serial() {
    let redis = RedisServer::start();
    let link = Relay::start(([127, 0, 0, 1], redis.port()).into()).await;
    link.cut();
    let store = RedisStore::builder(link.redis_url())
        .response_timeout(Duration::from_millis(500))
        .connection_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let (udp, tcp) = cirrus_dns::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let role = DnsRole::new(store, settings())
        .unwrap()
        .admin(admin, AllowList::default());
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move { role.run(udp, tcp, &stop).await });

    // The store is cut off: no zone yet, and the admin listener says so.
    let (status, body, ready, store_up) = readiness(admin_addr).await;
    assert_eq!((status, &body["status"]), (503, &"starting".into()), "{body}");
    assert_eq!((ready, store_up), (Some(0.0), Some(0.0)));

    link.restore();
    eventually("ready once the zone is built", Duration::from_secs(15), || async {
        readiness(admin_addr).await.0 == 200
    })
    .await;
    let (_, body, ready, store_up) = readiness(admin_addr).await;
    assert_eq!(body["status"], "ready", "{body}");
    assert!(body["serial"].as_u64().is_some_and(|s| s > 0), "{body}");
    assert_eq!((ready, store_up), (Some(1.0), Some(1.0)));
    shutdown.trigger();
    task.await.unwrap().unwrap();
}
