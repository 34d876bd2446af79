//! Events and subscriptions. Pub/sub is a hint, not the truth: every
//! announced change carries the store revision, and a subscription that
//! missed messages replays them from the change log (or says `Resync`).

use super::Store;
use crate::Result;
use crate::model::PurgeRequest;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Pub/sub channel names (the same on Redis and embedded).
pub mod channels {
    /// Cache invalidation: JSON [`crate::model::PurgeRequest`].
    pub const PURGE: &str = "cdn:purge";
    /// DNS zone rebuild requests.
    pub const CNAME_DIRTY: &str = "cdn:cname:dirty";
    /// Configuration changes: `{"rev":N,"kind":"domain|node|cert","names":[..]}`.
    pub const CONFIG: &str = "cdn:config";
}

/// What changed; reload it from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A domain was created, replaced or deleted.
    Domain(String),
    /// A node was created, changed, deleted, or flipped active.
    Node(String),
    /// A domain's certificate was stored or removed.
    Certificate(String),
}

/// An event delivered by a [`Subscription`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Configuration changed at `revision`.
    Changed {
        /// Store revision of the change.
        revision: u64,
        /// What changed.
        change: Change,
    },
    /// Purge caches. `revision` is `None` for messages published directly
    /// on `cdn:purge` by external producers.
    Purge {
        /// Store revision, when published through the store.
        revision: Option<u64>,
        /// What to purge.
        request: PurgeRequest,
    },
    /// The DNS zone must be rebuilt.
    CnameDirty {
        /// Store revision, when published through the store.
        revision: Option<u64>,
    },
    /// Events were missed and cannot be replayed one by one (the change log
    /// was trimmed, or the store went back in time): reload everything.
    Resync {
        /// The revision the store is at now.
        revision: u64,
    },
}

impl Event {
    /// The store revision this event belongs to, if any.
    pub fn revision(&self) -> Option<u64> {
        match self {
            Event::Changed { revision, .. } | Event::Resync { revision } => Some(*revision),
            Event::Purge { revision, .. } | Event::CnameDirty { revision } => *revision,
        }
    }
}

/// One published message as kept in the change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeRecord {
    /// Store revision.
    pub revision: u64,
    /// Channel it was published on.
    pub channel: String,
    /// The payload as published (JSON with a `rev` field).
    pub payload: String,
}

impl ChangeRecord {
    /// The events it announced (none when the payload is malformed).
    pub fn events(&self) -> Vec<Event> {
        parse_message(&self.channel, self.payload.as_bytes())
    }
}

/// Answer of [`ChangeFeed::changes_since`](super::ChangeFeed::changes_since).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangesSince {
    /// The revision the store is at.
    pub current: u64,
    /// Records after the asked revision, oldest first.
    pub records: Vec<ChangeRecord>,
    /// False when the log no longer reaches back to the asked revision.
    pub complete: bool,
}

#[derive(Serialize, Deserialize)]
struct ConfigMessage {
    #[serde(default)]
    rev: u64,
    kind: String,
    names: Vec<String>,
}

#[derive(Deserialize)]
struct RevOnly {
    rev: Option<u64>,
}

#[derive(Deserialize)]
struct WrittenAt {
    at: Option<u64>,
}

/// When the store wrote a message (`"at"`, Unix ms by the store's clock),
/// when it says.
fn written_ms(payload: &[u8]) -> Option<u64> {
    serde_json::from_slice::<WrittenAt>(payload).ok()?.at
}

/// An event as a subscription hands it over, with its write time.
#[derive(Debug)]
pub(crate) struct Delivered {
    event: Event,
    written_ms: Option<u64>,
}

impl From<Event> for Delivered {
    fn from(event: Event) -> Self {
        Self {
            event,
            written_ms: None,
        }
    }
}

/// The payload (without `rev`) announcing changes of `kind` to `names`.
pub(crate) fn config_payload(change: &Change) -> String {
    let (kind, name) = match change {
        Change::Domain(n) => ("domain", n),
        Change::Node(n) => ("node", n),
        Change::Certificate(n) => ("cert", n),
    };
    config_payload_many(kind, std::slice::from_ref(name))
}

pub(crate) fn config_payload_many(kind: &str, names: &[String]) -> String {
    format!(
        r#"{{"kind":{},"names":{}}}"#,
        serde_json::Value::from(kind),
        serde_json::Value::from(names.to_vec())
    )
}

pub(crate) fn cname_payload(reason: &str) -> String {
    format!(r#"{{"reason":{}}}"#, serde_json::Value::from(reason))
}

/// Inserts `"rev":N,"at":MS` at the start of a JSON object payload
/// (embedded backend; the Redis one does the same in its script).
#[cfg_attr(not(feature = "embedded"), allow(dead_code))]
pub(crate) fn with_revision(payload: &str, revision: u64, at_ms: u64) -> String {
    match payload.strip_prefix('{') {
        Some("}") | None => format!(r#"{{"rev":{revision},"at":{at_ms}}}"#),
        Some(rest) => format!(r#"{{"rev":{revision},"at":{at_ms},{rest}"#),
    }
}

/// Turns a published message into events. Unknown or malformed messages
/// yield nothing (and are logged): an external producer's typo must not stop
/// a subscriber.
pub(crate) fn parse_message(channel: &str, payload: &[u8]) -> Vec<Event> {
    match channel {
        channels::CONFIG => match serde_json::from_slice::<ConfigMessage>(payload) {
            Ok(m) => {
                let make: fn(String) -> Change = match m.kind.as_str() {
                    "domain" => Change::Domain,
                    "node" => Change::Node,
                    "cert" => Change::Certificate,
                    other => {
                        tracing::warn!(kind = other, "ignoring config message of unknown kind");
                        return Vec::new();
                    }
                };
                m.names
                    .into_iter()
                    .map(|n| Event::Changed {
                        revision: m.rev,
                        change: make(n),
                    })
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, "ignoring malformed config message");
                Vec::new()
            }
        },
        channels::PURGE => {
            let revision = serde_json::from_slice::<RevOnly>(payload).ok().and_then(|r| r.rev);
            match serde_json::from_slice::<PurgeRequest>(payload) {
                Ok(request) => vec![Event::Purge { revision, request }],
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring malformed purge message");
                    Vec::new()
                }
            }
        }
        channels::CNAME_DIRTY => {
            let revision = serde_json::from_slice::<RevOnly>(payload).ok().and_then(|r| r.rev);
            vec![Event::CnameDirty { revision }]
        }
        _ => Vec::new(),
    }
}

/// How to subscribe.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubscribeOptions {
    /// Replay changes after this revision first (the one the caller last
    /// applied). `None`: start at the current revision.
    pub from_revision: Option<u64>,
    /// First delay before reconnecting; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest delay between reconnect attempts.
    pub reconnect_max: Duration,
    /// Events buffered for a slow reader before the subscription pauses.
    pub buffer: usize,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            from_revision: None,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            buffer: 1024,
        }
    }
}

impl SubscribeOptions {
    /// Replays changes after `revision` before live events.
    pub fn from_revision(mut self, revision: u64) -> Self {
        self.from_revision = Some(revision);
        self
    }

    /// Sets how many events wait for a slow reader.
    pub fn buffer(mut self, events: usize) -> Self {
        self.buffer = events.max(1);
        self
    }

    /// Sets the reconnect backoff bounds.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }
}

/// A stream of [`Event`]s. It reconnects by itself; after a gap it replays
/// what was missed from the change log, so a caller that applies every
/// event never misses a change. Dropping it stops the background task.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Delivered>,
    task: JoinHandle<()>,
    written_ms: Option<u64>,
}

impl Subscription {
    pub(crate) fn new(rx: mpsc::Receiver<Delivered>, task: JoinHandle<()>) -> Self {
        Self {
            rx,
            task,
            written_ms: None,
        }
    }

    /// The next event; `None` once the store is gone for good.
    pub async fn next(&mut self) -> Option<Event> {
        let delivered = self.rx.recv().await?;
        self.written_ms = delivered.written_ms;
        Some(delivered.event)
    }

    /// When the store wrote the event [`Subscription::next`] returned last
    /// (Unix ms, by the store's clock), when the store says: both backends
    /// do; external producers on `cdn:purge` and resyncs do not.
    pub fn written_ms(&self) -> Option<u64> {
        self.written_ms
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Delivers live messages and resyncs after gaps, so that every revision is
/// delivered once, in order.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// Highest revision delivered.
    last: u64,
    /// Live messages at or below this revision were already replayed.
    floor: u64,
    tx: mpsc::Sender<Delivered>,
}

impl Tracker {
    /// Starts tracking; with `from`, replays changes after it first.
    pub(crate) async fn start(store: &dyn Store, from: Option<u64>, tx: mpsc::Sender<Delivered>) -> Result<Self> {
        let current = store.revision().await?;
        let mut t = Self {
            last: current,
            floor: current,
            tx,
        };
        if let Some(from) = from {
            t.last = from;
            t.resync(store).await?;
        }
        Ok(t)
    }

    /// Delivers one live message; false when the subscriber is gone.
    pub(crate) async fn live(&mut self, channel: &str, payload: &[u8]) -> bool {
        let written_ms = written_ms(payload);
        for event in parse_message(channel, payload) {
            if let Some(rev) = event.revision() {
                if rev <= self.floor {
                    continue;
                }
                self.last = self.last.max(rev);
            }
            if self.tx.send(Delivered { event, written_ms }).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Replays what was missed since the last delivered revision.
    pub(crate) async fn resync(&mut self, store: &dyn Store) -> Result<bool> {
        let since = store.changes_since(self.last).await?;
        let mut events: Vec<Delivered> = Vec::new();
        if since.current < self.last || !since.complete {
            events.push(
                Event::Resync {
                    revision: since.current,
                }
                .into(),
            );
        } else {
            for r in &since.records {
                let written_ms = written_ms(r.payload.as_bytes());
                events.extend(
                    parse_message(&r.channel, r.payload.as_bytes())
                        .into_iter()
                        .map(|event| Delivered { event, written_ms }),
                );
            }
        }
        self.last = since.current;
        self.floor = since.current;
        for e in events {
            if self.tx.send(e).await.is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// True once the subscriber dropped its end.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_is_spliced_into_payloads() {
        assert_eq!(with_revision("{}", 3, 9), r#"{"rev":3,"at":9}"#);
        assert_eq!(with_revision(r#"{"a":1}"#, 4, 9), r#"{"rev":4,"at":9,"a":1}"#);
        assert_eq!(written_ms(with_revision("{}", 3, 9).as_bytes()), Some(9));
        assert_eq!(written_ms(br#"{"domain":"a.com","path":"/x"}"#), None);
    }

    #[test]
    fn config_messages_expand_to_one_event_per_name() {
        let p = with_revision(&config_payload_many("domain", &["a.com".into(), "b.com".into()]), 7, 1);
        let events = parse_message(channels::CONFIG, p.as_bytes());
        assert_eq!(
            events,
            [
                Event::Changed {
                    revision: 7,
                    change: Change::Domain("a.com".into())
                },
                Event::Changed {
                    revision: 7,
                    change: Change::Domain("b.com".into())
                },
            ]
        );
    }

    #[test]
    fn external_and_malformed_messages() {
        let e = parse_message(channels::PURGE, br#"{"domain":"a.com","path":"/x"}"#);
        assert!(matches!(&e[..], [Event::Purge { revision: None, .. }]));
        assert!(parse_message(channels::PURGE, b"not json").is_empty());
        assert!(parse_message(channels::CONFIG, br#"{"kind":"alien","names":["x"]}"#).is_empty());
        assert_eq!(
            parse_message(channels::CNAME_DIRTY, b"1"),
            [Event::CnameDirty { revision: None }]
        );
    }
}
