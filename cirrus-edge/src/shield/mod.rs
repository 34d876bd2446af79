//! Shielding (a tiered cache): on a miss for a domain with shielding on,
//! the edge asks the edge that owns the object's cache key (weighted
//! rendezvous over the domain's shield set, the healthy registered edges)
//! before the origin; the owner fetches from the origin, caches and
//! coalesces. Requests between edges carry a signed credential
//! ([`credential`]); an edge takes a request as a peer's only with a
//! valid one. Which peers to ask, and in what order, is decided here; the
//! asking is in `proxy`.

mod credential;
mod metrics;

use credential::Credentials;
pub(crate) use credential::Signed;
pub(crate) use metrics::{From, ShieldMetrics};

use cirrus_core::model::{Node, Origin, ShieldMode, ShieldPolicy, now_ms};
use cirrus_core::{EdgeSource, RendezvousTable};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// How often the shield ring is read again from the node registry.
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// How many owners a miss tries before the origin.
const MAX_PEERS_TRIED: usize = 2;

/// An edge another may ask: its node id, the address of its HTTP listener
/// (as an origin), its weight.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) id: Arc<str>,
    pub(crate) origin: Origin,
    weight: u32,
}

impl cirrus_core::Weighted for Peer {
    fn rendezvous_id(&self) -> &str {
        &self.id
    }
    fn rendezvous_weight(&self) -> u32 {
        self.weight
    }
}

impl cirrus_core::Weighted for &Peer {
    fn rendezvous_id(&self) -> &str {
        &self.id
    }
    fn rendezvous_weight(&self) -> u32 {
        self.weight
    }
}

/// The healthy registered edges, as last read.
#[derive(Debug, Default)]
struct View {
    peers: Vec<Peer>,
    table: Option<RendezvousTable>,
}

/// This edge's part in shielding.
#[derive(Debug)]
pub(crate) struct Shield {
    /// This edge's node id; none: it takes no part.
    node: Option<Arc<str>>,
    /// The cluster secret, once read from the source.
    credentials: OnceLock<Credentials>,
    view: RwLock<Arc<View>>,
    pub(crate) metrics: ShieldMetrics,
}

impl Shield {
    pub(crate) fn new(node: Option<&str>, metrics: ShieldMetrics) -> Self {
        Self {
            node: node.map(Arc::from),
            credentials: OnceLock::new(),
            view: RwLock::new(Arc::default()),
            metrics,
        }
    }

    /// Reads the cluster secret (once) and the ring from `source`. An edge
    /// without a node id takes no part; a source that fails keeps the
    /// last ring.
    pub(crate) async fn refresh(&self, source: &dyn EdgeSource) {
        if self.node.is_none() {
            return;
        }
        if self.credentials.get().is_none() {
            match source.cluster_secret().await {
                Ok(Some(secret)) => {
                    let _ = self.credentials.set(Credentials::new(&secret));
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the cluster secret: no shielding yet");
                    return;
                }
            }
        }
        match source.nodes().await {
            Ok(nodes) => self.set_peers(&nodes, now_ms()),
            Err(e) => tracing::warn!(error = %e, "could not read the nodes: the shield ring is kept"),
        }
    }

    /// Takes the edges of `nodes` that may be asked at `now` (Unix ms):
    /// enabled, active, with an IPv4 address, and whose edge reports a
    /// shield port and reported lately.
    fn set_peers(&self, nodes: &[Node], now: u64) {
        let peers: Vec<Peer> = nodes
            .iter()
            .filter(|n| n.is_serving())
            .filter_map(|n| {
                let report = n.edge.as_ref().filter(|r| r.is_live(now))?;
                let origin = format!("http://{}:{}", n.ipv4?, report.shield_port?).parse().ok()?;
                Some(Peer {
                    id: Arc::from(n.id.as_str()),
                    origin,
                    weight: n.weight,
                })
            })
            .collect();
        self.metrics.peers.set(i64::try_from(peers.len()).unwrap_or(i64::MAX));
        for p in peers.iter().filter(|p| Some(&p.id) != self.node.as_ref()) {
            self.metrics.known_peer(&p.id);
        }
        let table = (!peers.is_empty()).then(|| RendezvousTable::new(&peers));
        let view = Arc::new(View { peers, table });
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// The peers to ask for `key` under `policy`, best first: the edges
    /// ranked above this one on the key's ring (this edge owns the key
    /// when it ranks first), at most [`MAX_PEERS_TRIED`], those `is_down`
    /// says failed a moment ago skipped. Empty when shielding is off for
    /// the domain or this edge takes no part.
    pub(crate) fn owners(&self, policy: &ShieldPolicy, key: &str, is_down: impl Fn(&Peer) -> bool) -> Vec<Peer> {
        let (Some(me), Some(_)) = (&self.node, self.credentials.get()) else {
            return Vec::new();
        };
        let view = self.view.read().unwrap_or_else(|p| p.into_inner()).clone();
        let order: Vec<&Peer> = match (policy.mode, &view.table) {
            (ShieldMode::Cluster, Some(table)) => table
                .topk(key, view.peers.len())
                .into_iter()
                .map(|i| &view.peers[i])
                .collect(),
            (ShieldMode::Nodes, Some(_)) => {
                let set: Vec<&Peer> = view
                    .peers
                    .iter()
                    .filter(|p| policy.nodes.iter().any(|n| *n == *p.id))
                    .collect();
                cirrus_core::rendezvous_topk(key, &set, set.len())
                    .into_iter()
                    .copied()
                    .collect()
            }
            _ => return Vec::new(),
        };
        order
            .into_iter()
            .take_while(|p| *p.id != **me)
            .filter(|p| !is_down(p))
            .take(MAX_PEERS_TRIED)
            .cloned()
            .collect()
    }

    /// The `Cirrus-Shield` value of a request this edge sends for `what`.
    pub(crate) fn sign(&self, what: Signed<'_>) -> Option<String> {
        let (node, creds) = (self.node.as_ref()?, self.credentials.get()?);
        Some(creds.sign(node, now_ms() / 1000, what))
    }

    /// The node whose credential `value` is, for `what`, or why it is
    /// refused.
    pub(crate) fn admit<'v>(&self, value: &'v [u8], what: Signed<'_>) -> Result<&'v str, &'static str> {
        let creds = self
            .credentials
            .get()
            .ok_or("this edge takes no shield requests (no node id, or no cluster secret yet)")?;
        creds.verify(value, now_ms() / 1000, what)
    }
}

#[cfg(test)]
mod tests;
