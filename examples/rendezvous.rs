//! Which edges serve which domains, and what moves when an edge is lost.
//!
//! Run: `cargo run --example rendezvous`
#![allow(clippy::unwrap_used)]

use cirrus::core::RendezvousTable;

fn main() {
    let edges = [("edge-ams", 2), ("edge-fra", 2), ("edge-par", 1), ("edge-lon", 1)];
    let domains = [
        "example.com",
        "shop.example.org",
        "cdn.test",
        "img.example.net",
        "api.example.io",
    ];

    let all = RendezvousTable::new(&edges);
    let without_fra: Vec<_> = edges.iter().filter(|(id, _)| *id != "edge-fra").copied().collect();
    let degraded = RendezvousTable::new(&without_fra);

    println!("{:<18} {:<22} {:<22}", "domain", "all edges up", "edge-fra down");
    for d in domains {
        let before: Vec<&str> = all.topk(d, 2).into_iter().map(|i| edges[i].0).collect();
        let after: Vec<&str> = degraded.topk(d, 2).into_iter().map(|i| without_fra[i].0).collect();
        let moved = if before.contains(&"edge-fra") { "  <- moved" } else { "" };
        println!("{d:<18} {:<22} {:<22}{moved}", before.join(","), after.join(","));
    }
}
