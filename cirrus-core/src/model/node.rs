//! Edge nodes: addresses and weight set by operators, `active` and health
//! counters set by the health checker. Stored as the hash `cdn:node:{id}`.

use super::convergence::EdgeReport;
use super::validate::{ValidationErrors, is_identifier};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// One edge node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Node {
    /// Identifier: `[a-z0-9][a-z0-9._-]{0,63}`. In the API it may be left
    /// out of a body (the path names it); when present it must be the same.
    pub id: String,
    /// IPv4 address published in A records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Ipv4))]
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address published in AAAA records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Ipv6))]
    pub ipv6: Option<Ipv6Addr>,
    /// Relative share of domains (weighted rendezvous hashing), 1-1000.
    #[serde(default = "one")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub weight: u32,
    /// Set by operators: a disabled (quarantined) node gets no traffic.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Set by the health checker: an inactive node gets no traffic
    /// (read-only in the API).
    #[serde(default = "yes")]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub active: bool,
    /// Health counters kept by the checker (read-only in the API).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub health: NodeHealth,
    /// Unix seconds of the last successful health probe (read-only in the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub last_seen: Option<u64>,
    /// What the node's edge last reported (read-only: set by the edge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub edge: Option<EdgeReport>,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

/// Health counters of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeHealth {
    /// Failed probes in a row.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Successful probes in a row.
    #[serde(default)]
    pub consecutive_successes: u32,
    /// Unix seconds of the last probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<u64>,
    /// What the last failed probe saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Node {
    /// An enabled, active node with weight 1 and no addresses yet.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ipv4: None,
            ipv6: None,
            weight: 1,
            enabled: true,
            active: true,
            health: NodeHealth::default(),
            last_seen: None,
            edge: None,
        }
    }

    /// Sets the IPv4 address.
    pub fn with_ipv4(mut self, addr: Ipv4Addr) -> Self {
        self.ipv4 = Some(addr);
        self
    }

    /// Sets the IPv6 address.
    pub fn with_ipv6(mut self, addr: Ipv6Addr) -> Self {
        self.ipv6 = Some(addr);
        self
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// True when the node should receive traffic.
    pub fn is_serving(&self) -> bool {
        self.enabled && self.active
    }

    /// Checks every field, returning all problems at once.
    pub fn validated(self) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if !is_identifier(&self.id) {
            errs.push(
                "id",
                "must be 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
            );
        }
        if self.ipv4.is_none() && self.ipv6.is_none() {
            errs.push("ipv4", "a node needs an IPv4 or an IPv6 address");
        }
        if self
            .ipv4
            .is_some_and(|a| a.is_unspecified() || a.is_multicast() || a.is_broadcast())
        {
            errs.push("ipv4", "must be a unicast address");
        }
        if self.ipv6.is_some_and(|a| a.is_unspecified() || a.is_multicast()) {
            errs.push("ipv6", "must be a unicast address");
        }
        if !(1..=1000).contains(&self.weight) {
            errs.push("weight", "must be 1-1000");
        }
        errs.into_result(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_needs_an_address_and_a_good_id() {
        let errs = Node::new("Edge 1").validated().expect_err("invalid");
        let fields: Vec<_> = errs.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["id", "ipv4"]);
        assert!(
            Node::new("edge-1")
                .with_ipv4(Ipv4Addr::new(192, 0, 2, 1))
                .validated()
                .is_ok()
        );
    }

    #[test]
    fn json_defaults() {
        let n: Node = serde_json::from_str(r#"{"id":"e1","ipv6":"2001:db8::1"}"#).expect("parse");
        assert!(n.enabled && n.active && n.weight == 1);
    }
}
