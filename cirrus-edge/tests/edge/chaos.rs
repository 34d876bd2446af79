//! Faults around one edge, with what its users see: the disk of the disk
//! tier full, an origin flapping every second, an origin that accepts and
//! never answers.

use crate::chaos_origin::{ChaosOrigin, Mode};
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

/// What one client saw: path kind, status, time to the whole answer.
type Seen = Vec<(bool, u16, Duration)>;

/// `clients` clients asking for `/c/…` (cacheable) and `/ns/…` (`no-store`)
/// in turn until `stop`.
async fn load(e: &std::sync::Arc<EdgeUnderTest>, clients: usize, stop: tokio::time::Instant) -> Seen {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let e = e.clone();
        tasks.spawn(async move {
            let mut seen = Seen::new();
            let mut i = 0usize;
            while tokio::time::Instant::now() < stop {
                let cached = i.is_multiple_of(2);
                let path = if cached {
                    format!("/c/{}", i % 5)
                } else {
                    format!("/ns/{c}-{i}")
                };
                let asked = std::time::Instant::now();
                let status = match e.http.get(e.url(&path)).timeout(Duration::from_secs(10)).send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let _ = res.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                seen.push((cached, status, asked.elapsed()));
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        });
    }
    let mut all = Seen::new();
    while let Some(seen) = tasks.join_next().await {
        all.extend(seen.unwrap());
    }
    all
}

fn count(seen: &Seen, cached: bool, status: u16) -> usize {
    seen.iter().filter(|(c, s, _)| *c == cached && *s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_flapping_every_second_fails_no_cached_request() {
    let origin = ChaosOrigin::start().await;
    let mut conf = cirrus_core::DomainConf::new(crate::HOST, format!("http://{}", origin.addr).parse().unwrap());
    conf.cache.stale_if_error = Some(60);
    let e = std::sync::Arc::new(EdgeUnderTest::start(conf).await);
    for k in 0..5 {
        assert_eq!(e.get(&format!("/c/{k}")).await.0, 200);
    }
    let stop = tokio::time::Instant::now() + Duration::from_secs(8);
    let flapping = tokio::spawn(async move {
        let mut down = false;
        while tokio::time::Instant::now() < stop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            down = !down;
            origin.set(if down { Mode::Down } else { Mode::Up });
        }
        origin.set(Mode::Up);
        origin
    });
    let seen = load(&e, 4, stop).await;
    let _origin = flapping.await.unwrap();
    let slowest = seen.iter().map(|(_, _, t)| *t).max().unwrap_or_default();
    let (cached_ok, ns_ok, ns_502) = (
        count(&seen, true, 200),
        count(&seen, false, 200),
        count(&seen, false, 502),
    );
    eprintln!(
        "origin flapping 8 s: {} requests; cached {cached_ok} of {} answered 200; no-store {ns_ok} answered 200, {ns_502} 502; slowest {slowest:?}",
        seen.len(),
        seen.iter().filter(|(c, _, _)| *c).count()
    );
    assert!(
        seen.iter().filter(|(c, _, _)| *c).all(|(_, s, _)| *s == 200),
        "cached traffic: stale while the origin is down"
    );
    assert_eq!(
        ns_ok + ns_502,
        count_kind(&seen, false),
        "no-store: the origin's answer or 502, nothing else"
    );
    assert!(ns_ok > 0 && ns_502 > 0, "both phases were seen: {ns_ok} / {ns_502}");
    assert!(
        slowest < Duration::from_secs(2),
        "a refused origin costs no wait: {slowest:?}"
    );
    // Back up (its port bound again): answered within a second, not after
    // the 10 s an origin that failed is avoided for.
    eventually("no-store answered again", Duration::from_secs(1), || async {
        e.get("/ns/after").await.0 == 200
    })
    .await;
}

fn count_kind(seen: &Seen, cached: bool) -> usize {
    seen.iter().filter(|(c, _, _)| *c == cached).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_that_never_answers_costs_the_origin_timeout_and_stale_answers() {
    let origin = ChaosOrigin::start().await;
    let mut conf = cirrus_core::DomainConf::new(crate::HOST, format!("http://{}", origin.addr).parse().unwrap());
    conf.cache.stale_if_error = Some(60);
    let settings = cirrus_edge::EdgeSettings {
        origin_timeout: Duration::from_secs(1),
        ..cirrus_edge::EdgeSettings::default()
    };
    let e = std::sync::Arc::new(EdgeUnderTest::start_with(conf, settings).await);
    for k in 0..5 {
        assert_eq!(e.get(&format!("/c/{k}")).await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    origin.set(Mode::Hung);
    let seen = load(&e, 8, tokio::time::Instant::now() + Duration::from_secs(4)).await;
    let slowest = seen.iter().map(|(_, _, t)| *t).max().unwrap_or_default();
    let (cached_ok, ns_504) = (count(&seen, true, 200), count(&seen, false, 504));
    let waited = seen
        .iter()
        .filter(|(c, _, t)| *c && *t >= Duration::from_millis(500))
        .count();
    eprintln!(
        "origin hung 4 s: {} requests; cached {cached_ok} of {} answered 200 (stale), {waited} of them after waiting for the origin; no-store {ns_504} of {} answered 504; slowest {slowest:?}",
        seen.len(),
        count_kind(&seen, true),
        count_kind(&seen, false)
    );
    assert!(
        waited <= 8,
        "once the origin timed out, stale answers come at once (8 clients may each have waited once): {waited}"
    );
    assert_eq!(
        cached_ok,
        count_kind(&seen, true),
        "cached traffic: stale once the origin timed out"
    );
    assert_eq!(
        ns_504,
        count_kind(&seen, false),
        "no-store: 504 after the origin timeout"
    );
    assert!(
        slowest < Duration::from_millis(2500),
        "bounded by the origin timeout: {slowest:?}"
    );
    origin.set(Mode::Up);
    assert_eq!(e.get("/ns/after").await.0, 200, "answered again at once");
}
