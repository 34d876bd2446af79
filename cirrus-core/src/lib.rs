//! # cirrus-core
//!
//! The foundation every Cirrus crate stands on:
//!
//! - **Models** ([`model`]): [`DomainConf`], [`Node`], certificates, ACME
//!   state, tokens, users, purge requests. Plain serde types whose JSON is
//!   the API's; `validated()` normalizes names and reports every problem
//!   with its field path.
//! - **Rendezvous hashing** ([`rendezvous_topk`], [`RendezvousTable`]):
//!   which edge nodes serve a domain, weighted, over a frozen 64-bit hash.
//! - **The store** ([`Store`], feature `store`): configuration, secrets,
//!   locks, a durable job queue and an audit stream, with two backends that
//!   pass one conformance suite: [`RedisStore`] (feature `redis`) and
//!   [`EmbeddedStore`] (feature `embedded`, on redb). Every configuration
//!   change bumps a store-wide revision atomically with the change; a
//!   [`Subscription`] replays what it missed after a disconnect.
//! - **Auth primitives** ([`auth`], feature `store`): prefixed 256-bit
//!   tokens kept as SHA-256, constant-time comparison, Argon2id passwords.
//! - **Lifecycle** ([`lifecycle`], feature `store`): the shutdown signal,
//!   the store retry and the node registration every role shares.
//! - **Jobs** ([`jobs`], feature `store`): a runner that claims jobs from
//!   the durable queue, dispatches them by kind, retries failures and
//!   reports each run's duration and outcome.
//!
//! With `default-features = false` only the models and the hashing are
//! built (what `cirrus-client` uses): no Redis, no Tokio.
//!
//! ## Example
//!
//! ```
//! # #[cfg(feature = "embedded")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The store is small capability traits; bring in the ones used.
//! use cirrus_core::{ChangeFeed, DomainConf, DomainStore, EmbeddedStore, Event, SubscribeOptions, rendezvous_topk};
//!
//! let dir = tempfile::tempdir()?;
//! let store = EmbeddedStore::open(dir.path())?;
//! let mut events = store.subscribe(SubscribeOptions::default()).await?;
//!
//! let conf = DomainConf::new("Example.com", "https://192.0.2.10".parse()?);
//! let write = store.put_domain(&conf).await?;
//! assert!(write.created);
//! assert_eq!(store.get_domain("example.com").await?.map(|c| c.domain), Some("example.com".into()));
//!
//! // The change is announced with its revision.
//! let Some(Event::Changed { revision, .. }) = events.next().await else { panic!() };
//! assert_eq!(revision, write.revision);
//!
//! // Which two of three edges serve the domain: stable everywhere.
//! let edges = rendezvous_topk("example.com", &["edge-a", "edge-b", "edge-c"], 2);
//! assert_eq!(edges.len(), 2);
//! # Ok(()) }
//! # #[cfg(not(feature = "embedded"))]
//! # fn main() {}
//! ```

#[cfg(feature = "admin")]
pub mod admin;
mod error;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod model;
mod rendezvous;

#[cfg(feature = "store")]
pub mod auth;
#[cfg(feature = "store")]
pub mod jobs;
#[cfg(feature = "store")]
pub mod lifecycle;
#[cfg(feature = "resolve")]
pub mod resolve;
// The shared machinery of the backends is unused when neither is built.
#[cfg(feature = "store")]
#[cfg_attr(not(any(feature = "redis", feature = "embedded")), allow(dead_code))]
mod store;
pub mod units;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use error::{Cause, Error, Result};
pub use model::{DomainConf, Node, PurgeRequest};
pub use rendezvous::{RendezvousTable, Weighted, rendezvous_topk, stable_hash};

#[cfg(feature = "store")]
pub use store::{
    AccessStore, AuditLog, CertStore, Change, ChangeFeed, ChangeRecord, ChangesSince, DELIVERY_LOG_LEN, DomainStore,
    EdgeSource, EmbeddedSettings, Event, EventLog, JobQueue, Lock, LockStore, NodeStore, Ping, PurgeLog, StaticSource,
    Store, StoreLocation, SubscribeOptions, Subscription, WebhookStore, Write, channels, open_store,
};
#[cfg(feature = "embedded")]
pub use store::{EmbeddedStore, EmbeddedStoreBuilder};
#[cfg(feature = "redis")]
pub use store::{RedisStore, RedisStoreBuilder};
