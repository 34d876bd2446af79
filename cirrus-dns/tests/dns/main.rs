//! Integration tests of the DNS: the hidden master on real UDP and TCP
//! sockets (127.0.0.1:0), queried with hand-built messages.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod health;
mod ixfr;
mod nsd;
mod protocol;
mod rebuild;
mod role;
mod secondaries;
mod tsig;

use cirrus_core::{DomainConf, Node};
use cirrus_dns::{HiddenMaster, SharedZone, Zone, ZoneInput, ZoneSettings};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn settings() -> ZoneSettings {
    ZoneSettings::builder("cdn.test")
        .nameserver("ns1.example.net")
        .replicas_per_site(2)
        .build()
        .unwrap()
}

pub fn nodes(n: u8) -> Vec<Node> {
    (1..=n)
        .map(|i| {
            let mut node = Node::new(format!("edge-{i}"));
            node.ipv4 = Some(Ipv4Addr::new(10, 0, 0, i));
            node
        })
        .collect()
}

pub fn domains(n: usize) -> Vec<DomainConf> {
    (0..n)
        .map(|i| DomainConf::new(format!("d{i}.example.com"), "http://192.0.2.1".parse().unwrap()))
        .collect()
}

pub fn build(
    domains: &[DomainConf],
    nodes: &[Node],
    challenges: Option<&BTreeMap<String, Vec<String>>>,
    serial: u32,
) -> Zone {
    Zone::build(
        ZoneInput {
            domains,
            nodes,
            challenges,
        },
        &settings(),
        serial,
    )
    .unwrap()
}

/// A master serving `zone` on fresh ports; returns its address (UDP and TCP share the port).
pub async fn serve(master: HiddenMaster) -> SocketAddr {
    let (udp, tcp) = cirrus_dns::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move { master.serve(udp, tcp, std::future::pending()).await });
    addr
}

pub async fn start(zone: Zone) -> (SharedZone, SocketAddr) {
    let shared = SharedZone::new(zone);
    let addr = serve(HiddenMaster::builder(shared.clone()).build()).await;
    (shared, addr)
}

pub fn query(name: &str, rtype: RecordType, edns: bool) -> Message {
    let mut m = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m
}

fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One UDP exchange of raw bytes; `None` when nothing came back in time.
pub async fn udp_raw(addr: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(bytes, addr).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

pub async fn udp(addr: SocketAddr, message: &Message) -> Message {
    let answer = udp_raw(addr, &message.to_vec().unwrap()).await.expect("an answer");
    Message::from_vec(&answer).unwrap()
}

/// Sends `message` over TCP; reads answers until `done` says so.
pub async fn tcp(addr: SocketAddr, message: &Message, done: impl Fn(&[Message]) -> bool) -> Vec<Message> {
    let bytes = message.to_vec().unwrap();
    tcp_frames(addr, &bytes, done)
        .await
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

/// Sends `bytes` over TCP; reads answers (raw and parsed) until `done`
/// says so.
pub async fn tcp_frames(addr: SocketAddr, bytes: &[u8], done: impl Fn(&[Message]) -> bool) -> Vec<(Vec<u8>, Message)> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&(bytes.len() as u16).to_be_bytes()).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let mut parsed = Vec::new();
    while !done(&parsed) {
        let mut len = [0u8; 2];
        if tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut len))
            .await
            .is_err()
        {
            panic!("no complete answer over TCP after {} messages", out.len());
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await.unwrap();
        let m = Message::from_vec(&buf).unwrap();
        parsed.push(m.clone());
        out.push((buf, m));
    }
    out
}
