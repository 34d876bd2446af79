//! Edge reports and purge acknowledgements of the embedded backend, kept
//! in memory: they are status, not configuration, and an edge reports
//! again within seconds of a restart. Purge records expire a day after
//! publication, and at most [`MAX_PURGES`] are kept.

use crate::model::{EdgeReport, Node, PurgeRecord};
use crate::store::PURGE_RECORD_TTL;
use std::collections::{HashMap, VecDeque};

/// Purge records kept at most (the oldest go first).
const MAX_PURGES: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct Live {
    reports: HashMap<String, EdgeReport>,
    purges: HashMap<String, PurgeRecord>,
    /// Purge ids, oldest first.
    order: VecDeque<String>,
}

impl Live {
    pub(super) fn record_purge(&mut self, id: &str, domain: &str, now_ms: u64) {
        self.expire(now_ms);
        while self.order.len() >= MAX_PURGES {
            if let Some(old) = self.order.pop_front() {
                self.purges.remove(&old);
            }
        }
        let record = PurgeRecord {
            id: id.to_string(),
            domain: domain.to_string(),
            published_ms: now_ms,
            acks: Default::default(),
        };
        if self.purges.insert(id.to_string(), record).is_none() {
            self.order.push_back(id.to_string());
        }
    }

    fn expire(&mut self, now_ms: u64) {
        let ttl = u64::try_from(PURGE_RECORD_TTL.as_millis()).unwrap_or(u64::MAX);
        while let Some(oldest) = self.order.front() {
            match self.purges.get(oldest) {
                Some(r) if now_ms.saturating_sub(r.published_ms) <= ttl => break,
                _ => {
                    if let Some(old) = self.order.pop_front() {
                        self.purges.remove(&old);
                    }
                }
            }
        }
    }

    pub(super) fn ack(&mut self, id: &str, node: &str, applied_ms: u64, now_ms: u64) -> bool {
        self.expire(now_ms);
        match self.purges.get_mut(id) {
            Some(record) => {
                record.acks.insert(node.to_string(), applied_ms);
                true
            }
            None => false,
        }
    }

    pub(super) fn purge(&mut self, id: &str, now_ms: u64) -> Option<PurgeRecord> {
        self.expire(now_ms);
        self.purges.get(id).cloned()
    }

    pub(super) fn report(&mut self, id: &str, report: &EdgeReport) {
        self.reports.insert(id.to_string(), report.clone());
    }

    pub(super) fn forget_node(&mut self, id: &str) {
        self.reports.remove(id);
    }

    /// `node` with its edge's last report.
    pub(super) fn with_report(&self, mut node: Node) -> Node {
        node.edge = self.reports.get(&node.id).cloned();
        node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_expire_after_a_day_and_are_bounded() {
        let mut live = Live::default();
        let day = u64::try_from(PURGE_RECORD_TTL.as_millis()).unwrap_or(u64::MAX);
        live.record_purge("pg_old", "a.test", 1);
        assert!(live.ack("pg_old", "edge-1", 5, 10));
        assert_eq!(live.purge("pg_old", 10).map(|r| r.acks.len()), Some(1));
        assert!(!live.ack("pg_old", "edge-1", 5, day + 2), "expired");
        for i in 0..=MAX_PURGES {
            live.record_purge(&format!("pg_{i}"), "a.test", day + 3);
        }
        assert_eq!(live.purges.len(), MAX_PURGES);
        assert!(live.purge("pg_0", day + 3).is_none(), "the oldest went first");
    }
}
