//! Purge requests as published on `cdn:purge`. Besides the full form, the
//! seed's `{"domain": .., "path": ..}` is accepted: a path ending in `*` is
//! a prefix, any other path is exact.

use super::validate::{ValidationErrors, normalize_domain, path_problem};
use serde::{Deserialize, Serialize};

/// The longest tag (surrogate key) a purge names and an edge keeps, in bytes.
pub const MAX_TAG_LEN: usize = 1024;

/// Longest URL path (with its query) or prefix a purge may name, in bytes:
/// the edge reads request heads of at most 8 KiB.
const MAX_PATH_LEN: usize = 8192;

/// What to drop from the caches of one domain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(from = "WirePurge")]
pub struct PurgeRequest {
    /// Purge id, for tracking acknowledgements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The domain whose cache is purged.
    pub domain: String,
    /// Exact paths (with query string, if any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Path prefixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Surrogate keys (tags) set by the origin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Everything cached for the domain.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Soft purge: what is selected is marked stale instead of dropped, so
    /// the next request revalidates it with the origin, and it may be
    /// served stale meanwhile as its policy allows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub soft: bool,
}

#[derive(Deserialize)]
struct WirePurge {
    #[serde(default)]
    id: Option<String>,
    domain: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    soft: bool,
    #[serde(default)]
    path: Option<String>,
}

impl From<WirePurge> for PurgeRequest {
    fn from(w: WirePurge) -> Self {
        let mut p = PurgeRequest {
            id: w.id,
            domain: w.domain,
            urls: w.urls,
            prefixes: w.prefixes,
            tags: w.tags,
            all: w.all,
            soft: w.soft,
        };
        if let Some(path) = w.path {
            match path.strip_suffix('*') {
                Some(prefix) => p.prefixes.push(prefix.to_string()),
                None => p.urls.push(path),
            }
        }
        p
    }
}

impl PurgeRequest {
    /// Purges everything of `domain`.
    pub fn all(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            all: true,
            ..Self::default()
        }
    }

    /// Purges exact paths of `domain`.
    pub fn urls(domain: impl Into<String>, urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            domain: domain.into(),
            urls: urls.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Purges path prefixes of `domain`.
    pub fn prefixes(domain: impl Into<String>, prefixes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            domain: domain.into(),
            prefixes: prefixes.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The same selection as a soft purge (mark stale, do not drop).
    pub fn soft(mut self) -> Self {
        self.soft = true;
        self
    }

    /// Normalizes the domain and checks that something is selected.
    pub fn validated(mut self) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        match normalize_domain(&self.domain) {
            Ok(d) => self.domain = d,
            Err(reason) => errs.push("domain", reason),
        }
        if !self.all && self.urls.is_empty() && self.prefixes.is_empty() && self.tags.is_empty() {
            errs.push("all", "select urls, prefixes, tags, or all");
        }
        if self.urls.len() + self.prefixes.len() + self.tags.len() > 1000 {
            errs.push("urls", "at most 1000 selectors per request");
        }
        for (field, list) in [("urls", &self.urls), ("prefixes", &self.prefixes)] {
            for (i, p) in list.iter().enumerate() {
                if let Some(problem) = path_problem(p, MAX_PATH_LEN) {
                    errs.push(format!("{field}[{i}]"), problem);
                }
            }
        }
        for (i, t) in self.tags.iter().enumerate() {
            if t.is_empty()
                || t.len() > MAX_TAG_LEN
                || t.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b',')
            {
                errs.push(
                    format!("tags[{i}]"),
                    format!("must be 1-{MAX_TAG_LEN} bytes, without spaces, commas or control characters"),
                );
            }
        }
        errs.into_result(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_payload_is_understood() {
        let p: PurgeRequest = serde_json::from_str(r#"{"domain":"a.com","path":"/img/*"}"#).expect("parse");
        assert_eq!(p.prefixes, ["/img/"]);
        let p: PurgeRequest = serde_json::from_str(r#"{"domain":"a.com","path":"/x.css"}"#).expect("parse");
        assert_eq!(p.urls, ["/x.css"]);
    }

    #[test]
    fn empty_selection_is_refused() {
        let p = PurgeRequest {
            domain: "a.com".into(),
            ..Default::default()
        };
        assert_eq!(p.validated().expect_err("empty").errors[0].field, "all");
        assert!(PurgeRequest::all("A.com").validated().is_ok());
    }

    #[test]
    fn round_trip() {
        let p = PurgeRequest::prefixes("a.com", ["/a/"]);
        let back: PurgeRequest = serde_json::from_str(&serde_json::to_string(&p).expect("json")).expect("parse");
        assert_eq!(back, p);
    }
}
