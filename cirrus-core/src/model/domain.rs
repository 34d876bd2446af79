//! `DomainConf`: everything the edge needs to serve one customer domain.
//! Stored as JSON under `cdn:dom:{domain}`; the same JSON is the API body.

use super::validate::{ValidationErrors, is_header_name, is_header_value, normalize_domain, normalize_host};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Longest TTL a rule or policy may set: one year, in seconds.
pub const MAX_TTL_SECS: u64 = 365 * 24 * 3600;
// The OpenAPI schema writes this bound as a literal (utoipa takes no
// constant there): keep the two the same.
const _: () = assert!(MAX_TTL_SECS == 31_536_000);

/// Configuration of one customer domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DomainConf {
    /// The customer's host name, normalized (lowercase ASCII, IDNA). In
    /// the API it may be left out of a body (the path names it); when
    /// present it must name the same domain.
    pub domain: String,
    /// A disabled domain is kept but not served.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Origin servers; at least one that is not a backup.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 64))]
    pub origins: Vec<Origin>,
    /// Cache policy.
    #[serde(default)]
    pub cache: CachePolicy,
    /// Cache large objects in slices of this many bytes (range requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 65536, maximum = 1073741824))]
    pub slice_size: Option<u64>,
    /// TLS settings.
    #[serde(default)]
    pub tls: TlsPolicy,
    /// Number of edge nodes that serve this domain (overrides the DNS default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 16))]
    pub replicas: Option<u16>,
    /// Edits applied to requests sent to the origin.
    #[serde(default, skip_serializing_if = "HeaderEdits::is_empty")]
    pub request_headers: HeaderEdits,
    /// Edits applied to responses sent to clients.
    #[serde(default, skip_serializing_if = "HeaderEdits::is_empty")]
    pub response_headers: HeaderEdits,
}

fn yes() -> bool {
    true
}

impl DomainConf {
    /// A minimal configuration: one origin, default policies.
    pub fn new(domain: impl Into<String>, origin: Origin) -> Self {
        Self {
            domain: domain.into(),
            enabled: true,
            origins: vec![origin],
            cache: CachePolicy::default(),
            slice_size: None,
            tls: TlsPolicy::default(),
            replicas: None,
            request_headers: HeaderEdits::default(),
            response_headers: HeaderEdits::default(),
        }
    }

    /// Frees the spare capacity decoding leaves in its lists (a list of
    /// one origin decoded from JSON holds room for four). For a holder of
    /// many configurations, as an edge is: about a quarter of a decoded
    /// domain's memory.
    pub fn shrink_to_fit(&mut self) {
        self.origins.shrink_to_fit();
        self.cache.rules.shrink_to_fit();
        self.cache.key.headers.shrink_to_fit();
        self.cache.tag_headers.shrink_to_fit();
        self.request_headers.remove.shrink_to_fit();
        self.response_headers.remove.shrink_to_fit();
    }

    /// Normalizes names (domain, origin hosts) and checks every field,
    /// returning all problems at once.
    pub fn validated(mut self) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        match normalize_domain(&self.domain) {
            Ok(d) => self.domain = d,
            Err(reason) => errs.push("domain", reason),
        }
        if self.origins.is_empty() {
            errs.push("origins", "must list at least one origin");
        } else if self.origins.len() > 64 {
            errs.push("origins", "must list at most 64 origins");
        } else if self.origins.iter().all(|o| o.backup) {
            errs.push("origins", "must include at least one origin that is not a backup");
        }
        for (i, origin) in self.origins.iter_mut().enumerate() {
            origin.validate(&format!("origins[{i}]"), &mut errs);
        }
        self.cache.validate(&mut errs);
        if let Some(size) = self.slice_size
            && !(64 * 1024..=1024 * 1024 * 1024).contains(&size)
        {
            errs.push("slice_size", "must be between 65536 and 1073741824 bytes");
        }
        self.tls.validate(&mut errs);
        if let Some(r) = self.replicas
            && !(1..=16).contains(&r)
        {
            errs.push("replicas", "must be 1-16");
        }
        self.request_headers.validate("request_headers", &mut errs);
        self.response_headers.validate("response_headers", &mut errs);
        errs.into_result(self)
    }
}

/// Protocol used to reach an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The port used when an origin names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// One origin server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Origin {
    /// `http` or `https`.
    #[serde(default)]
    pub scheme: Scheme,
    /// Host name or IP address.
    pub host: String,
    /// Port; the scheme's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 65535))]
    pub port: Option<u16>,
    /// Relative share of traffic among origins of the same kind (1-1000).
    #[serde(default = "one")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub weight: u32,
    /// Used only when every primary origin is failing.
    #[serde(default)]
    pub backup: bool,
    /// `Host` header sent to the origin (default: the client's Host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header: Option<String>,
    /// TLS server name sent to an HTTPS origin (default: `host_header`, then `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
}

fn one() -> u32 {
    1
}

impl Origin {
    /// An origin with default weight and no overrides.
    pub fn new(scheme: Scheme, host: impl Into<String>, port: Option<u16>) -> Self {
        Self {
            scheme,
            host: host.into(),
            port,
            weight: 1,
            backup: false,
            host_header: None,
            sni: None,
        }
    }

    /// Port to connect to.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.scheme.default_port())
    }

    fn validate(&mut self, at: &str, errs: &mut ValidationErrors) {
        let host = self.host.trim().trim_start_matches('[').trim_end_matches(']');
        if host.parse::<std::net::IpAddr>().is_ok() {
            self.host = host.to_string();
        } else {
            match normalize_host(host) {
                Ok(h) => self.host = h,
                Err(reason) => errs.push(format!("{at}.host"), reason),
            }
        }
        if self.port == Some(0) {
            errs.push(format!("{at}.port"), "must be 1-65535");
        }
        if !(1..=1000).contains(&self.weight) {
            errs.push(format!("{at}.weight"), "must be 1-1000");
        }
        for (field, value) in [("host_header", &mut self.host_header), ("sni", &mut self.sni)] {
            if let Some(v) = value {
                match normalize_host(v) {
                    Ok(h) => *v = h,
                    Err(reason) => errs.push(format!("{at}.{field}"), reason),
                }
            }
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.effective_port())
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.effective_port())
        }
    }
}

/// Parses `http://host[:port]` or `https://host[:port]` (IPv6 in brackets).
impl FromStr for Origin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = if let Some(rest) = s.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = s.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(format!("origin {s:?} must start with http:// or https://"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(format!("origin {s:?} must not have a path"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("origin {s:?}: unclosed '['"))?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("origin {s:?}: port must be 1-65535"))
            })
            .transpose()?;
        if host.is_empty() {
            return Err(format!("origin {s:?} has no host"));
        }
        Ok(Origin::new(scheme, host, port))
    }
}

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
    fn validate(&self, errs: &mut ValidationErrors) {
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

/// Where the certificate of a domain comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TlsMode {
    /// HTTP only.
    #[default]
    None,
    /// Issued and renewed by Cirrus through ACME DNS-01.
    Acme,
    /// Uploaded by the customer.
    Manual,
}

/// TLS settings of a domain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TlsPolicy {
    /// Certificate source.
    #[serde(default)]
    pub mode: TlsMode,
    /// Redirect plain HTTP to HTTPS.
    #[serde(default)]
    pub force_https: bool,
    /// `Strict-Transport-Security` sent on HTTPS responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts: Option<Hsts>,
}

impl TlsPolicy {
    fn validate(&self, errs: &mut ValidationErrors) {
        if self.mode == TlsMode::None {
            if self.force_https {
                errs.push("tls.force_https", "needs tls.mode acme or manual");
            }
            if self.hsts.is_some() {
                errs.push("tls.hsts", "needs tls.mode acme or manual");
            }
        }
        if let Some(h) = &self.hsts
            && h.max_age > 2 * MAX_TTL_SECS
        {
            errs.push("tls.hsts.max_age", "must be at most 63072000 seconds");
        }
    }
}

/// HTTP Strict Transport Security settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    /// `max-age` in seconds.
    #[cfg_attr(feature = "openapi", schema(maximum = 63072000))]
    pub max_age: u64,
    /// Adds `includeSubDomains`.
    #[serde(default)]
    pub include_subdomains: bool,
    /// Adds `preload`.
    #[serde(default)]
    pub preload: bool,
}

/// Header edits: headers set (replacing), then headers removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeaderEdits {
    /// Headers set, replacing any value present.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Headers removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// Headers that frame the message or the connection: not editable.
const PROTECTED_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl HeaderEdits {
    /// True when nothing is edited.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    fn validate(&self, at: &str, errs: &mut ValidationErrors) {
        if self.set.len() + self.remove.len() > 50 {
            errs.push(at, "must have at most 50 edits");
        }
        let check = |name: &str, field: String, errs: &mut ValidationErrors| {
            if !is_header_name(name) {
                errs.push(field, "must be a valid header name");
            } else if PROTECTED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                errs.push(field, "this header frames the message and cannot be edited");
            }
        };
        for (name, value) in &self.set {
            check(name, format!("{at}.set.{name}"), errs);
            if !is_header_value(value) {
                errs.push(format!("{at}.set.{name}"), "value must not contain control characters");
            }
        }
        for (i, name) in self.remove.iter().enumerate() {
            check(name, format!("{at}.remove[{i}]"), errs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> DomainConf {
        DomainConf::new("Example.COM", "https://1.2.3.4".parse().expect("origin"))
    }

    #[test]
    fn minimal_json_gets_defaults() {
        let c: DomainConf =
            serde_json::from_str(r#"{"domain":"example.com","origins":[{"host":"1.2.3.4"}]}"#).expect("parse");
        let c = c.validated().expect("valid");
        assert!(c.enabled && c.cache.enabled);
        assert_eq!(c.origins[0].effective_port(), 80);
        assert_eq!(c.origins[0].weight, 1);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<DomainConf, _> = serde_json::from_str(r#"{"domain":"example.com","origins":[],"colour":"blue"}"#);
        assert!(r.is_err());
    }

    #[test]
    fn validation_reports_every_field() {
        let mut c = conf();
        c.origins.push(Origin::new(Scheme::Http, "bad host", Some(0)));
        c.replicas = Some(0);
        c.tls.force_https = true;
        c.cache.rules.push(CacheRule {
            matcher: PathMatch::Extension(".css".into()),
            ttl: None,
            bypass: false,
        });
        c.cache.rules.push(CacheRule {
            matcher: PathMatch::Glob("/**".repeat(17)),
            ttl: None,
            bypass: false,
        });
        c.response_headers.set.insert("Content-Length".into(), "1".into());
        let errs = c.validated().expect_err("invalid");
        let fields: Vec<_> = errs.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "origins[1].host",
                "origins[1].port",
                "cache.rules[0].match.extension",
                "cache.rules[1].match.glob",
                "tls.force_https",
                "replicas",
                "response_headers.set.Content-Length"
            ]
        );
        assert!(errs.to_string().contains("origins[1].port: must be 1-65535"));
    }

    #[test]
    fn validation_normalizes_names() {
        let c = conf().validated().expect("valid");
        assert_eq!(c.domain, "example.com");
        assert_eq!(c.origins[0].host, "1.2.3.4");
    }

    #[test]
    fn origin_urls_parse() {
        let o: Origin = "https://[2001:db8::1]:8443".parse().expect("v6");
        assert_eq!(
            (o.scheme, o.host.as_str(), o.port),
            (Scheme::Https, "2001:db8::1", Some(8443))
        );
        assert_eq!(o.to_string(), "https://[2001:db8::1]:8443");
        assert!("ftp://x".parse::<Origin>().is_err());
        assert!("http://x:99999".parse::<Origin>().is_err());
        assert!("http://x/path".parse::<Origin>().is_err());
    }

    #[test]
    fn json_round_trips() {
        let mut c = conf().validated().expect("valid");
        c.cache.rules.push(CacheRule {
            matcher: PathMatch::Prefix("/static/".into()),
            ttl: Some(600),
            bypass: false,
        });
        c.tls = TlsPolicy {
            mode: TlsMode::Acme,
            force_https: true,
            hsts: Some(Hsts {
                max_age: 3600,
                include_subdomains: true,
                preload: false,
            }),
        };
        let json = serde_json::to_string(&c).expect("json");
        assert!(json.contains(r#""match":{"prefix":"/static/"}"#), "{json}");
        let back: DomainConf = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, c);
    }
}
