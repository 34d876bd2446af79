//! `GET /api/v1/events`: what the API's writes append, in order, with
//! their actor; filters; paging; what a domain-limited token sees.

use crate::{Backend, Harness, domain};
use cirrus_client::EventQuery;
use cirrus_core::Node;
use cirrus_core::model::{EventType, PurgeSelection, Scope, TokenRequest};
use reqwest::Method;

battery!(
    writes_append_events_in_order,
    events_are_filtered_paged_and_scoped,
    the_live_stream_starts_now_and_resumes,
    purges_end_in_events,
    the_client_follows_the_stream,
    streams_past_the_limit_are_refused
);

/// A token that may read `domain` only.
async fn read_token_for(h: &Harness, domain: &str) -> String {
    let request = TokenRequest {
        name: format!("{domain}-only"),
        scopes: vec![Scope::Read],
        domains: Some(vec![domain.into()]),
        expires_at: None,
    };
    h.master.create_token(&request).await.unwrap().secret
}

fn kinds(list: &cirrus_core::model::EventList) -> Vec<(EventType, String)> {
    list.items.iter().map(|e| (e.kind, e.subject.clone())).collect()
}

pub async fn writes_append_events_in_order(backend: Backend) {
    let h = Harness::start(backend).await;
    let mut conf = domain("a.com");
    h.master.put_domain(&conf).await.unwrap();
    h.master.put_domain(&conf).await.unwrap(); // unchanged: no event
    conf.replicas = Some(2);
    h.master.put_domain(&conf).await.unwrap();
    h.master
        .patch_domain("a.com", &serde_json::json!({"enabled": false}))
        .await
        .unwrap();
    let purge = h
        .master
        .purge(
            "a.com",
            &PurgeSelection {
                all: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    h.master
        .batch_domains(&[domain("b.com"), domain("a.com")])
        .await
        .unwrap();
    h.master.delete_domain("b.com").await.unwrap();
    h.master
        .put_node(&Node::new("edge-1").with_ipv4([192, 0, 2, 1].into()))
        .await
        .unwrap();
    h.master.disable_node("edge-1").await.unwrap();
    h.master.disable_node("edge-1").await.unwrap(); // already: no event
    h.master.enable_node("edge-1").await.unwrap();
    let token = h
        .master
        .create_token(&TokenRequest {
            name: "t".into(),
            scopes: vec![Scope::Read],
            ..Default::default()
        })
        .await
        .unwrap();
    h.master.revoke_token(&token.token.id).await.unwrap();

    let mut all = h.master.events(&EventQuery::default()).await.unwrap();
    // With no edge reporting, the purge is complete at once: its event
    // comes when the watcher looks (tested in purges_end_in_events).
    all.items.retain(|e| e.kind != EventType::PurgeCompleted);
    use EventType::*;
    let s = String::from;
    assert_eq!(
        kinds(&all),
        [
            (DomainCreated, s("a.com")),
            (DomainUpdated, s("a.com")),
            (DomainUpdated, s("a.com")),
            (PurgeRequested, purge.id.clone()),
            (DomainCreated, s("b.com")),
            (DomainUpdated, s("a.com")),
            (DomainDeleted, s("b.com")),
            (NodeDisabled, s("edge-1")),
            (NodeEnabled, s("edge-1")),
            (TokenCreated, token.token.id.clone()),
            (TokenRevoked, token.token.id.clone()),
        ]
    );
    assert!(all.items.iter().all(|e| e.actor.as_deref() == Some("master")));
    assert_eq!(
        all.items[3].domain.as_deref(),
        Some("a.com"),
        "a purge concerns its domain"
    );
    assert_eq!(all.next_after.as_deref(), Some(all.items[10].id.as_str()));
    // Nothing since: the same place again.
    let since = h
        .master
        .events(&EventQuery::after(all.next_after.clone()))
        .await
        .unwrap();
    assert!(since.items.is_empty());
    assert_eq!(since.next_after, all.next_after);
}

pub async fn events_are_filtered_paged_and_scoped(backend: Backend) {
    let h = Harness::start(backend).await;
    for d in ["a.com", "b.com", "c.com"] {
        h.master.put_domain(&domain(d)).await.unwrap();
    }
    h.master.delete_domain("b.com").await.unwrap();

    // Pages of two, followed by next_after.
    let mut seen = Vec::new();
    let mut query = EventQuery {
        limit: Some(2),
        ..EventQuery::default()
    };
    loop {
        let page = h.master.events(&query).await.unwrap();
        assert!(page.items.len() <= 2);
        if page.items.is_empty() {
            break;
        }
        seen.extend(page.items.into_iter().map(|e| e.subject));
        query.after = page.next_after;
    }
    assert_eq!(seen, ["a.com", "b.com", "c.com", "b.com"]);

    let by_type = EventQuery {
        types: vec![EventType::DomainDeleted],
        ..EventQuery::default()
    };
    assert_eq!(
        kinds(&h.master.events(&by_type).await.unwrap()),
        [(EventType::DomainDeleted, "b.com".into())]
    );
    let by_subject = EventQuery {
        subject: Some("b.com".into()),
        ..EventQuery::default()
    };
    assert_eq!(h.master.events(&by_subject).await.unwrap().items.len(), 2);

    // A token limited to a.com sees a.com's events only.
    let limited = read_token_for(&h, "a.com").await;
    let mine = h.client(&limited).events(&EventQuery::default()).await.unwrap();
    assert_eq!(kinds(&mine), [(EventType::DomainCreated, "a.com".into())]);

    // Bad input: 422 naming the field.
    for (query, field) in [
        ("after=yesterday", "after"),
        ("type=domain.exploded", "type"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
    ] {
        let res = h
            .raw(Method::GET, &format!("/api/v1/events?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{query}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["details"][0]["field"], field, "{query}");
    }
}

/// One Server-Sent Event: (id, event, data), within 10 s.
async fn next_sse(res: &mut reqwest::Response, buf: &mut String) -> (String, String, serde_json::Value) {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            // Keep-alive comments carry no event.
            if let (Some(id), Some(event), Some(data)) = (field("id:"), field("event:"), field("data:")) {
                return (id, event, serde_json::from_str(&data).unwrap());
            }
            continue;
        }
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), res.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

pub async fn the_live_stream_starts_now_and_resumes(backend: Backend) {
    let h = Harness::start(backend).await;
    h.master.put_domain(&domain("old.com")).await.unwrap();
    let mut live = h.raw(Method::GET, "/api/v1/events/stream").send().await.unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();
    h.master.put_domain(&domain("new.com")).await.unwrap();
    h.master.delete_domain("new.com").await.unwrap();
    let (first, kind, data) = next_sse(&mut live, &mut buf).await;
    assert_eq!(
        (kind.as_str(), data["subject"].as_str()),
        ("domain.created", Some("new.com")),
        "from now: old.com is not sent"
    );
    assert_eq!(data["id"], first.as_str());
    let (_, kind, _) = next_sse(&mut live, &mut buf).await;
    assert_eq!(kind, "domain.deleted");
    drop(live);

    // A reconnect with Last-Event-ID gets what followed that event.
    let mut resumed = h
        .raw(Method::GET, "/api/v1/events/stream?type=domain.deleted")
        .header("last-event-id", &first)
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let (_, kind, data) = next_sse(&mut resumed, &mut buf).await;
    assert_eq!(
        (kind.as_str(), data["subject"].as_str()),
        ("domain.deleted", Some("new.com"))
    );
    drop(resumed);

    // A token limited to a.com sees a.com's events only.
    let limited = read_token_for(&h, "a.com").await;
    let mut mine = reqwest::Client::new()
        .get(format!("{}/api/v1/events/stream", h.url))
        .bearer_auth(&limited)
        .send()
        .await
        .unwrap();
    h.master.put_domain(&domain("b.com")).await.unwrap();
    h.master.put_domain(&domain("a.com")).await.unwrap();
    let mut buf = String::new();
    let (_, _, data) = next_sse(&mut mine, &mut buf).await;
    assert_eq!(data["subject"], "a.com", "b.com's event is not shown");

    // Bad input is refused before the stream opens.
    let res = h
        .raw(Method::GET, "/api/v1/events/stream")
        .header("last-event-id", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
}

pub async fn purges_end_in_events(backend: Backend) {
    use cirrus_core::model::{EdgeReport, now_ms};
    let h = crate::Harness::start_with(backend, |b| b.purge_deadline(std::time::Duration::from_secs(1))).await;
    for (id, ip) in [("edge-a", 1), ("edge-b", 2)] {
        h.master
            .put_node(&Node::new(id).with_ipv4([192, 0, 2, ip].into()))
            .await
            .unwrap();
    }
    h.master.put_domain(&domain("shop.test")).await.unwrap();
    let revision = h.store.revision().await.unwrap();
    for edge in ["edge-a", "edge-b"] {
        let report = EdgeReport::new(revision, now_ms(), now_ms());
        assert!(h.store.report_edge(edge, &report).await.unwrap());
    }
    let all = PurgeSelection {
        all: true,
        ..Default::default()
    };
    let done = h.master.purge("shop.test", &all).await.unwrap();
    let stuck = h.master.purge("shop.test", &all).await.unwrap();
    let published = h.master.purge_status(&done.id).await.unwrap().published_ms;
    for edge in ["edge-a", "edge-b"] {
        h.store.ack_purge(&done.id, edge, published + 5).await.unwrap();
    }
    h.store.ack_purge(&stuck.id, "edge-a", published + 5).await.unwrap();

    let ended = |id: String| {
        let master = h.master.clone();
        async move {
            let query = EventQuery {
                subject: Some(id),
                types: vec![EventType::PurgeCompleted, EventType::PurgeIncomplete],
                ..EventQuery::default()
            };
            master.events(&query).await.unwrap().items.pop()
        }
    };
    let completed = cirrus_test_support::eventually("purge.completed", std::time::Duration::from_secs(10), || {
        ended(done.id.clone())
    })
    .await;
    assert_eq!(completed.kind, EventType::PurgeCompleted);
    assert_eq!(completed.domain.as_deref(), Some("shop.test"));
    assert_eq!(completed.data["applied"], 2);
    let incomplete = cirrus_test_support::eventually(
        "purge.incomplete after its 1 s deadline",
        std::time::Duration::from_secs(10),
        || ended(stuck.id.clone()),
    )
    .await;
    assert_eq!(incomplete.kind, EventType::PurgeIncomplete);
    assert_eq!(incomplete.data["pending"], serde_json::json!(["edge-b"]));
    assert!(
        incomplete.at >= stuck_published(&h, &stuck.id).await + 1000,
        "not before its deadline"
    );
}

async fn stuck_published(h: &crate::Harness, id: &str) -> u64 {
    h.master.purge_status(id).await.unwrap().published_ms
}

pub async fn the_client_follows_the_stream(backend: Backend) {
    let h = Harness::start(backend).await;
    h.master.put_domain(&domain("before.com")).await.unwrap();
    let query = EventQuery {
        types: vec![EventType::DomainCreated, EventType::DomainDeleted],
        ..EventQuery::default()
    };
    let mut follower = h.master.follow_events(query).await.unwrap();
    h.master.put_domain(&domain("after.com")).await.unwrap();
    h.master
        .put_node(&Node::new("n1").with_ipv4([192, 0, 2, 1].into()))
        .await
        .unwrap();
    h.master.delete_domain("after.com").await.unwrap();
    let wait = std::time::Duration::from_secs(10);
    let first = tokio::time::timeout(wait, follower.next()).await.unwrap().unwrap();
    let second = tokio::time::timeout(wait, follower.next()).await.unwrap().unwrap();
    assert_eq!(
        [
            (first.kind, first.subject.as_str()),
            (second.kind, second.subject.as_str())
        ],
        [
            (EventType::DomainCreated, "after.com"),
            (EventType::DomainDeleted, "after.com")
        ],
        "from now on (not before.com), filtered (not the node), in order"
    );
    // Resumed from the last one seen: nothing is missed.
    h.master.put_domain(&domain("later.com")).await.unwrap();
    let resumed = EventQuery::after(Some(first.id.clone()));
    let mut again = h.master.follow_events(resumed).await.unwrap();
    let seen = tokio::time::timeout(wait, again.next()).await.unwrap().unwrap();
    assert_eq!(seen.id, second.id);
}

pub async fn streams_past_the_limit_are_refused(backend: Backend) {
    let h = crate::Harness::start_with(backend, |b| b.event_streams(1)).await;
    let open = h.raw(Method::GET, "/api/v1/events/stream").send().await.unwrap();
    assert_eq!(open.status(), 200);
    let refused = h.raw(Method::GET, "/api/v1/events/stream").send().await.unwrap();
    assert_eq!(refused.status(), 503, "one stream allowed, one open");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    // The paged list is not a stream: still served.
    assert!(h.master.events(&EventQuery::default()).await.is_ok());
}
