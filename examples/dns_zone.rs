//! Builds the DNS zone for a few domains and edge nodes and prints it in
//! zone-file format; then fails one node and shows that only its domains
//! moved.
//!
//! Run: `cargo run --example dns_zone`

use cirrus::core::{DomainConf, Node};
use cirrus::dns::{Zone, ZoneInput, ZoneSettings, target_name};
use std::net::Ipv4Addr;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = ZoneSettings::builder("cdn.example.net")
        .nameserver("ns1.example.net")
        .nameserver("ns2.example.net")
        .replicas_per_site(2)
        .ttl(60)
        .build()?;
    let domains: Vec<DomainConf> = [
        "www.example.com",
        "shop.example.org",
        "static.example.io",
        "api.example.dev",
    ]
    .into_iter()
    .map(|d| Ok(DomainConf::new(d, "http://192.0.2.10".parse()?)))
    .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let mut nodes: Vec<Node> = (1..=4)
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
    let zone = build(&nodes, 1)?;
    println!("{zone}");
    for d in &domains {
        println!("; {} CNAME {}", d.domain, target_name(&d.domain, settings.origin())?);
    }

    nodes[0].active = false;
    let after = build(&nodes, 2)?;
    println!(
        "\n; edge-1 marked down: serial {}, {} records",
        after.serial(),
        after.len()
    );
    let gone = ["198.51.100.1"];
    for line in after.to_string().lines().filter(|l| l.contains(" IN A ")) {
        assert!(!gone.iter().any(|ip| line.ends_with(ip)));
        println!("{line}");
    }
    Ok(())
}
