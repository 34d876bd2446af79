//! The zone builder: a pure function from domains, nodes and settings to
//! the records of the zone under `CNAME_BASE_DOMAIN`.

use crate::error::{Error, Result};
use cirrus_core::{DomainConf, Node, RendezvousTable};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Most characters of the readable part of a target label.
/// Settings of the zone; build with [`ZoneSettings::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSettings {
    origin: Name,
    nameservers: Vec<Name>,
    hostmaster: Name,
    numbers: Numbers,
}

/// The numeric settings, kept as they are from builder to settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Numbers {
    replicas_per_site: usize,
    ttl: u32,
    ns_ttl: u32,
    refresh: i32,
    retry: i32,
    expire: i32,
    negative_ttl: u32,
}

impl Default for Numbers {
    fn default() -> Self {
        Self {
            replicas_per_site: 2,
            ttl: 60,
            ns_ttl: 3600,
            refresh: 3600,
            retry: 600,
            expire: 604_800,
            negative_ttl: 60,
        }
    }
}

/// Builds [`ZoneSettings`].
#[derive(Debug, Clone)]
pub struct ZoneSettingsBuilder {
    origin: String,
    nameservers: Vec<String>,
    hostmaster: Option<String>,
    numbers: Numbers,
}

impl ZoneSettings {
    /// Settings for the zone `origin` (`CNAME_BASE_DOMAIN`, e.g.
    /// `cdn.example.net`), with defaults: nameserver `ns1.{origin}`,
    /// hostmaster `hostmaster.{origin}`, 2 nodes per domain, TTL 60 s for
    /// node records and 3600 s for NS and SOA, SOA timers 3600/600/604800,
    /// negative TTL 60 s.
    pub fn builder(origin: impl Into<String>) -> ZoneSettingsBuilder {
        ZoneSettingsBuilder {
            origin: origin.into(),
            nameservers: Vec::new(),
            hostmaster: None,
            numbers: Numbers::default(),
        }
    }

    /// The zone's apex.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// Nodes per domain unless the domain overrides it.
    pub fn replicas_per_site(&self) -> usize {
        self.numbers.replicas_per_site
    }
}

impl ZoneSettingsBuilder {
    /// Adds an authoritative nameserver (NS record; the first is the SOA's MNAME).
    pub fn nameserver(mut self, name: impl Into<String>) -> Self {
        self.nameservers.push(name.into());
        self
    }

    /// The SOA's responsible mailbox, as a name (`hostmaster.example.net`).
    pub fn hostmaster(mut self, name: impl Into<String>) -> Self {
        self.hostmaster = Some(name.into());
        self
    }

    /// Nodes per domain (a domain's `replicas` overrides it); at least 1.
    pub fn replicas_per_site(mut self, n: usize) -> Self {
        self.numbers.replicas_per_site = n;
        self
    }

    /// TTL of A, AAAA and TXT records.
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.numbers.ttl = seconds;
        self
    }

    /// TTL of the SOA and NS records.
    pub fn ns_ttl(mut self, seconds: u32) -> Self {
        self.numbers.ns_ttl = seconds;
        self
    }

    /// SOA refresh, retry and expire, in seconds.
    pub fn soa_timers(mut self, refresh: i32, retry: i32, expire: i32) -> Self {
        (self.numbers.refresh, self.numbers.retry, self.numbers.expire) = (refresh, retry, expire);
        self
    }

    /// TTL of negative answers (SOA MINIMUM, RFC 2308).
    pub fn negative_ttl(mut self, seconds: u32) -> Self {
        self.numbers.negative_ttl = seconds;
        self
    }

    /// The settings; names must be valid domain names.
    pub fn build(self) -> Result<ZoneSettings> {
        let origin = fqdn(&self.origin, "zone")?;
        let nameservers = if self.nameservers.is_empty() {
            vec![label_under("ns1", &origin)?]
        } else {
            self.nameservers
                .iter()
                .map(|n| fqdn(n, "nameserver"))
                .collect::<Result<_>>()?
        };
        let hostmaster = match &self.hostmaster {
            Some(h) => fqdn(h, "hostmaster")?,
            None => label_under("hostmaster", &origin)?,
        };
        if self.numbers.replicas_per_site == 0 {
            return Err(Error::Config("replicas_per_site must be at least 1".into()));
        }
        Ok(ZoneSettings {
            origin,
            nameservers,
            hostmaster,
            numbers: self.numbers,
        })
    }
}

fn fqdn(name: &str, what: &str) -> Result<Name> {
    let mut n = Name::from_ascii(name.trim()).map_err(|source| Error::Name {
        what: what.to_string(),
        name: name.to_string(),
        source,
    })?;
    n.set_fqdn(true);
    if n.is_root() {
        return Err(Error::Config(format!("{what} {name:?}: the root is not allowed")));
    }
    Ok(n.to_lowercase())
}

fn label_under(label: &str, origin: &Name) -> Result<Name> {
    origin.prepend_label(label).map_err(|source| Error::Name {
        what: "label".into(),
        name: format!("{label}.{origin}"),
        source,
    })
}

/// The name a customer's domain points its CNAME at: a readable part (the
/// domain with dots as dashes, at most 40 characters) and 16 hex digits of
/// the domain's stable hash (XXH3, frozen: see docs/hashing.md), under the
/// zone: `www.example.com` → `www-example-com-<16 hex>.cdn.example.net.`.
/// It never changes for a domain, and two domains never share it in
/// practice (64-bit hash).
pub fn target_name(domain: &str, origin: &Name) -> Result<Name> {
    label_under(&cirrus_core::model::target_label(domain), origin)
}

/// The name holding a domain's DNS-01 challenge TXT records:
/// `_acme-challenge.<target name>`. The customer delegates
/// `_acme-challenge.<domain>` to it with a CNAME.
pub fn challenge_name(domain: &str, origin: &Name) -> Result<Name> {
    label_under("_acme-challenge", &target_name(domain, origin)?)
}

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
