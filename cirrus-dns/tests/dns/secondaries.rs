//! Real secondaries with a TSIG key: NSD and Knot (Debian's packages)
//! transfer a 10,000-domain zone from the hidden master, then follow a
//! node flip by IXFR carrying only the changed records; a secondary whose
//! serial the master's history lacks gets the whole zone and catches up.

use crate::settings;
use cirrus_core::model::NodeHealth;
use cirrus_core::{DomainConf, Node, RedisStore, Store};
use cirrus_dns::{DnsMetrics, HiddenMaster, JournalLimits, Rebuilder, TsigKey};
use cirrus_test_support::{Knot, Nsd, RedisServer, within};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "xfr-key:hmac-sha256:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";

/// The zone's serial as `server` answers it.
async fn serial(server: SocketAddr) -> Option<u32> {
    let origin = hickory_proto::rr::Name::from_ascii("cdn.test.").ok()?;
    let m = cirrus_core::resolve::query(server, &origin, RecordType::SOA, false)
        .await
        .ok()?;
    if m.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    m.answers.iter().find_map(|r| match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    })
}

/// The number before " bytes" in a log line.
fn bytes_before(line: &str) -> u64 {
    let before = line.split(" bytes").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn follows(what: &str, server: SocketAddr, want: u32, log: impl Fn() -> String) {
    let seen = within(Duration::from_secs(20), || async { serial(server).await == Some(want) }).await;
    assert!(
        seen.is_some(),
        "{what} did not reach serial {want}; its log:\n{}",
        log()
    );
}

/// A master (keyed, with `history`) over `store`, notifying `secondaries`
/// later; returns its address and the rebuilder to start.
async fn master(
    store: Arc<dyn Store>,
    history: JournalLimits,
    metrics: &DnsMetrics,
) -> (SocketAddr, Rebuilder<dyn Store>) {
    let key: TsigKey = KEY.parse().unwrap();
    let (udp, tcp) = cirrus_dns::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let mut rebuilder = Rebuilder::new(store, settings())
        .journal(history)
        .notify_key(&key)
        .metrics(metrics.clone());
    rebuilder.rebuild().await.unwrap();
    let master = HiddenMaster::builder(rebuilder.zone().unwrap().clone())
        .tsig_keys(&[key])
        .metrics(metrics.clone())
        .build();
    tokio::spawn(async move { master.serve(udp, tcp, std::future::pending()).await });
    (addr, rebuilder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsd_and_knot_follow_a_node_flip_by_signed_ixfr() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    // 100 nodes: a flip moves about 2 % of the 20,000 addresses.
    let fleet: Vec<Node> = (0..100u8)
        .map(|i| {
            let mut n = Node::new(format!("edge-{i}"));
            n.ipv4 = Some(Ipv4Addr::new(10, 1, i, 1));
            n
        })
        .collect();
    for n in &fleet {
        store.put_node(n).await.unwrap();
    }
    for i in 0..10_000 {
        let d = DomainConf::new(format!("d{i}.example.com"), "http://192.0.2.1".parse().unwrap());
        store.put_domain(&d).await.unwrap();
    }

    let metrics = DnsMetrics::new().unwrap();
    let (addr, rebuilder) = master(store.clone(), JournalLimits::default(), &metrics).await;
    // A second master on the same store that keeps no history: its
    // secondary is always "too far behind".
    let forgetful = DnsMetrics::new().unwrap();
    let (bare_addr, bare_rebuilder) = master(store.clone(), JournalLimits::new(0, 0), &forgetful).await;

    let nsd = Nsd::secondary("cdn.test", addr, Some(KEY));
    let knot = Knot::start("cdn.test", addr, KEY);
    let behind = Nsd::secondary("cdn.test", bare_addr, Some(KEY));
    let first = rebuilder.serial();
    tokio::spawn(rebuilder.notify(vec![nsd.addr, knot.addr]).run(std::future::pending()));
    tokio::spawn(bare_rebuilder.notify(vec![behind.addr]).run(std::future::pending()));
    follows("NSD", nsd.addr, first, || nsd.log()).await;
    follows("Knot", knot.addr, first, || knot.log()).await;
    let bare_first = serial(bare_addr).await.unwrap();
    follows("the NSD behind", behind.addr, bare_first, || behind.log()).await;

    // One node fails its health checks.
    let health = NodeHealth {
        consecutive_failures: 3,
        ..Default::default()
    };
    assert!(
        store
            .record_node_health(&fleet[7].id, &health, false, None)
            .await
            .unwrap()
            .is_some()
    );
    let next = within(Duration::from_secs(10), || async {
        serial(addr).await.filter(|s| *s != first)
    })
    .await
    .expect("the master rebuilt");
    follows("NSD", nsd.addr, next, || nsd.log()).await;
    follows("Knot", knot.addr, next, || knot.log()).await;
    let bare_next = within(Duration::from_secs(10), || async {
        serial(bare_addr).await.filter(|s| *s != bare_first)
    })
    .await
    .expect("the second master rebuilt");
    follows("the NSD behind", behind.addr, bare_next, || behind.log()).await;

    // Both asked for the changes and got them incrementally: NSD logs the
    // size of each update it took, Knot the kind and size of each transfer.
    let nsd_log = nsd.log();
    let updates: Vec<u64> = nsd_log
        .lines()
        .filter(|l| l.contains("received update to serial") && l.contains(" bytes"))
        .map(bytes_before)
        .collect();
    assert_eq!(updates.len(), 2, "NSD took two updates:\n{nsd_log}");
    eprintln!(
        "NSD: first transfer {} bytes, after one node flip {} bytes",
        updates[0], updates[1]
    );
    assert!(
        updates[1] * 20 < updates[0],
        "NSD's update carried the changes only: {updates:?}\n{nsd_log}"
    );
    let knot_log = knot.log();
    let ixfr_line = knot_log
        .lines()
        .find(|l| l.contains("IXFR, incoming") && l.contains("finished"))
        .unwrap_or_else(|| panic!("Knot took an IXFR:\n{knot_log}"));
    let axfr_line = knot_log
        .lines()
        .find(|l| l.contains("AXFR, incoming") && l.contains("finished"))
        .unwrap_or_else(|| panic!("Knot took the first AXFR:\n{knot_log}"));
    let (ixfr_bytes, axfr_bytes) = (bytes_before(ixfr_line), bytes_before(axfr_line));
    eprintln!("Knot: AXFR {axfr_bytes} bytes, IXFR after one node flip {ixfr_bytes} bytes");
    assert!(
        ixfr_bytes * 20 < axfr_bytes,
        "the IXFR carries the changes only: {ixfr_bytes} of {axfr_bytes} bytes"
    );
    let text = metrics.render();
    let incremental = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"cirrus_dns_ixfr_total{answer="incremental"} "#))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(incremental.is_some_and(|n| n >= 2), "{text}");
    assert!(text.contains(r#"cirrus_dns_notify_total{outcome="acked"}"#), "{text}");
    assert!(
        !text.contains(r#"cirrus_dns_notify_total{outcome="acked"} 0"#),
        "signed NOTIFYs acknowledged: {text}"
    );

    // The secondary the history could not serve got the whole zone.
    let text = forgetful.render();
    assert!(text.contains(r#"cirrus_dns_ixfr_total{answer="full"} 1"#), "{text}");
    for i in [0, 4_999, 9_999] {
        let name = cirrus_dns::target_name(&format!("d{i}.example.com"), settings().origin())
            .unwrap()
            .to_string();
        assert_eq!(
            cirrus_test_support::a_records(behind.addr, &name).await,
            cirrus_test_support::a_records(bare_addr, &name).await,
            "{name}"
        );
        assert_eq!(
            cirrus_test_support::a_records(knot.addr, &name).await,
            cirrus_test_support::a_records(addr, &name).await,
            "{name}"
        );
    }
}
