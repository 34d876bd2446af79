//! IXFR (RFC 1995) from the hidden master: the changes since the
//! client's serial, the whole zone when the history lacks it, the SOA
//! alone when the client is up to date, and UDP answers that fit or are
//! truncated.

use crate::{domains, nodes, query, settings, start, tcp, udp};
use cirrus_core::{DomainConf, Node};
use cirrus_dns::{JournalLimits, Zone, ZoneInput};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashSet;

fn zone(domains: &[DomainConf], nodes: &[Node], serial: u32) -> Zone {
    let input = ZoneInput {
        domains,
        nodes,
        challenges: None,
    };
    Zone::build(input, &settings(), serial).unwrap()
}

/// An IXFR query from a client at `serial` (its SOA in the authority
/// section), or with no SOA at all.
fn ixfr(serial: Option<u32>) -> Message {
    let mut m = query("cdn.test.", RecordType::IXFR, false);
    if let Some(serial) = serial {
        let origin = Name::from_ascii("cdn.test.").unwrap();
        let soa = SOA::new(origin.clone(), origin.clone(), serial, 0, 0, 0, 0);
        m.add_authority(Record::from_rdata(origin, 0, RData::SOA(soa)));
    }
    m
}

fn serial_of(r: &Record) -> Option<u32> {
    match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    }
}

/// Every answer record of an IXFR over TCP, up to the closing SOA.
async fn ixfr_tcp(addr: std::net::SocketAddr, serial: Option<u32>, current: u32) -> Vec<Record> {
    let done = |ms: &[Message]| {
        let records: Vec<&Record> = ms.iter().flat_map(|m| &m.answers).collect();
        // One SOA when up to date; else the answer ends with the current
        // SOA a second (AXFR-style) or third (incremental) time.
        records.len() == 1 || (records.len() > 1 && records.last().and_then(|r| serial_of(r)) == Some(current))
    };
    let messages = tcp(addr, &ixfr(serial), done).await;
    assert!(
        messages
            .iter()
            .all(|m| m.metadata.response_code == ResponseCode::NoError)
    );
    messages.into_iter().flat_map(|m| m.answers).collect()
}

fn text(records: &[&Record]) -> HashSet<String> {
    records
        .iter()
        .filter(|r| r.record_type() != RecordType::SOA)
        .map(|r| r.to_string())
        .collect()
}

#[tokio::test]
async fn ixfr_sends_the_changes_or_the_whole_zone() {
    let names = domains(2_000);
    let mut fleet = nodes(8);
    let v1 = zone(&names, &fleet, 100);
    fleet[2].active = false;
    let v2 = zone(&names, &fleet, 101).with_history(&v1, JournalLimits::default());
    let (shared, addr) = start(v2.clone()).await;

    // From v1: SOA(101), SOA(100), removed, SOA(101), added, SOA(101).
    let answer = ixfr_tcp(addr, Some(100), 101).await;
    let serials: Vec<u32> = answer.iter().filter_map(serial_of).collect();
    assert_eq!(serials, [101, 100, 101, 101], "the incremental layout");
    let second_new = answer.iter().skip(2).position(|r| serial_of(r) == Some(101)).unwrap() + 2;
    let removed: Vec<&Record> = answer[2..second_new].iter().collect();
    let added: Vec<&Record> = answer[second_new + 1..answer.len() - 1].iter().collect();
    assert!(
        removed.iter().all(|r| r.data.to_string() == "10.0.0.3"),
        "only node 3 leaves"
    );
    let mut applied = text(&v1.records());
    for r in text(&removed) {
        assert!(applied.remove(&r));
    }
    applied.extend(text(&added));
    assert_eq!(applied, text(&v2.records()), "v1 with the changes is v2");
    let full = v2.len() + 1;
    // Node 3 held a quarter of the addresses (2 of 8 per domain): each
    // is removed and replaced, about half the zone's size in records.
    assert!(
        answer.len() * 100 < full * 30,
        "{} records against {full}",
        answer.len()
    );

    // Up to date (or ahead): the SOA alone.
    for serial in [101, 102] {
        let answer = ixfr_tcp(addr, Some(serial), 101).await;
        assert_eq!(answer.len(), 1);
        assert_eq!(serial_of(&answer[0]), Some(101));
    }

    // A serial the history does not have, or no SOA at all: the whole
    // zone, AXFR-style (never an error: NSD would stop asking for IXFR).
    for serial in [Some(7), None] {
        let answer = ixfr_tcp(addr, serial, 101).await;
        assert_eq!(answer.len(), full, "{serial:?}");
        assert_eq!(serial_of(&answer[0]), Some(101));
        assert_eq!(text(&answer.iter().collect::<Vec<_>>()), text(&v2.records()));
    }

    // A SOA of another zone in the authority section: not a serial of
    // ours, so the whole zone.
    let mut foreign = query("cdn.test.", RecordType::IXFR, false);
    let other = Name::from_ascii("other.test.").unwrap();
    let soa = SOA::new(other.clone(), other.clone(), 100, 0, 0, 0, 0);
    foreign.add_authority(Record::from_rdata(other, 0, RData::SOA(soa)));
    let done = |ms: &[Message]| ms.iter().flat_map(|m| &m.answers).filter_map(serial_of).count() >= 2;
    let answer: Vec<Record> = tcp(addr, &foreign, done)
        .await
        .into_iter()
        .flat_map(|m| m.answers)
        .collect();
    assert_eq!(answer.len(), full, "another zone's SOA");

    // Over UDP: a one-domain change fits in a datagram; the node flip
    // does not, and gets the SOA alone with TC.
    let mut more = names.clone();
    more.push(DomainConf::new("new.example.com", "http://192.0.2.1".parse().unwrap()));
    let v3 = zone(&more, &fleet, 102).with_history(&v2, JournalLimits::default());
    shared.replace(v3);
    let m = udp(addr, &ixfr(Some(101))).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.metadata.truncation);
    let serials: Vec<u32> = m.answers.iter().filter_map(serial_of).collect();
    assert_eq!(serials, [102, 101, 102, 102]);
    assert_eq!(m.answers.len(), 4 + 2, "the new domain's two addresses");
    let m = udp(addr, &ixfr(Some(100))).await;
    assert!(m.metadata.truncation, "too large for UDP");
    assert_eq!(m.answers.len(), 1);
    assert_eq!(serial_of(&m.answers[0]), Some(102));
    let answer = ixfr_tcp(addr, Some(100), 102).await;
    assert_eq!(
        answer.iter().filter_map(serial_of).collect::<Vec<_>>(),
        [102, 100, 102, 102]
    );
}
