//! The store: the single source of truth for configuration, and the event
//! bus. Small capability traits ([`DomainStore`], [`NodeStore`],
//! [`JobQueue`], …; [`Store`] is all of them), two backends (Redis and
//! embedded) that implement each in its own file, behave the same and pass
//! the same conformance suite per capability. Backends do no validation beyond
//! refusing invalid models; they never panic on what they read back.

mod capabilities;
mod events;
mod keys;
mod location;
mod source;
mod static_source;

#[cfg(feature = "embedded")]
mod embedded;
#[cfg(feature = "redis")]
mod redis;

pub use capabilities::{
    AccessStore, AuditLog, CertStore, ChangeFeed, DomainStore, EventLog, JobQueue, LockStore, NodeStore, Ping,
    PurgeLog, WebhookStore,
};
#[cfg(feature = "embedded")]
pub use embedded::{EmbeddedStore, EmbeddedStoreBuilder};
pub use events::{Change, ChangeRecord, ChangesSince, Event, SubscribeOptions, Subscription, channels};
pub use keys::Lock;
pub use location::{EmbeddedSettings, StoreLocation};
#[cfg(feature = "redis")]
pub use redis::{RedisStore, RedisStoreBuilder};
pub use source::EdgeSource;
pub use static_source::StaticSource;

use crate::Result;
use crate::model::{DomainConf, Node};
use std::time::Duration;

#[cfg_attr(not(any(feature = "embedded", feature = "redis")), allow(unused_imports))]
pub(crate) use crate::model::now_ms;

/// Outcome of a create-or-replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Write {
    /// Store revision of the change.
    pub revision: u64,
    /// True when the object did not exist before.
    pub created: bool,
}

/// Everything Cirrus keeps: configuration (revisioned, announced to
/// subscribers), secrets, locks, the job queue and the audit stream.
///
/// Configuration writes bump the store-wide revision atomically with the
/// change and publish an event carrying it; [`ChangeFeed::subscribe`] turns those
/// into a stream of [`Event`]s that survives reconnects (see
/// [`Subscription`]). Names passed in must be normalized
/// ([`crate::model::normalize_domain`]); models are validated on write and
/// refused with [`crate::Error::Invalid`].
#[async_trait::async_trait]
pub trait Store:
    ChangeFeed
    + DomainStore
    + NodeStore
    + PurgeLog
    + CertStore
    + LockStore
    + AccessStore
    + JobQueue
    + AuditLog
    + EventLog
    + WebhookStore
{
}

impl<T> Store for T where
    T: ChangeFeed
        + DomainStore
        + NodeStore
        + PurgeLog
        + CertStore
        + LockStore
        + AccessStore
        + JobQueue
        + AuditLog
        + EventLog
        + WebhookStore
        + ?Sized
{
}

/// Opens the store named by `spec` ([`StoreLocation`]): a `redis://`,
/// `rediss://` or `redis+unix://` URL opens a [`RedisStore`] (lazily
/// connected; must be called inside a Tokio runtime); a path (or
/// `file:PATH`, `embedded:PATH`, the latter two with settings such as
/// `?cache=8MiB&purge_records=1000`) is the data directory of an
/// [`EmbeddedStore`], created when missing. Any other `scheme://` is
/// refused.
///
/// ```
/// # #[cfg(feature = "embedded")]
/// # fn main() -> Result<(), cirrus_core::Error> {
/// let dir = tempfile::tempdir().map_err(|e| cirrus_core::Error::backend(e.to_string(), Some(e.into())))?;
/// let store = cirrus_core::open_store(&dir.path().display().to_string())?;
/// # drop(store);
/// # Ok(()) }
/// # #[cfg(not(feature = "embedded"))]
/// # fn main() {}
/// ```
pub fn open_store(spec: &str) -> Result<std::sync::Arc<dyn Store>> {
    match StoreLocation::parse(spec)? {
        #[cfg(feature = "redis")]
        StoreLocation::Redis(url) => Ok(std::sync::Arc::new(RedisStore::connect(&url)?)),
        #[cfg(feature = "embedded")]
        StoreLocation::Embedded { dir, settings } => Ok(std::sync::Arc::new(settings.builder(dir).open()?)),
        #[allow(unreachable_patterns)]
        other => Err(crate::Error::backend(
            format!("{other:?}: this build lacks that store's feature (`redis` or `embedded`)"),
            None,
        )),
    }
}

/// The smallest page cache an embedded store takes.
pub(crate) const MIN_STORE_CACHE: usize = 1 << 20;
/// Change-log entries kept for resync, unless a builder says otherwise.
pub(crate) const DEFAULT_CHANGELOG_LEN: usize = 10_000;
/// Audit records kept, unless a builder says otherwise.
pub(crate) const DEFAULT_AUDIT_LEN: usize = 100_000;
/// Events kept, unless a builder says otherwise.
pub(crate) const DEFAULT_EVENTS_LEN: usize = 100_000;
/// Attempts kept in each webhook's delivery log, and events in its dead letters.
pub const DELIVERY_LOG_LEN: usize = 1000;
/// How long events are kept, unless a builder says otherwise: a week.
pub(crate) const DEFAULT_EVENTS_AGE: Duration = Duration::from_secs(7 * 86_400);

fn validated_domain(conf: &DomainConf) -> Result<DomainConf> {
    Ok(conf.clone().validated()?)
}

/// How long a purge is kept for acknowledgements.
pub(crate) const PURGE_RECORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// Purge records kept at most (the oldest go first).
pub(crate) const PURGE_RECORDS_MAX: usize = 10_000;

/// A node as an operator may write it: validated, without an edge report
/// (only the edge writes that, with [`NodeStore::report_edge`]).
fn validated_node(node: &Node) -> Result<Node> {
    let mut node = node.clone().validated()?;
    node.edge = None;
    Ok(node)
}
