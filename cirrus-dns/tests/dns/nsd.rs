//! Interop with a real NSD (Debian's `nsd`) as secondary of the hidden
//! master: it transfers the zone after a NOTIFY, answers the same records,
//! and drops a node marked down within seconds.

use crate::{nodes, query, settings, udp};
use cirrus_core::{DomainConf, RedisStore, Store};
use cirrus_dns::{DnsMetrics, HiddenMaster, Rebuilder, target_name};
use cirrus_test_support::{Nsd, RedisServer, a_records, eventually, within};
use hickory_proto::rr::RecordType;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsd_transfers_the_zone_and_follows_a_node_going_down() {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let all = nodes(4);
    for n in &all {
        store.put_node(n).await.unwrap();
    }
    let domains: Vec<DomainConf> = (0..20)
        .map(|i| DomainConf::new(format!("d{i}.example.com"), "http://192.0.2.1".parse().unwrap()))
        .collect();
    for d in &domains {
        store.put_domain(d).await.unwrap();
    }

    // The master, on a port shared by UDP and TCP.
    let (udp_socket, tcp) = cirrus_dns::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let master_addr = tcp.local_addr().unwrap();
    let metrics = DnsMetrics::new().unwrap();
    let mut rebuilder = Rebuilder::new(store.clone(), settings()).metrics(metrics.clone());
    rebuilder.rebuild().await.unwrap();
    let zone = rebuilder.zone().unwrap().clone();
    let master = HiddenMaster::builder(zone.clone()).build();
    tokio::spawn(async move { master.serve(udp_socket, tcp, std::future::pending()).await });

    let nsd = Nsd::start("cdn.test", master_addr);
    let rebuilder = rebuilder.notify(vec![nsd.addr]);
    tokio::spawn(rebuilder.clone().run(std::future::pending()));

    // NSD transfers at start (it has no copy) and answers what the master answers.
    let name = target_name("d0.example.com", settings().origin()).unwrap().to_string();
    let from_master = a_records(master_addr, &name).await.expect("the master answers");
    assert_eq!(from_master.len(), 2);
    let started = Instant::now();
    eventually("NSD serves the transferred zone", Duration::from_secs(15), || async {
        a_records(nsd.addr, &name).await.as_ref() == Some(&from_master)
    })
    .await;
    eprintln!("NSD answered {:?} after {:?}", from_master, started.elapsed());
    for d in &domains {
        let n = target_name(&d.domain, settings().origin()).unwrap().to_string();
        assert_eq!(
            a_records(nsd.addr, &n).await,
            a_records(master_addr, &n).await,
            "{}",
            d.domain
        );
    }
    let soa = udp(nsd.addr, &query("cdn.test.", RecordType::SOA, false)).await;
    assert!(soa.metadata.authoritative);

    // A node of d0 goes down: the store changes, the master rebuilds and
    // NOTIFYs, NSD transfers and stops answering with that node.
    let down_ip = from_master[0];
    let down = all.iter().find(|n| n.ipv4 == Some(down_ip)).unwrap();
    let health = cirrus_core::model::NodeHealth {
        consecutive_failures: 3,
        ..Default::default()
    };
    let marked = Instant::now();
    // What the health checker does when a node fails its probes.
    let flipped = store.record_node_health(&down.id, &health, false, None).await.unwrap();
    assert!(flipped.is_some(), "active flipped");
    eventually(
        "the master drops the node marked down",
        Duration::from_secs(5),
        || async {
            a_records(master_addr, &name)
                .await
                .is_some_and(|ips| ips.len() == 2 && !ips.contains(&down_ip))
        },
    )
    .await;
    eprintln!("master rebuilt after {:?}", marked.elapsed());
    let followed = within(Duration::from_secs(10), || async {
        a_records(nsd.addr, &name)
            .await
            .is_some_and(|ips| ips.len() == 2 && !ips.contains(&down_ip))
    })
    .await;
    assert!(
        followed.is_some(),
        "NSD did not follow within 10 s; its log:\n{}",
        nsd.log()
    );
    eprintln!("node failure to NSD answering without it: {:?}", marked.elapsed());
    let text = metrics.render();
    assert!(text.contains("cirrus_dns_rebuilds_total 2"), "{text}");
    let acked = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"cirrus_dns_notify_total{outcome="acked"} "#))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(acked.is_some_and(|n| n >= 1), "NSD acknowledged the NOTIFY: {text}");
}
