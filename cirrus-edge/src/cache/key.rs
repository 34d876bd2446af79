//! Cache keys: what identifies a stored response. Only what the key says
//! selects a response, so an unkeyed header can never change what a HIT
//! returns (cache poisoning). The memory tier hashes the key's text with
//! its own keyed hasher; the key's SHA-256, computed only when asked for,
//! names the disk tier's files, never the URL itself.

use crate::head::Fields;
use cirrus_core::model::{CacheKeyOptions, QueryKey};
use sha2::{Digest, Sha256};
use std::fmt;

/// The key of one cacheable resource: host, path, the query string as the
/// domain's options say, and the values of the keyed request headers.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    text: String,
}

impl CacheKey {
    /// Builds the key of a request for `host` and `path_and_query`.
    pub fn new(host: &str, path_and_query: &str, headers: &Fields, options: &CacheKeyOptions) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let mut text = String::with_capacity(host.len() + path_and_query.len() + 16);
        text.push_str(host);
        text.push('\n');
        text.push_str(path);
        match (options.query, query) {
            (QueryKey::Ignore, _) | (_, None) => {}
            (QueryKey::Sort, Some(q)) => {
                let mut params: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
                params.sort_unstable();
                text.push('?');
                text.push_str(&params.join("&"));
            }
            (_, Some(q)) => {
                text.push('?');
                text.push_str(q);
            }
        }
        for name in &options.headers {
            text.push('\n');
            text.push_str(&name.to_ascii_lowercase());
            text.push(':');
            push_values(&mut text, headers, name);
        }
        Self { text }
    }

    /// True when no request header is part of the key (so the key alone
    /// names every stored response of the resource unless it has `Vary`).
    pub(crate) fn is_resource_only(&self) -> bool {
        self.text.matches('\n').count() <= 1
    }

    /// The key of one variant of this resource: the request's values of the
    /// response's `Vary` headers appended.
    pub fn variant(&self, vary: &[String], headers: &Fields) -> Self {
        let mut text = self.text.clone();
        for name in vary {
            text.push_str("\nvary:");
            text.push_str(name);
            text.push('=');
            push_values(&mut text, headers, name);
        }
        Self { text }
    }

    /// A key from its text (as written by [`CacheKey::text`]).
    pub(crate) fn from_text(text: String) -> Self {
        Self { text }
    }

    /// The key's text: host, path and query, keyed headers, one per line.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The host the key belongs to (for purges of a whole domain).
    pub fn host(&self) -> &str {
        self.text.split('\n').next().unwrap_or("")
    }

    /// The path, without query string (for prefix purges).
    pub fn path(&self) -> &str {
        let pq = self.path_and_query();
        pq.bytes().position(|b| b == b'?').map_or(pq, |at| &pq[..at])
    }

    /// The path with the keyed query string (for exact-URL purges).
    pub fn path_and_query(&self) -> &str {
        // Byte scans: the lines are split at ASCII newlines, and the path
        // is read a few times per request.
        let Some(start) = self.text.bytes().position(|b| b == b'\n') else {
            return "";
        };
        let rest = &self.text[start + 1..];
        rest.bytes().position(|b| b == b'\n').map_or(rest, |end| &rest[..end])
    }

    /// Lowercase hex SHA-256 of the key: the disk tier's file name.
    pub fn hex(&self) -> String {
        cirrus_core::auth::hex(&Sha256::digest(self.text.as_bytes()))
    }
}

/// Appends the values of every `name` field, comma-separated.
fn push_values(text: &mut String, headers: &Fields, name: &str) {
    for (i, v) in headers.get_all(name).enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&String::from_utf8_lossy(v));
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheKey").field(&self.text).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::fields;

    fn key(pq: &str, headers: &Fields, query: QueryKey, keyed: &[&str]) -> CacheKey {
        let options = CacheKeyOptions {
            query,
            headers: keyed.iter().map(|h| h.to_string()).collect(),
        };
        CacheKey::new("example.com", pq, headers, &options)
    }

    #[test]
    fn query_options() {
        let h = Fields::new();
        let inc = |pq| key(pq, &h, QueryKey::Include, &[]);
        assert_ne!(inc("/a?x=1&y=2"), inc("/a?y=2&x=1"));
        let sort = |pq| key(pq, &h, QueryKey::Sort, &[]);
        assert_eq!(sort("/a?x=1&y=2"), sort("/a?y=2&x=1"));
        assert_ne!(sort("/a?x=1"), sort("/a?x=2"));
        let ign = |pq| key(pq, &h, QueryKey::Ignore, &[]);
        assert_eq!(ign("/a?utm=1"), ign("/a"));
        assert_eq!((inc("/a?x=1").path(), inc("/a?x=1").path_and_query()), ("/a", "/a?x=1"));
        assert_eq!(inc("/a").host(), "example.com");
    }

    #[test]
    fn only_keyed_headers_change_the_key() {
        let a = fields(&[("accept-language", "fr"), ("x-forwarded-host", "evil.example")]);
        let b = fields(&[("accept-language", "de")]);
        let none = Fields::new();
        assert_eq!(
            key("/", &a, QueryKey::Include, &[]),
            key("/", &none, QueryKey::Include, &[]),
            "unkeyed headers ignored"
        );
        let keyed = |h| key("/", h, QueryKey::Include, &["Accept-Language"]);
        assert_ne!(keyed(&a), keyed(&b));
        assert_eq!(keyed(&a).hex().len(), 64);
        assert_eq!(
            CacheKey::from_text("abc".into()).hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "SHA-256 of the text (FIPS 180-2's example)"
        );
        assert!(keyed(&a).hex().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
