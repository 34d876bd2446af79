//! Header hygiene between client, edge and origin: hop-by-hop headers
//! removed (RFC 9110 §7.6.1) and a domain's header edits applied. The
//! checks that refuse ambiguous framing live with the codec, in
//! [`crate::http1`].

use crate::head::Fields;
use crate::http1::connection_lists;
use cirrus_core::model::HeaderEdits;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// The client's fields that may go on to an origin: every one but the
/// hop-by-hop ones, copied in one pass into the edge's own head (`extra`:
/// room for the fields the caller adds).
pub(crate) fn forwardable(headers: &HeaderMap, extra: usize) -> Fields {
    let hop = headers.keys().any(is_hop_by_hop);
    let mut fields = Fields::with_capacity(headers.len() + extra);
    for (name, value) in headers {
        if hop && (is_hop_by_hop(name) || connection_lists(headers, name.as_str())) {
            continue;
        }
        fields.append_valid(name.as_str().as_bytes(), value.as_bytes());
    }
    fields
}

/// Removes hop-by-hop headers, including those named in `Connection`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names (usually there is nothing to remove but an
    // origin's `Connection: keep-alive`), no lookup per name and no header
    // name built from `Connection`'s tokens.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let found: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n) || connection_lists(headers, n.as_str()))
        .cloned()
        .collect();
    for name in found {
        headers.remove(name);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-authenticate"
            | "keep-alive"
            | "proxy-connection"
    )
}

/// Applies a domain's header edits: removals, then sets.
pub(crate) fn apply_edits(headers: &mut HeaderMap, edits: &HeaderEdits) {
    for name in &edits.remove {
        headers.remove(name.as_str());
    }
    for (name, value) in &edits.set {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    }
}

/// [`apply_edits`] on the edge's own head (the request to the origin).
pub(crate) fn apply_field_edits(fields: &mut Fields, edits: &HeaderEdits) {
    for name in &edits.remove {
        fields.remove(name);
    }
    for (name, value) in &edits.set {
        // The model refuses invalid names and values; one that got by is
        // left out, as the header map version does.
        let _ = fields.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::header_map as h;

    #[test]
    fn hop_by_hop_headers_do_not_cross() {
        let mut m = h(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("x-kept", "1"),
        ]);
        strip_hop_by_hop(&mut m);
        assert_eq!(m.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-kept"]);
    }
}
