//! The hidden master with a TSIG key, serving a zone that keeps its
//! history: after one node fails, a secondary still at the previous serial
//! asks for the changes (IXFR, signed with the key), checks the signature
//! of every message of the answer, and gets only the records that moved;
//! an unsigned request is refused. Prints what it got against an AXFR.
//!
//! Run: `cargo run --example signed_transfer`

use cirrus::core::{DomainConf, Node};
use cirrus::dns::{HiddenMaster, JournalLimits, SharedZone, TsigKey, Zone, ZoneInput, ZoneSettings};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::{Ipv4Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the secondary saw.
#[derive(Debug)]
pub struct Seen {
    /// The answer to an unsigned IXFR.
    pub unsigned: ResponseCode,
    /// Records in the zone.
    pub zone_records: usize,
    /// Records and bytes of the signed IXFR after the node failed.
    pub ixfr: (usize, usize),
    /// Records and bytes of a signed AXFR of the same zone.
    pub axfr: (usize, usize),
}

/// A transfer query for `cdn.example.net.`; an IXFR carries the client's
/// SOA (its serial) in the authority section.
fn transfer_query(rtype: RecordType, serial: u32) -> Message {
    let apex = Name::from_ascii("cdn.example.net.").expect("a name");
    let mut m = Message::new(1, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(apex.clone(), rtype));
    if rtype == RecordType::IXFR {
        let soa = SOA::new(apex.clone(), apex.clone(), serial, 0, 0, 0, 0);
        m.add_authority(Record::from_rdata(apex, 0, RData::SOA(soa)));
    }
    m
}

/// Sends `query` (signed with `key` when given) over TCP and reads the
/// answer's messages until the current SOA (`serial`) closes it, checking
/// each signature in turn: (records, bytes, first answer's code).
async fn ask(
    master: SocketAddr,
    mut query: Message,
    key: Option<&TsigKey>,
    serial: u32,
) -> Result<(usize, usize, ResponseCode), Box<dyn std::error::Error>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut verifier = match key {
        Some(key) => query.finalize(&key.signer(), now)?,
        None => None,
    };
    let closing = if query.queries[0].query_type() == RecordType::AXFR {
        2
    } else {
        3
    };
    let mut stream = tokio::net::TcpStream::connect(master).await?;
    let bytes = query.to_vec()?;
    stream.write_all(&u16::try_from(bytes.len())?.to_be_bytes()).await?;
    stream.write_all(&bytes).await?;
    let (mut records, mut total, mut soas) = (0, 0, 0);
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await?;
        let message = match verifier.as_mut() {
            Some(v) => v.verify(&buf)?.into_message(),
            None => Message::from_vec(&buf)?,
        };
        if message.metadata.response_code != ResponseCode::NoError {
            return Ok((0, total, message.metadata.response_code));
        }
        total += buf.len() + 2;
        records += message.answers.len();
        soas += message
            .answers
            .iter()
            .filter(|r| matches!(&r.data, RData::SOA(s) if s.serial == serial))
            .count();
        if soas >= closing {
            return Ok((records, total, ResponseCode::NoError));
        }
    }
}

/// Runs the demo: 2,000 domains over 20 nodes, one node failing.
pub async fn demo() -> Result<Seen, Box<dyn std::error::Error>> {
    let settings = ZoneSettings::builder("cdn.example.net").replicas_per_site(2).build()?;
    let domains: Vec<DomainConf> = (0..2_000)
        .map(|i| {
            Ok(DomainConf::new(
                format!("site{i}.example.com"),
                "http://192.0.2.10".parse()?,
            ))
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let mut nodes: Vec<Node> = (1..=20)
        .map(|i| {
            let mut n = Node::new(format!("edge-{i}"));
            n.ipv4 = Some(Ipv4Addr::new(198, 51, 100, i));
            n
        })
        .collect();
    let build = |nodes: &[Node], serial| {
        let input = ZoneInput {
            domains: &domains,
            nodes,
            challenges: None,
        };
        Zone::build(input, &settings, serial)
    };
    let before = build(&nodes, 1)?;
    nodes[4].active = false;
    // What the rebuild loop does: the new zone keeps the difference.
    let zone = build(&nodes, 2)?.with_history(&before, JournalLimits::default());
    let zone_records = zone.len();

    let key: TsigKey = "xfr-key:hmac-sha256:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0".parse()?;
    let master = HiddenMaster::builder(SharedZone::new(zone))
        .tsig_keys(std::slice::from_ref(&key))
        .build();
    let (udp, tcp) = cirrus::dns::bind("127.0.0.1:0".parse()?).await?;
    let addr = tcp.local_addr()?;
    tokio::spawn(master.serve(udp, tcp, std::future::pending()));

    let (_, _, unsigned) = ask(addr, transfer_query(RecordType::IXFR, 1), None, 2).await?;
    let (ixfr_records, ixfr_bytes, _) = ask(addr, transfer_query(RecordType::IXFR, 1), Some(&key), 2).await?;
    let (axfr_records, axfr_bytes, _) = ask(addr, transfer_query(RecordType::AXFR, 0), Some(&key), 2).await?;
    Ok(Seen {
        unsigned,
        zone_records,
        ixfr: (ixfr_records, ixfr_bytes),
        axfr: (axfr_records, axfr_bytes),
    })
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seen = demo().await?;
    println!("unsigned IXFR: {}", seen.unsigned);
    println!(
        "signed IXFR after one of 20 nodes failed: {} records, {} bytes, every message's signature checked",
        seen.ixfr.0, seen.ixfr.1
    );
    println!(
        "signed AXFR of the same zone ({} records): {} records, {} bytes",
        seen.zone_records, seen.axfr.0, seen.axfr.1
    );
    Ok(())
}
