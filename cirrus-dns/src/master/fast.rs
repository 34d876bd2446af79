//! The UDP fast path: a plain query (one question of class IN, no answer
//! or authority records, at most an EDNS OPT of version 0) for a name
//! below the apex, of a type that needs neither the allow list nor a
//! signature, is answered from the zone's pre-encoded record sets with no
//! parsing beyond the question and no allocation. Anything else returns
//! `None` and takes the general path (hickory-proto's codec and the
//! handler), which gives the same answers (tested against each other).

use super::handler::MAX_UDP_PAYLOAD;
use crate::zone::{WireIndex, WireLookup};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
/// Types the general path answers: SOA (the allow list applies to it at
/// any name), the pseudo-records (OPT, TKEY, TSIG) and the meta-types
/// (IXFR, AXFR, MAILB, MAILA, ANY).
const GENERAL: [u16; 9] = [6, 41, 249, 250, 251, 252, 253, 254, 255];

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Writes the answer to `query` into `out` when the fast path can give
/// it; returns the query's type and the answer's response code.
pub(super) fn answer(index: &WireIndex, query: &[u8], out: &mut Vec<u8>) -> Option<(RecordType, ResponseCode)> {
    let flags = *query.get(2)?;
    // A query (QR 0), opcode QUERY, not truncated.
    if flags & 0xfa != 0 {
        return None;
    }
    let counts = (
        u16_at(query, 4)?,
        u16_at(query, 6)?,
        u16_at(query, 8)?,
        u16_at(query, 10)?,
    );
    if !matches!(counts, (1, 0, 0, 0 | 1)) {
        return None;
    }
    // The question's name, lowercased, with its label starts.
    let mut name = [0u8; 255];
    let (mut len, mut pos) = (0usize, 12usize);
    let mut starts = [0u8; 128];
    let mut labels = 0;
    loop {
        let label = usize::from(*query.get(pos)?);
        if label > 63 || len + label + 1 > 255 {
            return None;
        }
        starts[labels] = u8::try_from(len).ok()?;
        labels += 1;
        name[len] = label as u8;
        if label == 0 {
            len += 1;
            pos += 1;
            break;
        }
        let bytes = query.get(pos + 1..pos + 1 + label)?;
        for (i, b) in bytes.iter().enumerate() {
            name[len + 1 + i] = b.to_ascii_lowercase();
        }
        len += 1 + label;
        pos += 1 + label;
    }
    let name = &name[..len];
    let qtype = u16_at(query, pos)?;
    if u16_at(query, pos + 2)? != 1 || GENERAL.contains(&qtype) {
        return None;
    }
    let question_end = pos + 4;
    // Strictly below the apex, the apex starting at a label.
    let apex = index.apex();
    let apex_at = len.checked_sub(apex.len()).filter(|at| *at > 0)?;
    if &name[apex_at..] != apex || !starts[..labels].contains(&u8::try_from(apex_at).ok()?) {
        return None;
    }
    // EDNS: an OPT at the root, version 0, nothing after it.
    let payload = if counts.3 == 1 {
        let opt = query.get(question_end..)?;
        if opt.len() < 11 || opt[0] != 0 || u16_at(opt, 1)? != 41 || opt[6] != 0 {
            return None;
        }
        if 11 + usize::from(u16_at(opt, 9)?) != opt.len() {
            return None;
        }
        Some(u16_at(opt, 3)?.clamp(512, MAX_UDP_PAYLOAD))
    } else if question_end != query.len() {
        return None;
    } else {
        None
    };
    let (rcode, count, records, negative) = match index.lookup(name, qtype) {
        WireLookup::Found(count, records) => (ResponseCode::NoError, count, records, false),
        WireLookup::NoData => (ResponseCode::NoError, 0, &[][..], true),
        WireLookup::NxDomain => (ResponseCode::NXDomain, 0, &[][..], true),
    };
    out.clear();
    out.extend_from_slice(&query[..2]);
    // QR, AA and the client's RD; the client's CD and the response code.
    out.push(0x84 | (flags & 0x01));
    out.push((query[3] & 0x10) | rcode.low());
    for n in [1, count, u16::from(negative), u16::from(payload.is_some())] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(&query[12..question_end]);
    out.extend_from_slice(records);
    if negative {
        // The SOA, its owner a pointer to the apex inside the question.
        let pointer = 0xc000 | u16::try_from(12 + apex_at).ok()?;
        out.extend_from_slice(&pointer.to_be_bytes());
        out.extend_from_slice(index.soa_tail());
    }
    if let Some(payload) = payload {
        out.extend_from_slice(&[0, 0, 41]);
        out.extend_from_slice(&payload.to_be_bytes());
        out.extend_from_slice(&[0; 6]);
    }
    // What does not fit is the general path's (it truncates).
    if out.len() > usize::from(payload.unwrap_or(512)) {
        return None;
    }
    Some((RecordType::from(qtype), rcode))
}
