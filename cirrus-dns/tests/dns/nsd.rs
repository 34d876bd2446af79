//! Interop with a real NSD (Debian's `nsd`) as secondary of the hidden
//! master: it transfers the zone after a NOTIFY, answers the same records,
//! and drops a node marked down within seconds.

use crate::{nodes, query, settings, udp};
use cirrus_core::{DomainConf, RedisStore, Store};
use cirrus_dns::{DnsMetrics, HiddenMaster, Rebuilder, target_name};
use cirrus_test_support::{RedisServer, eventually, free_port};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Nsd {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nsd {
    /// An NSD on a free port, secondary of `master` for `cdn.test`.
    fn start(master: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            r#"server:
    ip-address: 127.0.0.1
    port: {port}
    username: ""
    chroot: ""
    zonesdir: "{d}"
    zonelistfile: "{d}/zone.list"
    database: ""
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    server-count: 1
    verbosity: 2
    xfrd-reload-timeout: 0
remote-control:
    control-enable: no
zone:
    name: "cdn.test"
    zonefile: "cdn.test.zone"
    request-xfr: AXFR 127.0.0.1@{mport} NOKEY
    allow-notify: 127.0.0.1 NOKEY
"#,
            mport = master.port()
        );
        let path = dir.path().join("nsd.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(nsd_binary())
            .arg("-d")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd runs (scripts/test installs Debian's nsd)");
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default()
    }
}

fn nsd_binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/nsd").exists() {
        "/usr/sbin/nsd"
    } else {
        "nsd"
    }
}

async fn a_records(addr: SocketAddr, name: &str) -> Option<Vec<Ipv4Addr>> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let q = query(name, RecordType::A, false);
    sock.send_to(&q.to_vec().ok()?, addr).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_millis(300), sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    let m = hickory_proto::op::Message::from_vec(&buf[..n]).ok()?;
    if m.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    let mut ips: Vec<Ipv4Addr> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    ips.sort();
    Some(ips)
}

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

    let nsd = Nsd::start(master_addr);
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
    let nsd_ref = &nsd;
    let followed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let ips = a_records(nsd_ref.addr, &name).await;
            if ips.is_some_and(|ips| ips.len() == 2 && !ips.contains(&down_ip)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        followed.is_ok(),
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
