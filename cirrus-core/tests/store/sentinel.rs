//! Redis Sentinel on a real master, replica and three sentinels: the store
//! finds the master, follows a failover (the master killed, or frozen),
//! keeps every write it acknowledged, and its subscriptions carry on; a
//! URL whose sentinels do not answer, or name no such master, fails at
//! start saying so.

use crate::conformance::{domain, next_event};
use cirrus_core::{Change, ChangeFeed, DomainStore, Event, RedisStore, SubscribeOptions};
use cirrus_test_support::{MASTER_NAME, SentinelCluster, free_port};
use std::time::{Duration, Instant};

/// Writes `name` until the store acknowledges it; the time that took.
async fn put_until_acknowledged(store: &RedisStore, name: &str) -> Duration {
    let started = Instant::now();
    loop {
        match store.put_domain(&domain(name)).await {
            Ok(_) => return started.elapsed(),
            Err(e) => {
                assert!(e.is_retryable(), "a failover is unavailable, never another error: {e}");
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "no write accepted within 30 s: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn survives(freeze: bool) {
    let mut cluster = SentinelCluster::start();
    let store = RedisStore::connect(&cluster.url()).unwrap();
    let options = SubscribeOptions::default().reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500));
    let mut sub = store.subscribe(options).await.unwrap();
    let mut acknowledged = Vec::new();
    for i in 0..50 {
        let name = format!("d{i}.example.com");
        store.put_domain(&domain(&name)).await.unwrap();
        acknowledged.push(name);
    }
    let old = if freeze {
        cluster.pause_master()
    } else {
        cluster.kill_master()
    };
    let killed = Instant::now();
    let new = cluster.wait_failover(old, Duration::from_secs(30));
    let elected = killed.elapsed();
    let first = put_until_acknowledged(&store, "after.example.com").await;
    let after_kill = killed.elapsed();
    eprintln!(
        "sentinel ({}): master {old} -> {new} elected after {elected:?}; first write accepted {after_kill:?} after the fault ({first:?} of retrying)",
        if freeze { "frozen" } else { "killed" }
    );
    let names = store.domain_names().await.unwrap();
    for name in &acknowledged {
        assert!(names.contains(name), "{name}, acknowledged before the fault, lost");
    }
    // The subscription follows the new master: the write after the
    // failover arrives (after whatever replayed before it).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the change after the failover never arrived");
        match next_event(&mut sub).await {
            Event::Changed {
                change: Change::Domain(d),
                ..
            } if d == "after.example.com" => break,
            _ => {}
        }
    }
    if freeze {
        cluster.resume(old);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_is_followed_and_no_acknowledged_write_is_lost() {
    survives(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_master_is_followed_and_no_acknowledged_write_is_lost() {
    survives(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_urls_that_cannot_work_fail_at_start_saying_why() {
    let nobody = free_port();
    let e = RedisStore::connect(&format!("redis+sentinel://127.0.0.1:{nobody}/{MASTER_NAME}"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no master") && e.contains(&nobody.to_string()), "{e}");
    let cluster = SentinelCluster::start();
    let wrong = cluster.url().replace(MASTER_NAME, "othermaster");
    let e = RedisStore::connect(&wrong).unwrap_err().to_string();
    assert!(e.contains("othermaster"), "{e}");
    let with_password = cluster
        .url()
        .replace("redis+sentinel://", "redis+sentinel://cirrus:wrong@");
    let e = RedisStore::connect(&with_password).unwrap_err().to_string();
    assert!(e.contains("authentication") || e.contains("refused"), "{e}");
    // And a good one answers.
    let store = RedisStore::connect(&cluster.url()).unwrap();
    assert!(store.revision().await.is_ok());
}
