//! `cirrus dns` as a process: the zone from the store, and TSIG keys from
//! flags, the environment and a key file, refused with the flag or line
//! named and never the secret.

use crate::harness::{Running, logged, raw_get};
use cirrus_test_support::RedisServer;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{Name, RecordType};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// `cirrus dns` on free ports for zone `cdn.test`, no health checker.
pub const DNS: [&str; 8] = [
    "dns",
    "--listen",
    "127.0.0.1:0",
    "--zone",
    "cdn.test",
    "--metrics-listen",
    "127.0.0.1:0",
    "--no-health-check",
];

const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";

/// The first answer over TCP to `query`, raw.
pub fn tcp_answer(addr: std::net::SocketAddr, query: &Message) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let bytes = query.to_vec().unwrap();
    s.write_all(&(bytes.len() as u16).to_be_bytes()).unwrap();
    s.write_all(&bytes).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).unwrap();
    buf
}

pub fn axfr() -> Message {
    let mut q = Message::new(9, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(Name::from_ascii("cdn.test.").unwrap(), RecordType::AXFR));
    q
}

fn now() -> u64 {
    cirrus_core::model::now_ms() / 1000
}

/// Where a `cirrus dns` process answers, from its log.
pub fn dns_addr(stderr: &Receiver<String>) -> SocketAddr {
    logged(stderr, "listening on ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn dns_role_takes_tsig_keys_and_refuses_bad_ones_without_showing_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    let base: Vec<&str> = DNS.iter().copied().chain(["--store", store]).collect();

    // A bad key on the command line, and a bad line in a key file.
    let bad_secret = "bm90LWEtZ29vZC1rZXktYnV0LXNlY3JldA==";
    let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(&base)
        .args(["--tsig-key", &format!("k:hmac-md5:{bad_secret}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--tsig-key #1") && stderr.contains("hmac-sha256 or hmac-sha512"),
        "{stderr}"
    );
    assert!(!stderr.contains(bad_secret), "the secret is not echoed: {stderr}");
    let file = dir.path().join("keys");
    std::fs::write(
        &file,
        format!("# keys\n\nfile-key:hmac-sha512:{SECRET}\nbroken:hmac-sha256:{bad_secret}x\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(&base)
        .args(["--tsig-key-file", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("line 4") && stderr.contains("not base64"), "{stderr}");
    assert!(!stderr.contains(bad_secret), "{stderr}");

    // Keys from the environment and a file: each signs a transfer; an
    // unsigned one is refused.
    std::fs::write(&file, format!("# keys\nfile-key:hmac-sha512:{SECRET}\n")).unwrap();
    let mut cmd = Running::command(dir.path(), &base);
    cmd.args(["--tsig-key-file", file.to_str().unwrap()])
        .env("CIRRUS_DNS_TSIG_KEY", format!("env-key:hmac-sha256:{SECRET}"));
    let dns = Running::start(cmd);
    let addr = dns_addr(&dns.stderr);
    let m = Message::from_vec(&tcp_answer(addr, &axfr())).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth, "unsigned");
    for key in [
        format!("env-key:hmac-sha256:{SECRET}"),
        format!("file-key:hmac-sha512:{SECRET}"),
    ] {
        let key: cirrus_dns::TsigKey = key.parse().unwrap();
        let mut q = axfr();
        let mut verifier = q.finalize(&key.signer(), now()).unwrap().unwrap();
        let raw = tcp_answer(addr, &q);
        let m = verifier.verify(&raw).unwrap_or_else(|e| panic!("{}: {e}", key.name()));
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{}", key.name());
        assert!(!m.answers.is_empty());
    }
    let stranger: cirrus_dns::TsigKey = format!("stranger:hmac-sha256:{SECRET}").parse().unwrap();
    let mut q = axfr();
    q.finalize(&stranger.signer(), now()).unwrap();
    let m = Message::from_vec(&tcp_answer(addr, &q)).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(m.signature().and_then(|s| s.data.error), Some(TsigError::BadKey));

    // `config check` shows the key hidden.
    let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["config", "check", "dns"])
        .env("CIRRUS_DNS_TSIG_KEY", format!("env-key:hmac-sha256:{SECRET}"))
        .env("CNAME_BASE_DOMAIN", "cdn.test")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tsig_key = <hidden>"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn dns_role_serves_the_zone_from_the_store() {
    use hickory_proto::rr::RData;
    let redis = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = cirrus_core::RedisStore::connect(&redis.url()).unwrap();
        let conf = cirrus_core::DomainConf::new("www.example.com", "http://192.0.2.1".parse().unwrap());
        cirrus_core::DomainStore::put_domain(&store, &conf).await.unwrap();
        for i in 1..=3u8 {
            let mut node = cirrus_core::Node::new(format!("edge-{i}"));
            node.ipv4 = Some(std::net::Ipv4Addr::new(10, 0, 0, i));
            cirrus_core::NodeStore::put_node(&store, &node).await.unwrap();
        }
    });
    let redis_url = redis.url();
    let args: Vec<&str> = DNS
        .iter()
        .copied()
        .chain(["--nameserver", "ns1.example.net,ns2.example.net", "--store", &redis_url])
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let dns = Running::cirrus(dir.path(), &args);
    let addr = dns_addr(&dns.stderr);
    let admin = logged(&dns.stderr, "metrics on http://");
    let ask = |name: &str, rtype: RecordType| {
        let mut q = Message::new(7, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sock.send_to(&q.to_vec().unwrap(), addr).unwrap();
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        Message::from_vec(&buf[..n]).unwrap()
    };
    let target = cirrus_dns::target_name("www.example.com", &Name::from_ascii("cdn.test.").unwrap())
        .unwrap()
        .to_string();
    let m = ask(&target, RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 2, "two of the three nodes");
    assert!(m.answers.iter().all(|r| matches!(r.data, RData::A(_))));
    let ns = ask("cdn.test.", RecordType::NS);
    assert_eq!(ns.answers.len(), 2);
    assert_eq!(
        ask("www.example.com.", RecordType::A).metadata.response_code,
        ResponseCode::Refused
    );
    let metrics = raw_get(&admin, "/metrics", "x");
    assert!(
        metrics.contains(r#"cirrus_dns_queries_total{rcode="NOERROR",type="A"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("cirrus_dns_rebuilds_total 1"), "{metrics}");
}

/// The zone's serial as `addr` answers it (SOA over UDP: loopback is on
/// the default allow list).
fn soa_serial(addr: SocketAddr) -> Option<u32> {
    let mut q = Message::new(3, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(Name::from_ascii("cdn.test.").unwrap(), RecordType::SOA));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    sock.send_to(&q.to_vec().ok()?, addr).ok()?;
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    let m = Message::from_vec(&buf[..n]).ok()?;
    m.answers.iter().find_map(|r| match &r.data {
        hickory_proto::rr::RData::SOA(s) => Some(s.serial),
        _ => None,
    })
}

#[test]
fn the_ixfr_history_flag_decides_what_an_ixfr_gets() {
    use hickory_proto::rr::rdata::SOA;
    use hickory_proto::rr::{RData, Record};
    let redis = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    let store = cirrus_core::RedisStore::connect(&redis.url()).unwrap();
    let mut nodes: Vec<cirrus_core::Node> = Vec::new();
    rt.block_on(async {
        for i in 0..20 {
            let conf = cirrus_core::DomainConf::new(format!("d{i}.example.com"), "http://192.0.2.1".parse().unwrap());
            cirrus_core::DomainStore::put_domain(&store, &conf).await.unwrap();
        }
        for i in 1..=8u8 {
            let mut node = cirrus_core::Node::new(format!("edge-{i}"));
            node.ipv4 = Some(std::net::Ipv4Addr::new(10, 0, 0, i));
            cirrus_core::NodeStore::put_node(&store, &node).await.unwrap();
            nodes.push(node);
        }
    });
    let url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let start = |extra: &[&str]| {
        let args: Vec<&str> = DNS
            .iter()
            .copied()
            .chain(["--store", &url])
            .chain(extra.iter().copied())
            .collect();
        let dns = Running::cirrus(dir.path(), &args);
        let addr = dns_addr(&dns.stderr);
        (dns, addr)
    };
    let (_kept, kept) = start(&[]);
    let (_none, none) = start(&["--ixfr-history", "0", "--udp-threads", "0"]);
    let before = [kept, none].map(|a| crate::harness::until("a serial", Duration::from_secs(20), || soa_serial(a)));

    // One node fails its health checks: both masters rebuild without it.
    let health = cirrus_core::model::NodeHealth {
        consecutive_failures: 3,
        ..Default::default()
    };
    let flipped = rt.block_on(cirrus_core::NodeStore::record_node_health(
        &store,
        &nodes[2].id,
        &health,
        false,
        None,
    ));
    assert!(flipped.unwrap().is_some(), "active flipped");
    for (addr, old) in [kept, none].into_iter().zip(before) {
        crate::harness::until("a new serial", Duration::from_secs(20), || {
            soa_serial(addr).filter(|s| *s != old)
        });
    }
    let ixfr = |addr: SocketAddr, serial: u32| {
        let origin = Name::from_ascii("cdn.test.").unwrap();
        let mut q = Message::new(4, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(origin.clone(), RecordType::IXFR));
        let soa = SOA::new(origin.clone(), origin.clone(), serial, 0, 0, 0, 0);
        q.add_authority(Record::from_rdata(origin, 0, RData::SOA(soa)));
        Message::from_vec(&tcp_answer(addr, &q)).unwrap()
    };
    // Default history: the changes (the client's SOA second, then the
    // node's addresses removed and their replacements added).
    let m = ixfr(kept, before[0]);
    assert!(
        matches!(&m.answers[1].data, RData::SOA(s) if s.serial == before[0]),
        "incremental: {:?}",
        m.answers
    );
    let removed = m.answers.iter().filter(|r| r.data.to_string() == "10.0.0.3").count();
    assert!(removed > 0 && m.answers.len() < 20, "{:?}", m.answers);
    // No history: the whole zone, AXFR-style (a record, not a SOA, second).
    let m = ixfr(none, before[1]);
    assert!(!matches!(&m.answers[1].data, RData::SOA(_)), "whole: {:?}", m.answers);
    assert!(m.answers.len() > 20, "{}", m.answers.len());
}
