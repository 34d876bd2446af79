//! The `cirrus dns` role's readiness: its admin listener answers from the
//! start, `/readyz` says `starting` (503) while the first zone waits for
//! the store, and `ready` with the zone's serial once it is served; the
//! `cirrus_ready` and `cirrus_store_up` gauges say the same.

use crate::settings;
use cirrus_core::lifecycle::Shutdown;
use cirrus_core::model::AllowList;
use cirrus_core::{RedisStore, Store};
use cirrus_dns::DnsRole;
use cirrus_test_support::{RedisServer, Relay, eventually, readiness};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_says_starting_until_its_first_zone_then_ok() {
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
    let r = readiness(admin_addr).await;
    assert_eq!((r.status, &r.body["status"]), (503, &"starting".into()), "{:?}", r.body);
    assert_eq!((r.check("store"), r.check("zone")), (Some("down"), Some("unknown")));
    assert_eq!((r.ready, r.store_up), (Some(0.0), Some(0.0)));

    link.restore();
    eventually("ready once the zone is built", Duration::from_secs(15), || async {
        readiness(admin_addr).await.status == 200
    })
    .await;
    let r = readiness(admin_addr).await;
    assert_eq!(r.body["status"], "ok", "{:?}", r.body);
    assert_eq!((r.check("store"), r.check("zone")), (Some("up"), Some("up")));
    assert!(r.body["revision"].as_u64().is_some(), "{:?}", r.body);
    assert_eq!((r.ready, r.store_up), (Some(1.0), Some(1.0)));
    shutdown.trigger();
    task.await.unwrap().unwrap();
}
