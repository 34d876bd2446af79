//! Serves a synthetic zone for `scripts/bench-dns`: 10,000 domains over 10
//! nodes from the hidden master, and writes a dnsperf query file (80%
//! existing names, 15% NXDOMAIN, 5% NODATA). Not a measurement itself.
//!
//! Usage: `serve <port> <query file>`; prints `ready` when answering.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use cirrus_core::{DomainConf, Node};
use cirrus_dns::{HiddenMaster, SharedZone, Zone, ZoneInput, ZoneSettings, target_name};
use std::io::Write;
use std::net::Ipv4Addr;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let (Some(port), Some(queries)) = (args.next(), args.next()) else {
        eprintln!("usage: serve <port> <query file> (run by scripts/bench-dns)");
        return;
    };
    let port: u16 = port.parse().expect("port");
    let settings = ZoneSettings::builder("cdn.bench").replicas_per_site(2).build().unwrap();
    let origin: cirrus_core::model::Origin = "http://192.0.2.1".parse().unwrap();
    let domains: Vec<DomainConf> = (0..10_000)
        .map(|i| DomainConf::new(format!("site{i}.example.com"), origin.clone()))
        .collect();
    let nodes: Vec<Node> = (1..=10u8)
        .map(|i| {
            let mut n = Node::new(format!("edge-{i}"));
            n.ipv4 = Some(Ipv4Addr::new(198, 51, 100, i));
            n
        })
        .collect();
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
    let mut out = std::io::BufWriter::new(std::fs::File::create(&queries).expect("query file"));
    for i in 0..100_000usize {
        let d = &domains[(i * 7919) % domains.len()].domain;
        let line = match i % 20 {
            0..=15 => format!("{} A", target_name(d, settings.origin()).unwrap()),
            16..=18 => format!("missing-{i}.cdn.bench. A"),
            _ => format!("{} MX", target_name(d, settings.origin()).unwrap()),
        };
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (udp, tcp) = cirrus_dns::bind(([127, 0, 0, 1], port).into()).await.unwrap();
        let mut master = HiddenMaster::builder(SharedZone::new(zone));
        if let Ok(n) = std::env::var("CIRRUS_DNS_UDP_THREADS") {
            master = master.udp_threads(n.parse().unwrap());
        }
        let master = master.build();
        println!("ready");
        master.serve(udp, tcp, std::future::pending()).await.unwrap();
    });
}
