//! `/api/v1/webhooks`: registering, reading, replacing, rotating and
//! deleting endpoints; bad input with field details; the SSRF rule; what a
//! domain-limited token may register and see; the delivery log's replay.

use crate::{Backend, Harness};
use cirrus_core::model::{
    Delivery, DeliveryOutcome, EventRecord, EventType, Scope, TokenRequest, WebhookProgress, WebhookSpec,
};
use reqwest::Method;
use std::time::Duration;

battery!(
    endpoints_are_managed_with_their_secret_shown_once,
    bad_endpoints_are_refused_with_field_details,
    private_addresses_are_refused_unless_allowed,
    domain_limited_tokens_see_only_their_endpoints,
    one_attempt_is_replayed_on_request
);

/// A public address that needs no DNS.
const PUBLIC: &str = "https://93.184.216.34/hooks/cirrus";

fn field_of(e: &cirrus_client::Error) -> Vec<String> {
    e.details().iter().map(|d| d.field.clone()).collect()
}

pub async fn endpoints_are_managed_with_their_secret_shown_once(backend: Backend) {
    let h = Harness::start(backend).await;
    let mut spec = WebhookSpec::new(PUBLIC);
    spec.types = vec![EventType::PurgeCompleted, EventType::DomainCreated];
    spec.domains = vec!["A.com".into()];
    spec.description = "billing bus".into();
    let created = h.master.create_webhook(&spec).await.unwrap();
    assert!(created.secret.starts_with("whsec_"), "{}", created.secret);
    let hook = created.webhook;
    assert!(cirrus_core::model::is_webhook_id(&hook.id), "{}", hook.id);
    assert_eq!(hook.domains, ["a.com"], "normalized");
    assert_eq!(hook.types, [EventType::DomainCreated, EventType::PurgeCompleted]);
    assert_eq!(hook.created_by, "master");

    // The secret is never shown again.
    let raw = h
        .raw(Method::GET, &format!("/api/v1/webhooks/{}", hook.id))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let text = raw.text().await.unwrap();
    assert!(!text.contains("whsec_") && !text.contains("secret"), "{text}");
    assert_eq!(h.master.get_webhook(&hook.id).await.unwrap(), hook);
    assert_eq!(h.master.webhooks().await.unwrap().items, std::slice::from_ref(&hook));
    let stored = h.store.webhook_secrets(&hook.id).await.unwrap().unwrap();
    assert_eq!(stored.current, created.secret);

    // Delivery starts after what was written before it.
    h.master.put_domain(&crate::domain("before.com")).await.unwrap();
    let mut later = WebhookSpec::new(PUBLIC);
    later.enabled = false;
    let second = h.master.create_webhook(&later).await.unwrap().webhook;
    let newest = h.store.newest_event().await.unwrap().map(|id| id.to_string());
    let progress = h.store.webhook_progress(&second.id).await.unwrap().unwrap();
    assert_eq!(progress.cursor, newest);

    // Replacing keeps the id and creation; enabling clears the reason.
    let mut disabled = h.store.get_webhook(&second.id).await.unwrap().unwrap();
    disabled.disabled_reason = Some("the receiver answered 410 Gone".into());
    h.store.update_webhook(&disabled).await.unwrap();
    later.enabled = true;
    later.description = "again".into();
    let replaced = h.master.replace_webhook(&second.id, &later).await.unwrap();
    assert_eq!(
        (replaced.id.as_str(), replaced.created_at),
        (second.id.as_str(), second.created_at)
    );
    assert_eq!((replaced.enabled, replaced.disabled_reason.as_deref()), (true, None));

    // Rotation: a new secret, the old one signing for the overlap.
    let rotated = h
        .master
        .rotate_webhook_secret(&hook.id, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_ne!(rotated.secret, created.secret);
    let now = cirrus_core::model::now_ms() / 1000;
    assert!((now + 3590..=now + 3610).contains(&rotated.previous_until));
    let stored = h.store.webhook_secrets(&hook.id).await.unwrap().unwrap();
    assert_eq!(stored.active(now), [rotated.secret.as_str(), created.secret.as_str()]);
    let too_long = h
        .master
        .rotate_webhook_secret(&hook.id, Some(Duration::from_secs(8 * 86_400)))
        .await
        .unwrap_err();
    assert_eq!(
        (too_long.status(), field_of(&too_long)),
        (Some(422), vec!["overlap_secs".to_string()])
    );
    let no_body = h
        .raw(Method::POST, &format!("/api/v1/webhooks/{}/rotate-secret", hook.id))
        .send()
        .await
        .unwrap();
    assert_eq!(no_body.status(), 200, "the body is optional");
    let null = h
        .raw(Method::POST, &format!("/api/v1/webhooks/{}/rotate-secret", hook.id))
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap();
    assert_eq!(null.status(), 200, "and may be null");

    // Deleting removes it and its logs; unknown and malformed ids are 404.
    h.master.delete_webhook(&hook.id).await.unwrap();
    for id in [
        hook.id.as_str(),
        "wh_0000000000000000",
        "nope",
        "wh_00000000000000aa:secrets",
    ] {
        let e = h.master.get_webhook(id).await.unwrap_err();
        assert_eq!(e.status(), Some(404), "{id}");
    }
    assert_eq!(h.master.delete_webhook(&hook.id).await.unwrap_err().status(), Some(404));
    let audit = h.master.audit(Some(20)).await.unwrap();
    let actions: Vec<&str> = audit.items.iter().map(|a| a.action.as_str()).collect();
    for action in [
        "webhook.create",
        "webhook.update",
        "webhook.rotate_secret",
        "webhook.delete",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
}

pub async fn bad_endpoints_are_refused_with_field_details(backend: Backend) {
    let h = Harness::start(backend).await;
    for (url, why) in [
        ("ftp://93.184.216.34/x", "http"),
        ("https://user:pw@93.184.216.34/", "credentials"),
        ("not-a-url", "http"),
        ("https://93.184.216.34/#frag", "fragment"),
        // What URL parsers read as 127.0.0.1, past an address check.
        ("http://2130706433/", "IPv4"),
        ("http://127.1/", "IPv4"),
        ("http://0x7f.0.0.1/", "IPv4"),
    ] {
        let e = h.master.create_webhook(&WebhookSpec::new(url)).await.unwrap_err();
        assert_eq!(
            (e.status(), field_of(&e)),
            (Some(422), vec!["url".to_string()]),
            "{url}"
        );
        assert!(e.details()[0].reason.contains(why), "{url}: {:?}", e.details());
    }
    for (body, field) in [
        (
            serde_json::json!({"url": PUBLIC, "types": ["domain.exploded"]}),
            "types[0]",
        ),
        (
            serde_json::json!({"url": PUBLIC, "domains": ["not a domain"]}),
            "domains[0]",
        ),
        (serde_json::json!({"url": PUBLIC, "colour": "red"}), "colour"),
        (serde_json::json!({"types": []}), "body"),
        (
            serde_json::json!({"url": PUBLIC, "description": "x".repeat(300)}),
            "description",
        ),
    ] {
        let res = h
            .raw(Method::POST, "/api/v1/webhooks")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{body}");
        let text = res.text().await.unwrap();
        assert!(text.contains(&format!("\"field\":\"{field}\"")), "{body}: {text}");
    }
    let res = h
        .raw(Method::POST, "/api/v1/webhooks")
        .body("{")
        .header("content-type", "application/json");
    assert_eq!(res.send().await.unwrap().status(), 400);
    assert!(
        h.master.webhooks().await.unwrap().items.is_empty(),
        "nothing was registered"
    );
}

pub async fn private_addresses_are_refused_unless_allowed(backend: Backend) {
    let h = Harness::start(backend).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/hook",
        "http://localhost:9000/hook",
    ] {
        let e = h.master.create_webhook(&WebhookSpec::new(url)).await.unwrap_err();
        assert_eq!(
            (e.status(), field_of(&e)),
            (Some(422), vec!["url".to_string()]),
            "{url}"
        );
        assert!(
            e.details()[0].reason.contains("webhook_allow_private"),
            "{url}: {:?}",
            e.details()
        );
    }
    let allowed = Harness::start_with(backend, |b| b.webhook_allow_private(true)).await;
    let hook = allowed
        .master
        .create_webhook(&WebhookSpec::new("http://127.0.0.1:8080/hook"))
        .await
        .unwrap();
    assert_eq!(hook.webhook.url, "http://127.0.0.1:8080/hook");
}

pub async fn domain_limited_tokens_see_only_their_endpoints(backend: Backend) {
    let h = Harness::start(backend).await;
    let token = |scopes: Vec<Scope>| TokenRequest {
        name: "a-only".into(),
        scopes,
        domains: Some(vec!["a.com".into()]),
        expires_at: None,
    };
    let a = h.client(
        &h.master
            .create_token(&token(vec![Scope::Webhooks]))
            .await
            .unwrap()
            .secret,
    );
    let reader = h.client(&h.master.create_token(&token(vec![Scope::Read])).await.unwrap().secret);
    assert_eq!(
        reader.webhooks().await.unwrap_err().status(),
        Some(403),
        "the webhooks scope is needed"
    );

    let everything = h
        .master
        .create_webhook(&WebhookSpec::new(PUBLIC))
        .await
        .unwrap()
        .webhook;
    let mut b_only = WebhookSpec::new(PUBLIC);
    b_only.domains = vec!["b.com".into()];
    let b_hook = h.master.create_webhook(&b_only).await.unwrap().webhook;

    let e = a.create_webhook(&WebhookSpec::new(PUBLIC)).await.unwrap_err();
    assert_eq!((e.status(), field_of(&e)), (Some(422), vec!["domains".to_string()]));
    let mut spec = WebhookSpec::new(PUBLIC);
    spec.domains = vec!["a.com".into(), "b.com".into()];
    let e = a.create_webhook(&spec).await.unwrap_err();
    assert_eq!((e.status(), field_of(&e)), (Some(422), vec!["domains[1]".to_string()]));
    spec.domains = vec!["a.com".into()];
    let mine = a.create_webhook(&spec).await.unwrap().webhook;
    assert!(mine.created_by.starts_with("token:"), "{}", mine.created_by);

    assert_eq!(
        a.webhooks().await.unwrap().items,
        std::slice::from_ref(&mine),
        "only its own"
    );
    for other in [&everything.id, &b_hook.id] {
        assert_eq!(a.get_webhook(other).await.unwrap_err().status(), Some(404));
        assert_eq!(a.delete_webhook(other).await.unwrap_err().status(), Some(404));
        assert_eq!(a.webhook_deliveries(other, None).await.unwrap_err().status(), Some(404));
        assert_eq!(
            a.rotate_webhook_secret(other, None).await.unwrap_err().status(),
            Some(404)
        );
    }
    // Widening its own endpoint past its domains is refused too.
    spec.domains = vec!["b.com".into()];
    let e = a.replace_webhook(&mine.id, &spec).await.unwrap_err();
    assert_eq!((e.status(), field_of(&e)), (Some(422), vec!["domains[0]".to_string()]));
    assert_eq!(h.master.webhooks().await.unwrap().items.len(), 3, "the master sees all");
}

pub async fn one_attempt_is_replayed_on_request(backend: Backend) {
    let h = Harness::start(backend).await;
    let hook = h
        .master
        .create_webhook(&WebhookSpec::new(PUBLIC))
        .await
        .unwrap()
        .webhook;
    let event = EventRecord {
        id: "1700000000000-0".into(),
        version: 1,
        kind: EventType::DomainCreated,
        at: 1_700_000_000_000,
        subject: "a.com".into(),
        domain: Some("a.com".into()),
        actor: Some("master".into()),
        data: serde_json::Value::Null,
    };
    let dead = Delivery {
        id: "dlv_0123456789abcdef".into(),
        event: event.clone(),
        attempt: 9,
        replay: false,
        at: 1,
        duration_ms: 10_000,
        outcome: DeliveryOutcome::Dead,
        status: None,
        error: Some("timed out".into()),
        next_attempt_at: None,
    };
    h.store
        .record_delivery(&hook.id, &dead, &WebhookProgress::default())
        .await
        .unwrap();
    assert_eq!(
        h.master.webhook_deliveries(&hook.id, None).await.unwrap().items,
        std::slice::from_ref(&dead)
    );
    assert_eq!(
        h.master.webhook_dead_letters(&hook.id, Some(5)).await.unwrap().items,
        std::slice::from_ref(&dead)
    );
    let queued = h.master.replay_webhook_delivery(&hook.id, &dead.id).await.unwrap();
    assert!(queued.replay);
    assert_eq!(queued.event, event);
    assert_ne!(queued.id, dead.id);
    let waiting = h.store.replays(&hook.id).await.unwrap();
    assert_eq!(
        waiting.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [queued.id.as_str()]
    );
    let e = h
        .master
        .replay_webhook_delivery(&hook.id, "dlv_nope")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    let e = h.master.webhook_deliveries(&hook.id, Some(0)).await.unwrap_err();
    assert_eq!((e.status(), field_of(&e)), (Some(422), vec!["limit".to_string()]));
}
