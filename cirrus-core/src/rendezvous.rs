//! Weighted rendezvous (highest random weight) hashing: which `k` nodes serve
//! a key. The hash is frozen by golden tests: changing it would move every
//! customer domain to other edges.
//!
//! Definition (stable across releases and platforms):
//! 1. `hk = XXH3-64(key bytes, seed 0)`, `hn = XXH3-64(node id bytes, seed 0)`;
//! 2. `m = fmix64(hk ^ hn)` (the MurmurHash3 64-bit finalizer);
//! 3. `u = ((m >> 11) + 0.5) / 2^53`, a uniform number in (0, 1);
//! 4. `score = weight / -ln(u)`; the `k` highest scores win, ties broken by
//!    the smaller node id. Nodes of weight 0 are never chosen.
//!
//! With `score = w / -ln(u)` a node's chance to rank first is its weight over
//! the sum of weights, and removing a node only moves the keys it held.

use xxhash_rust::xxh3::xxh3_64;

/// Something that can be chosen by [`rendezvous_topk`]: an id and a weight.
pub trait Weighted {
    /// Stable identifier hashed with the key.
    fn rendezvous_id(&self) -> &str;
    /// Relative weight; 0 means never chosen.
    fn rendezvous_weight(&self) -> u32 {
        1
    }
}

impl Weighted for &str {
    fn rendezvous_id(&self) -> &str {
        self
    }
}

impl Weighted for String {
    fn rendezvous_id(&self) -> &str {
        self
    }
}

impl<S: AsRef<str>> Weighted for (S, u32) {
    fn rendezvous_id(&self) -> &str {
        self.0.as_ref()
    }
    fn rendezvous_weight(&self) -> u32 {
        self.1
    }
}

impl Weighted for crate::model::Node {
    fn rendezvous_id(&self) -> &str {
        &self.id
    }
    fn rendezvous_weight(&self) -> u32 {
        self.weight
    }
}

/// The stable 64-bit hash used for keys and node ids (XXH3-64, seed 0).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

/// MurmurHash3's 64-bit finalizer: a bijective mix with full avalanche.
fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

fn score(key_hash: u64, node_hash: u64, weight: f64) -> f64 {
    let m = fmix64(key_hash ^ node_hash);
    let u = ((m >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    weight / -u.ln()
}

/// The `k` nodes (fewer if fewer have a weight above 0) that serve `key`,
/// best first.
///
/// ```
/// use cirrus_core::rendezvous_topk;
/// let nodes = ["edge-a", "edge-b", "edge-c"];
/// let chosen = rendezvous_topk("example.com", &nodes, 2);
/// assert_eq!(chosen.len(), 2);
/// // Same inputs, same answer, on every machine.
/// assert_eq!(chosen, rendezvous_topk("example.com", &nodes, 2));
/// ```
pub fn rendezvous_topk<'n, N: Weighted>(key: &str, nodes: &'n [N], k: usize) -> Vec<&'n N> {
    RendezvousTable::new(nodes)
        .topk(key, k)
        .into_iter()
        .map(|i| &nodes[i])
        .collect()
}

/// Node hashes computed once, for choosing nodes for many keys.
///
/// ```
/// use cirrus_core::RendezvousTable;
/// let nodes = [("edge-a", 1), ("edge-b", 3)];
/// let table = RendezvousTable::new(&nodes);
/// let best = table.topk("example.com", 1);
/// assert!(best[0] < nodes.len());
/// ```
#[derive(Debug, Clone)]
pub struct RendezvousTable {
    nodes: Vec<TableEntry>,
}

#[derive(Debug, Clone)]
struct TableEntry {
    hash: u64,
    weight: f64,
    id: Box<str>,
}

impl RendezvousTable {
    /// Hashes the node ids of `nodes`; indexes returned by [`Self::topk`]
    /// refer to this slice.
    pub fn new<N: Weighted>(nodes: &[N]) -> Self {
        let nodes = nodes
            .iter()
            .map(|n| TableEntry {
                hash: stable_hash(n.rendezvous_id().as_bytes()),
                weight: f64::from(n.rendezvous_weight()),
                id: n.rendezvous_id().into(),
            })
            .collect();
        Self { nodes }
    }

    /// Indexes of the `k` best nodes for `key`, best first.
    pub fn topk(&self, key: &str, k: usize) -> Vec<usize> {
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
        if k == 0 {
            return Vec::new();
        }
        let kh = stable_hash(key.as_bytes());
        for (i, n) in self.nodes.iter().enumerate() {
            if n.weight <= 0.0 {
                continue;
            }
            let s = score(kh, n.hash, n.weight);
            if best.len() == k && !self.beats((s, i), best[k - 1]) {
                continue;
            }
            let pos = best.partition_point(|&b| self.beats(b, (s, i)));
            best.insert(pos, (s, i));
            best.truncate(k);
        }
        best.into_iter().map(|(_, i)| i).collect()
    }

    /// True when `a` ranks before `b`: higher score, then smaller id.
    fn beats(&self, a: (f64, usize), b: (f64, usize)) -> bool {
        a.0 > b.0 || (a.0 == b.0 && self.nodes[a.1].id < self.nodes[b.1].id)
    }
}

#[cfg(test)]
mod tests;
