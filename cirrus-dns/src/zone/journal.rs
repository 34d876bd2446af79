//! The zone's history for incremental transfers (IXFR, RFC 1995): the
//! differences between consecutive serials, kept within bounds, and the
//! condensed difference from any serial still in it to the current one.

use super::Zone;
use hickory_proto::rr::{Name, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use std::collections::HashMap;
use std::sync::Arc;

/// Serial number order (RFC 1982 §3.2): true when `a` comes before `b`.
/// Serials half the number space apart are not ordered (false both ways).
pub fn serial_lt(a: u32, b: u32) -> bool {
    let distance = b.wrapping_sub(a);
    distance != 0 && distance < 1 << 31
}

/// How much history a zone keeps for IXFR: at most `diffs` differences
/// and `bytes` of their records (wire size). Defaults: 64 and 16 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalLimits {
    diffs: usize,
    bytes: usize,
}

impl Default for JournalLimits {
    fn default() -> Self {
        Self {
            diffs: 64,
            bytes: 16 << 20,
        }
    }
}

impl JournalLimits {
    /// At most `diffs` differences of at most `bytes` in all; `0` diffs
    /// keeps no history (every IXFR is answered with the full zone).
    pub fn new(diffs: usize, bytes: usize) -> Self {
        Self { diffs, bytes }
    }
}

/// The changes from one serial to the next.
#[derive(Debug, PartialEq)]
pub(crate) struct ZoneDiff {
    /// The SOA of the older version.
    from_soa: Record,
    from: u32,
    removed: Vec<Record>,
    added: Vec<Record>,
    bytes: usize,
}

/// What an IXFR for a serial gets (see [`Zone::ixfr`]).
#[derive(Debug, PartialEq)]
pub enum Ixfr<'z> {
    /// The serial asked for is the zone's or newer: the current SOA alone.
    UpToDate,
    /// The condensed difference from the serial asked for.
    Incremental {
        /// The SOA of the client's version.
        from: &'z Record,
        /// Records in the client's version and not in the current one.
        removed: Vec<&'z Record>,
        /// Records in the current version and not in the client's.
        added: Vec<&'z Record>,
    },
    /// The serial is not in the history (too old, unknown, or the
    /// difference is no smaller than the zone): the whole zone, as AXFR.
    Full,
}

impl Zone {
    /// This zone, keeping `previous`'s history plus the difference from
    /// `previous` to it, within `limits`. A `previous` of another apex, or
    /// whose serial is not before this one (RFC 1982), leaves no history.
    pub fn with_history(mut self, previous: &Zone, limits: JournalLimits) -> Zone {
        self.history = Vec::new();
        if limits.diffs == 0 || previous.origin != self.origin || !serial_lt(previous.serial, self.serial) {
            return self;
        }
        let Some(diff) = self.diff_from(previous, limits.bytes) else {
            return self;
        };
        let mut history = previous.history.clone();
        history.push(Arc::new(diff));
        let mut bytes: usize = history.iter().map(|d| d.bytes).sum();
        let mut drop = 0;
        while history.len() - drop > limits.diffs || bytes > limits.bytes {
            bytes -= history[drop].bytes;
            drop += 1;
        }
        history.drain(..drop);
        self.history = history;
        self
    }

    /// The serials an IXFR can start from, oldest first.
    pub fn history_serials(&self) -> Vec<u32> {
        self.history.iter().map(|d| d.from).collect()
    }

    /// What an IXFR from `serial` gets: see [`Ixfr`].
    pub fn ixfr(&self, serial: u32) -> Ixfr<'_> {
        if !serial_lt(serial, self.serial) {
            return Ixfr::UpToDate;
        }
        let Some(start) = self.history.iter().position(|d| d.from == serial) else {
            return Ixfr::Full;
        };
        let diffs = &self.history[start..];
        // Per owner name, what is removed and added so far: a record
        // added then removed (or the reverse) cancels out.
        let mut order: Vec<&Name> = Vec::new();
        let mut by_name: HashMap<&Name, (Vec<&Record>, Vec<&Record>)> = HashMap::new();
        for diff in diffs {
            for (records, removing) in [(&diff.removed, true), (&diff.added, false)] {
                for record in records {
                    let (removed, added) = by_name.entry(&record.name).or_insert_with(|| {
                        order.push(&record.name);
                        Default::default()
                    });
                    let (cancel, keep) = if removing { (added, removed) } else { (removed, added) };
                    match cancel.iter().position(|r| *r == record) {
                        Some(i) => {
                            cancel.swap_remove(i);
                        }
                        None => keep.push(record),
                    }
                }
            }
        }
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        for name in order {
            if let Some((r, a)) = by_name.remove(name) {
                removed.extend(r);
                added.extend(a);
            }
        }
        if removed.len() + added.len() >= self.len() {
            return Ixfr::Full;
        }
        Ixfr::Incremental {
            from: &diffs[0].from_soa,
            removed,
            added,
        }
    }

    /// The difference from `older` to this zone (SOAs aside), or `None`
    /// when its records' wire size passes `max_bytes`.
    fn diff_from(&self, older: &Zone, max_bytes: usize) -> Option<ZoneDiff> {
        let not_soa = |r: &&Record| r.record_type() != RecordType::SOA;
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        // Records under one owner name share it: comparing the rest is
        // enough (and much cheaper than comparing names again).
        let same = |a: &Record, b: &Record| a.data == b.data && a.ttl == b.ttl && a.dns_class == b.dns_class;
        let has = |records: &[Record], r: &Record| records.iter().any(|x| same(x, r));
        for (name, records) in &self.names {
            let old = older.names.get(name).map_or(&[][..], Vec::as_slice);
            if old.len() == records.len() && old.iter().zip(records).all(|(a, b)| same(a, b)) {
                continue;
            }
            added.extend(records.iter().filter(not_soa).filter(|r| !has(old, r)).cloned());
            removed.extend(old.iter().filter(not_soa).filter(|r| !has(records, r)).cloned());
        }
        for (name, records) in &older.names {
            if !self.names.contains_key(name) {
                removed.extend(records.iter().filter(not_soa).cloned());
            }
        }
        // A difference the size of half the zone is better sent whole.
        if (removed.len() + added.len()) * 2 > self.len().max(older.len()) {
            return None;
        }
        let mut bytes = 0;
        for r in removed.iter().chain(&added) {
            bytes += r.to_bytes().map_or(64, |b| b.len());
            if bytes > max_bytes {
                return None;
            }
        }
        removed.sort_by(|a, b| a.name.cmp(&b.name));
        added.sort_by(|a, b| a.name.cmp(&b.name));
        Some(ZoneDiff {
            from_soa: older.soa.clone(),
            from: older.serial,
            removed,
            added,
            bytes,
        })
    }
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
