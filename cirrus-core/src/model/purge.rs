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

/// What to purge from one domain's caches: the body of
/// `POST /api/v1/domains/{domain}/purge` (unknown fields refused), and the
/// selection of every purge published to the edges.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PurgeSelection {
    /// Exact paths, query string included.
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
    /// Mark stale instead of dropping: the next request revalidates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub soft: bool,
}

/// A purge of one domain's caches, as published on `cdn:purge`: its id
/// (for acknowledgements), its domain and its [`PurgeSelection`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(from = "WirePurge")]
pub struct PurgeRequest {
    /// Purge id, for tracking acknowledgements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The domain whose cache is purged.
    pub domain: String,
    /// What is purged.
    #[serde(flatten)]
    pub selection: PurgeSelection,
}

/// A purge as read from the channel: the full form, plus the seed's
/// `path`; fields it does not know (the store's `rev` and `at`, other
/// producers' own) are ignored, not refused, so no purge is lost.
#[derive(Deserialize)]
struct WirePurge {
    #[serde(default)]
    id: Option<String>,
    domain: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(flatten)]
    selection: PurgeSelection,
}

impl From<WirePurge> for PurgeRequest {
    fn from(w: WirePurge) -> Self {
        let mut p = PurgeRequest {
            id: w.id,
            domain: w.domain,
            selection: w.selection,
        };
        if let Some(path) = w.path {
            match path.strip_suffix('*') {
                Some(prefix) => p.selection.prefixes.push(prefix.to_string()),
                None => p.selection.urls.push(path),
            }
        }
        p
    }
}

impl PurgeRequest {
    /// Purges everything of `domain`.
    pub fn all(domain: impl Into<String>) -> Self {
        Self::of(
            domain,
            PurgeSelection {
                all: true,
                ..PurgeSelection::default()
            },
        )
    }

    /// Purges `selection` of `domain`.
    pub fn of(domain: impl Into<String>, selection: PurgeSelection) -> Self {
        Self {
            id: None,
            domain: domain.into(),
            selection,
        }
    }

    /// Purges exact paths of `domain`.
    pub fn urls(domain: impl Into<String>, urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::of(
            domain,
            PurgeSelection {
                urls: urls.into_iter().map(Into::into).collect(),
                ..PurgeSelection::default()
            },
        )
    }

    /// Purges path prefixes of `domain`.
    pub fn prefixes(domain: impl Into<String>, prefixes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::of(
            domain,
            PurgeSelection {
                prefixes: prefixes.into_iter().map(Into::into).collect(),
                ..PurgeSelection::default()
            },
        )
    }

    /// Purges the objects tagged with any of `tags` (surrogate keys).
    pub fn tags(domain: impl Into<String>, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::of(
            domain,
            PurgeSelection {
                tags: tags.into_iter().map(Into::into).collect(),
                ..PurgeSelection::default()
            },
        )
    }

    /// The same selection as a soft purge (mark stale, do not drop).
    pub fn soft(mut self) -> Self {
        self.selection.soft = true;
        self
    }

    /// Normalizes the domain and checks that something is selected.
    pub fn validated(mut self) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        match normalize_domain(&self.domain) {
            Ok(d) => self.domain = d,
            Err(reason) => errs.push("domain", reason),
        }
        let sel = &self.selection;
        if !sel.all && sel.urls.is_empty() && sel.prefixes.is_empty() && sel.tags.is_empty() {
            errs.push("all", "select urls, prefixes, tags, or all");
        }
        if sel.urls.len() + sel.prefixes.len() + sel.tags.len() > 1000 {
            errs.push("urls", "at most 1000 selectors per request");
        }
        for (field, list) in [("urls", &sel.urls), ("prefixes", &sel.prefixes)] {
            for (i, p) in list.iter().enumerate() {
                if let Some(problem) = path_problem(p, MAX_PATH_LEN) {
                    errs.push(format!("{field}[{i}]"), problem);
                }
            }
        }
        for (i, t) in sel.tags.iter().enumerate() {
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
        assert_eq!(p.selection.prefixes, ["/img/"]);
        let p: PurgeRequest = serde_json::from_str(r#"{"domain":"a.com","path":"/x.css"}"#).expect("parse");
        assert_eq!(p.selection.urls, ["/x.css"]);
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

    #[test]
    fn the_channel_ignores_fields_it_does_not_know_and_the_api_refuses_them() {
        let wire = r#"{"rev":7,"at":1,"domain":"a.com","tags":["t"],"soft":true,"producer":"x"}"#;
        let p: PurgeRequest = serde_json::from_str(wire).expect("a purge, whatever else it carries");
        assert_eq!(
            (p.selection.tags.as_slice(), p.selection.soft),
            (["t".to_string()].as_slice(), true)
        );
        let body = serde_json::from_str::<PurgeSelection>(r#"{"tags":["t"],"tag":"typo"}"#);
        assert!(body.is_err(), "an API body with an unknown field is refused");
        // On the channel the selection's fields sit beside the domain.
        let json = serde_json::to_value(PurgeRequest::tags("a.com", ["t"])).expect("json");
        assert_eq!(json, serde_json::json!({"domain": "a.com", "tags": ["t"]}));
    }
}
