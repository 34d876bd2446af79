//! The event stream: what happened in the CDN, in order, for people (the
//! portal, `cirrusctl events`) and machines (webhooks). Each event is
//! written once, by the role that knows it happened, after the change it
//! reports is durable.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The version of the event's JSON shape; bumped when a field changes
/// meaning or goes away (new fields and types do not bump it).
pub const EVENT_VERSION: u32 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub enum EventType {
    /// A domain was created.
    #[serde(rename = "domain.created")]
    DomainCreated,
    /// A domain's configuration was replaced or changed.
    #[serde(rename = "domain.updated")]
    DomainUpdated,
    /// A domain was deleted.
    #[serde(rename = "domain.deleted")]
    DomainDeleted,
    /// A domain's CNAMEs and certificate are in place.
    #[serde(rename = "domain.ready")]
    DomainReady,
    /// A domain that was ready no longer is.
    #[serde(rename = "domain.not_ready")]
    DomainNotReady,
    /// A purge was published.
    #[serde(rename = "purge.requested")]
    PurgeRequested,
    /// Every live edge applied a purge.
    #[serde(rename = "purge.completed")]
    PurgeCompleted,
    /// An edge stayed silent past a purge's deadline.
    #[serde(rename = "purge.incomplete")]
    PurgeIncomplete,
    /// A domain's first certificate was issued.
    #[serde(rename = "certificate.issued")]
    CertificateIssued,
    /// A domain's certificate was renewed.
    #[serde(rename = "certificate.renewed")]
    CertificateRenewed,
    /// An issuance or renewal failed for good.
    #[serde(rename = "certificate.failed")]
    CertificateFailed,
    /// A certificate ends within 14, 7 or 1 days.
    #[serde(rename = "certificate.expiring")]
    CertificateExpiring,
    /// A node became active (its health checks pass).
    #[serde(rename = "node.up")]
    NodeUp,
    /// A node became inactive (its health checks fail).
    #[serde(rename = "node.down")]
    NodeDown,
    /// An operator enabled a node.
    #[serde(rename = "node.enabled")]
    NodeEnabled,
    /// An operator disabled a node.
    #[serde(rename = "node.disabled")]
    NodeDisabled,
    /// An edge serves from its last configuration (its store is down).
    #[serde(rename = "edge.degraded")]
    EdgeDegraded,
    /// An edge follows its store again.
    #[serde(rename = "edge.recovered")]
    EdgeRecovered,
    /// A service token was created.
    #[serde(rename = "token.created")]
    TokenCreated,
    /// A service token was revoked.
    #[serde(rename = "token.revoked")]
    TokenRevoked,
}

impl EventType {
    /// Every type, in the order above.
    pub const ALL: [EventType; 20] = [
        EventType::DomainCreated,
        EventType::DomainUpdated,
        EventType::DomainDeleted,
        EventType::DomainReady,
        EventType::DomainNotReady,
        EventType::PurgeRequested,
        EventType::PurgeCompleted,
        EventType::PurgeIncomplete,
        EventType::CertificateIssued,
        EventType::CertificateRenewed,
        EventType::CertificateFailed,
        EventType::CertificateExpiring,
        EventType::NodeUp,
        EventType::NodeDown,
        EventType::NodeEnabled,
        EventType::NodeDisabled,
        EventType::EdgeDegraded,
        EventType::EdgeRecovered,
        EventType::TokenCreated,
        EventType::TokenRevoked,
    ];

    /// The type's name on the wire, e.g. `domain.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::DomainCreated => "domain.created",
            EventType::DomainUpdated => "domain.updated",
            EventType::DomainDeleted => "domain.deleted",
            EventType::DomainReady => "domain.ready",
            EventType::DomainNotReady => "domain.not_ready",
            EventType::PurgeRequested => "purge.requested",
            EventType::PurgeCompleted => "purge.completed",
            EventType::PurgeIncomplete => "purge.incomplete",
            EventType::CertificateIssued => "certificate.issued",
            EventType::CertificateRenewed => "certificate.renewed",
            EventType::CertificateFailed => "certificate.failed",
            EventType::CertificateExpiring => "certificate.expiring",
            EventType::NodeUp => "node.up",
            EventType::NodeDown => "node.down",
            EventType::NodeEnabled => "node.enabled",
            EventType::NodeDisabled => "node.disabled",
            EventType::EdgeDegraded => "edge.degraded",
            EventType::EdgeRecovered => "edge.recovered",
            EventType::TokenCreated => "token.created",
            EventType::TokenRevoked => "token.revoked",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown event type {s:?}"))
    }
}

/// An event to append: what happened, to what, by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// What it happened to: a domain, a node id, a token id, a purge id.
    pub subject: String,
    /// The domain it concerns, when it concerns one (a purge's, say): a
    /// token limited to some domains sees only their events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Who did it (`master`, `token:{id}`, `user:{name}`), when someone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Details of the type, e.g. a certificate's `not_after`.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl NewEvent {
    /// `kind` happened to `subject`; no domain, actor or data.
    pub fn new(kind: EventType, subject: impl Into<String>) -> Self {
        Self {
            kind,
            subject: subject.into(),
            domain: None,
            actor: None,
            data: serde_json::Value::Null,
        }
    }

    /// The same event, concerning `domain`.
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The same event, done by `actor`.
    #[must_use]
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The same event, with `data`.
    #[must_use]
    pub fn data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// An event of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventRecord {
    /// Its place in the stream: `<ms>-<n>`, increasing; pass it as `after`
    /// to read what followed.
    pub id: String,
    /// The shape's version ([`EVENT_VERSION`]).
    pub version: u32,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it was written, in Unix milliseconds.
    pub at: u64,
    /// What it happened to: a domain, a node id, a token id, a purge id.
    pub subject: String,
    /// The domain it concerns, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Who did it, when someone did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Details of the type.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

impl EventRecord {
    /// `event` as written with `id` at `at` (Unix ms).
    pub fn new(id: String, at: u64, event: NewEvent) -> Self {
        Self {
            id,
            version: EVENT_VERSION,
            kind: event.kind,
            at,
            subject: event.subject,
            domain: event.domain,
            actor: event.actor,
            data: event.data,
        }
    }
}

/// One page of `GET /api/v1/events`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventList {
    /// The events of this page that match the filters.
    pub items: Vec<EventRecord>,
    /// Pass as `after` for what follows: the last event read, matching or
    /// not (the request's `after` when nothing followed it; absent when
    /// the stream is empty). Asking again later with it returns what was
    /// written since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// A place in the stream: `<ms>-<n>`, compared as the pair of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

impl std::str::FromStr for EventId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an event id (<ms>-<n>)");
        let (ms, seq) = s.split_once('-').ok_or_else(bad)?;
        let digits = |p: &str| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return Err(bad());
        }
        Ok(EventId {
            ms: ms.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_by_name() {
        for t in EventType::ALL {
            let json = serde_json::to_string(&t).expect("encodes");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
        }
        assert!("domain.exploded".parse::<EventType>().is_err());
    }

    #[test]
    fn ids_compare_as_numbers() {
        let a: EventId = "9-5".parse().expect("id");
        let b: EventId = "10-0".parse().expect("id");
        assert!(a < b, "10 ms comes after 9 ms, whatever the text says");
        assert_eq!(b.to_string(), "10-0");
        for bad in ["", "1", "1-", "-1", "a-1", "1-2-3", "1 -2", "123456789012345678901-0"] {
            assert!(bad.parse::<EventId>().is_err(), "{bad:?}");
        }
    }
}
