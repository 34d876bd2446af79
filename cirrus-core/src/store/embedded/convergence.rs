//! Edge reports and purge acknowledgements of the embedded backend, kept
//! in memory: they are status, not configuration, and an edge reports
//! again within seconds of a restart. Purge records expire a day after
//! publication, and at most [`PURGE_RECORDS_MAX`](crate::store::PURGE_RECORDS_MAX) are kept (or as many as
//! the builder says).

use crate::model::{EdgeReport, Node, PurgeRecord};
use crate::store::PURGE_RECORD_TTL;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

#[derive(Debug, Default)]
pub(super) struct Live {
    reports: HashMap<String, EdgeReport>,
    purges: HashMap<Arc<str>, Kept>,
    /// Purge ids, oldest first.
    order: VecDeque<Arc<str>>,
}

/// A purge record as kept (its id is the key): about 300 bytes with one
/// edge's acknowledgement, where a [`PurgeRecord`] with its map of
/// acknowledgements takes over 1,000.
#[derive(Debug)]
struct Kept {
    domain: Box<str>,
    published_ms: u64,
    acks: Vec<(Box<str>, u64)>,
}

impl Kept {
    fn record(&self, id: &str) -> PurgeRecord {
        PurgeRecord {
            id: id.to_string(),
            domain: self.domain.to_string(),
            published_ms: self.published_ms,
            acks: self.acks.iter().map(|(node, at)| (node.to_string(), *at)).collect(),
        }
    }
}

impl Live {
    /// Records purge `id`, keeping at most `max` records.
    pub(super) fn record_purge(&mut self, id: &str, domain: &str, now_ms: u64, max: usize) {
        self.expire(now_ms);
        while self.order.len() >= max.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.purges.remove(&old);
            }
        }
        if self.purges.contains_key(id) {
            return;
        }
        let id: Arc<str> = id.into();
        let kept = Kept {
            domain: domain.into(),
            published_ms: now_ms,
            acks: Vec::new(),
        };
        self.purges.insert(id.clone(), kept);
        self.order.push_back(id);
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
        let Some(kept) = self.purges.get_mut(id) else {
            return false;
        };
        match kept.acks.iter_mut().find(|(n, _)| &**n == node) {
            Some((_, at)) => *at = applied_ms,
            None => kept.acks.push((node.into(), applied_ms)),
        }
        true
    }

    pub(super) fn purge(&mut self, id: &str, now_ms: u64) -> Option<PurgeRecord> {
        self.expire(now_ms);
        self.purges.get(id).map(|k| k.record(id))
    }

    /// The newest `limit` records, newest first.
    pub(super) fn recent(&mut self, limit: usize, now_ms: u64) -> Vec<PurgeRecord> {
        self.expire(now_ms);
        let newest = self
            .order
            .iter()
            .rev()
            .filter_map(|id| Some(self.purges.get(id)?.record(id)));
        newest.take(limit).collect()
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
    use crate::store::PURGE_RECORDS_MAX;

    #[test]
    fn records_expire_after_a_day_and_are_bounded() {
        let mut live = Live::default();
        let day = u64::try_from(PURGE_RECORD_TTL.as_millis()).unwrap_or(u64::MAX);
        live.record_purge("pg_old", "a.test", 1, PURGE_RECORDS_MAX);
        assert!(live.ack("pg_old", "edge-1", 5, 10));
        assert!(live.ack("pg_old", "edge-1", 7, 10), "again, later");
        assert!(live.ack("pg_old", "edge-2", 8, 10));
        let acks = live.purge("pg_old", 10).map(|r| r.acks);
        assert_eq!(
            acks,
            Some([("edge-1".to_string(), 7), ("edge-2".to_string(), 8)].into())
        );
        assert!(!live.ack("pg_old", "edge-1", 5, day + 2), "expired");
        for i in 0..=PURGE_RECORDS_MAX {
            live.record_purge(&format!("pg_{i}"), "a.test", day + 3, PURGE_RECORDS_MAX);
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
        // A smaller cap, as a builder may set: the oldest go down to it.
        live.record_purge("pg_next", "a.test", day + 4, 3);
        assert_eq!((live.purges.len(), live.order.len()), (3, 3));
        assert!(live.purge("pg_next", day + 4).is_some());
    }
}
