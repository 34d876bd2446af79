//! What shielding counts: fetches of shielded domains by where they were
//! answered (a peer edge or the origin) with their body bytes, what this
//! edge served to peers, and the peers that failed.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Metric names, listed in docs/shielding.md.
pub(crate) const NAMES: [&str; 7] = [
    "cirrus_shield_fetches_total",
    "cirrus_shield_fetched_bytes_total",
    "cirrus_shield_served_total",
    "cirrus_shield_served_bytes_total",
    "cirrus_shield_peer_errors_total",
    "cirrus_shield_peer_markdowns_total",
    "cirrus_shield_peers",
];

/// Where a shielded domain's fill was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum From {
    /// The owner edge.
    Peer,
    /// The origin.
    Origin,
}

impl From {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            From::Peer => "peer",
            From::Origin => "origin",
        }
    }
}

/// The shield's counters.
#[derive(Debug, Clone)]
pub(crate) struct ShieldMetrics {
    fetches: IntCounterVec,
    fetched_bytes: IntCounterVec,
    served: IntCounterVec,
    served_bytes: IntCounterVec,
    peer_errors: IntCounterVec,
    markdowns: IntCounterVec,
    pub(crate) peers: IntGauge,
}

impl ShieldMetrics {
    /// Registers every shield metric in `registry`.
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let vec = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let v = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(v.clone()))?;
            Ok(v)
        };
        let m = Self {
            fetches: vec(
                NAMES[0],
                "Fetches for the cache of domains with shielding on, by host and where they were answered (peer, origin).",
                &["host", "from"],
            )?,
            fetched_bytes: vec(
                NAMES[1],
                "Body bytes of those fetches, by host and where they came from (peer, origin).",
                &["host", "from"],
            )?,
            served: vec(
                NAMES[2],
                "Requests this edge answered for peer edges, by host.",
                &["host"],
            )?,
            served_bytes: vec(NAMES[3], "Body bytes this edge sent to peer edges, by host.", &["host"])?,
            peer_errors: vec(
                NAMES[4],
                "Requests to peer edges that failed or answered 5xx (the edge went on to the next owner or the origin), by peer.",
                &["peer"],
            )?,
            markdowns: vec(
                NAMES[5],
                "Peer edges marked down (connect error or timeout) for the origin down time, by peer.",
                &["peer"],
            )?,
            peers: IntGauge::new(NAMES[6], "Edges on the shield ring, this one included, as last read.")?,
        };
        registry.register(Box::new(m.peers.clone()))?;
        Ok(m)
    }

    /// A fetch for `host` answered by `from`: counted, with the counter
    /// its body's bytes go to.
    pub(crate) fn fetched(&self, host: &str, from: From) -> IntCounter {
        self.fetches.with_label_values(&[host, from.as_str()]).inc();
        self.fetched_bytes.with_label_values(&[host, from.as_str()])
    }

    /// A request from a peer for `host`: counted, with the counter its
    /// body's bytes go to.
    pub(crate) fn served(&self, host: &str) -> IntCounter {
        self.served.with_label_values(&[host]).inc();
        self.served_bytes.with_label_values(&[host])
    }

    /// Makes `peer`'s error and mark-down series exist (at 0), so that a
    /// ring's peers are on dashboards before anything failed.
    pub(crate) fn known_peer(&self, peer: &str) {
        self.peer_errors.with_label_values(&[peer]);
        self.markdowns.with_label_values(&[peer]);
    }

    pub(crate) fn peer_failed(&self, peer: &str, marked_down: bool) {
        self.peer_errors.with_label_values(&[peer]).inc();
        if marked_down {
            self.markdowns.with_label_values(&[peer]).inc();
        }
    }
}
