//! Conformance: locks (`LockStore`), tokens, users and sessions (`AccessStore`).

use cirrus_core::auth::{hash_password, hash_secret, verify_password};
use cirrus_core::model::{Scope, ServiceToken, Session, User};
use cirrus_core::{AccessStore, Error, Lock, LockStore};
use cirrus_test_support::eventually;
use std::time::Duration;

pub async fn locks(store: &dyn LockStore) {
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

pub async fn tokens(store: &dyn AccessStore) {
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

pub async fn users_and_sessions(store: &dyn AccessStore) {
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
