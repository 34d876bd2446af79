//! The zone builder: a pure function from domains, nodes and settings to
//! the records of the zone under `CNAME_BASE_DOMAIN`.

use crate::error::{Error, Result};
use cirrus_core::{DomainConf, Node, RendezvousTable};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

mod journal;
mod settings;
mod wire;
pub use journal::{Ixfr, JournalLimits, serial_lt};
pub use settings::{ZoneSettings, ZoneSettingsBuilder, challenge_name, target_name};
pub(crate) use wire::{WireIndex, WireLookup};

/// What the zone is built from.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZoneInput<'a> {
    /// Every domain served.
    pub domains: &'a [DomainConf],
    /// Every edge node.
    pub nodes: &'a [Node],
    /// DNS-01 challenge values by domain.
    pub challenges: Option<&'a BTreeMap<String, Vec<String>>>,
}

/// Which nodes a zone's domains were given, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodePool {
    /// Enabled nodes that pass their health checks.
    Active,
    /// No enabled node was active: every enabled node is used rather than
    /// publish no address at all.
    AllEnabled,
    /// No enabled node with an address: domains get no address records.
    Empty,
}

/// A built zone: records by owner name, ready to answer queries and
/// transfers. Cheap to share behind an `Arc`; never changed once built.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: LowerName,
    serial: u32,
    soa: Record,
    negative_ttl: u32,
    names: HashMap<LowerName, Vec<Record>>,
    records: usize,
    pool: NodePool,
    skipped: Vec<SkippedDomain>,
    /// Differences from older serials, oldest first (see [`Zone::with_history`]).
    history: Vec<std::sync::Arc<journal::ZoneDiff>>,
    /// The answers encoded ahead for the UDP fast path.
    wire: Option<std::sync::Arc<WireIndex>>,
}

/// A domain left out of a zone because no valid name could be made for it
/// under the zone's apex (see [`Zone::skipped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedDomain {
    /// The domain as stored.
    pub domain: String,
    /// Why its target name is not a valid DNS name.
    pub reason: String,
}

/// The answer a zone has for a name and type.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<'z> {
    /// Records of that type (or the name's CNAME).
    Found(&'z [Record]),
    /// The name exists without records of that type.
    NoData,
    /// The name does not exist in the zone.
    NxDomain,
    /// The name is outside the zone.
    NotInZone,
}

impl Zone {
    /// Builds the zone of `input` with SOA serial `serial`.
    ///
    /// Each domain gets A and AAAA records at its [`target_name`]: the
    /// domain's `replicas` (else `replicas_per_site`) nodes chosen by
    /// weighted rendezvous hashing among enabled, active nodes that have an
    /// address of that family. When no enabled node is active, every
    /// enabled node is eligible (see [`NodePool`]). Challenge values become
    /// TXT records at [`challenge_name`].
    pub fn build(input: ZoneInput<'_>, settings: &ZoneSettings, serial: u32) -> Result<Self> {
        let origin = settings.origin.clone();
        let soa = Record::from_rdata(
            origin.clone(),
            settings.numbers.ns_ttl,
            RData::SOA(SOA::new(
                settings.nameservers[0].clone(),
                settings.hostmaster.clone(),
                serial,
                settings.numbers.refresh,
                settings.numbers.retry,
                settings.numbers.expire,
                settings.numbers.negative_ttl,
            )),
        );
        let mut zone = Zone {
            origin: LowerName::from(&origin),
            serial,
            soa: soa.clone(),
            negative_ttl: settings.numbers.negative_ttl,
            names: HashMap::with_capacity(input.domains.len() + 1),
            records: 0,
            pool: NodePool::Empty,
            skipped: Vec::new(),
            history: Vec::new(),
            wire: None,
        };
        zone.add(soa);
        for ns in &settings.nameservers {
            zone.add(Record::from_rdata(
                origin.clone(),
                settings.numbers.ns_ttl,
                RData::NS(NS(ns.clone())),
            ));
        }

        let with_address = |n: &&Node| n.enabled && (n.ipv4.is_some() || n.ipv6.is_some());
        let active: Vec<&Node> = input.nodes.iter().filter(with_address).filter(|n| n.active).collect();
        let (eligible, pool) = if !active.is_empty() {
            (active, NodePool::Active)
        } else {
            let enabled: Vec<&Node> = input.nodes.iter().filter(with_address).collect();
            let pool = if enabled.is_empty() {
                NodePool::Empty
            } else {
                NodePool::AllEnabled
            };
            (enabled, pool)
        };
        zone.pool = pool;
        let eligible: Vec<Node> = eligible.into_iter().cloned().collect();
        let table = RendezvousTable::new(&eligible);
        for conf in input.domains {
            let name = match target_name(&conf.domain, &origin) {
                Ok(name) => name,
                Err(e) => {
                    zone.skip(&conf.domain, e);
                    continue;
                }
            };
            let k = conf
                .replicas
                .map_or(settings.numbers.replicas_per_site, usize::from)
                .max(1);
            let mut any = false;
            for i in table.topk(&conf.domain, k) {
                let node = &eligible[i];
                if let Some(v4) = node.ipv4 {
                    zone.add(Record::from_rdata(name.clone(), settings.numbers.ttl, RData::A(A(v4))));
                    any = true;
                }
                if let Some(v6) = node.ipv6 {
                    zone.add(Record::from_rdata(
                        name.clone(),
                        settings.numbers.ttl,
                        RData::AAAA(AAAA(v6)),
                    ));
                    any = true;
                }
            }
            if !any {
                zone.touch(&name);
            }
        }
        for (domain, values) in input.challenges.into_iter().flatten() {
            let name = match challenge_name(domain, &origin) {
                Ok(name) => name,
                Err(e) => {
                    zone.skip(domain, e);
                    continue;
                }
            };
            for value in values {
                zone.add(Record::from_rdata(
                    name.clone(),
                    settings.numbers.ttl,
                    RData::TXT(TXT::new(vec![value.clone()])),
                ));
            }
        }
        // Records of one type together, so a lookup returns one slice.
        for records in zone.names.values_mut() {
            records.sort_by_key(|r| u16::from(r.record_type()));
        }
        zone.wire = WireIndex::build(&zone).map(std::sync::Arc::new);
        Ok(zone)
    }

    /// Leaves `domain` out of the zone: one name that cannot be a DNS name
    /// under this apex never stops the rest of the zone.
    fn skip(&mut self, domain: &str, error: Error) {
        if self.skipped.iter().all(|s| s.domain != domain) {
            self.skipped.push(SkippedDomain {
                domain: domain.to_string(),
                reason: error.to_string(),
            });
        }
    }

    /// Adds a record, creating its owner and any empty ancestors.
    fn add(&mut self, record: Record) {
        let owner = LowerName::from(&record.name);
        self.touch(&record.name);
        self.names.entry(owner).or_default().push(record);
        self.records += 1;
    }

    /// Makes `name` and its ancestors below the apex exist (empty non-terminals).
    fn touch(&mut self, name: &Name) {
        let mut lower = LowerName::from(name);
        loop {
            if self.names.contains_key(&lower) {
                return;
            }
            self.names.insert(lower.clone(), Vec::new());
            if lower == self.origin || !self.origin.zone_of(&lower) {
                return;
            }
            lower = lower.base_name();
        }
    }

    /// The answers encoded ahead (`None` when some record could not be).
    pub(crate) fn wire(&self) -> Option<&WireIndex> {
        self.wire.as_deref()
    }

    /// The apex.
    pub fn origin(&self) -> &LowerName {
        &self.origin
    }

    /// The SOA serial.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The SOA record.
    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// TTL of negative answers.
    pub fn negative_ttl(&self) -> u32 {
        self.negative_ttl
    }

    /// Domains left out because their target name (or its challenge
    /// name) is not a valid DNS name under the apex; the rest of the zone
    /// is built without them.
    pub fn skipped(&self) -> &[SkippedDomain] {
        &self.skipped
    }

    /// Which nodes the domains were given.
    pub fn node_pool(&self) -> NodePool {
        self.pool
    }

    /// Records in the zone.
    pub fn len(&self) -> usize {
        self.records
    }

    /// True when the zone holds no record (never: it has a SOA).
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The answer for `name` and `rtype` (`ANY` returns every record).
    pub fn lookup(&self, name: &LowerName, rtype: RecordType) -> Lookup<'_> {
        if !self.origin.zone_of(name) {
            return Lookup::NotInZone;
        }
        let Some(records) = self.names.get(name) else {
            return Lookup::NxDomain;
        };
        if rtype == RecordType::ANY && !records.is_empty() {
            return Lookup::Found(records);
        }
        let start = records.iter().position(|r| r.record_type() == rtype);
        match start {
            Some(s) => {
                let end = records[s..]
                    .iter()
                    .position(|r| r.record_type() != rtype)
                    .map_or(records.len(), |e| s + e);
                Lookup::Found(&records[s..end])
            }
            None => Lookup::NoData,
        }
    }

    /// Every record in transfer order: the SOA, then the others by owner
    /// name and type (AXFR repeats the SOA at the end).
    pub fn records(&self) -> Vec<&Record> {
        let mut names: Vec<&LowerName> = self.names.keys().collect();
        names.sort();
        let mut out = Vec::with_capacity(self.records);
        out.push(&self.soa);
        for name in names {
            let mut here: Vec<&Record> = self.names[name]
                .iter()
                .filter(|r| r.record_type() != RecordType::SOA)
                .collect();
            here.sort_by_key(|r| u16::from(r.record_type()));
            out.extend(here);
        }
        out
    }
}

/// The zone in master-file format (RFC 1035 §5), one record per line.
impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "; zone {} serial {}", self.origin, self.serial)?;
        for record in self.records() {
            writeln!(f, "{record}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
