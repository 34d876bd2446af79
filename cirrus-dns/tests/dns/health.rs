//! The health checker against real HTTP endpoints that go down and come back.

use cirrus_core::{Event, Node, RedisStore, Store, SubscribeOptions};
use cirrus_dns::HealthChecker;
use cirrus_test_support::RedisServer;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A `/healthz` endpoint answering 200 while `up`, 503 otherwise.
fn endpoint(listener: tokio::net::TcpListener, up: Arc<AtomicBool>) {
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let up = up.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let answer: &[u8] = if up {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
                } else {
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\ndown\n"
                };
                let _ = s.write_all(answer).await;
            });
        }
    });
}

/// Two endpoints on 127.0.0.2 and 127.0.0.3 with the same port.
async fn two_endpoints() -> (u16, Arc<AtomicBool>, Arc<AtomicBool>) {
    loop {
        let a = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let port = a.local_addr().unwrap().port();
        let Ok(b) = tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), port)).await
        else {
            continue;
        };
        let (up_a, up_b) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicBool::new(true)));
        endpoint(a, up_a.clone());
        endpoint(b, up_b.clone());
        return (port, up_a, up_b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_flip_after_consecutive_failures_and_successes() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let (port, _up_a, up_b) = two_endpoints().await;
    for (id, last) in [("a", 2), ("b", 3)] {
        let mut n = Node::new(id);
        n.ipv4 = Some(Ipv4Addr::new(127, 0, 0, last));
        store.put_node(&n).await.unwrap();
    }
    // A node nobody listens for, and a disabled one (never probed).
    let mut gone = Node::new("gone");
    gone.ipv4 = Some(Ipv4Addr::new(127, 0, 0, 4));
    store.put_node(&gone).await.unwrap();
    let mut off = Node::new("off");
    off.ipv4 = Some(Ipv4Addr::new(127, 0, 0, 5));
    off.enabled = false;
    store.put_node(&off).await.unwrap();

    // A short interval: each round may take the node locks again.
    let metrics = cirrus_dns::DnsMetrics::new().unwrap();
    let checker = HealthChecker::builder()
        .owner("region-1")
        .metrics(metrics.clone())
        .port(port)
        .interval(Duration::from_millis(20))
        .timeout(Duration::from_millis(500))
        .fail_after(2)
        .recover_after(2)
        .build(store.clone())
        .unwrap();
    let mut events = store.subscribe(SubscribeOptions::default()).await.unwrap();
    let node = |id: &'static str| {
        let store = store.clone();
        async move { store.get_node(id).await.unwrap().unwrap() }
    };
    let round = || async {
        // A round holds each node's lock for 90% of the 20 ms interval:
        // the next round may take it once that time has passed.
        tokio::time::sleep(Duration::from_millis(25)).await;
        checker.round().await.unwrap()
    };

    let r = round().await;
    assert_eq!(r.probed, 3, "enabled nodes only");
    assert!(r.flipped.is_empty());
    assert_eq!(node("a").await.health.consecutive_successes, 1);
    assert!(node("a").await.last_seen.is_some());
    assert_eq!(node("gone").await.health.consecutive_failures, 1);

    // b starts failing: still active after one failure, down after two.
    up_b.store(false, Ordering::SeqCst);
    assert!(
        round().await.flipped.contains(&("gone".to_string(), false)),
        "gone: second failure"
    );
    let b = node("b").await;
    assert!(b.active);
    assert_eq!(b.health.consecutive_failures, 1);
    assert_eq!(b.health.last_error.as_deref(), Some("status 503"));
    let r = round().await;
    assert_eq!(r.flipped, vec![("b".to_string(), false)]);
    assert!(!node("b").await.active);
    let text = metrics.render();
    assert!(
        text.contains("cirrus_dns_node_consecutive_failures{node=\"b\"} 2")
            && text.contains("cirrus_dns_node_consecutive_failures{node=\"a\"} 0"),
        "{text}"
    );
    assert!(node("a").await.active, "a untouched");

    // The flip was announced: the zone gets rebuilt.
    let announced = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = events.next().await {
            if matches!(e, Event::CnameDirty { .. }) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(announced, Ok(true), "cdn:cname:dirty published");

    // b comes back: active again after two successes.
    up_b.store(true, Ordering::SeqCst);
    assert!(round().await.flipped.is_empty(), "one success is not enough");
    assert_eq!(round().await.flipped, vec![("b".to_string(), true)]);
    let b = node("b").await;
    assert!(b.active && b.health.last_error.is_none());
    assert_eq!(
        node("off").await.health.last_check,
        None,
        "disabled nodes are not probed"
    );

    // Each flip is an event, written by the checker: gone and b down, b up.
    let events = store.events_after(None, 100).await.unwrap();
    let flips: Vec<(String, &str)> = events
        .iter()
        .map(|e| (e.kind.to_string(), e.subject.as_str()))
        .collect();
    assert_eq!(
        flips,
        [
            ("node.down".to_string(), "gone"),
            ("node.down".to_string(), "b"),
            ("node.up".to_string(), "b")
        ]
    );
    assert!(events.iter().all(|e| e.actor.as_deref() == Some("checker:region-1")));
    assert!(
        events[1].data["error"].is_string(),
        "a node down says why: {:?}",
        events[1].data
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_checkers_never_probe_the_same_node_in_one_interval() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let (port, _a, _b) = two_endpoints().await;
    for (id, last) in [("a", 2), ("b", 3)] {
        let mut n = Node::new(id);
        n.ipv4 = Some(Ipv4Addr::new(127, 0, 0, last));
        store.put_node(&n).await.unwrap();
    }
    let checker = |owner: &str| {
        HealthChecker::builder()
            .owner(owner)
            .port(port)
            .interval(Duration::from_secs(30))
            .build(store.clone())
            .unwrap()
    };
    let (eu, us) = (checker("eu"), checker("us"));
    let (r1, r2) = tokio::join!(eu.round(), us.round());
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(r1.probed + r2.probed, 2, "each node probed once: {r1:?} {r2:?}");
    assert_eq!(r1.skipped + r2.skipped, 2);
    let a = store.get_node("a").await.unwrap().unwrap();
    assert_eq!(a.health.consecutive_successes, 1, "counted once");
}
