//! `POST /api/v1/domains:batch`: per-item results, one change event per
//! batch, per-item authorization, the batch's own limits.

use crate::{Backend, Harness, domain};
use cirrus_core::model::{BatchOutcome, MAX_BATCH, Scope, TokenRequest};
use cirrus_core::{Event, SubscribeOptions};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

battery!(batch_results_and_one_event, batch_limits_and_authorization);

pub async fn batch_results_and_one_event(backend: Backend) {
    let h = Harness::start(backend).await;
    h.master.put_domain(&domain("same.com")).await.unwrap();
    let mut changed = domain("changed.com");
    h.master.put_domain(&changed).await.unwrap();
    changed.replicas = Some(3);
    let mut sub = h.store.subscribe(SubscribeOptions::default()).await.unwrap();
    let before = h.store.revision().await.unwrap();

    // New, replaced, unchanged, invalid, unnamed, duplicated, a GET's `dns`.
    let res = h
        .raw(Method::POST, "/api/v1/domains:batch")
        .json(&json!({"domains": [
            domain("new.com"),
            changed,
            domain("same.com"),
            {"domain": "bad.com", "origins": []},
            {"origins": [{"host": "o.com"}]},
            domain("NEW.com"),
            {"domain": "dns.com", "origins": [{"host": "o.com"}], "dns": {"anything": 1}},
            {"domain": "typo.com", "origins": [{"host": "o.com"}], "ttl": 5},
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let result: cirrus_core::model::BatchResult = res.json().await.unwrap();
    let outcomes: Vec<(usize, Option<&str>, BatchOutcome)> = result
        .items
        .iter()
        .map(|i| (i.index, i.domain.as_deref(), i.outcome))
        .collect();
    use BatchOutcome::*;
    assert_eq!(
        outcomes,
        [
            (0, Some("new.com"), Created),
            (1, Some("changed.com"), Updated),
            (2, Some("same.com"), Unchanged),
            (3, Some("bad.com"), Refused),
            (4, None, Refused),
            (5, Some("new.com"), Refused),
            (6, Some("dns.com"), Created),
            (7, Some("typo.com"), Refused),
        ]
    );
    let code = |i: usize| result.items[i].error.as_ref().unwrap().code.clone();
    assert_eq!(code(3), "invalid_input");
    assert_eq!(result.items[3].error.as_ref().unwrap().details[0].field, "origins");
    assert_eq!(code(5), "duplicate");
    assert!(
        result.items[7].error.as_ref().unwrap().details[0]
            .reason
            .contains("ttl")
    );
    assert!(result.items[..3].iter().all(|i| i.error.is_none()));

    // Written: the new and the changed; one revision, one change event.
    assert_eq!(h.store.get_domain("new.com").await.unwrap().unwrap(), domain("new.com"));
    assert_eq!(
        h.store.get_domain("changed.com").await.unwrap().unwrap().replicas,
        Some(3)
    );
    assert!(h.store.get_domain("bad.com").await.unwrap().is_none());
    assert!(h.store.get_domain("typo.com").await.unwrap().is_none());
    assert_eq!(result.revision, h.store.revision().await.unwrap());
    assert!(result.revision > before);
    let (mut changed_names, mut revisions, mut dirty) = (Vec::new(), Vec::new(), 0);
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        match event {
            Event::Changed { revision, change } => {
                revisions.push(revision);
                changed_names.push(format!("{change:?}"));
            }
            Event::CnameDirty { .. } => dirty += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    changed_names.sort();
    assert_eq!(
        changed_names,
        [
            r#"Domain("changed.com")"#,
            r#"Domain("dns.com")"#,
            r#"Domain("new.com")"#
        ]
    );
    revisions.dedup();
    assert_eq!(revisions, [result.revision], "one change message for the whole batch");
    assert_eq!(dirty, 1, "one zone rebuild asked for");
    let audit = h.master.audit(Some(5)).await.unwrap();
    assert_eq!(audit.items[0].action, "domain.batch");
    assert_eq!(audit.items[0].resource, "3 domains (new.com … dns.com)");

    // The same batch again changes nothing and records nothing.
    let again = h
        .master
        .batch_domains(&[domain("new.com"), domain("same.com")])
        .await
        .unwrap();
    assert_eq!(again.count(BatchOutcome::Unchanged), 2);
    assert_eq!(again.revision, result.revision);
    assert_eq!(h.master.audit(Some(1)).await.unwrap().items[0].action, "domain.batch");
}

pub async fn batch_limits_and_authorization(backend: Backend) {
    let h = Harness::start(backend).await;
    let post = |body: serde_json::Value| h.raw(Method::POST, "/api/v1/domains:batch").json(&body).send();
    // The batch itself: malformed or too large is one 422, nothing written.
    for body in [
        json!([domain("a.com")]),
        json!({"domains": domain("a.com")}),
        json!({"domains": [domain("a.com")], "mode": "create"}),
        json!({"domains": [domain("a.com"), "b.com"]}),
    ] {
        let res = post(body.clone()).await.unwrap();
        assert_eq!(res.status(), 422, "{body}");
    }
    let too_many: Vec<_> = (0..=MAX_BATCH).map(|i| domain(&format!("d{i}.com"))).collect();
    let e = h.master.batch_domains(&too_many).await.unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert!(e.to_string().contains("at most 1000"), "{e}");
    assert!(h.store.domain_names().await.unwrap().is_empty());
    // An empty batch is harmless.
    let empty = h.master.batch_domains(&[]).await.unwrap();
    assert!(empty.items.is_empty());

    // A token limited to some domains writes those and is refused the rest.
    let limited = h
        .master
        .create_token(&TokenRequest {
            name: "limited".into(),
            scopes: vec![Scope::DomainsWrite],
            domains: Some(vec!["mine.com".into()]),
            expires_at: None,
        })
        .await
        .unwrap()
        .secret;
    let result = h
        .client(&limited)
        .batch_domains(&[domain("mine.com"), domain("theirs.com")])
        .await
        .unwrap();
    assert_eq!(result.items[0].outcome, BatchOutcome::Created);
    assert_eq!(result.items[1].outcome, BatchOutcome::Refused);
    assert_eq!(result.items[1].error.as_ref().unwrap().code, "forbidden");
    assert_eq!(h.store.domain_names().await.unwrap(), ["mine.com"]);
    // A token without the scope is refused the whole batch.
    let reader = h
        .master
        .create_token(&TokenRequest {
            name: "reader".into(),
            scopes: vec![Scope::Read],
            ..Default::default()
        })
        .await
        .unwrap()
        .secret;
    let e = h.client(&reader).batch_domains(&[domain("x.com")]).await.unwrap_err();
    assert_eq!(e.status(), Some(403));
}
