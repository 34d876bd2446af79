//! Byte ranges served from a stored response (RFC 9110 §14): one range of
//! a stored 200 becomes a 206 with `Content-Range`, a range that starts
//! past the end a 416. What the edge does not serve as a part, it serves
//! whole, as RFC 9110 §14.2 allows: several ranges, units other than
//! bytes, a malformed `Range`, or an `If-Range` that does not match.

use crate::head::{Fields, Known};
use std::ops::Range;

/// What a request's `Range` asks of a representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// The whole of it.
    Full,
    /// These bytes of it.
    Part(Range<u64>),
    /// A range that starts past its end.
    Unsatisfiable,
}

/// The range `request` asks of the stored `stored` headers' body of `len` bytes.
pub(crate) fn ask(request: &Fields, stored: &Fields, len: u64) -> Ranged {
    let Some(spec) = request.get_str(Known::Range) else {
        return Ranged::Full;
    };
    if let Some(if_range) = request.get(Known::IfRange)
        && !if_range_matches(if_range, stored)
    {
        return Ranged::Full;
    }
    let Some((unit, set)) = spec.split_once('=') else {
        return Ranged::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return Ranged::Full;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return Ranged::Full;
    };
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // `-n`: the last n bytes.
        (true, _, Some(n)) if n == 0 || len == 0 => Ranged::Unsatisfiable,
        (true, _, Some(n)) => Ranged::Part(len - n.min(len)..len),
        (false, Some(a), _) if a >= len => Ranged::Unsatisfiable,
        // `a-`: from a to the end.
        (false, Some(a), None) if last.trim().is_empty() => Ranged::Part(a..len),
        (false, Some(a), Some(b)) if a <= b => Ranged::Part(a..b.saturating_add(1).min(len)),
        _ => Ranged::Full,
    }
}

/// RFC 9110 §13.1.5: an entity tag matches by strong comparison, a date
/// when it is exactly the stored `Last-Modified`.
fn if_range_matches(if_range: &[u8], stored: &Fields) -> bool {
    if if_range.starts_with(b"\"") || if_range.starts_with(b"W/") {
        return !if_range.starts_with(b"W/")
            && stored
                .get(Known::Etag)
                .is_some_and(|etag| !etag.starts_with(b"W/") && etag == if_range);
    }
    stored.get(Known::LastModified) == Some(if_range)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::head::fields as h;

    #[test]
    fn single_byte_ranges() {
        let ask1 = |spec: &'static str| ask(&crate::head::fields(&[("range", spec)]), &Fields::new(), 100);
        assert_eq!(ask1("bytes=0-9"), Ranged::Part(0..10));
        assert_eq!(ask1("bytes=90-200"), Ranged::Part(90..100));
        assert_eq!(ask1("bytes=95-"), Ranged::Part(95..100));
        assert_eq!(ask1("bytes=-10"), Ranged::Part(90..100));
        assert_eq!(ask1("bytes=-500"), Ranged::Part(0..100));
        assert_eq!(ask1("Bytes = 1-1"), Ranged::Part(1..2));
        assert_eq!(ask1("bytes=100-"), Ranged::Unsatisfiable);
        assert_eq!(ask1("bytes=-0"), Ranged::Unsatisfiable);
        for whole in [
            "bytes=5-1",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=x-1",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(ask1(whole), Ranged::Full, "{whole}");
        }
    }

    #[test]
    fn if_range_needs_a_strong_match() {
        let stored = h(&[("etag", "\"v1\""), ("last-modified", "Tue, 01 Dec 2026 10:00:00 GMT")]);
        let ask2 = |if_range: &'static str| {
            ask(
                &crate::head::fields(&[("range", "bytes=0-0"), ("if-range", if_range)]),
                &stored,
                10,
            )
        };
        assert_eq!(ask2("\"v1\""), Ranged::Part(0..1));
        assert_eq!(ask2("\"v2\""), Ranged::Full);
        assert_eq!(ask2("W/\"v1\""), Ranged::Full);
        assert_eq!(ask2("Tue, 01 Dec 2026 10:00:00 GMT"), Ranged::Part(0..1));
        assert_eq!(ask2("Mon, 30 Nov 2026 10:00:00 GMT"), Ranged::Full);
    }
}
