//! The rebuild loop folds a burst of changes into one rebuild.

use crate::{nodes, settings};
use cirrus_core::{DomainConf, RedisStore, Store};
use cirrus_dns::{DnsMetrics, Lookup, Rebuilder, target_name};
use cirrus_test_support::{RedisServer, eventually, stays};
use hickory_proto::rr::{LowerName, RecordType};
use std::sync::Arc;
use std::time::Duration;

fn rebuilds(metrics: &DnsMetrics) -> u64 {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("cirrus_dns_rebuilds_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_makes_one_rebuild() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    for n in nodes(3) {
        store.put_node(&n).await.unwrap();
    }
    let metrics = DnsMetrics::new().unwrap();
    let mut rebuilder = Rebuilder::new(store.clone(), settings()).metrics(metrics.clone());
    rebuilder.rebuild().await.unwrap();
    let first = rebuilder.serial();
    let zone = rebuilder.zone().unwrap().clone();
    // The loop follows the store from the revision built: a change made
    // before it subscribes is replayed, so there is nothing to wait for.
    tokio::spawn(rebuilder.clone().run(std::future::pending()));

    let started = std::time::Instant::now();
    for i in 0..100 {
        let d = DomainConf::new(format!("burst{i}.example.com"), "http://192.0.2.1".parse().unwrap());
        store.put_domain(&d).await.unwrap();
    }
    let burst = started.elapsed();
    let last = target_name("burst99.example.com", settings().origin()).unwrap();
    eventually("the burst is in the zone", Duration::from_secs(5), || async {
        matches!(
            zone.get().lookup(&LowerName::from(&last), RecordType::A),
            Lookup::Found(_)
        )
    })
    .await;
    // Anything else still in flight would show up within the debounce.
    let what = format!("the first build and one for the burst of 100 (sent in {burst:?})");
    stays(&what, Duration::from_millis(1_500), || {
        std::future::ready(rebuilds(&metrics) == 2)
    })
    .await;
    assert!(zone.get().serial() > first, "the serial grew");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_is_resent_until_the_secondary_answers() {
    use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    for n in nodes(2) {
        store.put_node(&n).await.unwrap();
    }
    // A secondary that ignores the first NOTIFY and acknowledges the second.
    let secondary = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = secondary.local_addr().unwrap();
    let seen = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        let mut received = Vec::new();
        while received.len() < 2 {
            let (n, from) = secondary.recv_from(&mut buf).await.unwrap();
            let m = Message::from_vec(&buf[..n]).unwrap();
            received.push((m.metadata.op_code, m.queries[0].name().to_string()));
            if received.len() == 2 {
                let mut ack = Message::new(m.metadata.id, MessageType::Response, OpCode::Notify);
                ack.metadata.response_code = ResponseCode::NoError;
                secondary.send_to(&ack.to_vec().unwrap(), from).await.unwrap();
            }
        }
        received
    });
    let metrics = DnsMetrics::new().unwrap();
    let mut rebuilder = Rebuilder::new(store.clone(), settings())
        .notify(vec![addr])
        .metrics(metrics.clone());
    rebuilder.rebuild().await.unwrap();
    let received = tokio::time::timeout(Duration::from_secs(5), seen)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(received, vec![(OpCode::Notify, "cdn.test.".to_string()); 2]);
    let counter = |outcome: &str| {
        metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cirrus_dns_notify_total{{outcome=\"{outcome}\"}} ")))
            .and_then(|v| v.parse::<u64>().ok())
    };
    eventually("the second NOTIFY is acknowledged", Duration::from_secs(3), || async {
        counter("acked") == Some(1)
    })
    .await;
    assert_eq!(counter("sent"), Some(2), "resent once after no answer");
    // The zone's size and serial are exported with each rebuild.
    let text = metrics.render();
    let zone = rebuilder.zone().unwrap().get();
    assert!(
        text.contains(&format!("cirrus_dns_zone_records {}", zone.len())),
        "{text}"
    );
    assert!(
        text.contains(&format!("cirrus_dns_zone_serial {}", zone.serial())),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_challenge_values_in_the_store_are_served_over_udp_and_tcp() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    for n in nodes(2) {
        store.put_node(&n).await.unwrap();
    }
    let domain = DomainConf::new("shop.example.com", "http://192.0.2.1".parse().unwrap());
    store.put_domain(&domain).await.unwrap();
    let mut rebuilder = Rebuilder::new(store.clone(), settings());
    rebuilder.rebuild().await.unwrap();
    let zone = rebuilder.zone().unwrap().clone();
    let addr = crate::serve(cirrus_dns::HiddenMaster::builder(zone.clone()).build()).await;
    tokio::spawn(rebuilder.clone().run(std::future::pending()));
    let name = cirrus_dns::challenge_name("shop.example.com", settings().origin()).unwrap();
    let ask = crate::query(&name.to_ascii(), RecordType::TXT, true);
    let txts = |m: &hickory_proto::op::Message| -> Vec<String> {
        let mut v: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
        v.sort();
        v
    };
    assert!(
        txts(&crate::udp(addr, &ask).await).is_empty(),
        "nothing before the challenge"
    );

    store
        .put_challenge("shop.example.com", &["tok-1".into(), "tok-2".into()])
        .await
        .unwrap();
    eventually("the TXT values are served", Duration::from_secs(5), || async {
        txts(&crate::udp(addr, &ask).await).len() == 2
    })
    .await;
    assert_eq!(txts(&crate::udp(addr, &ask).await), ["tok-1", "tok-2"]);
    let over_tcp = crate::tcp(addr, &ask, |m| !m.is_empty()).await;
    assert_eq!(txts(&over_tcp[0]), ["tok-1", "tok-2"]);

    store.put_challenge("shop.example.com", &[]).await.unwrap();
    eventually("and gone once cleaned up", Duration::from_secs(5), || async {
        txts(&crate::udp(addr, &ask).await).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idn_domains_and_names_that_cannot_fit_never_stop_a_rebuild() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    for n in nodes(2) {
        store.put_node(&n).await.unwrap();
    }
    // An apex so long that a 57-byte target label no longer fits under it.
    let apex = format!(
        "{}.{}.{}.{}.net",
        "z".repeat(63),
        "y".repeat(63),
        "x".repeat(63),
        "w".repeat(20)
    );
    let settings = cirrus_dns::ZoneSettings::builder(apex).build().unwrap();
    let too_long = format!("{}.example.com", "b".repeat(60));
    for name in [too_long.as_str(), "xn--bcher-kva.test", "xn--e28h.test"] {
        let d = DomainConf::new(name, "http://192.0.2.1".parse().unwrap());
        store.put_domain(&d).await.unwrap();
    }
    let metrics = DnsMetrics::new().unwrap();
    let mut rebuilder = Rebuilder::new(store.clone(), settings.clone()).metrics(metrics.clone());
    let zone = rebuilder
        .rebuild()
        .await
        .expect("one bad domain does not fail the build");
    assert_eq!(zone.skipped().len(), 1, "{:?}", zone.skipped());
    assert_eq!(zone.skipped()[0].domain, too_long);
    let shared = rebuilder.zone().unwrap().clone();
    tokio::spawn(rebuilder.clone().run(std::future::pending()));

    // Domains added afterwards still reach the zone.
    let later = DomainConf::new("later.example.com", "http://192.0.2.1".parse().unwrap());
    store.put_domain(&later).await.unwrap();
    for name in ["xn--bcher-kva.test", "xn--e28h.test", "later.example.com"] {
        let target = LowerName::from(&target_name(name, settings.origin()).unwrap());
        eventually(&format!("{name} is served"), Duration::from_secs(5), || async {
            matches!(shared.get().lookup(&target, RecordType::A), Lookup::Found(_))
        })
        .await;
    }
    let skipped = cirrus_test_support::metric_value(
        &metrics.render(),
        "cirrus_dns_records_skipped_total{reason=\"invalid_name\"}",
    )
    .unwrap_or(0.0);
    assert!(skipped >= 2.0, "counted at each rebuild: {skipped}");
}

/// Redis restarted without its data: the store lost every domain, and the
/// zone served keeps them until the store's revision passes the zone's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_lost_its_history_does_not_empty_the_zone() {
    let mut redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    for n in nodes(2) {
        store.put_node(&n).await.unwrap();
    }
    let domain = |name: &str| DomainConf::new(name, "http://192.0.2.1".parse().unwrap());
    store.put_domain(&domain("kept1.example.com")).await.unwrap();
    let mut rebuilder = Rebuilder::new(store.clone(), settings());
    rebuilder.rebuild().await.unwrap();
    let zone = rebuilder.zone().unwrap().clone();
    let mut behind = rebuilder.clone();
    let running = tokio::spawn(rebuilder.run(std::future::pending()));
    let answers = |name: &str| {
        let name = LowerName::from(&target_name(name, settings().origin()).unwrap());
        matches!(zone.get().lookup(&name, RecordType::A), Lookup::Found(_))
    };
    assert!(answers("kept1.example.com"));
    // A change the loop builds: it follows the store.
    store.put_domain(&domain("kept2.example.com")).await.unwrap();
    let built_at = store.revision().await.unwrap();
    eventually("the loop following the store", Duration::from_secs(10), || {
        std::future::ready(answers("kept2.example.com"))
    })
    .await;

    redis.restart();
    eventually("the store back, empty", Duration::from_secs(10), || async {
        store.revision().await.is_ok_and(|r| r == 0)
    })
    .await;
    // A clone (as the role restarts its loop with) refuses it too.
    let refused = behind.rebuild().await.unwrap_err();
    assert!(
        matches!(refused, cirrus_dns::Error::StoreWentBack { store: 0, served } if served == built_at),
        "{refused}"
    );
    // One write below the zone's revision changes nothing served.
    store.put_domain(&domain("new.example.com")).await.unwrap();
    stays("the zone kept", Duration::from_millis(1_500), || {
        std::future::ready(answers("kept1.example.com") && answers("kept2.example.com") && !answers("new.example.com"))
    })
    .await;
    // Past it (the nodes written again too), the store is followed again.
    for n in nodes(2) {
        store.put_node(&n).await.unwrap();
    }
    while store.revision().await.unwrap() <= built_at {
        store.mark_cname_dirty("catching up").await.unwrap();
    }
    store.put_domain(&domain("new.example.com")).await.unwrap();
    let ok = cirrus_test_support::within(Duration::from_secs(15), || {
        std::future::ready(answers("new.example.com") && !answers("kept1.example.com"))
    })
    .await;
    let ended = if running.is_finished() {
        format!("{:?}", running.await)
    } else {
        "running".into()
    };
    assert!(
        ok.is_some(),
        "not rebuilt: new {} kept1 {} serial {} store revision {:?} loop {ended}",
        answers("new.example.com"),
        answers("kept1.example.com"),
        zone.get().serial(),
        store.revision().await,
    );
}
