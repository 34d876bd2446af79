//! Header hygiene between client, edge and origin: hop-by-hop headers
//! removed (RFC 9110 §7.6.1), a domain's header edits applied, and the
//! `CDN-Loop` field that stops a request going round (RFC 8586). The
//! checks that refuse ambiguous framing live with the codec, in
//! [`crate::http1`].

use crate::head::{Fields, Known, KnownSet};
use cirrus_core::model::HeaderEdits;

/// The hop-by-hop names (RFC 9110 §7.6.1), all interned.
const HOP_BY_HOP: KnownSet = KnownSet::of(&[
    Known::Connection,
    Known::Te,
    Known::Trailer,
    Known::TransferEncoding,
    Known::Upgrade,
    Known::ProxyAuthorization,
    Known::ProxyAuthenticate,
    Known::KeepAlive,
    Known::ProxyConnection,
]);

/// Removes hop-by-hop fields (RFC 9110 §7.6.1), including those named in
/// `Connection`: from the client's fields going to an origin, and from an
/// origin's answer.
pub(crate) fn strip_hop_by_hop(fields: &mut Fields) {
    if !fields.has_any(HOP_BY_HOP) {
        return;
    }
    // The names `Connection` lists besides the hop-by-hop ones (most
    // heads say only `keep-alive`: nothing to parse, nothing allocated),
    // then every hop-by-hop field in one pass over the lines.
    let only_keep_alive = fields
        .get_all(Known::Connection)
        .all(|v| v.eq_ignore_ascii_case(b"keep-alive"));
    if !only_keep_alive {
        let listed: Vec<Box<[u8]>> = fields
            .get_list(Known::Connection)
            .filter(|name| !is_hop_by_hop_name(name))
            .map(Box::from)
            .collect();
        for name in &listed {
            fields.remove(&**name);
        }
    }
    fields.remove_all(HOP_BY_HOP);
}

/// Whether `name` (any case) is a hop-by-hop name.
fn is_hop_by_hop_name(name: &[u8]) -> bool {
    crate::head::interned(name).is_some_and(|i| HOP_BY_HOP.has_index(i))
}

/// The edge's member of `CDN-Loop` (RFC 8586), added to every request it
/// sends to an origin.
pub(crate) const CDN_LOOP_ID: &[u8] = b"cirrus";

/// How many times a request may already have passed through Cirrus edges
/// (a chain of tiers); one more is a loop, refused with 508.
pub(crate) const CDN_LOOP_LIMIT: usize = 2;

/// How many members of the request's `CDN-Loop` fields name Cirrus (the
/// CDN id before any `;` parameters, any case).
pub(crate) fn cdn_loop_passes(fields: &Fields) -> usize {
    fields
        .get_list(Known::CdnLoop)
        .filter(|member| {
            let id = member.split(|b| *b == b';').next();
            id.is_some_and(|id| id.trim_ascii().eq_ignore_ascii_case(CDN_LOOP_ID))
        })
        .count()
}

/// Applies a domain's header edits: removals, then sets.
pub(crate) fn apply_edits(fields: &mut Fields, edits: &HeaderEdits) {
    for name in &edits.remove {
        fields.remove(name);
    }
    for (name, value) in &edits.set {
        // The model refuses invalid names and values; one that got by is
        // left out.
        let _ = fields.insert(name, value);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HOP: [(&str, &str); 7] = [
        ("connection", "keep-alive, X-Secret"),
        ("x-secret", "1"),
        ("keep-alive", "timeout=5"),
        ("x-kept", "1"),
        ("te", "trailers"),
        ("upgrade", "h2c"),
        ("proxy-connection", "keep-alive"),
    ];

    #[test]
    fn cdn_loop_members_naming_cirrus_are_counted() {
        let f = crate::head::fields(&[
            ("CDN-Loop", "other-cdn, Cirrus; v=1 ,cirrus"),
            ("cdn-loop", "cirrus-not, example.com:443"),
            ("cdn-loop", " cirrus "),
        ]);
        assert_eq!(cdn_loop_passes(&f), 3);
        assert_eq!(cdn_loop_passes(&crate::head::fields(&[("x", "cirrus")])), 0);
    }

    #[test]
    fn hop_by_hop_fields_do_not_cross_either_way() {
        let mut answer = Fields::new();
        for (name, value) in HOP {
            answer.append(name, value).unwrap();
        }
        answer.append("X-Kept-Too", "2").unwrap();
        strip_hop_by_hop(&mut answer);
        let kept: Vec<_> = answer.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        assert_eq!(
            kept,
            [
                (b"x-kept".to_vec(), b"1".to_vec()),
                (b"X-Kept-Too".to_vec(), b"2".to_vec())
            ]
        );
        // `Connection: keep-alive` alone (the common case) and `close`,
        // whose field of that name goes too.
        let cases: [(&str, &[&[u8]]); 2] = [("Keep-Alive", &[b"close", b"x-kept"]), ("close", &[b"x-kept"])];
        for (connection, kept) in cases {
            let mut answer = crate::head::fields(&[
                ("connection", connection),
                ("keep-alive", "timeout=5"),
                ("close", "x"),
                ("x-kept", "1"),
            ]);
            strip_hop_by_hop(&mut answer);
            let names: Vec<_> = answer.iter().map(|(n, _)| n).collect();
            assert_eq!(names, kept, "{connection}");
        }
        let mut plain = crate::head::fields(&[("a", "1"), ("b", "2")]);
        strip_hop_by_hop(&mut plain);
        assert_eq!(plain.len(), 2);
        // Past 128 fields (the size of the set of interned names): the same result.
        let mut many = Fields::new();
        for i in 0..200 {
            many.append(format!("x-{i}"), "v").unwrap();
        }
        for (name, value) in HOP {
            many.append(name, value).unwrap();
        }
        strip_hop_by_hop(&mut many);
        assert_eq!(many.len(), 201);
        assert!(!many.contains("x-secret") && many.contains("x-kept") && many.contains("x-199"));
    }
}
