//! Redis-specific behaviour: the key layout operators rely on, external
//! publishers, reconnects and resync, Redis being down.

use crate::conformance::{domain, expect_zone_change, next_event, node};
use cirrus_core::auth::hash_secret;
use cirrus_core::model::{AcmeState, CertBundle, NewJob, Scope, ServiceToken, Session, User};
use cirrus_core::{
    AccessStore, AuditLog, CertStore, ChangeFeed, DomainStore, JobQueue, LockStore, NodeStore, Ping, PurgeLog,
};
use cirrus_core::{Change, Error, Event, Lock, PurgeRequest, RedisStore, SubscribeOptions};
use cirrus_test_support::{RedisServer, eventually};
use redis::AsyncCommands;
use std::collections::HashMap;
use std::time::Duration;

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn key_type(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> String {
    redis::cmd("TYPE").arg(key).query_async(conn).await.unwrap()
}

/// Golden test of the layout in DESIGN.md: changing it breaks operators'
/// runbooks and mixed-version deployments.
#[tokio::test]
async fn key_layout_is_the_documented_one() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&server.url()).unwrap();
    let d = "layout.example.com";
    store.put_domain(&domain(d)).await.unwrap();
    store.put_node(&node("edge-1", 7)).await.unwrap();
    store
        .put_cert(d, &CertBundle::new("CHAIN", "KEY", Some(42)))
        .await
        .unwrap();
    store.put_acme_state(d, &AcmeState::default()).await.unwrap();
    store.put_acme_account("ACCT").await.unwrap();
    store.put_cert_key(d, "CERTKEY").await.unwrap();
    store
        .try_lock(&Lock::AcmeIssue(d.into()), "w", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .try_lock(&Lock::AcmeTask(d.into()), "job", Duration::from_secs(60))
        .await
        .unwrap();
    let token = ServiceToken {
        id: "tok1".into(),
        name: "n".into(),
        scopes: vec![Scope::Read],
        domains: None,
        created_at: 1,
        expires_at: None,
    };
    store.put_token(&token, &hash_secret("s")).await.unwrap();
    store.put_user(&User::new("admin", "$argon2id$x", 1)).await.unwrap();
    store
        .put_session(&Session::new("sid", "admin", "c", 1), Duration::from_secs(60))
        .await
        .unwrap();
    store.enqueue(&NewJob::new("issue_cert")).await.unwrap();
    let purge = cirrus_core::PurgeRequest {
        id: Some("pg_1".into()),
        ..cirrus_core::PurgeRequest::all(d)
    };
    store.publish_purge(&purge).await.unwrap();
    store.ack_purge("pg_1", "edge-1", 7).await.unwrap();
    let report = cirrus_core::model::EdgeReport::new(3, 4, 5);
    store.report_edge("edge-1", &report).await.unwrap();
    store.put_challenge(d, &["tok".into()]).await.unwrap();
    store
        .append_audit(&cirrus_core::model::AuditRecord::new(1, "master", "x", "y"))
        .await
        .unwrap();

    let mut c = raw(&server).await;
    let expected = [
        ("cdn:domains", "set"),
        ("cdn:dom:layout.example.com", "string"),
        ("cdn:nodes", "set"),
        ("cdn:node:edge-1", "hash"),
        ("cdn:cert:layout.example.com", "hash"),
        ("cdn:acme:layout.example.com", "string"),
        ("cdn:acmeacct:global", "string"),
        ("cdn:acmecertkey:layout.example.com", "string"),
        ("cdn:acme:lock:layout.example.com", "string"),
        ("cdn:acme:task:layout.example.com", "string"),
        ("cdn:tokens", "set"),
        ("cdn:token:tok1", "hash"),
        (&*format!("cdn:token_hash:{}", hash_secret("s")), "string"),
        ("cdn:users", "set"),
        ("cdn:user:admin", "hash"),
        ("cdn:session:sid", "string"),
        ("cdn:rev", "string"),
        ("cdn:changes", "stream"),
        ("cdn:jobs", "stream"),
        ("cdn:audit", "stream"),
        ("cdn:purge:pg_1", "hash"),
        ("cdn:purges", "zset"),
        ("cdn:domains:index", "zset"),
        ("cdn:acme:challenges", "hash"),
    ];
    for (key, ty) in expected {
        assert_eq!(key_type(&mut c, key).await, ty, "type of {key}");
    }
    let members: Vec<String> = c.smembers("cdn:domains").await.unwrap();
    assert_eq!(members, [d]);
    let conf: String = c.get("cdn:dom:layout.example.com").await.unwrap();
    assert!(conf.starts_with(r#"{"domain":"layout.example.com""#), "{conf}");
    let node: HashMap<String, String> = c.hgetall("cdn:node:edge-1").await.unwrap();
    assert_eq!(node.get("ipv4").map(String::as_str), Some("192.0.2.7"));
    assert_eq!(node.get("active").map(String::as_str), Some("1"));
    assert_eq!(node.get("enabled").map(String::as_str), Some("1"));
    let edge = ["edge_revision", "edge_applied_ms", "edge_reported_ms"].map(|f| node.get(f).cloned());
    assert_eq!(edge, [3, 4, 5].map(|v| Some(v.to_string())));
    let purge: HashMap<String, String> = c.hgetall("cdn:purge:pg_1").await.unwrap();
    assert_eq!((purge["domain"].as_str(), purge["ack:edge-1"].as_str()), (d, "7"));
    let published: Vec<(String, u64)> = c.zrange_withscores("cdn:purges", 0, -1).await.unwrap();
    assert_eq!(
        published,
        [("pg_1".to_string(), purge["published_ms"].parse().unwrap())]
    );
    let cert: HashMap<String, String> = c.hgetall("cdn:cert:layout.example.com").await.unwrap();
    assert_eq!(
        (
            cert["fullchain"].as_str(),
            cert["key"].as_str(),
            cert["not_after"].as_str()
        ),
        ("CHAIN", "KEY", "42")
    );
    let owner: String = c.get(format!("cdn:token_hash:{}", hash_secret("s"))).await.unwrap();
    assert_eq!(owner, "tok1");
    for key in ["cdn:session:sid", "cdn:acme:lock:layout.example.com", "cdn:purge:pg_1"] {
        let ttl: i64 = c.pttl(key).await.unwrap();
        assert!(ttl > 0, "{key} has a TTL");
    }
    let rev: u64 = c.get("cdn:rev").await.unwrap();
    assert_eq!(rev, store.revision().await.unwrap());
}

/// The seed's producers publish `{domain, path}` straight on `cdn:purge`.
#[tokio::test]
async fn external_purge_messages_are_delivered() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&server.url()).unwrap();
    let mut sub = store.subscribe(SubscribeOptions::default()).await.unwrap();
    let mut c = raw(&server).await;
    let _: i64 = c.publish("cdn:purge", "this is not json").await.unwrap();
    let _: i64 = c
        .publish("cdn:purge", r#"{"domain":"a.example.com","path":"/img/*"}"#)
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut sub).await,
        Event::Purge {
            revision: None,
            request: PurgeRequest::prefixes("a.example.com", ["/img/"])
        }
    );
}

/// Redis drops messages published while a subscriber is disconnected; the
/// subscription must replay them from the change log after reconnecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_resyncs_changes_made_while_disconnected() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&server.url()).unwrap();
    let options = SubscribeOptions::default().reconnect_backoff(Duration::from_millis(1500), Duration::from_secs(3));
    let mut sub = store.subscribe(options).await.unwrap();
    let before = store.put_domain(&domain("before.example.com")).await.unwrap();
    expect_zone_change(&mut sub, before.revision, Change::Domain("before.example.com".into())).await;

    let mut c = raw(&server).await;
    let _: String = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    let mut revisions = Vec::new();
    for name in ["gap1.example.com", "gap2.example.com"] {
        revisions.push(store.put_domain(&domain(name)).await.unwrap().revision);
    }
    let purge = PurgeRequest::urls("gap1.example.com", ["/index.html"]);
    revisions.push(store.publish_purge(&purge).await.unwrap());
    // Nobody was listening when these were published.
    let subscribers: (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("cdn:config")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(subscribers.1, 0, "the subscriber should still be disconnected");

    expect_zone_change(&mut sub, revisions[0], Change::Domain("gap1.example.com".into())).await;
    expect_zone_change(&mut sub, revisions[1], Change::Domain("gap2.example.com".into())).await;
    assert_eq!(
        next_event(&mut sub).await,
        Event::Purge {
            revision: Some(revisions[2]),
            request: purge
        }
    );
    // And live again afterwards.
    let rev = store.mark_cname_dirty("after").await.unwrap();
    assert_eq!(next_event(&mut sub).await, Event::CnameDirty { revision: Some(rev) });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_redis_restarts() {
    let mut server = RedisServer::start_with_aof();
    let store = RedisStore::connect(&server.url()).unwrap();
    let options = SubscribeOptions::default().reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500));
    let mut sub = store.subscribe(options).await.unwrap();
    let kept = store.put_domain(&domain("kept.example.com")).await.unwrap();
    expect_zone_change(&mut sub, kept.revision, Change::Domain("kept.example.com".into())).await;

    server.restart();
    eventually(
        "the store to answer after the restart",
        Duration::from_secs(10),
        || async { store.get_domain("kept.example.com").await.is_ok_and(|d| d.is_some()) },
    )
    .await;
    let w = store.put_domain(&domain("new.example.com")).await.unwrap();
    assert!(w.revision > kept.revision, "the AOF kept the revision counter");
    expect_zone_change(&mut sub, w.revision, Change::Domain("new.example.com".into())).await;
}

/// A Redis without persistence comes back empty: the revision went back, so
/// subscribers are told to reload everything, and the job queue's consumer
/// group is created again on first use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_without_persistence_means_resync_and_a_fresh_queue() {
    let mut server = RedisServer::start();
    let store = RedisStore::connect(&server.url()).unwrap();
    let options = SubscribeOptions::default().reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500));
    let mut sub = store.subscribe(options).await.unwrap();
    for name in ["a.example.com", "b.example.com"] {
        let w = store.put_domain(&domain(name)).await.unwrap();
        expect_zone_change(&mut sub, w.revision, Change::Domain(name.into())).await;
    }
    store.enqueue(&NewJob::new("issue_cert")).await.unwrap();
    assert!(store.claim("w1", Duration::from_secs(60)).await.unwrap().is_some());

    server.restart();
    assert_eq!(next_event(&mut sub).await, Event::Resync { revision: 0 });
    let id = store.enqueue(&NewJob::new("renew")).await.unwrap();
    let job = store.claim("w1", Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!((job.id, job.job.kind.as_str()), (id, "renew"));
    // Live events flow again from revision 1.
    let w = store.put_domain(&domain("c.example.com")).await.unwrap();
    assert_eq!(w.revision, 1);
    expect_zone_change(&mut sub, 1, Change::Domain("c.example.com".into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_a_typed_error_and_recovers() {
    let mut server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .response_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    store.ping().await.unwrap();
    server.stop();
    let started = std::time::Instant::now();
    let err = store.ping().await.expect_err("redis is down");
    assert!(
        matches!(err, Error::Unavailable { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the Redis error is kept as the cause"
    );
    assert!(matches!(
        store.put_domain(&domain("x.example.com")).await,
        Err(Error::Unavailable { .. })
    ));
    assert!(matches!(store.domain_names().await, Err(Error::Unavailable { .. })));
    assert!(matches!(
        store.subscribe(SubscribeOptions::default()).await,
        Err(Error::Unavailable { .. })
    ));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "errors come back in bounded time"
    );

    server.restart();
    eventually("the store to recover", Duration::from_secs(10), || async {
        store.ping().await.is_ok()
    })
    .await;
    assert!(store.put_domain(&domain("x.example.com")).await.unwrap().created);
}

/// A store built while Redis is down works once it comes up.
#[tokio::test]
async fn connecting_is_lazy() {
    let mut server = RedisServer::start();
    let url = server.url();
    server.stop();
    let store = RedisStore::connect(&url).unwrap();
    assert!(matches!(store.ping().await, Err(Error::Unavailable { .. })));
    server.restart();
    eventually("the store to connect", Duration::from_secs(10), || async {
        store.ping().await.is_ok()
    })
    .await;
    assert!(matches!(RedisStore::connect("not a url"), Err(Error::Backend { .. })));
}

/// A store written before the sorted domain index existed: the first
/// page builds it from the set, and every write keeps both after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_domain_index_is_built_for_a_store_written_without_it() {
    let server = RedisServer::start();
    let mut c = raw(&server).await;
    for name in ["b.example.com", "a.example.com"] {
        let json = serde_json::to_string(&domain(name).validated().unwrap()).unwrap();
        let _: () = c.set(format!("cdn:dom:{name}"), json).await.unwrap();
        let _: () = c.sadd("cdn:domains", name).await.unwrap();
    }
    let store = RedisStore::connect(&server.url()).unwrap();
    let page = store.domain_names_after(None, 10).await.unwrap();
    assert_eq!(page, ["a.example.com", "b.example.com"]);
    store.put_domain(&domain("c.example.com")).await.unwrap();
    store.delete_domain("a.example.com").await.unwrap();
    let indexed: Vec<String> = c.zrange("cdn:domains:index", 0, -1).await.unwrap();
    assert_eq!(indexed, ["b.example.com", "c.example.com"]);
}
