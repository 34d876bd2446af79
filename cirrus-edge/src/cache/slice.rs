//! Slices (a domain's `slice_size`, nginx's slice module): a large object
//! fetched and stored in aligned byte ranges, each under its own key, so a
//! range at the end of a 1 GiB object fetches one slice. What is pure
//! here: the slice keys, the `Content-Range` of a slice and the check that
//! slices belong to one version of the object.

use super::key::CacheKey;
use crate::head::{Fields, Known};
use std::ops::Range;

/// The key of slice `index` of the resource `key`: same host and path, so
/// purges by URL, prefix, tag or domain select every slice.
pub(crate) fn slice_key(key: &CacheKey, index: u64) -> CacheKey {
    CacheKey::from_text(format!("{}\nslice:{index}", key.text()))
}

/// The bytes slice `index` covers, for slices of `size` bytes.
pub(crate) fn bounds(index: u64, size: u64) -> Range<u64> {
    let start = index.saturating_mul(size);
    start..start.saturating_add(size)
}

/// The slices that hold `bytes`.
pub(crate) fn covering(bytes: &Range<u64>, size: u64) -> Range<u64> {
    if bytes.is_empty() {
        return 0..0;
    }
    bytes.start / size..(bytes.end - 1) / size + 1
}

/// `Content-Range: bytes a-b/total` of a part: `(a..b+1, total)`.
pub(crate) fn content_range(headers: &Fields) -> Option<(Range<u64>, u64)> {
    let v = headers.get_str(Known::ContentRange)?;
    let (unit, rest) = v.trim().split_once(' ')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, total): (u64, u64, u64) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    (a <= b && b < total).then_some((a..b + 1, total))
}

/// What makes slices parts of one version of an object: its complete
/// length and its strong validator (`ETag`, else `Last-Modified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) total: u64,
    validator: Option<Vec<u8>>,
}

impl Version {
    /// The version a slice response with `headers` (and its `total`) is of.
    pub(crate) fn of(headers: &Fields, total: u64) -> Self {
        let validator = headers
            .get(Known::Etag)
            .filter(|e| !e.starts_with(b"W/"))
            .or_else(|| headers.get(Known::LastModified))
            .map(<[u8]>::to_vec);
        Self { total, validator }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use cirrus_core::model::CacheKeyOptions;

    #[test]
    fn slice_arithmetic() {
        assert_eq!(bounds(0, 100), 0..100);
        assert_eq!(bounds(3, 100), 300..400);
        assert_eq!(covering(&(0..100), 100), 0..1);
        assert_eq!(covering(&(99..101), 100), 0..2);
        assert_eq!(covering(&(950..1000), 100), 9..10);
        assert_eq!(covering(&(5..5), 100), 0..0);
    }

    #[test]
    fn content_ranges_and_versions() {
        let h = crate::head::fields;
        assert_eq!(
            content_range(&h(&[("content-range", "bytes 0-99/1000")])),
            Some((0..100, 1000))
        );
        for bad in [
            "bytes 5-1/10",
            "bytes 0-10/10",
            "bytes */10",
            "items 0-1/2",
            "bytes 0-1",
        ] {
            assert_eq!(content_range(&h(&[("content-range", bad)])), None, "{bad}");
        }
        let a = Version::of(&h(&[("etag", "\"a\"")]), 10);
        assert_eq!(a, Version::of(&h(&[("etag", "\"a\""), ("last-modified", "x")]), 10));
        assert_ne!(a, Version::of(&h(&[("etag", "\"b\"")]), 10));
        assert_ne!(a, Version::of(&h(&[("etag", "\"a\"")]), 11));
        assert_eq!(
            Version::of(&h(&[("etag", "W/\"a\""), ("last-modified", "x")]), 1).validator,
            Some(b"x".to_vec())
        );
        let key = CacheKey::new(
            "a.test",
            "/big?x=1",
            &crate::head::Fields::new(),
            &CacheKeyOptions::default(),
        );
        let k = slice_key(&key, 7);
        assert_eq!((k.host(), k.path_and_query()), ("a.test", "/big?x=1"));
        assert_ne!(k, slice_key(&key, 8));
    }
}
