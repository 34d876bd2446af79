//! Zone rebuild time: 100,000 domains over 1,000 nodes (target: under 2 s),
//! best of 3. Run: `cargo bench -p cirrus-dns`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use cirrus_core::{DomainConf, Node};
use cirrus_dns::{Zone, ZoneInput, ZoneSettings};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn main() {
    let settings = ZoneSettings::builder("cdn.example.net")
        .replicas_per_site(2)
        .build()
        .unwrap();
    let origin: cirrus_core::model::Origin = "http://192.0.2.1".parse().unwrap();
    let domains: Vec<DomainConf> = (0..100_000)
        .map(|i| DomainConf::new(format!("d{i}.example.com"), origin.clone()))
        .collect();
    let nodes: Vec<Node> = (0..1_000u32)
        .map(|i| {
            let mut n = Node::new(format!("edge-{i}"));
            n.ipv4 = Some(Ipv4Addr::from(0xc633_6400 + i));
            n
        })
        .collect();
    let mut best = Duration::MAX;
    let mut records = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let zone = Zone::build(
            ZoneInput {
                domains: &domains,
                nodes: &nodes,
                challenges: None,
            },
            &settings,
            1,
        )
        .unwrap();
        best = best.min(started.elapsed());
        records = zone.len();
    }
    println!(
        "zone rebuild, 100000 domains x 1000 nodes: {:.3} s (best of 3), {records} records; target < 2 s",
        best.as_secs_f64()
    );
}
