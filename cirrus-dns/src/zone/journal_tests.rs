use super::*;
use crate::zone::{ZoneInput, ZoneSettings};
use cirrus_core::{DomainConf, Node};
use std::collections::HashSet;
use std::net::Ipv4Addr;

fn settings() -> ZoneSettings {
    ZoneSettings::builder("cdn.example.net")
        .replicas_per_site(2)
        .build()
        .expect("settings")
}

fn nodes(down: &[u8]) -> Vec<Node> {
    (1..=8)
        .map(|i| {
            let mut n = Node::new(format!("edge-{i}"));
            n.ipv4 = Some(Ipv4Addr::new(198, 51, 100, i));
            n.active = !down.contains(&i);
            n
        })
        .collect()
}

fn zone(down: &[u8], serial: u32) -> Zone {
    let domains: Vec<DomainConf> = (0..200)
        .map(|i| DomainConf::new(format!("d{i}.example.com"), "http://192.0.2.1".parse().expect("origin")))
        .collect();
    let input = ZoneInput {
        domains: &domains,
        nodes: &nodes(down),
        challenges: None,
    };
    Zone::build(input, &settings(), serial).expect("zone")
}

/// A zone's records other than the SOA, as text.
fn content(zone: &Zone) -> HashSet<String> {
    zone.records()
        .iter()
        .filter(|r| r.record_type() != RecordType::SOA)
        .map(|r| r.to_string())
        .collect()
}

/// `older`'s records with an IXFR answer applied, as a secondary does.
fn apply(older: &Zone, removed: &[&Record], added: &[&Record]) -> HashSet<String> {
    let mut records = content(older);
    for r in removed {
        assert!(records.remove(&r.to_string()), "removes a record it had: {r}");
    }
    for r in added {
        assert!(records.insert(r.to_string()), "adds a record it lacked: {r}");
    }
    records
}

#[test]
fn serials_compare_in_serial_number_order() {
    assert!(serial_lt(1, 2) && !serial_lt(2, 1) && !serial_lt(5, 5));
    assert!(serial_lt(u32::MAX, 0), "0 follows u32::MAX");
    assert!(serial_lt(u32::MAX - 10, 20));
    assert!(!serial_lt(20, u32::MAX - 10));
    // Half the space apart: not ordered either way (RFC 1982 §3.2).
    assert!(!serial_lt(0, 1 << 31) && !serial_lt(1 << 31, 0));
}

#[test]
fn a_node_flip_is_sent_as_its_changes_only() {
    let v1 = zone(&[], 100);
    let v2 = zone(&[3], 101).with_history(&v1, JournalLimits::default());
    assert_eq!(v2.history_serials(), [100]);
    let Ixfr::Incremental { from, removed, added } = v2.ixfr(100) else {
        panic!("an incremental answer");
    };
    assert_eq!(from, v1.soa());
    assert!(
        !removed.is_empty() && removed.len() == added.len(),
        "each lost address replaced"
    );
    assert!(
        removed.iter().all(|r| r.data.to_string() == "198.51.100.3"),
        "only the node that went down is removed"
    );
    // Node 3 held a quarter of the 400 addresses (2 of 8 per domain).
    let changed = removed.len() + added.len();
    assert!((80..=140).contains(&changed), "{changed} of {}", v2.len());
    assert_eq!(apply(&v1, &removed, &added), content(&v2));
    assert_eq!(v2.ixfr(101), Ixfr::UpToDate);
    assert_eq!(v2.ixfr(102), Ixfr::UpToDate, "a newer serial than ours");
    assert_eq!(v2.ixfr(99), Ixfr::Full, "a serial the history never had");
}

#[test]
fn several_changes_are_condensed() {
    let v1 = zone(&[], 100);
    let v2 = zone(&[3], 101).with_history(&v1, JournalLimits::default());
    let v3 = zone(&[3, 5], 102).with_history(&v2, JournalLimits::default());
    let v4 = zone(&[5], 103).with_history(&v3, JournalLimits::default());
    assert_eq!(v4.history_serials(), [100, 101, 102]);
    for older in [&v1, &v2, &v3] {
        let Ixfr::Incremental { from, removed, added } = v4.ixfr(older.serial()) else {
            panic!("incremental from {}", older.serial());
        };
        assert_eq!(from, older.soa());
        assert_eq!(apply(older, &removed, &added), content(&v4), "from {}", older.serial());
    }
    // Node 3 went down and came back: from v1, only node 5's changes remain.
    let Ixfr::Incremental { removed, .. } = v4.ixfr(100) else {
        panic!("incremental");
    };
    assert!(removed.iter().all(|r| r.data.to_string() == "198.51.100.5"));
}

#[test]
fn the_history_is_bounded_and_kept_in_order() {
    let mut zones = vec![zone(&[], 100)];
    // One node flips at each step.
    for (i, down) in [&[1u8][..], &[1, 2], &[2], &[2, 4]].iter().enumerate() {
        let next = zone(down, 101 + i as u32).with_history(&zones[i], JournalLimits::new(2, 16 << 20));
        zones.push(next);
    }
    let last = &zones[4];
    assert_eq!(last.history_serials(), [102, 103], "the two latest differences");
    assert_eq!(last.ixfr(101), Ixfr::Full, "too old");
    assert!(matches!(last.ixfr(102), Ixfr::Incremental { .. }));

    let tiny = zone(&[1], 101).with_history(&zones[0], JournalLimits::new(64, 100));
    assert!(tiny.history_serials().is_empty(), "a difference over the byte limit");
    let off = zone(&[1], 101).with_history(&zones[0], JournalLimits::new(0, 16 << 20));
    assert!(off.history_serials().is_empty(), "no history kept");
    let back = zone(&[1], 99).with_history(&zones[0], JournalLimits::default());
    assert!(back.history_serials().is_empty(), "a serial that went back");
    let everything = zone(&[1, 2, 3, 4, 5, 6], 101).with_history(&zones[0], JournalLimits::default());
    assert_eq!(
        everything.ixfr(100),
        Ixfr::Full,
        "a change of most of the zone is sent whole"
    );
}

#[test]
fn the_history_follows_the_serial_across_the_wrap() {
    let v1 = zone(&[], u32::MAX);
    let v2 = zone(&[2], 0).with_history(&v1, JournalLimits::default());
    assert_eq!(v2.history_serials(), [u32::MAX]);
    assert!(matches!(v2.ixfr(u32::MAX), Ixfr::Incremental { .. }));
    assert_eq!(v2.ixfr(0), Ixfr::UpToDate);
}
