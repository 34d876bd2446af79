//! Embedded-specific behaviour: crash durability and lagging subscribers.

use crate::conformance::{domain, next_event};
use cirrus_core::{Change, ChangeFeed, DomainStore, EmbeddedStore, Event, SubscribeOptions};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "CIRRUS_TEST_KILL9_DIR";

/// A write acknowledged before `kill -9` is there after restart. The test
/// re-runs this test binary as a child that writes and reports each ack.
#[test]
fn acknowledged_writes_survive_kill_9() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        return child_writer(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "embedded_only::acknowledged_writes_survive_kill_9",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(name) = line.strip_prefix("ACK ") {
            acked.push(name.to_string());
            if acked.len() == 40 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert_eq!(acked.len(), 40, "the child should have acknowledged 40 writes");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let names = store.domain_names().await.unwrap();
        for name in &acked {
            assert!(names.contains(name), "{name} was acknowledged but is gone");
        }
        assert!(store.revision().await.unwrap() >= 40);
    });
}

fn child_writer(dir: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = EmbeddedStore::open(dir).unwrap();
        for i in 0.. {
            let name = format!("crash-{i}.example.com");
            store.put_domain(&domain(&name)).await.unwrap();
            println!("ACK {name}");
        }
    });
}

/// A subscriber that falls behind the in-process broadcast resyncs from the
/// change log instead of silently losing events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_subscriber_replays_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::builder(dir.path()).event_buffer(4).open().unwrap();
    let options = SubscribeOptions::default().buffer(1);
    let mut sub = store.subscribe(options).await.unwrap();
    let mut revisions = Vec::new();
    for i in 0..30 {
        revisions.push(
            store
                .put_domain(&domain(&format!("lag-{i}.example.com")))
                .await
                .unwrap()
                .revision,
        );
    }
    let mut seen = Vec::new();
    while seen.len() < 30 {
        match next_event(&mut sub).await {
            Event::Changed {
                revision,
                change: Change::Domain(_),
            } => seen.push(revision),
            Event::CnameDirty { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, revisions, "every change once, in order");
}

#[tokio::test]
async fn data_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.put_domain(&domain("kept.example.com")).await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert!(store.get_domain("kept.example.com").await.unwrap().is_some());
    assert_eq!(store.revision().await.unwrap(), 1);
}

/// The settings of an embedded store's location reach the store: with
/// `purge_records=2`, a third purge makes the first one's record go.
#[tokio::test]
async fn a_location_s_settings_reach_the_store() {
    use cirrus_core::PurgeRequest;
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("embedded:{}?purge_records=2&cache=4MiB", dir.path().display());
    let store = cirrus_core::open_store(&spec).unwrap();
    for n in 1..=3 {
        let purge = PurgeRequest {
            id: Some(format!("pg_{n}")),
            ..PurgeRequest::all("a.example.com")
        };
        store.publish_purge(&purge).await.unwrap();
    }
    assert!(store.purge_record("pg_1").await.unwrap().is_none(), "beyond the cap");
    assert!(store.purge_record("pg_2").await.unwrap().is_some());
    assert!(store.purge_record("pg_3").await.unwrap().is_some());
    let bad = format!("embedded:{}?purge_records=none", dir.path().display());
    assert!(
        cirrus_core::open_store(&bad)
            .unwrap_err()
            .to_string()
            .contains("purge_records")
    );
}
