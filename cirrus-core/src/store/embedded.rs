//! Embedded backend: one process, redb tables under a data directory, an
//! in-process broadcast for events. Every write is one redb transaction
//! (durable when `commit` returns), so an acknowledged write survives
//! `kill -9`. A subscriber that lags behind the broadcast resyncs from the
//! change log, exactly like a Redis subscriber after a reconnect.

use super::events::{
    Change, ChangeRecord, ChangesSince, SubscribeOptions, Subscription, Tracker, channels, cname_payload,
    config_payload, config_payload_many, with_revision,
};
use super::keys::Lock;
use super::{
    AccessStore, AuditLog, CertStore, ChangeFeed, DEFAULT_AUDIT_LEN, DEFAULT_CHANGELOG_LEN, DEFAULT_EVENTS_AGE,
    DEFAULT_EVENTS_LEN, DELIVERY_LOG_LEN, DomainStore, EventLog, JobQueue, LockStore, NodeStore, Ping, PurgeLog,
    WebhookStore, Write, now_ms, validated_domain, validated_node,
};
use crate::model::{
    AcmeState, AuditRecord, CertBundle, Delivery, DeliveryOutcome, DomainConf, EdgeReport, EventId, EventRecord, Job,
    NewEvent, NewJob, Node, NodeHealth, PurgeRecord, PurgeRequest, ServiceToken, Session, User, Webhook,
    WebhookProgress, WebhookSecrets, is_webhook_id,
};
use crate::{Error, Result};
use redb::{
    Database, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

mod access;
mod audit;
mod certs;
mod convergence;
mod domains;
mod events_log;
mod feed;
mod locks;
mod nodes;
mod purges;
mod queue;
mod webhooks;

type StrTable = TableDefinition<'static, &'static str, &'static str>;

/// The database's page cache, unless set.
const DEFAULT_CACHE_BYTES: usize = 32 << 20;
type SeqTable = TableDefinition<'static, u64, &'static str>;

const META: StrTable = TableDefinition::new("meta");
const DOMAINS: StrTable = TableDefinition::new("domains");
/// What the last onboarding check found per domain.
const DOMAINS_READY: StrTable = TableDefinition::new("domains_ready");
const NODES: StrTable = TableDefinition::new("nodes");
const CERTS: StrTable = TableDefinition::new("certs");
const ACME: StrTable = TableDefinition::new("acme");
const CHALLENGES: StrTable = TableDefinition::new("acme_challenges");
const CERT_KEYS: StrTable = TableDefinition::new("cert_keys");
const TOKENS: StrTable = TableDefinition::new("tokens");
const TOKEN_HASHES: StrTable = TableDefinition::new("token_hashes");
const USERS: StrTable = TableDefinition::new("users");
const SESSIONS: StrTable = TableDefinition::new("sessions");
const LOCKS: StrTable = TableDefinition::new("locks");
const CHANGES: SeqTable = TableDefinition::new("changes");
const JOBS: SeqTable = TableDefinition::new("jobs");
const AUDIT: SeqTable = TableDefinition::new("audit");
/// Events by id (`<ms>-<n>` as the pair), as the Redis Stream orders them.
const EVENTS: TableDefinition<'static, (u64, u64), &'static str> = TableDefinition::new("events");
const WEBHOOKS: StrTable = TableDefinition::new("webhooks");
const WEBHOOK_SECRETS: StrTable = TableDefinition::new("webhook_secrets");
const WEBHOOK_PROGRESS: StrTable = TableDefinition::new("webhook_progress");
/// A webhook's delivery log, dead letters and replays: `(id, seq)` keys.
type HookSeqTable = TableDefinition<'static, (&'static str, u64), &'static str>;
const WEBHOOK_LOG: HookSeqTable = TableDefinition::new("webhook_log");
const WEBHOOK_DEAD: HookSeqTable = TableDefinition::new("webhook_dead");
const WEBHOOK_REPLAYS: HookSeqTable = TableDefinition::new("webhook_replays");

const REV: &str = "rev";
const ACME_ACCOUNT: &str = "acme_account";
/// The edges' shared secret ([`NodeStore::cluster_secret`]).
const CLUSTER_SECRET: &str = "cluster_secret";
const JOB_SEQ: &str = "job_seq";
const AUDIT_SEQ: &str = "audit_seq";
/// Change-log keys are `revision * MSGS_PER_REV + index`.
const MSGS_PER_REV: u64 = 16;

/// Builder of an [`EmbeddedStore`].
#[derive(Debug, Clone)]
pub struct EmbeddedStoreBuilder {
    dir: PathBuf,
    changelog_len: usize,
    audit_len: usize,
    events_len: usize,
    events_age: Duration,
    event_buffer: usize,
    cache_bytes: usize,
    purge_records: usize,
}

impl EmbeddedStoreBuilder {
    /// A store kept in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            changelog_len: DEFAULT_CHANGELOG_LEN,
            audit_len: DEFAULT_AUDIT_LEN,
            events_len: DEFAULT_EVENTS_LEN,
            events_age: DEFAULT_EVENTS_AGE,
            event_buffer: 4096,
            cache_bytes: DEFAULT_CACHE_BYTES,
            purge_records: crate::store::PURGE_RECORDS_MAX,
        }
    }

    /// Memory for the database's page cache (default 32 MiB; redb's own
    /// default, 1 GiB, would let the process grow with the file). Reads
    /// past it come from the operating system's page cache.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes.max(crate::store::MIN_STORE_CACHE);
        self
    }

    /// Purge records kept in memory for acknowledgements (default 10,000;
    /// each also goes after a day).
    pub fn purge_records(mut self, len: usize) -> Self {
        self.purge_records = len.max(1);
        self
    }

    /// Change-log entries kept for resync.
    pub fn changelog_len(mut self, len: usize) -> Self {
        self.changelog_len = len.max(1);
        self
    }

    /// Audit records kept.
    pub fn audit_len(mut self, len: usize) -> Self {
        self.audit_len = len.max(1);
        self
    }

    /// Events kept (default 100,000).
    pub fn events_len(mut self, len: usize) -> Self {
        self.events_len = len.max(1);
        self
    }

    /// How long events are kept (default 7 days).
    pub fn events_age(mut self, age: Duration) -> Self {
        self.events_age = age.max(Duration::from_secs(1));
        self
    }

    /// Messages buffered for each subscriber before it lags (and resyncs).
    pub fn event_buffer(mut self, len: usize) -> Self {
        self.event_buffer = len.max(1);
        self
    }

    /// Opens (or creates) the database file `cirrus.redb` in the directory.
    pub fn open(self) -> Result<EmbeddedStore> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::backend(format!("cannot create {}: {e}", self.dir.display()), Some(e.into())))?;
        let path = self.dir.join("cirrus.redb");
        let db = redb::Builder::new()
            .set_cache_size(self.cache_bytes)
            .create(&path)
            .map_err(|e| Error::backend(format!("cannot open {}: {e}", path.display()), Some(e.into())))?;
        let tx = db.begin_write().map_err(db_err)?;
        for t in [
            META,
            DOMAINS,
            NODES,
            CERTS,
            ACME,
            CHALLENGES,
            CERT_KEYS,
            TOKENS,
            TOKEN_HASHES,
            USERS,
            SESSIONS,
            LOCKS,
            DOMAINS_READY,
            WEBHOOKS,
            WEBHOOK_SECRETS,
            WEBHOOK_PROGRESS,
        ] {
            tx.open_table(t).map_err(db_err)?;
        }
        for t in [CHANGES, JOBS, AUDIT] {
            tx.open_table(t).map_err(db_err)?;
        }
        tx.open_table(EVENTS).map_err(db_err)?;
        for t in [WEBHOOK_LOG, WEBHOOK_DEAD, WEBHOOK_REPLAYS] {
            tx.open_table(t).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        let (events, _) = broadcast::channel(self.event_buffer);
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                db,
                events,
                config: self,
                live: Mutex::default(),
            }),
        })
    }
}

/// The embedded backend. Cheap to clone; clones share the database.
///
/// ```
/// # async fn demo() -> cirrus_core::Result<()> {
/// use cirrus_core::{ChangeFeed, EmbeddedStore};
/// let dir = std::env::temp_dir().join("cirrus-doc-embedded");
/// let store = EmbeddedStore::open(&dir)?;
/// assert!(store.revision().await? >= 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    events: broadcast::Sender<ChangeRecord>,
    config: EmbeddedStoreBuilder,
    live: Mutex<convergence::Live>,
}

impl EmbeddedStore {
    fn live(&self) -> std::sync::MutexGuard<'_, convergence::Live> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("dir", &self.inner.config.dir)
            .finish_non_exhaustive()
    }
}

fn db_err(e: impl Into<redb::Error>) -> Error {
    let e: redb::Error = e.into();
    Error::backend(e.to_string(), Some(e.into()))
}

fn decode<T: serde::de::DeserializeOwned>(table: &str, key: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::corrupt(format!("{table}/{key}"), e))
}

fn encode<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::backend(format!("encoding failed: {e}"), Some(e.into())))
}

fn get_str(tx: &WriteTransaction, table: StrTable, key: &str) -> Result<Option<String>> {
    let t = tx.open_table(table).map_err(db_err)?;
    let v = t.get(key).map_err(db_err)?.map(|g| g.value().to_string());
    Ok(v)
}

fn put_str(tx: &WriteTransaction, table: StrTable, key: &str, value: &str) -> Result<()> {
    tx.open_table(table)
        .map_err(db_err)?
        .insert(key, value)
        .map_err(db_err)?;
    Ok(())
}

fn remove_str(tx: &WriteTransaction, table: StrTable, key: &str) -> Result<bool> {
    let mut t = tx.open_table(table).map_err(db_err)?;
    let existed = t.remove(key).map_err(db_err)?.is_some();
    Ok(existed)
}

fn read_str(tx: &ReadTransaction, table: StrTable, key: &str) -> Result<Option<String>> {
    let t = tx.open_table(table).map_err(db_err)?;
    let v = t.get(key).map_err(db_err)?.map(|g| g.value().to_string());
    Ok(v)
}

fn read_all(tx: &ReadTransaction, table: StrTable) -> Result<Vec<(String, String)>> {
    let t = tx.open_table(table).map_err(db_err)?;
    t.iter()
        .map_err(db_err)?
        .map(|r| {
            r.map(|(k, v)| (k.value().to_string(), v.value().to_string()))
                .map_err(db_err)
        })
        .collect()
}

fn next_seq(tx: &WriteTransaction, name: &str) -> Result<u64> {
    let n = get_str(tx, META, name)?
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    put_str(tx, META, name, &n.to_string())?;
    Ok(n)
}

/// Bumps the revision and logs the messages; returns the new revision and
/// what to broadcast once the transaction has committed.
fn announce(tx: &WriteTransaction, changelog_len: usize, pubs: &[(&str, String)]) -> Result<(u64, Vec<ChangeRecord>)> {
    let rev = next_seq(tx, REV)?;
    let mut t = tx.open_table(CHANGES).map_err(db_err)?;
    let mut records = Vec::with_capacity(pubs.len());
    for (i, (channel, payload)) in pubs.iter().enumerate() {
        let record = ChangeRecord {
            revision: rev,
            channel: (*channel).to_string(),
            payload: with_revision(payload, rev, now_ms()),
        };
        t.insert(rev * MSGS_PER_REV + i as u64, encode(&record)?.as_str())
            .map_err(db_err)?;
        records.push(record);
    }
    while t.len().map_err(db_err)? > changelog_len as u64 {
        t.pop_first().map_err(db_err)?;
    }
    Ok((rev, records))
}

impl EmbeddedStore {
    /// Opens (or creates) a store in `dir` with default settings.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        EmbeddedStoreBuilder::new(dir.as_ref()).open()
    }

    /// A builder for custom retention and buffering.
    pub fn builder(dir: impl Into<PathBuf>) -> EmbeddedStoreBuilder {
        EmbeddedStoreBuilder::new(dir)
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let span = tracing::debug_span!("store read", db.system = "redb");
        tokio::task::spawn_blocking(move || {
            let _in = span.enter();
            let tx = inner.db.begin_read().map_err(db_err)?;
            f(&tx)
        })
        .await
        .map_err(|e| Error::backend(format!("store task failed: {e}"), Some(e.into())))?
    }

    /// Runs `f` in one write transaction; records it returns are broadcast
    /// after the commit.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &EmbeddedStoreBuilder) -> Result<(T, Vec<ChangeRecord>)> + Send + 'static,
    {
        let inner = self.inner.clone();
        let span = tracing::debug_span!("store write", db.system = "redb");
        tokio::task::spawn_blocking(move || {
            let _in = span.enter();
            let tx = inner.db.begin_write().map_err(db_err)?;
            let (value, records) = f(&tx, &inner.config)?;
            tx.commit().map_err(db_err)?;
            for r in records {
                // No receiver is fine: nobody subscribed yet.
                let _ = inner.events.send(r);
            }
            Ok(value)
        })
        .await
        .map_err(|e| Error::backend(format!("store task failed: {e}"), Some(e.into())))?
    }

    async fn get_json<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: StrTable,
        key: &str,
    ) -> Result<Option<T>> {
        let key = key.to_string();
        self.read(move |tx| {
            read_str(tx, table, &key)?
                .map(|j| decode(table.name(), &key, &j))
                .transpose()
        })
        .await
    }

    async fn put_plain(&self, table: StrTable, key: &str, value: String) -> Result<()> {
        let key = key.to_string();
        self.write(move |tx, _| Ok((put_str(tx, table, &key, &value)?, Vec::new())))
            .await
    }

    async fn keys_of(&self, table: StrTable) -> Result<Vec<String>> {
        self.read(move |tx| Ok(read_all(tx, table)?.into_iter().map(|(k, _)| k).collect()))
            .await
    }
}
