//! The zone's answers encoded ahead of queries: for each owner name (by
//! its lowercase wire form), every record set as answer-section bytes
//! whose owner is a pointer to the question (offset 12), and the SOA as
//! authority-section bytes for negative answers. A record type added to
//! the zone builder (HTTPS, SVCB, ...) is encoded here with no change. Built with the zone,
//! swapped with it; read by the master's UDP fast path without parsing or
//! allocating.

use super::Zone;
use hickory_proto::rr::{DNSClass, Name, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use std::collections::HashMap;

/// A name's encoded record sets.
#[derive(Debug, Clone, Default)]
pub(crate) struct WireName {
    /// (type, record count, answer-section bytes), one per type.
    sets: Vec<(u16, u16, Box<[u8]>)>,
}

/// The zone's names by lowercase wire form, and its SOA for negative answers.
#[derive(Debug, Clone, Default)]
pub(crate) struct WireIndex {
    names: HashMap<Box<[u8]>, WireName, xxhash_rust::xxh3::Xxh3DefaultBuilder>,
    /// The apex in wire form (lowercase).
    apex: Box<[u8]>,
    /// The SOA record after its owner name: type, class, TTL, length, data.
    soa_tail: Box<[u8]>,
}

/// What the index knows of a name.
pub(crate) enum WireLookup<'z> {
    /// The record set: its count and answer bytes.
    Found(u16, &'z [u8]),
    /// The name exists without records of that type.
    NoData,
    /// The name does not exist.
    NxDomain,
}

/// `name` in lowercase wire form (labels, then the root).
fn wire(name: &Name) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    for label in name.iter() {
        out.push(u8::try_from(label.len()).ok().filter(|l| *l <= 63)?);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    (out.len() <= 255).then_some(out)
}

/// Type, class, TTL, RDLENGTH and RDATA of `record` (no owner name, no
/// compression inside the data).
fn tail(record: &Record, out: &mut Vec<u8>) -> Option<()> {
    let mut data = Vec::with_capacity(32);
    let mut encoder = BinEncoder::new(&mut data);
    encoder.set_canonical_form(true);
    record.data.emit(&mut encoder).ok()?;
    out.extend_from_slice(&u16::from(record.record_type()).to_be_bytes());
    out.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
    out.extend_from_slice(&record.ttl.to_be_bytes());
    out.extend_from_slice(&u16::try_from(data.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&data);
    Some(())
}

impl WireIndex {
    /// The index of `zone`; `None` when a name or record cannot be
    /// encoded (the fast path is then off and every query takes the
    /// general path).
    pub(crate) fn build(zone: &Zone) -> Option<Self> {
        let apex = wire(&zone.origin)?;
        let mut soa_tail = Vec::with_capacity(96);
        tail(&zone.soa, &mut soa_tail)?;
        let mut names = HashMap::with_capacity_and_hasher(zone.names.len(), Default::default());
        for (name, records) in &zone.names {
            let mut entry = WireName::default();
            // The records are sorted by type (Zone::build).
            for set in records.chunk_by(|a, b| a.record_type() == b.record_type()) {
                let mut bytes = Vec::with_capacity(set.len() * 32);
                for record in set {
                    bytes.extend_from_slice(&[0xc0, 12]);
                    tail(record, &mut bytes)?;
                }
                let count = u16::try_from(set.len()).ok()?;
                entry
                    .sets
                    .push((u16::from(set[0].record_type()), count, bytes.into_boxed_slice()));
            }
            names.insert(wire(name)?.into_boxed_slice(), entry);
        }
        Some(Self {
            names,
            apex: apex.into_boxed_slice(),
            soa_tail: soa_tail.into_boxed_slice(),
        })
    }

    /// The apex in lowercase wire form.
    pub(crate) fn apex(&self) -> &[u8] {
        &self.apex
    }

    /// The SOA after its owner name.
    pub(crate) fn soa_tail(&self) -> &[u8] {
        &self.soa_tail
    }

    /// What the zone has for `name` (lowercase wire form) and `rtype`.
    pub(crate) fn lookup(&self, name: &[u8], rtype: u16) -> WireLookup<'_> {
        match self.names.get(name) {
            None => WireLookup::NxDomain,
            Some(entry) => match entry.sets.iter().find(|(t, _, _)| *t == rtype) {
                Some((_, count, bytes)) => WireLookup::Found(*count, bytes),
                None => WireLookup::NoData,
            },
        }
    }
}
