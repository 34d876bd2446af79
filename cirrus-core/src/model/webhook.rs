//! Webhooks: HTTP endpoints the worker posts matching events to, signed
//! per the Standard Webhooks spec, at least once and in order.

use super::event::{EventRecord, EventType};
use super::validate::{ValidationErrors, normalize_domain};
use serde::{Deserialize, Serialize};

/// Longest URL accepted.
pub const MAX_WEBHOOK_URL: usize = 2048;
/// Most domains one endpoint may filter on.
pub const MAX_WEBHOOK_DOMAINS: usize = 100;

/// True for an id the API hands out: `wh_` and 16 lower-case hex digits.
pub fn is_webhook_id(id: &str) -> bool {
    id.strip_prefix("wh_")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// What an operator registers or replaces: where to post and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Where events are posted: an `http` or `https` URL without
    /// credentials or fragment.
    #[cfg_attr(feature = "openapi", schema(example = "https://hooks.example.com/cirrus"))]
    pub url: String,
    /// Only these types; empty: every type.
    #[serde(default)]
    pub types: Vec<EventType>,
    /// Only events about these domains; empty: every event, those about
    /// no domain included. Required for a token limited to some domains,
    /// within its own.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// Delivered to when true (default).
    #[serde(default = "enabled_default")]
    pub enabled: bool,
}

fn enabled_default() -> bool {
    true
}

impl WebhookSpec {
    /// An enabled endpoint at `url` for every event.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            types: Vec::new(),
            domains: Vec::new(),
            description: String::new(),
            enabled: true,
        }
    }

    /// Checks the URL, normalizes the domains and sorts the types.
    pub fn validated(mut self) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if let Err(reason) = WebhookUrl::parse(&self.url) {
            errs.push("url", reason);
        }
        self.types.sort_by_key(|t| t.as_str());
        self.types.dedup();
        if self.domains.len() > MAX_WEBHOOK_DOMAINS {
            errs.push("domains", format!("at most {MAX_WEBHOOK_DOMAINS} domains"));
        }
        for (i, d) in self.domains.iter_mut().enumerate() {
            match normalize_domain(d) {
                Ok(n) => *d = n,
                Err(reason) => errs.push(format!("domains[{i}]"), reason),
            }
        }
        self.domains.sort();
        self.domains.dedup();
        if self.description.len() > 256 || self.description.chars().any(char::is_control) {
            errs.push("description", "at most 256 bytes without control characters");
        }
        errs.into_result(self)
    }
}

/// A registered endpoint (its secret is never part of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// Its id, `wh_` and 16 hex digits.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// Only these types; empty: every type.
    pub types: Vec<EventType>,
    /// Only events about these domains; empty: every event.
    pub domains: Vec<String>,
    /// Free text for people.
    pub description: String,
    /// Delivered to when true.
    pub enabled: bool,
    /// Why the worker turned it off (a `410 Gone`), until it is enabled again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Unix seconds of creation.
    pub created_at: u64,
    /// Who created it (`master`, `token:{id}`, `user:{name}`).
    pub created_by: String,
}

impl Webhook {
    /// A new endpoint `id` as `spec` says, created by `created_by` at `created_at`.
    pub fn new(id: impl Into<String>, spec: WebhookSpec, created_at: u64, created_by: impl Into<String>) -> Self {
        let mut hook = Self {
            id: id.into(),
            url: String::new(),
            types: Vec::new(),
            domains: Vec::new(),
            description: String::new(),
            enabled: true,
            disabled_reason: None,
            created_at,
            created_by: created_by.into(),
        };
        hook.apply(spec);
        hook
    }

    /// Takes `spec`'s settings; enabling clears the reason it was disabled.
    pub fn apply(&mut self, spec: WebhookSpec) {
        self.url = spec.url;
        self.types = spec.types;
        self.domains = spec.domains;
        self.description = spec.description;
        self.enabled = spec.enabled;
        if self.enabled {
            self.disabled_reason = None;
        }
    }

    /// True when `event` is one this endpoint asked for (enabled or not).
    pub fn wants(&self, event: &EventRecord) -> bool {
        (self.types.is_empty() || self.types.contains(&event.kind))
            && (self.domains.is_empty() || event.domain.as_ref().is_some_and(|d| self.domains.contains(d)))
    }
}

/// The signing secrets of an endpoint: the current one and, for a while
/// after a rotation, the previous one (both sign during the overlap).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecrets {
    /// `whsec_` and the base64 key.
    pub current: String,
    /// The secret before the last rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Unix seconds until which `previous` still signs.
    #[serde(default)]
    pub previous_until: u64,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("previous_until", &self.previous_until)
            .finish_non_exhaustive()
    }
}

impl WebhookSecrets {
    /// Only `current`.
    pub fn new(current: impl Into<String>) -> Self {
        Self {
            current: current.into(),
            previous: None,
            previous_until: 0,
        }
    }

    /// The secrets that sign at `now` (Unix seconds), current first.
    pub fn active(&self, now: u64) -> Vec<&str> {
        let mut out = vec![self.current.as_str()];
        if let Some(p) = &self.previous
            && now < self.previous_until
        {
            out.push(p);
        }
        out
    }
}

/// `POST /api/v1/webhooks` answers the endpoint and its secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The signing secret (`whsec_…`): keep it, it is not shown again.
    pub secret: String,
}

/// How long the previous secret keeps signing after a rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// Seconds, 0-604800 (default 86400: a day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 604_800))]
    pub overlap_secs: Option<u64>,
}

/// A rotation's answer: the new secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedSecret {
    /// The new signing secret (`whsec_…`).
    pub secret: String,
    /// Unix seconds until which the previous secret also signs.
    pub previous_until: u64,
}

/// The endpoints a caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookList {
    /// By id.
    pub items: Vec<Webhook>,
}

/// Where the worker is in the stream for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookProgress {
    /// The last event dealt with (delivered, given up or not wanted);
    /// `None`: from the oldest kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Failed attempts at the event after the cursor.
    #[serde(default)]
    pub attempts: u32,
    /// Unix ms of the first of those failures.
    #[serde(default)]
    pub failing_since: u64,
    /// Unix ms before which the next attempt waits.
    #[serde(default)]
    pub next_attempt_at: u64,
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// It did not; the event is tried again later.
    Failed,
    /// It failed for the whole retry period: the event is in the dead letters.
    Dead,
    /// The receiver answered `410 Gone`: the endpoint is disabled.
    Gone,
}

impl DeliveryOutcome {
    /// The outcome's name, e.g. `delivered` (a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::Dead => "dead",
            DeliveryOutcome::Gone => "gone",
        }
    }
}

/// One attempt to post one event, as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// The attempt's id (`dlv_…`): replay it by this id.
    pub id: String,
    /// The event posted (its id is the `webhook-id` header).
    pub event: EventRecord,
    /// 1 for the first attempt at this event, and so on.
    pub attempt: u32,
    /// True for a replay an operator asked for.
    #[serde(default)]
    pub replay: bool,
    /// Unix ms the attempt started.
    pub at: u64,
    /// How long it took, in ms.
    pub duration_ms: u64,
    /// What became of it.
    pub outcome: DeliveryOutcome,
    /// The receiver's status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix ms of the next attempt, after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<u64>,
}

/// Attempts, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryList {
    /// Newest first.
    pub items: Vec<Delivery>,
}

/// An endpoint URL taken apart: what the SSRF rule and the client need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookUrl {
    /// `https` (else `http`).
    pub https: bool,
    /// The host, lower-case; an IPv6 address without brackets.
    pub host: String,
    /// The port, explicit or the scheme's.
    pub port: u16,
}

impl WebhookUrl {
    /// Parses an endpoint URL, refusing anything but `http(s)://host[:port][/path][?query]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.len() > MAX_WEBHOOK_URL {
            return Err(format!("longer than {MAX_WEBHOOK_URL} bytes"));
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("contains spaces or control characters".into());
        }
        let lower = url.to_ascii_lowercase();
        let (https, rest) = if let Some(r) = lower.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = lower.strip_prefix("http://") {
            (false, r)
        } else {
            return Err("must be an http:// or https:// URL".into());
        };
        if url.contains('#') {
            return Err("must not have a fragment".into());
        }
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("must not carry credentials (put a token in the path or query)".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or("an IPv6 host lacks its ']'")?;
            addr.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
            (addr.to_string(), after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err("has no host".into());
        }
        let host = if host.contains(':') || host.parse::<std::net::Ipv4Addr>().is_ok() {
            host
        } else if ends_in_a_number(&host) {
            // What a URL parser reads as IPv4 (`2130706433`, `127.1`,
            // `0x7f.0.0.1`): only the dotted form is taken, so the address
            // checks see the address that is connected to.
            return Err(format!("host {host:?} reads as an IPv4 address: write it as a.b.c.d"));
        } else {
            super::validate::normalize_host(&host).map_err(|e| format!("host {e}"))?
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("port {p:?} is not 1-65535"))?,
            None if https => 443,
            None => 80,
        };
        Ok(Self { https, host, port })
    }
}

/// True when a URL parser (WHATWG) takes `host` for an IPv4 address: its
/// last label is a number (decimal, or `0x` hexadecimal).
fn ends_in_a_number(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let last = host.rsplit('.').next().unwrap_or_default();
    let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X"));
    match hex {
        Some(h) => h.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// True for an address on the public internet: not loopback, private,
/// shared (CGNAT), link-local, unique-local, multicast, documentation,
/// benchmarking, reserved or unspecified (IPv4 inside IPv6 judged as IPv4).
/// Webhooks go only to such addresses unless the operator allows private ones.
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = v6.octets();
                return is_public_ip(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] == 0x2001 && seg[1] == 0xdb8)
                || seg[..6] == [0, 0, 0, 0, 0, 0])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let u = WebhookUrl::parse("https://Hooks.Example.com/x?y=1").expect("valid");
        assert_eq!((u.https, u.host.as_str(), u.port), (true, "hooks.example.com", 443));
        let u = WebhookUrl::parse("http://127.0.0.1:8080/").expect("valid");
        assert_eq!((u.https, u.host.as_str(), u.port), (false, "127.0.0.1", 8080));
        let u = WebhookUrl::parse("http://[::1]:9/p").expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        for bad in [
            "ftp://x.example/",
            "https://",
            "https://user:pw@x.example/",
            "https://x.example/#f",
            "https://x.example:0/",
            "https://x.example:99999/",
            "https://x .example/",
            "https://[::1/",
            "https://bad_host!/",
            "javascript:alert(1)",
            "http://2130706433/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://017700000001/",
            "http://10.0.0.010/",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn specs_normalize_and_filter() {
        let mut spec = WebhookSpec::new("https://x.example/");
        spec.domains = vec!["B.example".into(), "a.example".into(), "b.example".into()];
        spec.types = vec![
            EventType::PurgeCompleted,
            EventType::DomainCreated,
            EventType::PurgeCompleted,
        ];
        let spec = spec.validated().expect("valid");
        assert_eq!(spec.domains, ["a.example", "b.example"]);
        assert_eq!(spec.types, [EventType::DomainCreated, EventType::PurgeCompleted]);
        let hook = Webhook::new("wh_1", spec, 0, "master");
        let event = |kind, domain: Option<&str>| EventRecord {
            id: "1-0".into(),
            version: 1,
            kind,
            at: 1,
            subject: "s".into(),
            domain: domain.map(Into::into),
            actor: None,
            data: serde_json::Value::Null,
        };
        assert!(hook.wants(&event(EventType::DomainCreated, Some("a.example"))));
        assert!(!hook.wants(&event(EventType::DomainCreated, Some("c.example"))));
        assert!(!hook.wants(&event(EventType::DomainCreated, None)));
        assert!(!hook.wants(&event(EventType::DomainDeleted, Some("a.example"))));
        let mut bad = WebhookSpec::new("gopher://x/");
        bad.domains = vec!["not a domain".into()];
        bad.description = "a\u{7}".into();
        let errs = bad.validated().expect_err("invalid");
        let fields: Vec<&str> = errs.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "domains[0]", "description"]);
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(
                !is_public_ip(private.parse().expect(private)),
                "{private} counted public"
            );
        }
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public_ip(public.parse().expect(public)), "{public} counted private");
        }
    }

    #[test]
    fn the_previous_secret_signs_until_its_end() {
        let mut s = WebhookSecrets::new("whsec_new");
        s.previous = Some("whsec_old".into());
        s.previous_until = 100;
        assert_eq!(s.active(99), ["whsec_new", "whsec_old"]);
        assert_eq!(s.active(100), ["whsec_new"]);
        assert!(!format!("{s:?}").contains("whsec"));
    }
}
