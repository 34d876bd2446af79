//! `Cache-Control` (RFC 9111 §5.2) as a shared cache reads it, and the
//! targeted fields (RFC 9213) that take its place for the edge.

use crate::head::{Fields, Known};

/// The response directives a shared cache acts on. Unknown directives are
/// ignored; a malformed delta-seconds value counts as 0 (stale at once),
/// the safe reading of RFC 9111 §1.2.2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResponseDirectives {
    pub(crate) max_age: Option<u64>,
    pub(crate) s_maxage: Option<u64>,
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    pub(crate) private: bool,
    pub(crate) public: bool,
    pub(crate) must_revalidate: bool,
    /// RFC 5861 `stale-while-revalidate`.
    pub(crate) stale_while_revalidate: Option<u64>,
    /// RFC 5861 `stale-if-error`.
    pub(crate) stale_if_error: Option<u64>,
}

impl ResponseDirectives {
    /// The directives the edge follows: those of the first targeted field
    /// present with a usable value (the domain's own `targeted`, then
    /// `CDN-Cache-Control`), else `Cache-Control`. The flag is true when a
    /// targeted field was used: `Expires` is then ignored too (RFC 9213 §2.2).
    pub(crate) fn for_edge(headers: &Fields, targeted: Option<&str>) -> (Self, bool) {
        if let Some(field) = targeted
            && headers.get_all(field).any(usable)
        {
            return (Self::parse_field(headers, field), true);
        }
        if headers.get_all(Known::CdnCacheControl).any(usable) {
            return (Self::parse_field(headers, Known::CdnCacheControl), true);
        }
        (Self::parse(headers), false)
    }

    /// Reads every `Cache-Control` field of `headers`. When a directive
    /// appears twice, the most restrictive value wins.
    pub(crate) fn parse(headers: &Fields) -> Self {
        Self::parse_field(headers, Known::CacheControl)
    }

    fn parse_field(headers: &Fields, field: impl crate::head::FieldName) -> Self {
        let mut d = Self::default();
        for value in headers.get_all(field) {
            // Not visible ASCII: not a directive we could act on.
            if !value.is_ascii() {
                d.no_store = true;
                continue;
            }
            for (name, arg) in directives(value) {
                let is = |directive: &[u8]| name.eq_ignore_ascii_case(directive);
                if is(b"max-age") {
                    d.max_age = min(d.max_age, seconds(arg));
                } else if is(b"s-maxage") {
                    d.s_maxage = min(d.s_maxage, seconds(arg));
                } else if is(b"no-store") {
                    d.no_store = true;
                } else if is(b"no-cache") {
                    // The qualified form (`no-cache="Set-Cookie"`) is read
                    // as the unqualified one: stricter, never wrong.
                    d.no_cache = true;
                } else if is(b"private") {
                    d.private = true;
                } else if is(b"public") {
                    d.public = true;
                } else if is(b"must-revalidate") || is(b"proxy-revalidate") {
                    d.must_revalidate = true;
                } else if is(b"stale-while-revalidate") {
                    d.stale_while_revalidate = min(d.stale_while_revalidate, seconds(arg));
                } else if is(b"stale-if-error") {
                    d.stale_if_error = min(d.stale_if_error, seconds(arg));
                }
            }
        }
        d
    }
}

/// A targeted field's value is used when it names at least one directive
/// and is text (an empty or garbled one falls back to `Cache-Control`).
fn usable(value: &[u8]) -> bool {
    std::str::from_utf8(value).is_ok()
        && directives(value).next().is_some()
        && directives(value).all(|(name, _)| name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-'))
}

fn min(a: Option<u64>, b: u64) -> Option<u64> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// delta-seconds; anything else is 0. Values beyond 2^31 are capped there
/// (RFC 9111 §1.2.2).
fn seconds(arg: Option<&[u8]>) -> u64 {
    let arg = arg.unwrap_or_default();
    // Quotes around the number are dropped, however many.
    let start = arg.iter().position(|&b| b != b'"').unwrap_or(arg.len());
    let end = arg.iter().rposition(|&b| b != b'"').map_or(start, |last| last + 1);
    let digits = &arg[start..end.max(start)];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    digits
        .iter()
        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .unwrap_or(u64::MAX)
        .min(1 << 31)
}

/// Splits `a, b=1, c="x, y"` into `(name, argument)` pairs, honoring
/// quotes, trimmed; no allocation (it runs on every origin answer).
fn directives(text: &[u8]) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        loop {
            let left = rest?;
            let mut quoted = false;
            let end = left.iter().position(|&b| {
                quoted ^= b == b'"';
                b == b',' && !quoted
            });
            let part = match end {
                Some(i) => {
                    rest = Some(&left[i + 1..]);
                    &left[..i]
                }
                None => {
                    rest = None;
                    left
                }
            };
            let part = part.trim_ascii();
            if part.is_empty() {
                continue;
            }
            return Some(match part.iter().position(|&b| b == b'=') {
                Some(at) => (part[..at].trim_ascii(), Some(part[at + 1..].trim_ascii())),
                None => (part, None),
            });
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> ResponseDirectives {
        let mut h = Fields::new();
        for v in values {
            h.append(Known::CacheControl, v).expect("test value");
        }
        ResponseDirectives::parse(&h)
    }

    #[test]
    fn reads_the_directives_a_shared_cache_needs() {
        let d = parse(&["public, max-age=60, S-MAXAGE=\"120\"", "must-revalidate"]);
        assert_eq!(
            (d.max_age, d.s_maxage, d.public, d.must_revalidate),
            (Some(60), Some(120), true, true)
        );
        let d = parse(&["private=\"x, y\", no-cache=\"Set-Cookie\""]);
        assert!(d.private && d.no_cache);
        assert!(parse(&["no-store"]).no_store);
    }

    #[test]
    fn malformed_or_conflicting_values_are_read_safely() {
        assert_eq!(parse(&["max-age=abc"]).max_age, Some(0));
        assert_eq!(parse(&["max-age=-5"]).max_age, Some(0));
        assert_eq!(parse(&["max-age"]).max_age, Some(0));
        assert_eq!(parse(&["max-age=60", "max-age=10"]).max_age, Some(10));
        assert_eq!(parse(&["max-age=99999999999999999999999"]).max_age, Some(1 << 31));
        assert_eq!(parse(&[",,, ,"]), ResponseDirectives::default());
    }

    #[test]
    fn targeted_fields_take_precedence_in_order() {
        let mut h = Fields::new();
        h.insert(Known::CacheControl, "max-age=10").unwrap();
        let (d, targeted) = ResponseDirectives::for_edge(&h, Some("x-cdn-cc"));
        assert_eq!((d.max_age, targeted), (Some(10), false));
        h.insert(Known::CdnCacheControl, "max-age=600").unwrap();
        let (d, targeted) = ResponseDirectives::for_edge(&h, Some("x-cdn-cc"));
        assert_eq!((d.max_age, targeted), (Some(600), true));
        h.insert("x-cdn-cc", "no-store").unwrap();
        let (d, _) = ResponseDirectives::for_edge(&h, Some("x-cdn-cc"));
        assert!(d.no_store && d.max_age.is_none(), "the domain's own field first");
        h.insert("x-cdn-cc", " , ").unwrap();
        let (d, _) = ResponseDirectives::for_edge(&h, Some("x-cdn-cc"));
        assert_eq!(d.max_age, Some(600), "an empty targeted field is skipped");
        h.insert(Known::CdnCacheControl, "\"garbled").unwrap();
        let (d, targeted) = ResponseDirectives::for_edge(&h, None);
        assert_eq!((d.max_age, targeted), (Some(10), false), "an unparsable one too");
    }
}
