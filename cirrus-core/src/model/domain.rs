//! `DomainConf`: everything the edge needs to serve one customer domain.
//! Stored as JSON under `cdn:dom:{domain}`; the same JSON is the API body.

pub use super::cache_policy::{CacheKeyOptions, CachePolicy, CacheRule, DEFAULT_TAG_HEADERS, PathMatch, QueryKey};
pub use super::origin::{Origin, Scheme};
pub use super::shield::{MAX_SHIELD_NODES, ShieldMode, ShieldPolicy};
use super::validate::{ValidationErrors, is_header_name, is_header_value, normalize_domain};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Whether the edges shield each other for this domain (off by default).
    #[serde(default, skip_serializing_if = "ShieldPolicy::is_off")]
    pub shield: ShieldPolicy,
}

pub(super) fn yes() -> bool {
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
            shield: ShieldPolicy::default(),
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
        self.shield.nodes.shrink_to_fit();
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
        self.shield.validate(&mut errs);
        errs.into_result(self)
    }
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
