//! Edge reports and purge acknowledgements of the embedded backend, kept
//! in memory: they are status, not configuration, and an edge reports
//! again within seconds of a restart. Purge records expire a day after
//! publication, and at most [`PURGE_RECORDS_MAX`] are kept.

use crate::model::{EdgeReport, Node, PurgeRecord};
use crate::store::{PURGE_RECORD_TTL, PURGE_RECORDS_MAX};
use std::collections::{HashMap, VecDeque};

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
        while self.order.len() >= PURGE_RECORDS_MAX {
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

    /// The newest `limit` records, newest first.
    pub(super) fn recent(&mut self, limit: usize, now_ms: u64) -> Vec<PurgeRecord> {
        self.expire(now_ms);
        let newest = self.order.iter().rev().filter_map(|id| self.purges.get(id));
        newest.take(limit).cloned().collect()
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
        for i in 0..=PURGE_RECORDS_MAX {
            live.record_purge(&format!("pg_{i}"), "a.test", day + 3);
        }
        assert_eq!(live.purges.len(), PURGE_RECORDS_MAX);
        assert!(live.purge("pg_0", day + 3).is_none(), "the oldest went first");
        let newest: Vec<String> = live.recent(2, day + 3).into_iter().map(|r| r.id).collect();
        assert_eq!(
            newest,
            [
                format!("pg_{PURGE_RECORDS_MAX}"),
                format!("pg_{}", PURGE_RECORDS_MAX - 1)
            ]
        );
    }
}
