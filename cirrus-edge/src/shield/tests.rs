use super::*;
use cirrus_core::model::EdgeReport;

fn node(id: &str, last: u8, weight: u32, port: Option<u16>, reported_ms: u64) -> Node {
    let mut n = Node::new(id)
        .with_ipv4(std::net::Ipv4Addr::new(127, 0, 0, last))
        .with_weight(weight);
    n.edge = Some(EdgeReport::new(1, reported_ms, reported_ms).with_shield_port(port));
    n
}

fn shield(me: &str) -> Shield {
    let metrics = ShieldMetrics::register(&prometheus::Registry::new()).expect("metrics");
    let s = Shield::new(Some(me), metrics);
    let _ = s.credentials.set(Credentials::new("secret"));
    s
}

fn ids(peers: &[Peer]) -> Vec<&str> {
    peers.iter().map(|p| &*p.id).collect()
}

#[test]
fn the_owner_fetches_itself_and_the_others_ask_it_first() {
    let now = 1_000_000;
    let nodes = [
        node("a", 2, 1, Some(8080), now),
        node("b", 3, 1, Some(8080), now),
        node("c", 4, 1, Some(8080), now),
    ];
    let edges = [shield("a"), shield("b"), shield("c")];
    for e in &edges {
        e.set_peers(&nodes, now);
    }
    let policy = ShieldPolicy::cluster();
    let mut owned = [0usize; 3];
    for i in 0..300 {
        let key = format!("example.com/{i}");
        let asked: Vec<Vec<Peer>> = edges.iter().map(|e| e.owners(&policy, &key, |_| false)).collect();
        let owner = asked.iter().position(Vec::is_empty).expect("one edge owns each key");
        owned[owner] += 1;
        for (i, a) in asked.iter().enumerate().filter(|(i, _)| *i != owner) {
            assert_eq!(&*a[0].id, ["a", "b", "c"][owner], "edge {i} asks the owner first");
            assert_eq!(a[0].origin.to_string(), format!("http://127.0.0.{}:8080", owner + 2));
        }
        // The owner marked down: the next on the ring, which may be the
        // asking edge itself (then it goes to the origin).
        let other = (owner + 1) % 3;
        let next = edges[other].owners(&policy, &key, |p| *p.id == *["a", "b", "c"][owner]);
        assert!(next.iter().all(|p| *p.id != *["a", "b", "c"][owner]));
    }
    assert!(owned.iter().all(|n| *n > 60), "spread over the three: {owned:?}");
}

#[test]
fn only_live_reported_edges_with_a_port_are_on_the_ring() {
    let now = 1_000_000;
    let silent = now - cirrus_core::model::EDGE_SILENT_AFTER_MS - 1;
    let mut off = node("d", 5, 1, Some(8080), now);
    off.enabled = false;
    let nodes = [
        node("a", 2, 1, Some(8080), now),
        node("b", 3, 1, None, now),
        node("c", 4, 1, Some(8080), silent),
        off,
    ];
    let e = shield("z");
    e.set_peers(&nodes, now);
    assert_eq!(e.metrics.peers.get(), 1);
    for i in 0..20 {
        assert_eq!(
            ids(&e.owners(&ShieldPolicy::cluster(), &format!("k{i}"), |_| false)),
            ["a"]
        );
    }
}

#[test]
fn a_node_set_limits_the_ring_and_off_asks_no_one() {
    let now = 1_000_000;
    let nodes = [
        node("a", 2, 1, Some(1), now),
        node("b", 3, 1, Some(1), now),
        node("c", 4, 1, Some(1), now),
    ];
    let e = shield("c");
    e.set_peers(&nodes, now);
    let only_b = ShieldPolicy::nodes(["b"]);
    for i in 0..50 {
        let key = format!("k{i}");
        assert_eq!(ids(&e.owners(&only_b, &key, |_| false)), ["b"]);
        assert!(e.owners(&ShieldPolicy::default(), &key, |_| false).is_empty());
        assert!(e.owners(&only_b, &key, |_| true).is_empty(), "b down: the origin");
    }
    // At most two peers are tried before the origin.
    let set = ShieldPolicy::nodes(["a", "b"]);
    for i in 0..50 {
        assert_eq!(e.owners(&set, &format!("k{i}"), |_| false).len(), 2);
    }
    // Without the secret an edge takes no part.
    let metrics = ShieldMetrics::register(&prometheus::Registry::new()).expect("metrics");
    let bare = Shield::new(Some("c"), metrics);
    bare.set_peers(&nodes, now);
    assert!(bare.owners(&only_b, "k", |_| false).is_empty());
    assert!(
        bare.sign(Signed {
            method: "GET",
            domain: "d",
            target: "/"
        })
        .is_none()
    );
}

#[test]
fn a_heavier_node_owns_its_share_of_keys() {
    let now = 1_000_000;
    let nodes = [node("a", 2, 1, Some(1), now), node("b", 3, 3, Some(1), now)];
    // Edge "z" is not on the ring: it asks the owner of every key first.
    let e = shield("z");
    e.set_peers(&nodes, now);
    let owned_by_b = (0..4000)
        .filter(|i| &*e.owners(&ShieldPolicy::cluster(), &format!("k{i}"), |_| false)[0].id == "b")
        .count();
    assert!(
        (2800..3200).contains(&owned_by_b),
        "weights 1:3 give b about 3,000 of 4,000: {owned_by_b}"
    );
}
