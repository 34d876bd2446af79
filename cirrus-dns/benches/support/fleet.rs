//! The fleet the zone and transfer benches build from: 100,000 domains
//! over 1,000 nodes, every node active.

use cirrus_core::{DomainConf, Node};
use std::net::Ipv4Addr;

/// 100,000 domains (`d{i}.example.com`) and 1,000 nodes with an IPv4 address each.
pub(crate) fn fleet() -> (Vec<DomainConf>, Vec<Node>) {
    let origin: cirrus_core::model::Origin = "http://192.0.2.1".parse().expect("origin");
    let domains = (0..100_000)
        .map(|i| DomainConf::new(format!("d{i}.example.com"), origin.clone()))
        .collect();
    let nodes = (0..1_000u32)
        .map(|i| {
            let mut n = Node::new(format!("edge-{i}"));
            n.ipv4 = Some(Ipv4Addr::from(0xc633_6400 + i));
            n
        })
        .collect();
    (domains, nodes)
}
