//! The rebuild loop folds a burst of changes into one rebuild.

use crate::{nodes, settings};
use cirrus_core::{DomainConf, RedisStore, Store};
use cirrus_dns::{DnsMetrics, Lookup, Rebuilder, target_name};
use cirrus_test_support::{RedisServer, eventually};
use hickory_proto::rr::{LowerName, RecordType};
use std::sync::Arc;
use std::time::Duration;

fn rebuilds(metrics: &DnsMetrics) -> u64 {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("cirrus_dns_rebuilds_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_makes_one_rebuild() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    for n in nodes(3) {
        store.put_node(&n).await.unwrap();
    }
    let metrics = DnsMetrics::new().unwrap();
    let mut rebuilder = Rebuilder::new(store.clone(), settings()).metrics(metrics.clone());
    rebuilder.rebuild().await.unwrap();
    let first = rebuilder.serial();
    let zone = rebuilder.zone().unwrap().clone();
    tokio::spawn(rebuilder.clone().run(std::future::pending()));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = std::time::Instant::now();
    for i in 0..100 {
        let d = DomainConf::new(format!("burst{i}.example.com"), "http://192.0.2.1".parse().unwrap());
        store.put_domain(&d).await.unwrap();
    }
    let burst = started.elapsed();
    let last = target_name("burst99.example.com", settings().origin()).unwrap();
    eventually("the burst is in the zone", Duration::from_secs(5), || async {
        matches!(
            zone.get().lookup(&LowerName::from(&last), RecordType::A),
            Lookup::Found(_)
        )
    })
    .await;
    // Anything else still in flight would show up within the debounce.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        rebuilds(&metrics),
        2,
        "the first build and one for the burst of 100 (sent in {burst:?})"
    );
    assert!(zone.get().serial() > first, "the serial grew");
}
