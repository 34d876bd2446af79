//! Faults around one edge, with what its users see: the disk of the disk
//! tier full, an origin flapping every second, an origin that accepts and
//! never answers.

use crate::{EdgeUnderTest, Origin, conf_for};
use cirrus_core::admin::AdminProbe;
use cirrus_test_support::{SmallDisk, eventually, metric_value};
use std::time::Duration;

#[tokio::test]
async fn a_full_disk_tier_leaves_the_edge_serving_from_memory_and_saying_so() {
    let origin = Origin::start().await;
    let disk_fs = SmallDisk::mount(256 * 1024);
    // The disk tier is told it has 1 GiB; its filesystem has 256 KiB.
    let disk = cirrus_edge::DiskCache::open(disk_fs.path().to_path_buf(), 1 << 30)
        .await
        .unwrap();
    let source = cirrus_core::StaticSource::new().with_domain(conf_for(&origin)).unwrap();
    let edge = cirrus_edge::Edge::builder(std::sync::Arc::new(source))
        .disk_cache(disk)
        .build()
        .unwrap();
    let e = EdgeUnderTest::serve(edge).await;
    let metric = |name: &str| metric_value(&e.edge.render_metrics(), name).unwrap_or(-1.0);

    assert_eq!(e.get("/cached").await.1, "MISS");
    let disk = e.edge.disk_cache().unwrap().clone();
    eventually("a small object written to disk", Duration::from_secs(5), || {
        let disk = disk.clone();
        async move { disk.len() == 1 }
    })
    .await;
    let health = e.edge.health().await;
    assert_eq!(
        (health.status.as_str(), health.checks["disk"].state.as_str()),
        ("ok", "up")
    );

    // 1 MiB does not fit: the write fails, the memory tier serves it.
    assert_eq!(e.get("/big").await.1, "MISS");
    eventually("the failed write counted", Duration::from_secs(5), || async {
        metric("cirrus_cache_disk_write_errors_total") >= 1.0
    })
    .await;
    assert_eq!(metric("cirrus_cache_disk_failing"), 1.0);
    let health = e.edge.health().await;
    assert_eq!(health.status, "degraded", "{health:?}");
    let said = health.checks["disk"].error.clone().unwrap_or_default();
    assert!(
        said.contains("No space left") && said.contains("serving from memory"),
        "{said}"
    );
    let (status, x_cache, body) = e.get("/big").await;
    assert_eq!((status, x_cache.as_str(), body.len()), (200, "HIT", 1 << 20));
    assert_eq!(origin.hits("/big"), 1, "served from memory");
    let leftovers: Vec<_> = walk(disk_fs.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "a failed write leaves no temporary file: {leftovers:?}"
    );

    // A write that fits again: the disk tier is back.
    assert_eq!(e.get("/img/a.png").await.1, "MISS");
    eventually("the disk tier back", Duration::from_secs(5), || async {
        metric("cirrus_cache_disk_failing") == 0.0
    })
    .await;
    assert_eq!(e.edge.health().await.status, "ok");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
