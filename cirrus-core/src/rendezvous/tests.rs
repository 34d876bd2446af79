use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("edge-{i}")).collect()
}

fn chosen(key: &str, nodes: &[String], k: usize) -> HashSet<String> {
    rendezvous_topk(key, nodes, k).into_iter().cloned().collect()
}

/// Frozen outputs. If this test fails, the hash changed and every
/// customer's edges would move: do not update these values.
#[test]
fn golden_vectors() {
    assert_eq!(stable_hash(b""), 0x2d06_8005_38d3_94c2);
    assert_eq!(stable_hash(b"example.com"), GOLDEN_EXAMPLE_COM_HASH);
    let nodes = ids(10);
    let got: Vec<Vec<&str>> = [
        "example.com",
        "www.example.org",
        "static.cdn.test",
        "xn--bcher-kva.example",
    ]
    .iter()
    .map(|k| rendezvous_topk(k, &nodes, 3).into_iter().map(String::as_str).collect())
    .collect();
    assert_eq!(got, GOLDEN_TOP3);
    let weighted = [("a", 1), ("b", 5), ("c", 10), ("d", 0)];
    let got: Vec<&str> = (0..8)
        .map(|i| rendezvous_topk(&format!("key-{i}"), &weighted, 1)[0].0)
        .collect();
    assert_eq!(got, GOLDEN_WEIGHTED_TOP1);
}

const GOLDEN_EXAMPLE_COM_HASH: u64 = 0x8b66_107e_8045_bb73;
const GOLDEN_TOP3: [[&str; 3]; 4] = [
    ["edge-0", "edge-2", "edge-4"],
    ["edge-5", "edge-1", "edge-0"],
    ["edge-0", "edge-5", "edge-1"],
    ["edge-8", "edge-5", "edge-7"],
];
const GOLDEN_WEIGHTED_TOP1: [&str; 8] = ["c", "b", "c", "c", "b", "c", "c", "a"];

#[test]
fn weight_zero_and_k_edge_cases() {
    let nodes = [("a", 0), ("b", 1)];
    assert_eq!(rendezvous_topk("x", &nodes, 5).len(), 1);
    assert!(rendezvous_topk("x", &nodes, 0).is_empty());
    let none: [&str; 0] = [];
    assert!(rendezvous_topk("x", &none, 2).is_empty());
}

proptest! {
    #[test]
    fn deterministic_and_order_independent(key in "[a-z.]{1,30}", n in 1usize..40, k in 1usize..5, rot in 0usize..40) {
        let nodes = ids(n);
        let mut rotated = nodes.clone();
        rotated.rotate_left(rot % n);
        let a = rendezvous_topk(&key, &nodes, k);
        prop_assert_eq!(&a, &rendezvous_topk(&key, &nodes, k));
        prop_assert_eq!(a.len(), k.min(n));
        let b = rendezvous_topk(&key, &rotated, k);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn removing_a_node_moves_only_its_keys(n in 3usize..30, k in 1usize..4, removed in 0usize..30) {
        let nodes = ids(n);
        let removed = removed % n;
        let mut fewer = nodes.clone();
        let gone = fewer.remove(removed);
        for i in 0..200 {
            let key = format!("domain-{i}.example");
            let before = chosen(&key, &nodes, k);
            let after = chosen(&key, &fewer, k);
            if before.contains(&gone) {
                // The survivors stay, one replacement joins.
                prop_assert!(before.iter().filter(|n| **n != gone).all(|n| after.contains(n)));
            } else {
                prop_assert_eq!(before, after);
            }
        }
    }
}

#[test]
fn adding_a_node_moves_about_k_over_n_of_keys() {
    let (n, k, keys) = (50, 2, 20_000);
    let nodes = ids(n);
    let mut more = nodes.clone();
    more.push("edge-new".into());
    let moved = (0..keys)
        .filter(|i| {
            let key = format!("site-{i}.example");
            chosen(&key, &nodes, k) != chosen(&key, &more, k)
        })
        .count();
    let share = moved as f64 / f64::from(keys);
    let expected = k as f64 / (n + 1) as f64;
    assert!(
        (share - expected).abs() < 0.01,
        "moved {share:.4}, expected about {expected:.4}"
    );
}

#[test]
fn weights_bias_the_share() {
    let nodes = [("w1", 1), ("w2", 2), ("w3", 3), ("w4", 4)];
    let total = 100_000;
    let mut counts = [0u32; 4];
    let table = RendezvousTable::new(&nodes);
    for i in 0..total {
        let best = table.topk(&format!("k{i}"), 1)[0];
        counts[best] += 1;
    }
    // Chi-square against shares 1/10, 2/10, 3/10, 4/10 with 3 degrees of
    // freedom; 16.27 is the 0.1% critical value.
    let chi2: f64 = counts
        .iter()
        .zip([1.0, 2.0, 3.0, 4.0])
        .map(|(&c, w)| {
            let expected = f64::from(total) * w / 10.0;
            (f64::from(c) - expected).powi(2) / expected
        })
        .sum();
    assert!(chi2 < 16.27, "counts {counts:?}, chi2 {chi2:.2}");
}
