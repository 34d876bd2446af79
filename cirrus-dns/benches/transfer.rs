//! Transfer after one node flip in a 100,000-domain zone over 1,000 nodes:
//! the bytes and time of an AXFR against those of an IXFR from the serial
//! before the flip, both over TCP on loopback from the hidden master
//! (target: the IXFR at most 1 % of the AXFR's bytes). Also the time a
//! rebuild spends computing the difference. Run by `scripts/bench-dns`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use cirrus_core::{DomainConf, Node};
use cirrus_dns::{HiddenMaster, JournalLimits, SharedZone, Zone, ZoneInput, ZoneSettings};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/fleet.rs"]
mod fleet;

fn build(domains: &[DomainConf], nodes: &[Node], serial: u32) -> Zone {
    let settings = ZoneSettings::builder("cdn.bench").replicas_per_site(2).build().unwrap();
    let input = ZoneInput {
        domains,
        nodes,
        challenges: None,
    };
    Zone::build(input, &settings, serial).unwrap()
}

/// Sends `query` over TCP and reads until the answer's last SOA: returns
/// the bytes received and the time taken.
async fn transfer(addr: SocketAddr, query: &Message, serial: u32) -> (usize, Duration) {
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let bytes = query.to_vec().unwrap();
    s.write_all(&(bytes.len() as u16).to_be_bytes()).await.unwrap();
    s.write_all(&bytes).await.unwrap();
    let (mut total, mut soas) = (0, 0);
    loop {
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await.unwrap();
        total += buf.len() + 2;
        let m = Message::from_vec(&buf).unwrap();
        soas += m
            .answers
            .iter()
            .filter(|r| matches!(&r.data, RData::SOA(s) if s.serial == serial))
            .count();
        // AXFR: the SOA first and last; IXFR: three times.
        let done = if query.queries[0].query_type() == RecordType::AXFR {
            2
        } else {
            3
        };
        if soas >= done {
            return (total, started.elapsed());
        }
    }
}

fn main() {
    let (domains, mut nodes) = fleet::fleet();
    let before = build(&domains, &nodes, 1);
    nodes[500].active = false;
    let rebuilt = build(&domains, &nodes, 2);
    let started = Instant::now();
    let after = rebuilt.with_history(&before, JournalLimits::default());
    let diff_time = started.elapsed();
    let records = after.len();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (udp, tcp) = cirrus_dns::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let master = HiddenMaster::builder(SharedZone::new(after)).build();
        tokio::spawn(master.serve(udp, tcp, std::future::pending()));
        let apex = Name::from_ascii("cdn.bench.").unwrap();
        let mut axfr = Message::new(1, MessageType::Query, OpCode::Query);
        axfr.add_query(Query::query(apex.clone(), RecordType::AXFR));
        let mut ixfr = Message::new(2, MessageType::Query, OpCode::Query);
        ixfr.add_query(Query::query(apex.clone(), RecordType::IXFR));
        let soa = SOA::new(apex.clone(), apex.clone(), 1, 0, 0, 0, 0);
        ixfr.add_authority(Record::from_rdata(apex, 0, RData::SOA(soa)));
        // Best of 3 each.
        let (mut a, mut i) = ((0, Duration::MAX), (0, Duration::MAX));
        for _ in 0..3 {
            let (bytes, took) = transfer(addr, &axfr, 2).await;
            a = (bytes, a.1.min(took));
            let (bytes, took) = transfer(addr, &ixfr, 2).await;
            i = (bytes, i.1.min(took));
        }
        println!(
            "transfer after one node flip, 100000 domains x 1000 nodes ({records} records): AXFR {} bytes in {:.1} ms, IXFR {} bytes in {:.2} ms: {:.2} % of the bytes (target <= 1 %); difference computed in {:.1} ms",
            a.0,
            a.1.as_secs_f64() * 1e3,
            i.0,
            i.1.as_secs_f64() * 1e3,
            100.0 * i.0 as f64 / a.0 as f64,
            diff_time.as_secs_f64() * 1e3,
        );
    });
}
