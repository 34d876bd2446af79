//! Convergence: what each edge reports under its node id (the revision it
//! serves, when it applied it), the acknowledgements of each purge, and
//! the view the API builds from them.

use super::node::Node;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Unix milliseconds now: how reports, acknowledgements and purge records
/// count time.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How often an edge reports itself while nothing changes.
pub const EDGE_REPORT_EVERY_MS: u64 = 10_000;
/// An edge whose last report is older than this is not counted as
/// reporting: a purge does not wait for it.
pub const EDGE_SILENT_AFTER_MS: u64 = 3 * EDGE_REPORT_EVERY_MS;

/// What an edge says about itself, kept in its node's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct EdgeReport {
    /// The store revision of the configuration it serves.
    pub revision: u64,
    /// When it applied that revision (Unix ms).
    pub applied_ms: u64,
    /// When it last reported (Unix ms).
    pub reported_ms: u64,
    /// The port of the edge's HTTP listener, where the other edges ask it
    /// as a shield (at the node's address); absent: it takes no part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 65535))]
    pub shield_port: Option<u16>,
    /// Revisions it is behind the store (filled in by the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind: Option<u64>,
}

impl EdgeReport {
    /// A report of serving `revision`, applied at `applied_ms`, sent at `reported_ms`.
    pub fn new(revision: u64, applied_ms: u64, reported_ms: u64) -> Self {
        Self {
            revision,
            applied_ms,
            reported_ms,
            shield_port: None,
            behind: None,
        }
    }

    /// The report with the port peers ask it on as a shield.
    pub fn with_shield_port(mut self, port: Option<u16>) -> Self {
        self.shield_port = port;
        self
    }

    /// True when it reported within [`EDGE_SILENT_AFTER_MS`] of `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.reported_ms) <= EDGE_SILENT_AFTER_MS
    }
}

/// Whether one edge serves a domain's current configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EdgeConvergence {
    /// Node id.
    pub node: String,
    /// The revision it serves.
    pub revision: u64,
    /// True when that revision is at or past the domain's last change.
    pub current: bool,
}

/// A purge as the store keeps it for acknowledgements (for a day).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PurgeRecord {
    /// Purge id.
    pub id: String,
    /// Its domain.
    pub domain: String,
    /// When it was published (Unix ms).
    pub published_ms: u64,
    /// Node id → when that edge applied it (Unix ms).
    pub acks: BTreeMap<String, u64>,
}

/// One edge's acknowledgement of a purge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurgeAck {
    /// Node id.
    pub node: String,
    /// When it applied the purge (Unix ms).
    pub applied_ms: u64,
    /// Milliseconds from publication to application.
    pub delay_ms: u64,
}

/// Where a purge stands on the edges (`GET /api/v1/purges/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct PurgeStatus {
    /// Purge id.
    pub id: String,
    /// Its domain.
    pub domain: String,
    /// When it was published (Unix ms).
    pub published_ms: u64,
    /// The edges that applied it, by node id.
    pub applied: Vec<PurgeAck>,
    /// Registered, reporting edges that have not applied it yet.
    pub pending: Vec<String>,
    /// Registered nodes with no edge report in the last 30 s (an edge that
    /// is down, or a node with no edge role): not waited for.
    pub silent: Vec<String>,
    /// True when no reporting edge is pending.
    pub complete: bool,
}

impl PurgeStatus {
    /// The status of `record` among `nodes` at `now_ms`.
    pub fn new(record: PurgeRecord, nodes: &[Node], now_ms: u64) -> Self {
        let applied: Vec<PurgeAck> = record
            .acks
            .iter()
            .map(|(node, at)| PurgeAck {
                node: node.clone(),
                applied_ms: *at,
                delay_ms: at.saturating_sub(record.published_ms),
            })
            .collect();
        let (mut pending, mut silent) = (Vec::new(), Vec::new());
        for node in nodes.iter().filter(|n| !record.acks.contains_key(&n.id)) {
            match &node.edge {
                Some(report) if report.is_live(now_ms) => pending.push(node.id.clone()),
                _ => silent.push(node.id.clone()),
            }
        }
        Self {
            id: record.id,
            domain: record.domain,
            published_ms: record.published_ms,
            complete: pending.is_empty(),
            applied,
            pending,
            silent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_applied_pending_or_silent() {
        let now = 1_000_000;
        let edge = |id: &str, reported: u64| {
            let mut n = Node::new(id);
            n.edge = Some(EdgeReport::new(7, reported, reported));
            n
        };
        let nodes = [
            edge("a", now - 1_000),
            edge("b", now - 5_000),
            edge("c", now - EDGE_SILENT_AFTER_MS - 1),
            Node::new("dns-only"),
        ];
        let record = PurgeRecord {
            id: "pg_1".into(),
            domain: "a.test".into(),
            published_ms: now - 100,
            acks: [("a".to_string(), now - 97)].into(),
        };
        let status = PurgeStatus::new(record.clone(), &nodes, now);
        assert_eq!(
            status.applied,
            [PurgeAck {
                node: "a".into(),
                applied_ms: now - 97,
                delay_ms: 3
            }]
        );
        assert_eq!(
            (status.pending, status.silent),
            (vec!["b".to_string()], vec!["c".into(), "dns-only".into()])
        );
        assert!(!status.complete);
        let mut done = record;
        done.acks.insert("b".into(), now);
        assert!(PurgeStatus::new(done, &nodes, now).complete);
    }
}
