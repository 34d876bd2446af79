//! W3C Trace Context (`traceparent`, `tracestate`): read from a client's
//! request when trusted, written on the requests to origins and peers.

use crate::head::Fields;

/// `traceparent`'s name.
pub(crate) const TRACEPARENT: &str = "traceparent";
/// `tracestate`'s name.
pub(crate) const TRACESTATE: &str = "tracestate";
/// The longest `tracestate` kept (the W3C recommendation says at least 512
/// characters are propagated; a longer one is dropped whole).
const MAX_TRACESTATE: usize = 512;

/// A caller's trace context, as its `traceparent` gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parent {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) sampled: bool,
    /// Its `tracestate`, when it sent one (several fields joined by `,`).
    pub(crate) state: Option<Box<str>>,
}

/// The caller's trace context from `fields`: exactly one well-formed
/// `traceparent` (version 00, or a later version's first four fields),
/// else none. An invalid one is ignored, as the W3C text says: the
/// request starts a new trace.
pub(crate) fn parent(fields: &Fields) -> Option<Parent> {
    let mut all = fields.get_all(TRACEPARENT);
    let value = all.next()?;
    if all.next().is_some() {
        return None;
    }
    let (trace_id, span_id, flags) = parse_traceparent(value)?;
    let mut state = String::new();
    for part in fields.get_all(TRACESTATE) {
        let part = std::str::from_utf8(part).ok()?.trim();
        if !part.is_empty() {
            if !state.is_empty() {
                state.push(',');
            }
            state.push_str(part);
        }
    }
    let state = (!state.is_empty() && state.len() <= MAX_TRACESTATE).then(|| state.into_boxed_str());
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
        state,
    })
}

/// `version-traceid-parentid-flags`, lowercase hex; the ids not all zero.
fn parse_traceparent(v: &[u8]) -> Option<([u8; 16], [u8; 8], u8)> {
    if v.len() < 55 {
        return None;
    }
    let mut version = [0u8; 1];
    hex_into(&v[0..2], &mut version)?;
    match version[0] {
        0xff => return None,
        0 if v.len() != 55 => return None,
        // A later version may add fields after a dash.
        _ if v.len() > 55 && v[55] != b'-' => return None,
        _ => {}
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    let mut flags = [0u8; 1];
    hex_into(&v[3..35], &mut trace_id)?;
    hex_into(&v[36..52], &mut span_id)?;
    hex_into(&v[53..55], &mut flags)?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some((trace_id, span_id, flags[0]))
}

/// Lowercase hex digits into bytes; `None` for anything else.
fn hex_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    for (pair, byte) in text.chunks_exact(2).zip(out.iter_mut()) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(())
}

/// `00-{trace_id}-{span_id}-{flags}`.
pub(crate) fn traceparent(trace_id: &[u8; 16], span_id: &[u8; 8], sampled: bool) -> [u8; 55] {
    let mut out = [b'-'; 55];
    out[0..2].copy_from_slice(b"00");
    cirrus_core::auth::write_hex(trace_id, &mut out[3..35]);
    cirrus_core::auth::write_hex(span_id, &mut out[36..52]);
    out[53..55].copy_from_slice(if sampled { b"01" } else { b"00" });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::new();
        for (n, v) in pairs {
            f.append(*n, v).expect("valid");
        }
        f
    }

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_read_and_written_back_alike() {
        let p = parent(&fields(&[
            (TRACEPARENT, GOOD),
            (TRACESTATE, "a=1"),
            (TRACESTATE, "b=2"),
        ]))
        .expect("valid");
        assert!(p.sampled);
        assert_eq!(p.state.as_deref(), Some("a=1,b=2"));
        let written = traceparent(&p.trace_id, &p.span_id, p.sampled);
        assert_eq!(std::str::from_utf8(&written).expect("text"), GOOD);
        let unsampled = GOOD.replace("-01", "-00");
        assert!(!parent(&fields(&[(TRACEPARENT, &unsampled)])).expect("valid").sampled);
        // A later version: its first four fields, whatever follows a dash.
        let later = format!("{}-what-comes", GOOD.replacen("00", "cc", 1));
        assert!(parent(&fields(&[(TRACEPARENT, &later)])).is_some());
    }

    #[test]
    fn a_malformed_or_repeated_traceparent_is_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parent(&fields(&[(TRACEPARENT, bad)])), None, "{bad:?}");
        }
        assert_eq!(parent(&fields(&[(TRACEPARENT, GOOD), (TRACEPARENT, GOOD)])), None);
        let long = "k=".to_string() + &"v".repeat(600);
        let p = parent(&fields(&[(TRACEPARENT, GOOD), (TRACESTATE, &long)])).expect("valid");
        assert_eq!(p.state, None, "an oversized tracestate is dropped");
    }
}
