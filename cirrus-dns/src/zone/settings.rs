//! The zone's settings (origin, nameservers, SOA numbers, replicas) and
//! the names it gives a domain: its CNAME target and its challenge name.

use crate::error::{Error, Result};
use hickory_proto::rr::Name;

/// Settings of the zone; build with [`ZoneSettings::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSettings {
    pub(super) origin: Name,
    pub(super) nameservers: Vec<Name>,
    pub(super) hostmaster: Name,
    pub(super) numbers: Numbers,
}

/// The numeric settings, kept as they are from builder to settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Numbers {
    pub(super) replicas_per_site: usize,
    pub(super) ttl: u32,
    pub(super) ns_ttl: u32,
    pub(super) refresh: i32,
    pub(super) retry: i32,
    pub(super) expire: i32,
    pub(super) negative_ttl: u32,
}

impl Default for Numbers {
    fn default() -> Self {
        Self {
            replicas_per_site: 2,
            ttl: 60,
            ns_ttl: 3600,
            refresh: 3600,
            retry: 600,
            expire: 604_800,
            negative_ttl: 60,
        }
    }
}

/// Builds [`ZoneSettings`].
#[derive(Debug, Clone)]
pub struct ZoneSettingsBuilder {
    origin: String,
    nameservers: Vec<String>,
    hostmaster: Option<String>,
    numbers: Numbers,
}

impl ZoneSettings {
    /// Settings for the zone `origin` (`CNAME_BASE_DOMAIN`, e.g.
    /// `cdn.example.net`), with defaults: nameserver `ns1.{origin}`,
    /// hostmaster `hostmaster.{origin}`, 2 nodes per domain, TTL 60 s for
    /// node records and 3600 s for NS and SOA, SOA timers 3600/600/604800,
    /// negative TTL 60 s.
    pub fn builder(origin: impl Into<String>) -> ZoneSettingsBuilder {
        ZoneSettingsBuilder {
            origin: origin.into(),
            nameservers: Vec::new(),
            hostmaster: None,
            numbers: Numbers::default(),
        }
    }

    /// The zone's apex.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// Nodes per domain unless the domain overrides it.
    pub fn replicas_per_site(&self) -> usize {
        self.numbers.replicas_per_site
    }
}

impl ZoneSettingsBuilder {
    /// Adds an authoritative nameserver (NS record; the first is the SOA's MNAME).
    pub fn nameserver(mut self, name: impl Into<String>) -> Self {
        self.nameservers.push(name.into());
        self
    }

    /// The SOA's responsible mailbox, as a name (`hostmaster.example.net`).
    pub fn hostmaster(mut self, name: impl Into<String>) -> Self {
        self.hostmaster = Some(name.into());
        self
    }

    /// Nodes per domain (a domain's `replicas` overrides it); at least 1.
    pub fn replicas_per_site(mut self, n: usize) -> Self {
        self.numbers.replicas_per_site = n;
        self
    }

    /// TTL of A, AAAA and TXT records.
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.numbers.ttl = seconds;
        self
    }

    /// TTL of the SOA and NS records.
    pub fn ns_ttl(mut self, seconds: u32) -> Self {
        self.numbers.ns_ttl = seconds;
        self
    }

    /// SOA refresh, retry and expire, in seconds.
    pub fn soa_timers(mut self, refresh: i32, retry: i32, expire: i32) -> Self {
        (self.numbers.refresh, self.numbers.retry, self.numbers.expire) = (refresh, retry, expire);
        self
    }

    /// TTL of negative answers (SOA MINIMUM, RFC 2308).
    pub fn negative_ttl(mut self, seconds: u32) -> Self {
        self.numbers.negative_ttl = seconds;
        self
    }

    /// The settings; names must be valid domain names.
    pub fn build(self) -> Result<ZoneSettings> {
        let origin = fqdn(&self.origin, "zone")?;
        let nameservers = if self.nameservers.is_empty() {
            vec![label_under("ns1", &origin)?]
        } else {
            self.nameservers
                .iter()
                .map(|n| fqdn(n, "nameserver"))
                .collect::<Result<_>>()?
        };
        let hostmaster = match &self.hostmaster {
            Some(h) => fqdn(h, "hostmaster")?,
            None => label_under("hostmaster", &origin)?,
        };
        if self.numbers.replicas_per_site == 0 {
            return Err(Error::Config("replicas_per_site must be at least 1".into()));
        }
        Ok(ZoneSettings {
            origin,
            nameservers,
            hostmaster,
            numbers: self.numbers,
        })
    }
}

fn fqdn(name: &str, what: &str) -> Result<Name> {
    let mut n = Name::from_ascii(name.trim()).map_err(|source| Error::Name {
        what: what.to_string(),
        name: name.to_string(),
        source,
    })?;
    n.set_fqdn(true);
    if n.is_root() {
        return Err(Error::Config(format!("{what} {name:?}: the root is not allowed")));
    }
    Ok(n.to_lowercase())
}

fn label_under(label: &str, origin: &Name) -> Result<Name> {
    origin.prepend_label(label).map_err(|source| Error::Name {
        what: "label".into(),
        name: format!("{label}.{origin}"),
        source,
    })
}

/// The name a customer's domain points its CNAME at: a readable part (the
/// domain with dots as dashes, at most 40 characters) and 16 hex digits of
/// the domain's stable hash (XXH3, frozen: see docs/hashing.md), under the
/// zone: `www.example.com` → `www-example-com-<16 hex>.cdn.example.net.`.
/// It never changes for a domain, and two domains never share it in
/// practice (64-bit hash).
pub fn target_name(domain: &str, origin: &Name) -> Result<Name> {
    label_under(&cirrus_core::model::target_label(domain), origin)
}

/// The name holding a domain's DNS-01 challenge TXT records:
/// `_acme-challenge.<target name>`. The customer delegates
/// `_acme-challenge.<domain>` to it with a CNAME.
pub fn challenge_name(domain: &str, origin: &Name) -> Result<Name> {
    label_under("_acme-challenge", &target_name(domain, origin)?)
}
