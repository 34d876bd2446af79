//! A domain's cache policy: TTLs, rules by path, the cache key, stale
//! serving, tags, compression.

use super::domain::{MAX_TTL_SECS, yes};
use super::validate::{ValidationErrors, is_header_name};
use serde::{Deserialize, Serialize};

/// How responses of a domain are cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CachePolicy {
    /// When false nothing of this domain is cached.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// TTL (seconds) for cacheable responses that carry no freshness
    /// information of their own. `None`: such responses are not cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 31536000))]
    pub default_ttl: Option<u64>,
    /// Rules, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub rules: Vec<CacheRule>,
    /// What goes into the cache key.
    #[serde(default)]
    pub key: CacheKeyOptions,
    /// A targeted cache-control field of this domain's own (RFC 9213),
    /// e.g. `Example-CDN-Cache-Control`: when a response carries it, the
    /// edge reads its directives instead of `CDN-Cache-Control` and
    /// `Cache-Control`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeted_field: Option<String>,
    /// Seconds a stale response may be served while it is refreshed in
    /// the background, for responses without a `stale-while-revalidate`
    /// directive of their own (RFC 5861). `None`: not at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 31536000))]
    pub stale_while_revalidate: Option<u64>,
    /// Seconds a stale response may be served when the origin fails
    /// (error, timeout, 5xx, marked down), for responses without a
    /// `stale-if-error` directive of their own (RFC 5861). `None`: not at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 31536000))]
    pub stale_if_error: Option<u64>,
    /// Response fields whose values are the response's tags (surrogate
    /// keys) for purges: space or comma separated, at most 1,024 bytes a
    /// tag and 16 KiB a field; extra tags are ignored and counted.
    #[serde(default = "default_tag_headers", skip_serializing_if = "is_default_tag_headers")]
    #[cfg_attr(feature = "openapi", schema(max_items = 8))]
    pub tag_headers: Vec<String>,
    /// Compress stored text-like responses (gzip, brotli) for clients that
    /// accept it, when the origin did not (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub compress: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

/// The tag fields a domain reads unless it names others.
pub const DEFAULT_TAG_HEADERS: [&str; 2] = ["Surrogate-Key", "Cache-Tag"];

fn default_tag_headers() -> Vec<String> {
    DEFAULT_TAG_HEADERS.map(String::from).to_vec()
}

fn is_default_tag_headers(names: &[String]) -> bool {
    names.len() == DEFAULT_TAG_HEADERS.len()
        && names
            .iter()
            .zip(DEFAULT_TAG_HEADERS)
            .all(|(n, d)| n.eq_ignore_ascii_case(d))
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            default_ttl: None,
            rules: Vec::new(),
            key: CacheKeyOptions::default(),
            targeted_field: None,
            stale_while_revalidate: None,
            stale_if_error: None,
            tag_headers: default_tag_headers(),
            compress: true,
        }
    }
}

impl CachePolicy {
    pub(super) fn validate(&self, errs: &mut ValidationErrors) {
        if self.default_ttl.is_some_and(|t| t > MAX_TTL_SECS) {
            errs.push("cache.default_ttl", format!("must be at most {MAX_TTL_SECS} seconds"));
        }
        for (field, value) in [
            ("cache.stale_while_revalidate", self.stale_while_revalidate),
            ("cache.stale_if_error", self.stale_if_error),
        ] {
            if value.is_some_and(|t| t > MAX_TTL_SECS) {
                errs.push(field, format!("must be at most {MAX_TTL_SECS} seconds"));
            }
        }
        if self.rules.len() > 100 {
            errs.push("cache.rules", "must list at most 100 rules");
        }
        for (i, rule) in self.rules.iter().enumerate() {
            rule.validate(&format!("cache.rules[{i}]"), errs);
        }
        if self.key.headers.len() > 8 {
            errs.push("cache.key.headers", "must list at most 8 headers");
        }
        for (i, h) in self.key.headers.iter().enumerate() {
            if !is_header_name(h) {
                errs.push(format!("cache.key.headers[{i}]"), "must be a valid header name");
            }
        }
        if self.tag_headers.len() > 8 {
            errs.push("cache.tag_headers", "must list at most 8 headers");
        }
        for (i, h) in self.tag_headers.iter().enumerate() {
            if !is_header_name(h) {
                errs.push(format!("cache.tag_headers[{i}]"), "must be a valid header name");
            }
        }
        if let Some(field) = &self.targeted_field {
            let lower = field.to_ascii_lowercase();
            if !is_header_name(field) || lower == "cache-control" || lower == "cdn-cache-control" {
                errs.push(
                    "cache.targeted_field",
                    "must be a header name other than Cache-Control and CDN-Cache-Control",
                );
            }
        }
    }
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PathMatch {
    /// Paths starting with this prefix (`/static/`).
    Prefix(String),
    /// Paths matching a glob: `*` matches within a segment, `**` across
    /// segments; at most [`MAX_GLOB_LEN`](crate::model::MAX_GLOB_LEN) bytes and
    /// [`MAX_GLOB_WILDCARDS`](crate::model::MAX_GLOB_WILDCARDS) wildcards.
    Glob(String),
    /// Paths whose last segment ends in `.{extension}` (without the dot).
    Extension(String),
}

impl PathMatch {
    /// True when `path` (without its query string) is one this match
    /// selects. Globs match in time linear in the path.
    ///
    /// ```
    /// use cirrus_core::model::PathMatch;
    /// assert!(PathMatch::Glob("/img/*/thumb-*.png".into()).matches("/img/a/thumb-1.png"));
    /// assert!(!PathMatch::Glob("/img/*.png".into()).matches("/img/a/b.png"));
    /// assert!(PathMatch::Extension("CSS".into()).matches("/a/site.css"));
    /// ```
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Glob(g) => super::glob::glob_matches(g, path),
            PathMatch::Extension(e) => {
                let last = path.rsplit('/').next().unwrap_or("");
                last.rsplit_once('.')
                    .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case(e))
            }
        }
    }
}

/// A cache rule: a path match and what to do with matching responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CacheRule {
    /// The paths it applies to.
    #[serde(rename = "match")]
    pub matcher: PathMatch,
    /// TTL in seconds that overrides the origin's freshness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// Never cache matching requests.
    #[serde(default)]
    pub bypass: bool,
}

impl CacheRule {
    fn validate(&self, at: &str, errs: &mut ValidationErrors) {
        match &self.matcher {
            PathMatch::Prefix(p) | PathMatch::Glob(p) => {
                if let Some(problem) = super::validate::path_problem(p, 1024) {
                    errs.push(format!("{at}.match"), problem);
                } else if let Some(problem) = matches!(self.matcher, PathMatch::Glob(_))
                    .then(|| super::glob::glob_problem(p))
                    .flatten()
                {
                    errs.push(format!("{at}.match.glob"), problem);
                }
            }
            PathMatch::Extension(e) => {
                if e.is_empty() || e.len() > 16 || !e.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    errs.push(
                        format!("{at}.match.extension"),
                        "must be 1-16 letters or digits, without the dot",
                    );
                }
            }
        }
        if self.ttl.is_some_and(|t| t > MAX_TTL_SECS) {
            errs.push(format!("{at}.ttl"), format!("must be at most {MAX_TTL_SECS} seconds"));
        }
        if self.bypass && self.ttl.is_some() {
            errs.push(format!("{at}.ttl"), "must not be set on a bypass rule");
        }
    }
}

/// What the query string contributes to the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum QueryKey {
    /// The query string as sent.
    #[default]
    Include,
    /// Not part of the key.
    Ignore,
    /// Parameters sorted, so `?b=1&a=2` and `?a=2&b=1` share an entry.
    Sort,
}

/// Cache key options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CacheKeyOptions {
    /// Query string handling.
    #[serde(default)]
    pub query: QueryKey,
    /// Request headers whose values are part of the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 8))]
    pub headers: Vec<String>,
}
