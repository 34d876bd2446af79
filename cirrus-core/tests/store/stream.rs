//! Conformance: the event stream (`EventLog`): ids in order, reading after
//! an id, trimming by length and by age.

use cirrus_core::model::{EventId, EventType, NewEvent};
use cirrus_core::{EmbeddedStore, EventLog, RedisStore};
use cirrus_test_support::RedisServer;
use serde_json::json;
use std::time::Duration;

pub async fn events_in_order<S: EventLog + ?Sized>(store: &S) {
    assert!(store.events_after(None, 10).await.unwrap().is_empty());
    assert_eq!(store.newest_event().await.unwrap(), None);
    let mut written = Vec::new();
    for i in 0..5 {
        let event = NewEvent::new(EventType::DomainCreated, format!("d{i}.example.com"))
            .domain(format!("d{i}.example.com"))
            .actor("master")
            .data(json!({"n": i}));
        let record = store.append_event(&event).await.unwrap();
        assert_eq!(record.kind, EventType::DomainCreated);
        assert_eq!(record.version, cirrus_core::model::EVENT_VERSION);
        written.push(record);
    }
    let ids: Vec<EventId> = written.iter().map(|r| r.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "increasing: {ids:?}");
    assert!(
        written
            .iter()
            .all(|r| r.at.abs_diff(cirrus_core::model::now_ms()) < 60_000)
    );

    let all = store.events_after(None, 10).await.unwrap();
    assert_eq!(all, written, "read back as written, oldest first");
    let next = store.events_after(Some(ids[1]), 2).await.unwrap();
    assert_eq!(next, written[2..4], "after an id: exclusive, at most the limit");
    assert!(store.events_after(Some(ids[4]), 10).await.unwrap().is_empty());
    assert_eq!(store.newest_event().await.unwrap(), Some(ids[4]));
    let before_all = EventId { ms: 0, seq: 0 };
    assert_eq!(store.events_after(Some(before_all), 1).await.unwrap(), written[..1]);

    // A batch: in its order, after what was there.
    let batch: Vec<NewEvent> = (0..3)
        .map(|i| NewEvent::new(EventType::DomainUpdated, format!("b{i}.example.com")))
        .collect();
    let appended = store.append_events(&batch).await.unwrap();
    assert_eq!(appended.len(), 3);
    let after = store.events_after(Some(ids[4]), 10).await.unwrap();
    assert_eq!(after, appended);
    assert_eq!(
        after.iter().map(|e| e.subject.as_str()).collect::<Vec<_>>(),
        ["b0.example.com", "b1.example.com", "b2.example.com"]
    );
    assert!(store.append_events(&[]).await.unwrap().is_empty());
}

/// Both backends with a short stream: 5 events, 1 s.
async fn trims(store: &dyn EventLog) {
    for i in 0..8 {
        store
            .append_event(&NewEvent::new(EventType::NodeUp, format!("n{i}")))
            .await
            .unwrap();
    }
    let kept: Vec<String> = store
        .events_after(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect();
    assert_eq!(kept, ["n3", "n4", "n5", "n6", "n7"], "the newest 5");
    // Older than a second when the next is written: trimmed by age.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store
        .append_event(&NewEvent::new(EventType::NodeDown, "late"))
        .await
        .unwrap();
    let kept = store.events_after(None, 100).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].subject, "late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_trims_events_by_length_and_age() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .events_len(5)
        .events_age(Duration::from_secs(1))
        .build()
        .unwrap();
    trims(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_trims_events_by_length_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::builder(dir.path())
        .events_len(5)
        .events_age(Duration::from_secs(1))
        .open()
        .unwrap();
    trims(&store).await;
}

/// Redis with its append-only file: the stream, its ids and a webhook's
/// place in it are all there after a restart, and new ids keep increasing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_and_webhook_progress_survive_a_redis_restart_from_aof() {
    use cirrus_core::WebhookStore;
    use cirrus_core::model::{Webhook, WebhookProgress, WebhookSecrets, WebhookSpec};
    let mut server = RedisServer::start_with_aof();
    let store = RedisStore::connect(&server.url()).unwrap();
    let events: Vec<NewEvent> = (0..50)
        .map(|i| NewEvent::new(EventType::DomainCreated, format!("d{i}.example")))
        .collect();
    let written = store.append_events(&events).await.unwrap();
    let hook = Webhook::new(
        "wh_00000000000000aa",
        WebhookSpec::new("https://hooks.example/"),
        1,
        "master",
    );
    let progress = WebhookProgress {
        cursor: Some(written[24].id.clone()),
        ..WebhookProgress::default()
    };
    store
        .create_webhook(&hook, &WebhookSecrets::new("whsec_AAAA"), &progress)
        .await
        .unwrap();

    server.restart();
    let after = cirrus_test_support::eventually("the store after the restart", Duration::from_secs(10), || async {
        store.events_after(None, 100).await.ok()
    })
    .await;
    assert_eq!(after, written, "every event, same ids, same order");
    assert_eq!(store.webhook_progress(&hook.id).await.unwrap(), Some(progress));
    let next = store
        .append_event(&NewEvent::new(EventType::DomainDeleted, "d0.example"))
        .await
        .unwrap();
    let (last, next_id): (EventId, EventId) = (written[49].id.parse().unwrap(), next.id.parse().unwrap());
    assert!(next_id > last, "{next_id} after {last}");
}
