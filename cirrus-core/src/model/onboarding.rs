//! What a customer must set in their own DNS to use Cirrus, and whether it
//! is in place: the CNAME of the domain to its target name under the CDN's
//! zone, and the CNAME of `_acme-challenge.<domain>` for DNS-01.

use super::api::CertificateStatus;
use super::convergence::EdgeConvergence;
use super::domain::DomainConf;
use serde::{Deserialize, Serialize};

/// Characters of a domain kept readable in its target label.
const READABLE: usize = 40;

/// The first label of a domain's target name (frozen, see `docs/dns.md`):
/// the lowercased domain with every character other than a letter or digit
/// turned into `-` (at most 40, trailing dashes dropped), a dash, and the
/// 16 hex digits of [`stable_hash`](crate::stable_hash) of the domain.
/// A label never has `--` in its third and fourth characters (the form
/// RFC 5891 reserves): `xn--bcher-kva.example` → `xn-bcher-kva-example-…`.
///
/// ```
/// let label = cirrus_core::model::target_label("www.example.com");
/// assert!(label.starts_with("www-example-com-"));
/// assert_eq!(label.len(), "www-example-com-".len() + 16);
/// ```
pub fn target_label(domain: &str) -> String {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut readable: String = domain
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(READABLE)
        .collect();
    readable.truncate(readable.trim_end_matches('-').len());
    let label = format!("{readable}-{:016x}", crate::stable_hash(domain.as_bytes()));
    let mut label = label.trim_start_matches('-').to_string();
    // `??--` is reserved for IDNA's `xn--` and future prefixes (RFC 5891
    // §4.2.3.1): an A-label domain (`xn--bcher-kva.example`) must not lend
    // its prefix to a label that is not punycode. Only labels a zone could
    // never hold change; every other label stays frozen.
    while label.get(2..4) == Some("--") {
        label.remove(3);
    }
    label
}

/// One CNAME record the customer sets in their zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delegation {
    /// The customer's name (the record's owner), without a trailing dot.
    pub name: String,
    /// Where it must point (the CNAME's target), without a trailing dot.
    pub target: String,
}

/// The records a customer sets for a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainDns {
    /// `<domain> CNAME <target name>`: sends the domain's traffic to the
    /// edges the CDN's DNS picks for it.
    pub cname: Delegation,
    /// `_acme-challenge.<domain> CNAME _acme-challenge.<target name>`: lets
    /// Cirrus answer DNS-01 challenges for the domain's certificates.
    pub acme_challenge: Delegation,
}

impl DomainDns {
    /// The records for `domain` under the CDN's `zone` (`CNAME_BASE_DOMAIN`).
    ///
    /// ```
    /// use cirrus_core::model::DomainDns;
    /// let dns = DomainDns::for_domain("www.example.com", "cdn.example.net.");
    /// assert!(dns.cname.target.ends_with(".cdn.example.net"));
    /// assert_eq!(dns.acme_challenge.name, "_acme-challenge.www.example.com");
    /// assert_eq!(dns.acme_challenge.target, format!("_acme-challenge.{}", dns.cname.target));
    /// ```
    pub fn for_domain(domain: &str, zone: &str) -> Self {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let target = format!("{}.{zone}", target_label(&domain));
        Self {
            acme_challenge: Delegation {
                name: format!("_acme-challenge.{domain}"),
                target: format!("_acme-challenge.{target}"),
            },
            cname: Delegation { name: domain, target },
        }
    }
}

impl DomainDns {
    /// Why the CDN's DNS cannot hold these names (a label over 63 bytes or
    /// a name over 253, when the zone's apex is long), in which case the
    /// zone is built without the domain; `None` when they are valid.
    ///
    /// ```
    /// use cirrus_core::model::DomainDns;
    /// assert_eq!(DomainDns::for_domain("www.example.com", "cdn.example.net").name_problem(), None);
    /// let long_zone = ["z".repeat(63), "y".repeat(63), "x".repeat(63), "w".repeat(20)].join(".");
    /// assert!(DomainDns::for_domain("www.example.com", &long_zone).name_problem().is_some());
    /// ```
    pub fn name_problem(&self) -> Option<String> {
        [&self.cname.target, &self.acme_challenge.target]
            .into_iter()
            .find_map(|name| dns_name_problem(name))
    }
}

fn dns_name_problem(name: &str) -> Option<String> {
    if name.len() > 253 {
        return Some(format!("its target name {name} is longer than 253 bytes"));
    }
    name.split('.')
        .find(|label| label.is_empty() || label.len() > 63)
        .map(|label| {
            format!(
                "its target name {name} has a label of {} bytes (1-63 allowed)",
                label.len()
            )
        })
}

/// A domain as the API shows it: its configuration and, read-only, the
/// records its owner sets ([`DomainDns`]; absent when the API was started
/// without a zone). `dns` is ignored when sent back in a PUT or PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainView {
    /// The configuration.
    #[serde(flatten)]
    pub conf: DomainConf,
    /// What to set in the customer's DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DomainDns>,
}

/// Whether one [`Delegation`] is in place, as a resolver sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DelegationCheck {
    /// The customer's name.
    pub name: String,
    /// The target it must point to.
    pub target: String,
    /// The CNAME targets the resolver returned for `name` (none: no CNAME).
    pub found: Vec<String>,
    /// True when `found` holds `target`.
    pub ok: bool,
    /// Why the check could not tell (resolver unreachable, SERVFAIL…), or
    /// what the resolver answered instead of a CNAME (`NXDOMAIN`, `NODATA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /api/v1/domains/{domain}/status`: is the domain ready?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainStatus {
    /// The domain.
    pub domain: String,
    /// True when the domain is enabled and its CNAME points at its target:
    /// traffic reaches the edges.
    pub ready: bool,
    /// The domain's `enabled` setting.
    pub enabled: bool,
    /// Why the CDN's DNS leaves the domain out of its zone (its target name
    /// is not a valid DNS name under the zone's apex); while set, the
    /// domain is not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_error: Option<String>,
    /// The domain's CNAME.
    pub cname: DelegationCheck,
    /// The `_acme-challenge` CNAME (needed to issue certificates by
    /// DNS-01, not to serve traffic).
    pub acme_challenge: DelegationCheck,
    /// Where its certificate stands.
    pub certificate: CertificateStatus,
    /// Each reporting edge, and whether it serves the domain's current
    /// configuration.
    #[serde(default)]
    pub edges: Vec<EdgeConvergence>,
}
