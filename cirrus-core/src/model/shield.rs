//! `ShieldPolicy`: whether a domain's edges shield each other (a tiered
//! cache). On a miss, an edge that does not own the object's cache key
//! asks the owner edge before the origin; the owner is chosen by weighted
//! rendezvous hashing over the domain's shield set (docs/shielding.md).

use super::validate::{ValidationErrors, is_identifier};
use serde::{Deserialize, Serialize};

/// Most node ids a shield set may name.
pub const MAX_SHIELD_NODES: usize = 64;

/// Which edges form a domain's shield ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ShieldMode {
    /// Every edge fetches from the origin itself.
    #[default]
    Off,
    /// Every healthy registered edge is on the ring.
    Cluster,
    /// Only the nodes listed in `nodes` are on the ring: the others fetch
    /// from them.
    Nodes,
}

/// A domain's shielding: off by default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ShieldPolicy {
    /// `off`, `cluster` or `nodes`.
    #[serde(default)]
    pub mode: ShieldMode,
    /// The node ids of the shield set (mode `nodes` only; 1-64 of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub nodes: Vec<String>,
}

impl ShieldPolicy {
    /// Shielding over every healthy edge.
    pub fn cluster() -> Self {
        Self {
            mode: ShieldMode::Cluster,
            nodes: Vec::new(),
        }
    }

    /// Shielding by the nodes named in `ids`.
    pub fn nodes<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        Self {
            mode: ShieldMode::Nodes,
            nodes: ids.into_iter().map(Into::into).collect(),
        }
    }

    /// True when shielding is off (the default, left out of the JSON).
    pub fn is_off(&self) -> bool {
        self.mode == ShieldMode::Off
    }

    pub(super) fn validate(&mut self, errs: &mut ValidationErrors) {
        match self.mode {
            ShieldMode::Nodes if self.nodes.is_empty() => {
                errs.push("shield.nodes", "mode nodes needs at least one node id");
            }
            ShieldMode::Nodes if self.nodes.len() > MAX_SHIELD_NODES => {
                errs.push("shield.nodes", "must list at most 64 node ids");
            }
            ShieldMode::Off | ShieldMode::Cluster if !self.nodes.is_empty() => {
                errs.push("shield.nodes", "only mode nodes takes a list of nodes");
            }
            _ => {}
        }
        for (i, id) in self.nodes.iter().enumerate() {
            if !is_identifier(id) {
                errs.push(format!("shield.nodes[{i}]"), "must be a node id");
            }
        }
        self.nodes.sort();
        self.nodes.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(json: &str) -> Vec<String> {
        let mut p: ShieldPolicy = serde_json::from_str(json).expect("parse");
        let mut errs = ValidationErrors::default();
        p.validate(&mut errs);
        errs.errors.iter().map(|e| e.field.clone()).collect()
    }

    #[test]
    fn modes_and_their_node_lists_are_checked() {
        assert!(problems(r#"{}"#).is_empty());
        assert!(problems(r#"{"mode":"cluster"}"#).is_empty());
        assert!(problems(r#"{"mode":"nodes","nodes":["edge-a","edge-b"]}"#).is_empty());
        assert_eq!(problems(r#"{"mode":"nodes"}"#), ["shield.nodes"]);
        assert_eq!(problems(r#"{"mode":"cluster","nodes":["edge-a"]}"#), ["shield.nodes"]);
        assert_eq!(problems(r#"{"mode":"nodes","nodes":["Edge A"]}"#), ["shield.nodes[0]"]);
        assert!(serde_json::from_str::<ShieldPolicy>(r#"{"mode":"ring"}"#).is_err());
        assert!(serde_json::from_str::<ShieldPolicy>(r#"{"mode":"off","label":"x"}"#).is_err());
    }
}
