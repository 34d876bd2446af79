//! The conformance suite: what every `Store` backend must do.

use cirrus_core::auth::{hash_password, hash_secret, verify_password};
use cirrus_core::model::{
    AcmeState, AcmeStatus, AuditRecord, CertBundle, NewJob, NodeHealth, Origin, Scope, ServiceToken, Session, User,
};
use cirrus_core::{Change, DomainConf, Error, Event, Lock, Node, PurgeRequest, Store, SubscribeOptions, Subscription};
use cirrus_test_support::eventually;
use std::net::Ipv4Addr;
use std::time::Duration;

pub use crate::convergence::{dns01_challenges, edge_reports_and_purge_acks};

pub fn domain(name: &str) -> DomainConf {
    DomainConf::new(name, "https://192.0.2.10".parse::<Origin>().unwrap())
}

pub fn node(id: &str, last_octet: u8) -> Node {
    Node::new(id).with_ipv4(Ipv4Addr::new(192, 0, 2, last_octet))
}

/// The next event, failing the test after 10 s.
pub async fn next_event(sub: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("no event within 10 s")
        .expect("subscription ended")
}

/// Asserts the two events every domain or node change announces: the
/// change itself, then cname-dirty with the same revision.
pub async fn expect_zone_change(sub: &mut Subscription, revision: u64, change: Change) {
    assert_eq!(next_event(sub).await, Event::Changed { revision, change });
    assert_eq!(
        next_event(sub).await,
        Event::CnameDirty {
            revision: Some(revision)
        }
    );
}

pub async fn domains_crud(store: &dyn Store) {
    let w1 = store.put_domain(&domain("B.example.com")).await.unwrap();
    assert!(w1.created);
    assert_eq!(store.revision().await.unwrap(), w1.revision);
    let w2 = store.put_domain(&domain("a.example.com")).await.unwrap();
    let mut changed = domain("b.example.com");
    changed.replicas = Some(3);
    let w3 = store.put_domain(&changed).await.unwrap();
    assert!(!w3.created, "second PUT replaces");
    assert!(w1.revision < w2.revision && w2.revision < w3.revision);
    assert_eq!(store.domain_names().await.unwrap(), ["a.example.com", "b.example.com"]);
    assert_eq!(
        store.get_domain("b.example.com").await.unwrap(),
        Some(changed.clone().validated().unwrap())
    );
    let all = store.domains().await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.domain.as_str()).collect::<Vec<_>>(),
        ["a.example.com", "b.example.com"]
    );
    assert_eq!(all[1], changed.validated().unwrap());
    assert!(store.get_domain("missing.example.com").await.unwrap().is_none());

    let deleted = store.delete_domain("a.example.com").await.unwrap();
    assert!(deleted.is_some_and(|r| r > w3.revision));
    assert_eq!(store.delete_domain("a.example.com").await.unwrap(), None);
    assert!(store.get_domain("a.example.com").await.unwrap().is_none());
    assert_eq!(store.domain_names().await.unwrap(), ["b.example.com"]);
}

pub async fn invalid_input_changes_nothing(store: &dyn Store) {
    store.put_domain(&domain("ok.example.com")).await.unwrap();
    let rev = store.revision().await.unwrap();
    let mut bad = domain("bad.example.com");
    bad.origins[0].port = Some(0);
    match store.put_domain(&bad).await {
        Err(Error::Invalid(e)) => assert_eq!(e.errors[0].field, "origins[0].port"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // One bad domain in a bulk import refuses the whole import.
    let batch = [
        domain("c1.example.com"),
        domain("not a domain"),
        domain("c2.example.com"),
    ];
    assert!(matches!(store.put_domains(&batch).await, Err(Error::Invalid(_))));
    assert!(matches!(
        store.put_node(&Node::new("no-address")).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        store
            .publish_purge(&PurgeRequest {
                domain: "x.com".into(),
                ..Default::default()
            })
            .await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(store.revision().await.unwrap(), rev);
    assert_eq!(store.domain_names().await.unwrap(), ["ok.example.com"]);
    assert!(store.nodes().await.unwrap().is_empty());
}

pub async fn bulk_import(store: &dyn Store) {
    let confs: Vec<DomainConf> = (0..2500).map(|i| domain(&format!("site-{i:05}.example.com"))).collect();
    let before = store.revision().await.unwrap();
    let rev = store.put_domains(&confs).await.unwrap();
    assert!(rev > before);
    assert_eq!(store.revision().await.unwrap(), rev);
    let names = store.domain_names().await.unwrap();
    assert_eq!(names.len(), 2500);
    assert_eq!(names[1234], "site-01234.example.com");
    assert_eq!(
        store
            .get_domain("site-02499.example.com")
            .await
            .unwrap()
            .unwrap()
            .domain,
        "site-02499.example.com"
    );
}

pub async fn nodes_and_health(store: &dyn Store) {
    assert!(store.put_node(&node("edge-b", 2)).await.unwrap().created);
    store.put_node(&node("edge-a", 1).with_weight(3)).await.unwrap();
    let ids: Vec<String> = store.nodes().await.unwrap().into_iter().map(|n| n.id).collect();
    assert_eq!(ids, ["edge-a", "edge-b"]);
    let a = store.get_node("edge-a").await.unwrap().unwrap();
    assert_eq!(
        (a.weight, a.ipv4, a.enabled, a.active),
        (3, Some(Ipv4Addr::new(192, 0, 2, 1)), true, true)
    );

    // A failing probe that does not flip yet: counters only, no revision.
    let rev = store.revision().await.unwrap();
    let h1 = NodeHealth {
        consecutive_failures: 1,
        last_check: Some(100),
        last_error: Some("timeout".into()),
        ..Default::default()
    };
    assert_eq!(store.record_node_health("edge-a", &h1, true, None).await.unwrap(), None);
    assert_eq!(store.revision().await.unwrap(), rev);
    // The flip: a new revision.
    let h3 = NodeHealth {
        consecutive_failures: 3,
        ..h1.clone()
    };
    let flipped = store.record_node_health("edge-a", &h3, false, None).await.unwrap();
    assert!(flipped.is_some_and(|r| r > rev));
    let a = store.get_node("edge-a").await.unwrap().unwrap();
    assert!(!a.active);
    assert_eq!(a.health, h3);
    // Operator edits keep health state.
    let mut edit = node("edge-a", 9);
    edit.active = true;
    assert!(!store.put_node(&edit).await.unwrap().created);
    let a = store.get_node("edge-a").await.unwrap().unwrap();
    assert_eq!(
        (a.ipv4, a.active, a.health.consecutive_failures),
        (Some(Ipv4Addr::new(192, 0, 2, 9)), false, 3)
    );
    // Recovery with last_seen.
    let ok = NodeHealth {
        consecutive_successes: 2,
        last_check: Some(200),
        ..Default::default()
    };
    assert!(
        store
            .record_node_health("edge-a", &ok, true, Some(200))
            .await
            .unwrap()
            .is_some()
    );
    let a = store.get_node("edge-a").await.unwrap().unwrap();
    assert!(a.active && a.last_seen == Some(200) && a.health.last_error.is_none());

    assert_eq!(store.record_node_health("ghost", &ok, true, None).await.unwrap(), None);
    assert!(store.delete_node("edge-b").await.unwrap().is_some());
    assert_eq!(store.delete_node("edge-b").await.unwrap(), None);
    assert!(store.get_node("edge-b").await.unwrap().is_none());
}

pub async fn certs_and_acme(store: &dyn Store) {
    let d = "tls.example.com";
    assert!(store.get_cert(d).await.unwrap().is_none());
    let cert = CertBundle::new(
        "-----BEGIN CERTIFICATE-----\nA\n",
        "-----BEGIN PRIVATE KEY-----\nB\n",
        Some(1_900_000_000),
    );
    let rev = store.put_cert(d, &cert).await.unwrap();
    assert!(rev > 0);
    assert_eq!(store.get_cert(d).await.unwrap(), Some(cert));
    let no_expiry = CertBundle::new("C", "K", None);
    store.put_cert(d, &no_expiry).await.unwrap();
    assert_eq!(store.get_cert(d).await.unwrap(), Some(no_expiry));
    assert!(store.delete_cert(d).await.unwrap().is_some());
    assert_eq!(store.delete_cert(d).await.unwrap(), None);

    // Certificate ends, for configured domains whose certificate names one.
    for name in ["ends.example.com", "open.example.com"] {
        store.put_domain(&domain(name)).await.unwrap();
    }
    store
        .put_cert("ends.example.com", &CertBundle::new("C", "K", Some(1_800_000_000)))
        .await
        .unwrap();
    store
        .put_cert("open.example.com", &CertBundle::new("C", "K", None))
        .await
        .unwrap();
    store
        .put_cert("orphan.example.com", &CertBundle::new("C", "K", Some(5)))
        .await
        .unwrap();
    assert_eq!(
        store.cert_expiries().await.unwrap(),
        [("ends.example.com".to_string(), 1_800_000_000)]
    );

    let state = AcmeState {
        status: AcmeStatus::Failed,
        last_error: Some("dns".into()),
        updated_at: 5,
        ..Default::default()
    };
    store.put_acme_state(d, &state).await.unwrap();
    assert_eq!(store.get_acme_state(d).await.unwrap(), Some(state));
    assert!(store.get_acme_account().await.unwrap().is_none());
    store.put_acme_account(r#"{"id":"acct"}"#).await.unwrap();
    assert_eq!(
        store.get_acme_account().await.unwrap().as_deref(),
        Some(r#"{"id":"acct"}"#)
    );
    store.put_cert_key(d, "KEY").await.unwrap();
    assert_eq!(store.get_cert_key(d).await.unwrap().as_deref(), Some("KEY"));
}

pub async fn locks(store: &dyn Store) {
    let lock = Lock::AcmeIssue("a.example.com".into());
    assert!(
        store
            .try_lock(&lock, "worker-1", Duration::from_secs(30))
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_lock(&lock, "worker-2", Duration::from_secs(30))
            .await
            .unwrap()
    );
    assert_eq!(store.lock_owner(&lock).await.unwrap().as_deref(), Some("worker-1"));
    assert!(
        !store.unlock(&lock, "worker-2").await.unwrap(),
        "only the owner releases"
    );
    assert!(store.unlock(&lock, "worker-1").await.unwrap());
    assert!(store.lock_owner(&lock).await.unwrap().is_none());

    // An abandoned lock expires.
    let task = Lock::AcmeTask("a.example.com".into());
    assert!(
        store
            .try_lock(&task, "job-1", Duration::from_millis(150))
            .await
            .unwrap()
    );
    eventually("the lock to expire", Duration::from_secs(5), || async {
        store.try_lock(&task, "job-2", Duration::from_secs(30)).await.unwrap()
    })
    .await;
    assert_eq!(store.lock_owner(&task).await.unwrap().as_deref(), Some("job-2"));

    // The owner keeps a lock alive by extending it; nobody else can.
    let held = Lock::AcmeIssue("b.example.com".into());
    let short = Duration::from_millis(300);
    assert!(store.try_lock(&held, "job-3", short).await.unwrap());
    assert!(!store.extend_lock(&held, "job-4", short).await.unwrap(), "not its lock");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(store.extend_lock(&held, "job-3", short).await.unwrap());
    }
    assert_eq!(
        store.lock_owner(&held).await.unwrap().as_deref(),
        Some("job-3"),
        "alive past its first ttl"
    );
    assert!(store.unlock(&held, "job-3").await.unwrap());
    assert!(
        !store.extend_lock(&held, "job-3", short).await.unwrap(),
        "a released lock is not revived"
    );
}

pub async fn tokens(store: &dyn Store) {
    let token = ServiceToken {
        id: "t1".into(),
        name: "ci".into(),
        scopes: vec![Scope::Purge, Scope::Read],
        domains: Some(vec!["a.example.com".into()]),
        created_at: 10,
        expires_at: Some(20),
    };
    let hash = hash_secret("cirrus_secret1");
    store.put_token(&token, &hash).await.unwrap();
    let stored = store.get_token("t1").await.unwrap().unwrap();
    assert_eq!(
        stored.scopes,
        [Scope::Read, Scope::Purge],
        "scopes are normalized (sorted)"
    );
    assert_eq!(store.token_by_secret_hash(&hash).await.unwrap(), Some(stored.clone()));
    assert!(
        store
            .token_by_secret_hash(&hash_secret("wrong"))
            .await
            .unwrap()
            .is_none()
    );
    let open = ServiceToken {
        id: "t0".into(),
        domains: None,
        expires_at: None,
        ..token.clone()
    };
    store.put_token(&open, &hash_secret("cirrus_secret0")).await.unwrap();
    let ids: Vec<String> = store.tokens().await.unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["t0", "t1"]);
    assert!(store.delete_token("t1").await.unwrap());
    assert!(!store.delete_token("t1").await.unwrap());
    assert!(
        store.token_by_secret_hash(&hash).await.unwrap().is_none(),
        "revoked token no longer authenticates"
    );
    let bad = ServiceToken {
        scopes: vec![],
        ..token
    };
    assert!(matches!(store.put_token(&bad, &hash).await, Err(Error::Invalid(_))));
}

pub async fn users_and_sessions(store: &dyn Store) {
    let user = User::new("admin", hash_password("s3cret").unwrap(), 1);
    store.put_user(&user).await.unwrap();
    store
        .put_user(&User::new("ops", hash_password("x").unwrap(), 2))
        .await
        .unwrap();
    let got = store.get_user("admin").await.unwrap().unwrap();
    assert!(verify_password("s3cret", &got.password_hash));
    assert_eq!(store.user_names().await.unwrap(), ["admin", "ops"]);
    assert!(store.delete_user("ops").await.unwrap());
    assert!(!store.delete_user("ops").await.unwrap());
    assert_eq!(store.user_names().await.unwrap(), ["admin"]);

    let long = Session::new("sess-long", "admin", "csrf1", 1);
    store.put_session(&long, Duration::from_secs(60)).await.unwrap();
    assert_eq!(store.get_session("sess-long").await.unwrap(), Some(long));
    let short = Session::new("sess-short", "admin", "csrf2", 1);
    store.put_session(&short, Duration::from_millis(100)).await.unwrap();
    eventually("the session to expire", Duration::from_secs(5), || async {
        store.get_session("sess-short").await.unwrap().is_none()
    })
    .await;
    assert!(store.delete_session("sess-long").await.unwrap());
    assert!(store.get_session("sess-long").await.unwrap().is_none());
    assert!(!store.delete_session("sess-long").await.unwrap());
}

pub async fn job_queue(store: &dyn Store) {
    let vis = Duration::from_millis(300);
    assert!(store.claim("w1", vis).await.unwrap().is_none());
    let j1 = store
        .enqueue(&NewJob::new("issue_cert").for_domain("a.example.com"))
        .await
        .unwrap();
    let j2 = store
        .enqueue(&NewJob::new("issue_cert").for_domain("b.example.com"))
        .await
        .unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), 2);

    let c1 = store.claim("w1", vis).await.unwrap().unwrap();
    assert_eq!(
        (c1.id.as_str(), c1.attempts, c1.job.domain.as_deref()),
        (j1.as_str(), 1, Some("a.example.com"))
    );
    let c2 = store.claim("w2", vis).await.unwrap().unwrap();
    assert_eq!(c2.id, j2);
    assert!(
        store.claim("w3", vis).await.unwrap().is_none(),
        "claimed jobs are invisible"
    );
    assert!(store.ack(&c1.id).await.unwrap());
    assert!(!store.ack(&c1.id).await.unwrap());

    // w2 "died": after the visibility timeout its job is handed out again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let again = loop {
        if let Some(job) = store.claim("w3", vis).await.unwrap() {
            break job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unacked job never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((again.id.as_str(), again.attempts), (j2.as_str(), 2));
    assert!(store.ack(&again.id).await.unwrap());
    assert_eq!(store.queue_depth().await.unwrap(), 0);
    assert!(!store.ack("999999-0").await.unwrap());
}

pub async fn audit_stream(store: &dyn Store) {
    for (i, action) in ["domain.put", "purge", "token.create"].iter().enumerate() {
        let r =
            AuditRecord::new(1000 + i as u64, "token:t1", *action, "a.example.com").with_request_id(format!("req-{i}"));
        store.append_audit(&r).await.unwrap();
    }
    let recent = store.recent_audit(2).await.unwrap();
    let actions: Vec<&str> = recent.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["token.create", "purge"]);
    assert_eq!(recent[0].request_id.as_deref(), Some("req-2"));
    assert_eq!(store.recent_audit(100).await.unwrap().len(), 3);
}

pub async fn events_carry_revisions(store: &dyn Store) {
    let mut sub = store.subscribe(SubscribeOptions::default()).await.unwrap();
    let w = store.put_domain(&domain("ev.example.com")).await.unwrap();
    expect_zone_change(&mut sub, w.revision, Change::Domain("ev.example.com".into())).await;

    let purge = PurgeRequest::prefixes("ev.example.com", ["/img/"]);
    let rev = store.publish_purge(&purge).await.unwrap();
    assert_eq!(rev, w.revision + 1);
    assert_eq!(
        next_event(&mut sub).await,
        Event::Purge {
            revision: Some(rev),
            request: purge
        }
    );

    let w = store.put_node(&node("edge-1", 1)).await.unwrap();
    expect_zone_change(&mut sub, w.revision, Change::Node("edge-1".into())).await;

    let rev = store
        .put_cert("ev.example.com", &CertBundle::new("C", "K", None))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut sub).await,
        Event::Changed {
            revision: rev,
            change: Change::Certificate("ev.example.com".into())
        }
    );
    let rev = store.mark_cname_dirty("manual").await.unwrap();
    assert_eq!(next_event(&mut sub).await, Event::CnameDirty { revision: Some(rev) });
}

pub async fn subscription_replays_from_revision(store: &dyn Store) {
    let start = store.revision().await.unwrap();
    let w1 = store.put_domain(&domain("r1.example.com")).await.unwrap();
    let r2 = store.delete_domain("r1.example.com").await.unwrap().unwrap();
    let mut sub = store
        .subscribe(SubscribeOptions::default().from_revision(start))
        .await
        .unwrap();
    expect_zone_change(&mut sub, w1.revision, Change::Domain("r1.example.com".into())).await;
    expect_zone_change(&mut sub, r2, Change::Domain("r1.example.com".into())).await;
    // Then live events follow, without duplicates of the replayed ones.
    let rev = store.mark_cname_dirty("live").await.unwrap();
    assert_eq!(next_event(&mut sub).await, Event::CnameDirty { revision: Some(rev) });
}

pub async fn trimmed_changelog_means_resync(store: &dyn Store) {
    for i in 0..10 {
        store.mark_cname_dirty(&format!("change {i}")).await.unwrap();
    }
    let since = store.changes_since(0).await.unwrap();
    assert_eq!(since.current, 10);
    assert!(!since.complete, "a log of 4 entries cannot replay 10 changes");
    let recent = store.changes_since(8).await.unwrap();
    assert!(recent.complete);
    assert_eq!(recent.records.iter().map(|r| r.revision).collect::<Vec<_>>(), [9, 10]);
    let mut sub = store
        .subscribe(SubscribeOptions::default().from_revision(0))
        .await
        .unwrap();
    assert_eq!(next_event(&mut sub).await, Event::Resync { revision: 10 });
}
