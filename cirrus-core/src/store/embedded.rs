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
use super::{DEFAULT_AUDIT_LEN, DEFAULT_CHANGELOG_LEN, Store, Write, now_ms, validated_domain, validated_node};
use crate::model::{
    AcmeState, AuditRecord, CertBundle, DomainConf, EdgeReport, Job, NewJob, Node, NodeHealth, PurgeRecord,
    PurgeRequest, ServiceToken, Session, User,
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

mod convergence;

type StrTable = TableDefinition<'static, &'static str, &'static str>;
type SeqTable = TableDefinition<'static, u64, &'static str>;

const META: StrTable = TableDefinition::new("meta");
const DOMAINS: StrTable = TableDefinition::new("domains");
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

const REV: &str = "rev";
const ACME_ACCOUNT: &str = "acme_account";
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
    event_buffer: usize,
}

impl EmbeddedStoreBuilder {
    /// A store kept in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            changelog_len: DEFAULT_CHANGELOG_LEN,
            audit_len: DEFAULT_AUDIT_LEN,
            event_buffer: 4096,
        }
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

    /// Messages buffered for each subscriber before it lags (and resyncs).
    pub fn event_buffer(mut self, len: usize) -> Self {
        self.event_buffer = len.max(1);
        self
    }

    /// Opens (or creates) the database file `cirrus.redb` in the directory.
    pub fn open(self) -> Result<EmbeddedStore> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::Backend(format!("cannot create {}: {e}", self.dir.display())))?;
        let path = self.dir.join("cirrus.redb");
        let db = Database::create(&path).map_err(|e| Error::Backend(format!("cannot open {}: {e}", path.display())))?;
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
        ] {
            tx.open_table(t).map_err(db_err)?;
        }
        for t in [CHANGES, JOBS, AUDIT] {
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
/// use cirrus_core::{EmbeddedStore, Store};
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
    Error::Backend(e.into().to_string())
}

fn decode<T: serde::de::DeserializeOwned>(table: &str, key: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::corrupt(format!("{table}/{key}"), e))
}

fn encode<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Backend(format!("encoding failed: {e}")))
}

#[derive(Serialize, Deserialize)]
struct StoredToken {
    token: ServiceToken,
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct StoredSession {
    session: Session,
    expires_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredLock {
    owner: String,
    expires_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredJob {
    job: NewJob,
    claimed_by: Option<String>,
    claimed_at_ms: u64,
    deliveries: u32,
    /// Not handed out before this (Unix ms): a retry's backoff.
    #[serde(default)]
    not_before_ms: u64,
}

/// The lock at `key` when `owner` holds it and it has not expired.
fn held_by(tx: &WriteTransaction, key: &str, owner: &str) -> Result<Option<StoredLock>> {
    let Some(j) = get_str(tx, LOCKS, key)? else {
        return Ok(None);
    };
    let held: StoredLock = decode("locks", key, &j)?;
    Ok((held.owner == owner && held.expires_ms > now_ms()).then_some(held))
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

fn domain_pubs(names: &[String], reason: &str) -> Vec<(&'static str, String)> {
    vec![
        (channels::CONFIG, config_payload_many("domain", names)),
        (channels::CNAME_DIRTY, cname_payload(reason)),
    ]
}

fn node_pubs(id: &str, reason: &str) -> Vec<(&'static str, String)> {
    vec![
        (channels::CONFIG, config_payload(&Change::Node(id.to_string()))),
        (channels::CNAME_DIRTY, cname_payload(reason)),
    ]
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
        tokio::task::spawn_blocking(move || {
            let tx = inner.db.begin_read().map_err(db_err)?;
            f(&tx)
        })
        .await
        .map_err(|e| Error::Backend(format!("store task failed: {e}")))?
    }

    /// Runs `f` in one write transaction; records it returns are broadcast
    /// after the commit.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction, &EmbeddedStoreBuilder) -> Result<(T, Vec<ChangeRecord>)> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
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
        .map_err(|e| Error::Backend(format!("store task failed: {e}")))?
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

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn ping(&self) -> Result<()> {
        self.read(|_| Ok(())).await
    }

    async fn revision(&self) -> Result<u64> {
        self.read(|tx| Ok(read_str(tx, META, REV)?.and_then(|s| s.parse().ok()).unwrap_or(0)))
            .await
    }

    async fn changes_since(&self, revision: u64) -> Result<ChangesSince> {
        self.read(move |tx| {
            let current = read_str(tx, META, REV)?.and_then(|s| s.parse().ok()).unwrap_or(0);
            if revision >= current {
                return Ok(ChangesSince {
                    current,
                    records: Vec::new(),
                    complete: true,
                });
            }
            let t = tx.open_table(CHANGES).map_err(db_err)?;
            let mut records = Vec::new();
            for entry in t.range((revision + 1) * MSGS_PER_REV..).map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                records.push(decode::<ChangeRecord>("changes", &k.value().to_string(), v.value())?);
            }
            let complete = records.first().is_some_and(|r| r.revision == revision + 1);
            Ok(ChangesSince {
                current,
                records,
                complete,
            })
        })
        .await
    }

    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription> {
        let mut rx = self.inner.events.subscribe();
        let (tx, events) = mpsc::channel(options.buffer.max(1));
        let mut tracker = Tracker::start(self, options.from_revision, tx).await?;
        let store = self.clone();
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(r) => {
                        if !tracker.live(&r.channel, r.payload.as_bytes()).await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "store subscriber lagged; resyncing");
                        let mut delay = options.reconnect_min;
                        loop {
                            match tracker.resync(&store).await {
                                Ok(true) => break,
                                Ok(false) => return,
                                Err(e) => tracing::warn!(error = %e, "resync failed"),
                            }
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(options.reconnect_max);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Subscription::new(events, task))
    }

    async fn publish_purge(&self, purge: &PurgeRequest) -> Result<u64> {
        let purge = purge.clone().validated()?;
        if let Some(id) = &purge.id {
            self.live().record_purge(id, &purge.domain, now_ms());
        }
        let payload = encode(&purge)?;
        self.write(move |tx, cfg| {
            let (rev, recs) = announce(tx, cfg.changelog_len, &[(channels::PURGE, payload)])?;
            Ok((rev, recs))
        })
        .await
    }

    async fn put_challenge(&self, domain: &str, values: &[String]) -> Result<u64> {
        let (domain, json) = (domain.to_string(), encode(&values)?);
        let empty = values.is_empty();
        let payload = cname_payload(&format!("challenge {domain}"));
        self.write(move |tx, cfg| {
            if empty {
                remove_str(tx, CHALLENGES, &domain)?;
            } else {
                put_str(tx, CHALLENGES, &domain, &json)?;
            }
            announce(tx, cfg.changelog_len, &[(channels::CNAME_DIRTY, payload)])
        })
        .await
    }

    async fn challenges(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        self.read(|tx| {
            read_all(tx, CHALLENGES)?
                .iter()
                .map(|(k, v)| Ok((k.clone(), decode("acme_challenges", k, v)?)))
                .collect()
        })
        .await
    }

    async fn report_edge(&self, id: &str, report: &EdgeReport) -> Result<bool> {
        if self.get_json::<Node>(NODES, id).await?.is_none() {
            return Ok(false);
        }
        self.live().report(id, report);
        Ok(true)
    }

    async fn ack_purge(&self, id: &str, node: &str, applied_ms: u64) -> Result<bool> {
        Ok(self.live().ack(id, node, applied_ms, now_ms()))
    }

    async fn purge_record(&self, id: &str) -> Result<Option<PurgeRecord>> {
        Ok(self.live().purge(id, now_ms()))
    }

    async fn recent_purges(&self, limit: usize) -> Result<Vec<PurgeRecord>> {
        Ok(self.live().recent(limit, now_ms()))
    }

    async fn mark_cname_dirty(&self, reason: &str) -> Result<u64> {
        let payload = cname_payload(reason);
        self.write(move |tx, cfg| {
            let (rev, recs) = announce(tx, cfg.changelog_len, &[(channels::CNAME_DIRTY, payload)])?;
            Ok((rev, recs))
        })
        .await
    }

    async fn domain_names(&self) -> Result<Vec<String>> {
        self.keys_of(DOMAINS).await
    }

    async fn get_domain(&self, name: &str) -> Result<Option<DomainConf>> {
        self.get_json(DOMAINS, name).await
    }

    async fn put_domain(&self, conf: &DomainConf) -> Result<Write> {
        let conf = validated_domain(conf)?;
        let json = encode(&conf)?;
        self.write(move |tx, cfg| {
            let existed = get_str(tx, DOMAINS, &conf.domain)?.is_some();
            put_str(tx, DOMAINS, &conf.domain, &json)?;
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &domain_pubs(std::slice::from_ref(&conf.domain), &format!("domain {}", conf.domain)),
            )?;
            Ok((
                Write {
                    revision: rev,
                    created: !existed,
                },
                recs,
            ))
        })
        .await
    }

    async fn put_domains(&self, confs: &[DomainConf]) -> Result<u64> {
        let confs: Vec<(String, String)> = confs
            .iter()
            .map(|c| {
                let c = validated_domain(c)?;
                Ok((c.domain.clone(), encode(&c)?))
            })
            .collect::<Result<_>>()?;
        if confs.is_empty() {
            return self.revision().await;
        }
        self.write(move |tx, cfg| {
            {
                let mut t = tx.open_table(DOMAINS).map_err(db_err)?;
                for (name, json) in &confs {
                    t.insert(name.as_str(), json.as_str()).map_err(db_err)?;
                }
            }
            let names: Vec<String> = confs.into_iter().map(|(n, _)| n).collect();
            let (rev, recs) = announce(tx, cfg.changelog_len, &domain_pubs(&names, "bulk import"))?;
            Ok((rev, recs))
        })
        .await
    }

    async fn delete_domain(&self, name: &str) -> Result<Option<u64>> {
        let name = name.to_string();
        self.write(move |tx, cfg| {
            if !remove_str(tx, DOMAINS, &name)? {
                return Ok((None, Vec::new()));
            }
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &domain_pubs(std::slice::from_ref(&name), &format!("domain {name} deleted")),
            )?;
            Ok((Some(rev), recs))
        })
        .await
    }

    async fn nodes(&self) -> Result<Vec<Node>> {
        let nodes: Vec<Node> = self
            .read(|tx| {
                read_all(tx, NODES)?
                    .iter()
                    .map(|(k, v)| decode("nodes", k, v))
                    .collect()
            })
            .await?;
        let live = self.live();
        Ok(nodes.into_iter().map(|n| live.with_report(n)).collect())
    }

    async fn get_node(&self, id: &str) -> Result<Option<Node>> {
        let node: Option<Node> = self.get_json(NODES, id).await?;
        Ok(node.map(|n| self.live().with_report(n)))
    }

    async fn put_node(&self, node: &Node) -> Result<Write> {
        let mut node = validated_node(node)?;
        self.write(move |tx, cfg| {
            let old: Option<Node> = get_str(tx, NODES, &node.id)?
                .map(|j| decode("nodes", &node.id, &j))
                .transpose()?;
            if let Some(old) = &old {
                node.active = old.active;
                node.health = old.health.clone();
                node.last_seen = old.last_seen;
            }
            put_str(tx, NODES, &node.id, &encode(&node)?)?;
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &node_pubs(&node.id, &format!("node {}", node.id)),
            )?;
            Ok((
                Write {
                    revision: rev,
                    created: old.is_none(),
                },
                recs,
            ))
        })
        .await
    }

    async fn delete_node(&self, id: &str) -> Result<Option<u64>> {
        let id = id.to_string();
        let forget = id.clone();
        let deleted = self
            .write(move |tx, cfg| {
                if !remove_str(tx, NODES, &id)? {
                    return Ok((None, Vec::new()));
                }
                let (rev, recs) = announce(tx, cfg.changelog_len, &node_pubs(&id, &format!("node {id} deleted")))?;
                Ok((Some(rev), recs))
            })
            .await?;
        if deleted.is_some() {
            self.live().forget_node(&forget);
        }
        Ok(deleted)
    }

    async fn record_node_health(
        &self,
        id: &str,
        health: &NodeHealth,
        active: bool,
        last_seen: Option<u64>,
    ) -> Result<Option<u64>> {
        let (id, health) = (id.to_string(), health.clone());
        self.write(move |tx, cfg| {
            let Some(json) = get_str(tx, NODES, &id)? else {
                return Ok((None, Vec::new()));
            };
            let mut node: Node = decode("nodes", &id, &json)?;
            let flipped = node.active != active;
            node.active = active;
            let last_check = health.last_check.or(node.health.last_check);
            node.health = NodeHealth { last_check, ..health };
            node.last_seen = last_seen.or(node.last_seen);
            put_str(tx, NODES, &id, &encode(&node)?)?;
            if !flipped {
                return Ok((None, Vec::new()));
            }
            let reason = format!("node {id} {}", if active { "up" } else { "down" });
            let (rev, recs) = announce(tx, cfg.changelog_len, &node_pubs(&id, &reason))?;
            Ok((Some(rev), recs))
        })
        .await
    }

    async fn get_cert(&self, domain: &str) -> Result<Option<CertBundle>> {
        self.get_json(CERTS, domain).await
    }

    async fn put_cert(&self, domain: &str, cert: &CertBundle) -> Result<u64> {
        let (domain, json) = (domain.to_string(), encode(cert)?);
        self.write(move |tx, cfg| {
            put_str(tx, CERTS, &domain, &json)?;
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &[(channels::CONFIG, config_payload(&Change::Certificate(domain)))],
            )?;
            Ok((rev, recs))
        })
        .await
    }

    async fn delete_cert(&self, domain: &str) -> Result<Option<u64>> {
        let domain = domain.to_string();
        self.write(move |tx, cfg| {
            if !remove_str(tx, CERTS, &domain)? {
                return Ok((None, Vec::new()));
            }
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &[(channels::CONFIG, config_payload(&Change::Certificate(domain)))],
            )?;
            Ok((Some(rev), recs))
        })
        .await
    }

    async fn cert_expiries(&self) -> Result<Vec<(String, u64)>> {
        self.read(|tx| {
            let domains = read_all(tx, DOMAINS)?;
            let configured: std::collections::HashSet<&str> = domains.iter().map(|(k, _)| k.as_str()).collect();
            let mut ends = Vec::new();
            for (domain, json) in read_all(tx, CERTS)? {
                let cert: CertBundle = decode(CERTS.name(), &domain, &json)?;
                if let (true, Some(end)) = (configured.contains(domain.as_str()), cert.not_after) {
                    ends.push((domain, end));
                }
            }
            Ok(ends)
        })
        .await
    }

    async fn get_acme_state(&self, domain: &str) -> Result<Option<AcmeState>> {
        self.get_json(ACME, domain).await
    }

    async fn put_acme_state(&self, domain: &str, state: &AcmeState) -> Result<()> {
        self.put_plain(ACME, domain, encode(state)?).await
    }

    async fn get_acme_account(&self) -> Result<Option<String>> {
        self.read(|tx| read_str(tx, META, ACME_ACCOUNT)).await
    }

    async fn put_acme_account(&self, credentials: &str) -> Result<()> {
        self.put_plain(META, ACME_ACCOUNT, credentials.to_string()).await
    }

    async fn get_cert_key(&self, domain: &str) -> Result<Option<String>> {
        let domain = domain.to_string();
        self.read(move |tx| read_str(tx, CERT_KEYS, &domain)).await
    }

    async fn put_cert_key(&self, domain: &str, pem: &str) -> Result<()> {
        self.put_plain(CERT_KEYS, domain, pem.to_string()).await
    }

    async fn try_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool> {
        let (key, owner) = (lock.key(), owner.to_string());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.write(move |tx, _| {
            let now = now_ms();
            if let Some(j) = get_str(tx, LOCKS, &key)? {
                let held: StoredLock = decode("locks", &key, &j)?;
                if held.expires_ms > now {
                    return Ok((false, Vec::new()));
                }
            }
            let lock = StoredLock {
                owner,
                expires_ms: now.saturating_add(ttl_ms),
            };
            put_str(tx, LOCKS, &key, &encode(&lock)?)?;
            Ok((true, Vec::new()))
        })
        .await
    }

    async fn extend_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool> {
        let (key, owner) = (lock.key(), owner.to_string());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.write(move |tx, _| {
            let Some(mut held) = held_by(tx, &key, &owner)? else {
                return Ok((false, Vec::new()));
            };
            held.expires_ms = now_ms().saturating_add(ttl_ms);
            put_str(tx, LOCKS, &key, &encode(&held)?)?;
            Ok((true, Vec::new()))
        })
        .await
    }

    async fn unlock(&self, lock: &Lock, owner: &str) -> Result<bool> {
        let (key, owner) = (lock.key(), owner.to_string());
        self.write(move |tx, _| {
            if held_by(tx, &key, &owner)?.is_none() {
                return Ok((false, Vec::new()));
            }
            remove_str(tx, LOCKS, &key)?;
            Ok((true, Vec::new()))
        })
        .await
    }

    async fn lock_owner(&self, lock: &Lock) -> Result<Option<String>> {
        let key = lock.key();
        self.read(move |tx| {
            let Some(j) = read_str(tx, LOCKS, &key)? else {
                return Ok(None);
            };
            let held: StoredLock = decode("locks", &key, &j)?;
            Ok((held.expires_ms > now_ms()).then_some(held.owner))
        })
        .await
    }

    async fn put_token(&self, token: &ServiceToken, secret_hash: &str) -> Result<()> {
        let stored = StoredToken {
            token: token.clone().validated()?,
            hash: secret_hash.to_string(),
        };
        self.write(move |tx, _| {
            let id = stored.token.id.clone();
            if let Some(old) = get_str(tx, TOKENS, &id)? {
                let old: StoredToken = decode("tokens", &id, &old)?;
                remove_str(tx, TOKEN_HASHES, &old.hash)?;
            }
            put_str(tx, TOKEN_HASHES, &stored.hash, &id)?;
            put_str(tx, TOKENS, &id, &encode(&stored)?)?;
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn get_token(&self, id: &str) -> Result<Option<ServiceToken>> {
        Ok(self.get_json::<StoredToken>(TOKENS, id).await?.map(|s| s.token))
    }

    async fn token_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ServiceToken>> {
        let hash = secret_hash.to_string();
        self.read(move |tx| {
            let Some(id) = read_str(tx, TOKEN_HASHES, &hash)? else {
                return Ok(None);
            };
            let Some(j) = read_str(tx, TOKENS, &id)? else {
                return Ok(None);
            };
            let stored: StoredToken = decode("tokens", &id, &j)?;
            Ok((stored.hash == hash).then_some(stored.token))
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<ServiceToken>> {
        self.read(|tx| {
            read_all(tx, TOKENS)?
                .iter()
                .map(|(k, v)| decode::<StoredToken>("tokens", k, v).map(|s| s.token))
                .collect()
        })
        .await
    }

    async fn delete_token(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx, _| {
            let Some(j) = get_str(tx, TOKENS, &id)? else {
                return Ok((false, Vec::new()));
            };
            let stored: StoredToken = decode("tokens", &id, &j)?;
            remove_str(tx, TOKEN_HASHES, &stored.hash)?;
            remove_str(tx, TOKENS, &id)?;
            Ok((true, Vec::new()))
        })
        .await
    }

    async fn put_user(&self, user: &User) -> Result<()> {
        self.put_plain(USERS, &user.name, encode(user)?).await
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>> {
        self.get_json(USERS, name).await
    }

    async fn user_names(&self) -> Result<Vec<String>> {
        self.keys_of(USERS).await
    }

    async fn delete_user(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |tx, _| Ok((remove_str(tx, USERS, &name)?, Vec::new())))
            .await
    }

    async fn put_session(&self, session: &Session, ttl: Duration) -> Result<()> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let stored = StoredSession {
            session: session.clone(),
            expires_ms: now_ms().saturating_add(ttl_ms),
        };
        self.put_plain(SESSIONS, &session.id, encode(&stored)?).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        let s: Option<StoredSession> = self.get_json(SESSIONS, id).await?;
        Ok(s.filter(|s| s.expires_ms > now_ms()).map(|s| s.session))
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx, _| {
            let Some(j) = get_str(tx, SESSIONS, &id)? else {
                return Ok((false, Vec::new()));
            };
            let s: StoredSession = decode("sessions", &id, &j)?;
            remove_str(tx, SESSIONS, &id)?;
            Ok((s.expires_ms > now_ms(), Vec::new()))
        })
        .await
    }

    async fn enqueue(&self, job: &NewJob) -> Result<String> {
        let stored = StoredJob {
            job: job.clone(),
            claimed_by: None,
            claimed_at_ms: 0,
            deliveries: 0,
            not_before_ms: 0,
        };
        self.write(move |tx, _| {
            let id = next_seq(tx, JOB_SEQ)?;
            tx.open_table(JOBS)
                .map_err(db_err)?
                .insert(id, encode(&stored)?.as_str())
                .map_err(db_err)?;
            Ok((id.to_string(), Vec::new()))
        })
        .await
    }

    async fn claim(&self, consumer: &str, visibility: Duration) -> Result<Option<Job>> {
        let consumer = consumer.to_string();
        let vis_ms = u64::try_from(visibility.as_millis()).unwrap_or(u64::MAX);
        self.write(move |tx, _| {
            let now = now_ms();
            let mut t = tx.open_table(JOBS).map_err(db_err)?;
            let mut found = None;
            for entry in t.iter().map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                let job: StoredJob = decode("jobs", &k.value().to_string(), v.value())?;
                let free = job.claimed_by.is_none() || job.claimed_at_ms.saturating_add(vis_ms) <= now;
                if free && job.not_before_ms <= now {
                    found = Some((k.value(), job));
                    break;
                }
            }
            let Some((id, mut job)) = found else {
                return Ok((None, Vec::new()));
            };
            job.claimed_by = Some(consumer);
            job.claimed_at_ms = now;
            job.deliveries = job.deliveries.saturating_add(1);
            t.insert(id, encode(&job)?.as_str()).map_err(db_err)?;
            Ok((
                Some(Job {
                    id: id.to_string(),
                    job: job.job,
                    attempts: job.deliveries,
                }),
                Vec::new(),
            ))
        })
        .await
    }

    async fn retry_later(&self, job: &Job, delay: Duration) -> Result<bool> {
        let Ok(id) = job.id.parse::<u64>() else {
            return Ok(false);
        };
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.write(move |tx, _| {
            let mut t = tx.open_table(JOBS).map_err(db_err)?;
            let stored = t.get(id).map_err(db_err)?.map(|v| v.value().to_string());
            let Some(json) = stored else {
                return Ok((false, Vec::new()));
            };
            let mut stored: StoredJob = decode("jobs", &id.to_string(), &json)?;
            stored.claimed_by = None;
            stored.not_before_ms = now_ms().saturating_add(delay_ms);
            t.insert(id, encode(&stored)?.as_str()).map_err(db_err)?;
            Ok((true, Vec::new()))
        })
        .await
    }

    async fn ack(&self, id: &str) -> Result<bool> {
        let Ok(id) = id.parse::<u64>() else { return Ok(false) };
        self.write(move |tx, _| {
            let existed = tx
                .open_table(JOBS)
                .map_err(db_err)?
                .remove(id)
                .map_err(db_err)?
                .is_some();
            Ok((existed, Vec::new()))
        })
        .await
    }

    async fn queue_depth(&self) -> Result<u64> {
        self.read(|tx| tx.open_table(JOBS).map_err(db_err)?.len().map_err(db_err))
            .await
    }

    async fn append_audit(&self, record: &AuditRecord) -> Result<()> {
        let json = encode(record)?;
        self.write(move |tx, cfg| {
            let seq = next_seq(tx, AUDIT_SEQ)?;
            let cap = u64::try_from(cfg.audit_len).unwrap_or(u64::MAX);
            let mut t = tx.open_table(AUDIT).map_err(db_err)?;
            t.insert(seq, json.as_str()).map_err(db_err)?;
            while t.len().map_err(db_err)? > cap {
                t.pop_first().map_err(db_err)?;
            }
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn recent_audit(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        self.read(move |tx| {
            let t = tx.open_table(AUDIT).map_err(db_err)?;
            let mut out = Vec::new();
            for entry in t.iter().map_err(db_err)?.rev().take(limit) {
                let (k, v) = entry.map_err(db_err)?;
                out.push(decode("audit", &k.value().to_string(), v.value())?);
            }
            Ok(out)
        })
        .await
    }
}
