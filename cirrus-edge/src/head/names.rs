//! The field names the edge meets on nearly every request, interned: a
//! name in this table is stored as its index, compared as a number and
//! written from the table, so a parsed head keeps no copy of it.

/// The interned names, lowercase, the most frequent first.
pub(super) const NAMES: [&str; 64] = [
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "connection",
    "content-length",
    "content-type",
    "transfer-encoding",
    "cache-control",
    "date",
    "etag",
    "last-modified",
    "expires",
    "age",
    "vary",
    "server",
    "set-cookie",
    "cookie",
    "if-none-match",
    "if-modified-since",
    "range",
    "content-range",
    "content-encoding",
    "location",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "via",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "pragma",
    "authorization",
    "referer",
    "origin",
    "accept-ranges",
    "strict-transport-security",
    "x-request-id",
    "cdn-cache-control",
    "surrogate-control",
    "if-range",
    "if-match",
    "if-unmodified-since",
    "expect",
    "forwarded",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "content-disposition",
    "content-language",
    "content-location",
    "access-control-allow-origin",
    "x-content-type-options",
    "x-frame-options",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-dest",
    "upgrade-insecure-requests",
    "dnt",
    "cache-status",
];

/// The interned names as `http` header names, for conversions.
pub(super) static HTTP_NAMES: std::sync::LazyLock<Vec<http::HeaderName>> =
    std::sync::LazyLock::new(|| NAMES.iter().map(|n| http::HeaderName::from_static(n)).collect());

/// Longest interned name.
const LONGEST: usize = 27;

/// An open-addressed table of [`NAMES`] by a hash of a name's length and
/// its first and last bytes (lowercase): a lookup costs one or two
/// comparisons. Built at compile time; `EMPTY` marks a free slot.
const SLOTS: [u8; 256] = slots();
const EMPTY: u8 = u8::MAX;

const fn slot(len: usize, first: u8, last: u8) -> usize {
    (len * 31 + first as usize * 7 + last as usize) & 255
}

const fn slots() -> [u8; 256] {
    let mut table = [EMPTY; 256];
    let mut i = 0;
    while i < NAMES.len() {
        let n = NAMES[i].as_bytes();
        let mut at = slot(n.len(), n[0], n[n.len() - 1]);
        while table[at] != EMPTY {
            at = (at + 1) & 255;
        }
        table[at] = i as u8;
        i += 1;
    }
    table
}

/// The index of `name` (any case) in [`NAMES`].
pub(super) fn lookup(name: &[u8]) -> Option<u8> {
    let (Some(first), Some(last)) = (name.first(), name.last()) else {
        return None;
    };
    if name.len() > LONGEST {
        return None;
    }
    let mut at = slot(name.len(), first.to_ascii_lowercase(), last.to_ascii_lowercase());
    loop {
        let index = SLOTS[at];
        let known = NAMES.get(usize::from(index))?;
        if known.as_bytes().eq_ignore_ascii_case(name) {
            return Some(index);
        }
        at = (at + 1) & 255;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_in_any_case_and_only_its_own() {
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(lookup(name.as_bytes()), Some(i as u8), "{name}");
            assert_eq!(lookup(name.to_ascii_uppercase().as_bytes()), Some(i as u8), "{name}");
            assert!(name.len() <= LONGEST && name.bytes().all(|b| !b.is_ascii_uppercase()));
        }
        assert_eq!(lookup(b"x-custom"), None);
        assert_eq!(lookup(b"hos"), None);
        assert_eq!(lookup(b""), None);
        assert_eq!(lookup(&[b'a'; 300]), None);
    }
}
