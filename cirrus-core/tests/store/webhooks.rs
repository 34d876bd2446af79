//! Conformance: webhook endpoints, their secrets, progress, delivery log,
//! dead letters and replays ([`WebhookStore`]).

use cirrus_core::model::{
    Delivery, DeliveryOutcome, EventRecord, EventType, Webhook, WebhookProgress, WebhookSecrets, WebhookSpec,
};
use cirrus_core::{DELIVERY_LOG_LEN, WebhookStore};

fn hook(id: &str) -> Webhook {
    Webhook::new(id, WebhookSpec::new("https://hooks.example.com/in"), 1, "master")
}

fn delivery(id: &str, event: &str, outcome: DeliveryOutcome) -> Delivery {
    Delivery {
        id: id.into(),
        event: EventRecord {
            id: event.into(),
            version: 1,
            kind: EventType::PurgeCompleted,
            at: 1,
            subject: "p1".into(),
            domain: Some("a.example".into()),
            actor: None,
            data: serde_json::Value::Null,
        },
        attempt: 1,
        replay: false,
        at: 2,
        duration_ms: 3,
        outcome,
        status: Some(500),
        error: None,
        next_attempt_at: None,
    }
}

fn at(i: usize) -> WebhookProgress {
    WebhookProgress {
        cursor: Some(format!("{i}-0")),
        ..WebhookProgress::default()
    }
}

pub async fn webhooks_crud_and_logs<S: WebhookStore + ?Sized>(store: &S) {
    let (a, b) = ("wh_00000000000000aa", "wh_00000000000000bb");
    assert!(store.webhooks().await.unwrap().is_empty());
    assert!(!store.update_webhook(&hook(a)).await.unwrap(), "no endpoint to update");
    let progress = WebhookProgress {
        cursor: Some("5-0".into()),
        ..WebhookProgress::default()
    };
    store
        .create_webhook(&hook(b), &WebhookSecrets::new("whsec_b"), &progress)
        .await
        .unwrap();
    store
        .create_webhook(&hook(a), &WebhookSecrets::new("whsec_a"), &WebhookProgress::default())
        .await
        .unwrap();
    let ids: Vec<String> = store.webhooks().await.unwrap().into_iter().map(|h| h.id).collect();
    assert_eq!(ids, [a, b], "by id");
    assert_eq!(store.webhook_progress(b).await.unwrap(), Some(progress));
    assert_eq!(store.webhook_secrets(a).await.unwrap().unwrap().current, "whsec_a");

    let mut changed = hook(a);
    changed.enabled = false;
    changed.disabled_reason = Some("410 Gone".into());
    assert!(store.update_webhook(&changed).await.unwrap());
    assert_eq!(store.get_webhook(a).await.unwrap(), Some(changed));
    let mut rotated = WebhookSecrets::new("whsec_a2");
    rotated.previous = Some("whsec_a".into());
    rotated.previous_until = 99;
    assert!(store.put_webhook_secrets(a, &rotated).await.unwrap());
    assert_eq!(store.webhook_secrets(a).await.unwrap(), Some(rotated));
    let moved = WebhookProgress {
        cursor: Some("9-1".into()),
        attempts: 2,
        failing_since: 7,
        next_attempt_at: 8,
    };
    store.put_webhook_progress(a, &moved).await.unwrap();
    assert_eq!(store.webhook_progress(a).await.unwrap(), Some(moved));

    // The log keeps the newest, newest first; dead ones also go to the dead letters.
    for i in 0..DELIVERY_LOG_LEN + 2 {
        let outcome = if i % 500 == 0 {
            DeliveryOutcome::Dead
        } else {
            DeliveryOutcome::Failed
        };
        store
            .record_delivery(a, &delivery(&format!("dlv_{i}"), &format!("{i}-0"), outcome), &at(i))
            .await
            .unwrap();
    }
    assert_eq!(
        store.webhook_progress(a).await.unwrap(),
        Some(at(DELIVERY_LOG_LEN + 1)),
        "with the log"
    );
    let log = store.deliveries(a, 3).await.unwrap();
    let newest = DELIVERY_LOG_LEN + 1;
    assert_eq!(
        log.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [
            format!("dlv_{newest}"),
            format!("dlv_{}", newest - 1),
            format!("dlv_{}", newest - 2)
        ]
    );
    assert_eq!(store.deliveries(a, usize::MAX).await.unwrap().len(), DELIVERY_LOG_LEN);
    let dead: Vec<String> = store
        .dead_letters(a, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(dead, ["dlv_1000", "dlv_500", "dlv_0"]);
    assert!(
        store.deliveries(b, 10).await.unwrap().is_empty(),
        "logs are per endpoint"
    );

    // Replays: oldest first, removed by delivery id.
    for id in ["dlv_r1", "dlv_r2", "dlv_r3"] {
        store
            .queue_replay(a, &delivery(id, "1-0", DeliveryOutcome::Dead))
            .await
            .unwrap();
    }
    assert!(store.remove_replay(a, "dlv_r2").await.unwrap());
    assert!(!store.remove_replay(a, "dlv_r2").await.unwrap(), "already gone");
    let left: Vec<String> = store.replays(a).await.unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(left, ["dlv_r1", "dlv_r3"]);

    // Ids that are not the API's never reach a key.
    for bad in ["wh_00000000000000aa:secrets", "x", "wh_0000000000000AA"] {
        assert_eq!(store.get_webhook(bad).await.unwrap(), None, "{bad}");
        assert!(store.deliveries(bad, 10).await.unwrap().is_empty());
    }

    // Deleting removes everything kept for it, and only for it.
    assert!(store.delete_webhook(a).await.unwrap());
    assert!(!store.delete_webhook(a).await.unwrap());
    assert_eq!(store.get_webhook(a).await.unwrap(), None);
    assert_eq!(store.webhook_secrets(a).await.unwrap(), None);
    assert_eq!(store.webhook_progress(a).await.unwrap(), None);
    assert!(store.deliveries(a, 10).await.unwrap().is_empty());
    assert!(store.dead_letters(a, 10).await.unwrap().is_empty());
    assert!(store.replays(a).await.unwrap().is_empty());
    store
        .put_webhook_progress(a, &WebhookProgress::default())
        .await
        .unwrap();
    assert_eq!(
        store.webhook_progress(a).await.unwrap(),
        None,
        "a deleted endpoint's progress stays gone"
    );
    assert!(
        !store
            .put_webhook_secrets(a, &WebhookSecrets::new("whsec_x"))
            .await
            .unwrap()
    );
    assert_eq!(store.webhooks().await.unwrap().len(), 1);
}
