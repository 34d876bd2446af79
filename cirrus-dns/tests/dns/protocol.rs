//! The hidden master's answers, transfers and refusals on real sockets.

use crate::{build, domains, nodes, query, serve, settings, start, tcp, udp, udp_raw};
use cirrus_core::model::AllowList;
use cirrus_dns::{DnsMetrics, HiddenMaster, challenge_name, target_name};
use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use std::collections::BTreeMap;

fn target(domain: &str) -> String {
    target_name(domain, settings().origin()).unwrap().to_string()
}

#[tokio::test]
async fn answers_nodata_nxdomain_and_refusals() {
    let (_, addr) = start(build(&domains(3), &nodes(4), None, 1)).await;
    let name = target("d0.example.com");

    for over_tcp in [false, true] {
        let q = query(&name, RecordType::A, false);
        let m = if over_tcp {
            tcp(addr, &q, |m| !m.is_empty()).await.remove(0)
        } else {
            udp(addr, &q).await
        };
        assert_eq!(m.metadata.id, q.metadata.id);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative, "authoritative answer");
        assert!(!m.metadata.recursion_available);
        assert_eq!(m.answers.len(), 2, "two nodes per domain");
        assert!(m.answers.iter().all(|r| matches!(r.data, RData::A(_))));
    }

    let m = udp(addr, &query(&name, RecordType::MX, false)).await;
    assert_eq!(
        (m.metadata.response_code, m.answers.len()),
        (ResponseCode::NoError, 0),
        "NODATA"
    );
    assert!(m.metadata.authoritative);
    assert!(
        matches!(m.authorities.first().map(|r| &r.data), Some(RData::SOA(_))),
        "SOA for negative caching"
    );

    let m = udp(addr, &query("nothing-here.cdn.test.", RecordType::A, false)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert!(matches!(m.authorities.first().map(|r| &r.data), Some(RData::SOA(_))));

    let m = udp(addr, &query("www.example.com.", RecordType::A, false)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused, "outside the zone");
    assert!(!m.metadata.authoritative);

    let m = udp(addr, &query("cdn.test.", RecordType::NS, false)).await;
    assert_eq!(m.answers.len(), 1);
}

#[tokio::test]
async fn soa_and_transfers_only_for_the_allow_list_and_only_over_tcp() {
    // Enough records for several transfer messages.
    let zone = build(&domains(1_000), &nodes(10), None, 42);
    let total = zone.len();
    let (shared, addr) = start(zone).await;

    let soa = udp(addr, &query("cdn.test.", RecordType::SOA, false)).await;
    assert_eq!(soa.metadata.response_code, ResponseCode::NoError);
    assert!(matches!(&soa.answers[0].data, RData::SOA(s) if s.serial == 42));

    let axfr = query("cdn.test.", RecordType::AXFR, false);
    let soas = |ms: &[Message]| {
        ms.iter()
            .flat_map(|m| &m.answers)
            .filter(|r| r.record_type() == RecordType::SOA)
            .count()
    };
    let messages = tcp(addr, &axfr, |ms| soas(ms) >= 2).await;
    assert!(messages.len() > 1, "a large zone spans several messages");
    let records: Vec<_> = messages.iter().flat_map(|m| &m.answers).collect();
    assert_eq!(records.len(), total + 1, "every record, the SOA twice");
    assert_eq!(records[0].record_type(), RecordType::SOA);
    assert_eq!(records[records.len() - 1].record_type(), RecordType::SOA);
    assert!(
        messages
            .iter()
            .all(|m| m.metadata.authoritative && m.metadata.response_code == ResponseCode::NoError)
    );

    let m = udp(addr, &axfr).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused, "no AXFR over UDP");

    // A master that does not list us.
    let metrics = DnsMetrics::new().unwrap();
    let strict = HiddenMaster::builder(shared)
        .allow_transfer("192.0.2.1".parse::<AllowList>().unwrap())
        .metrics(metrics.clone())
        .build();
    let addr = serve(strict).await;
    let m = tcp(addr, &axfr, |m| !m.is_empty()).await.remove(0);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(m.answers.is_empty());
    let m = udp(addr, &query("cdn.test.", RecordType::SOA, false)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let m = udp(addr, &query(&target("d1.example.com"), RecordType::A, false)).await;
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::NoError,
        "ordinary queries are still answered"
    );
}

#[tokio::test]
async fn large_answers_are_truncated_over_udp_and_whole_over_tcp() {
    let values: Vec<String> = (0..40).map(|i| format!("{i:02}-{}", "x".repeat(40))).collect();
    let challenges = BTreeMap::from([("d0.example.com".to_string(), values)]);
    let (_, addr) = start(build(&domains(1), &nodes(2), Some(&challenges), 1)).await;
    let name = challenge_name("d0.example.com", settings().origin())
        .unwrap()
        .to_string();

    let plain = udp(addr, &query(&name, RecordType::TXT, false)).await;
    assert!(plain.metadata.truncation, "over 512 bytes without EDNS: TC");
    let bytes = plain.to_vec().unwrap().len();
    assert!(bytes <= 512, "{bytes}");
    let with_edns = udp(addr, &query(&name, RecordType::TXT, true)).await;
    assert!(with_edns.metadata.truncation, "over 1232 bytes even with EDNS");
    let edns = with_edns.edns.as_ref().expect("EDNS answered with EDNS");
    assert!(edns.max_payload() <= 1232);
    let whole = tcp(addr, &query(&name, RecordType::TXT, false), |m| !m.is_empty()).await;
    assert!(!whole[0].metadata.truncation);
    assert_eq!(whole[0].answers.len(), 40);

    let mut future = query(&name, RecordType::TXT, false);
    let mut e = Edns::new();
    e.set_version(1);
    future.set_edns(e);
    let m = udp(addr, &future).await;
    // BADVERS is 16, an extended code (the same number reads as BADSIG).
    assert_eq!(u16::from(m.metadata.response_code), 16, "BADVERS");
}

#[tokio::test]
async fn a_new_zone_is_served_whole_at_once() {
    let (shared, addr) = start(build(&domains(2), &nodes(3), None, 1)).await;
    let serial = |m: &Message| match &m.answers[0].data {
        RData::SOA(s) => s.serial,
        other => panic!("{other:?}"),
    };
    assert_eq!(serial(&udp(addr, &query("cdn.test.", RecordType::SOA, false)).await), 1);
    shared.replace(build(&domains(5), &nodes(3), None, 2));
    assert_eq!(serial(&udp(addr, &query("cdn.test.", RecordType::SOA, false)).await), 2);
    let m = udp(addr, &query(&target("d4.example.com"), RecordType::A, false)).await;
    assert_eq!(m.answers.len(), 2, "the new domain is there");
}

#[tokio::test]
async fn malformed_packets_never_stop_the_server() {
    let (_, addr) = start(build(&domains(2), &nodes(2), None, 1)).await;
    // Deterministic pseudo-random packets (xorshift), 1 to 600 bytes.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..2_000 {
        let len = (next() % 600 + 1) as usize;
        let packet: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        sock.send_to(&packet, addr).await.unwrap();
    }
    // A truncated header: dropped.
    assert!(udp_raw(addr, &[0x12, 0x34, 0x01]).await.is_none());
    // A readable header and a question that is garbage: FORMERR.
    let mut bad = query("cdn.test.", RecordType::A, false).to_vec().unwrap();
    bad.truncate(14);
    let answer = udp_raw(addr, &bad).await.expect("an answer to a readable header");
    assert_eq!(answer[3] & 0x0f, 1, "FORMERR");
    // A name of 200 one-character labels (over 255 bytes) and a compression loop.
    let mut huge = query("cdn.test.", RecordType::A, false).to_vec().unwrap();
    huge.truncate(12);
    for _ in 0..200 {
        huge.extend_from_slice(&[1, b'a']);
    }
    huge.extend_from_slice(&[0, 0, 1, 0, 1]);
    let _ = udp_raw(addr, &huge).await;
    let mut looped = query("cdn.test.", RecordType::A, false).to_vec().unwrap();
    looped.truncate(12);
    looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    let _ = udp_raw(addr, &looped).await;
    // Still answering.
    let m = udp(addr, &query(&target("d1.example.com"), RecordType::A, false)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 2);
}

#[tokio::test]
async fn the_fast_udp_path_answers_as_hickory_servers_path() {
    use cirrus_dns::SharedZone;
    let mut fleet = nodes(40);
    for (i, n) in fleet.iter_mut().enumerate() {
        n.ipv6 = Some(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16 + 1));
    }
    let challenges = BTreeMap::from([("d1.example.com".to_string(), vec!["token".to_string()])]);
    let mut names = domains(20);
    names[2].replicas = Some(40); // more addresses than a 512-byte answer holds
    let zone = SharedZone::new(build(&names, &fleet, Some(&challenges), 9));
    let ours = serve(HiddenMaster::builder(zone.clone()).udp_threads(2).build()).await;
    let hickory = serve(HiddenMaster::builder(zone).udp_threads(0).build()).await;
    let d0 = target("d0.example.com");
    let challenge = challenge_name("d1.example.com", settings().origin())
        .unwrap()
        .to_string();
    let mut asked = Vec::new();
    for (name, rtype) in [
        (d0.clone(), RecordType::A),
        (d0.to_uppercase(), RecordType::AAAA),
        (d0.clone(), RecordType::MX),
        (target("d2.example.com"), RecordType::A),
        ("missing.cdn.test.".to_string(), RecordType::A),
        (challenge.clone(), RecordType::TXT),
        (challenge, RecordType::A),
        ("cdn.test.".to_string(), RecordType::SOA),
        ("cdn.test.".to_string(), RecordType::NS),
        ("www.example.org.".to_string(), RecordType::A),
    ] {
        for edns in [false, true] {
            asked.push(query(&name, rtype, edns));
        }
    }
    let mut badvers = query(&d0, RecordType::A, true);
    badvers.edns.as_mut().unwrap().set_version(1);
    asked.push(badvers);
    for q in &asked {
        let (a, b) = (udp(ours, q).await, udp(hickory, q).await);
        assert_eq!(
            cirrus_test_support::dns_summary(&a),
            cirrus_test_support::dns_summary(&b),
            "{q:?}"
        );
    }
    let truncated = udp(ours, &query(&target("d2.example.com"), RecordType::A, false)).await;
    assert!(truncated.metadata.truncation, "40 addresses do not fit 512 bytes");
}
