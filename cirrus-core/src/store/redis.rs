//! Redis backend: the key layout of DESIGN.md, multi-key changes in one Lua
//! script (atomic with the revision bump and the publish), a
//! self-reconnecting connection, and subscriptions that resync after
//! reconnecting. Redis being down is `Error::Unavailable`, never a panic.

use super::events::{
    ChangeRecord, ChangesSince, SubscribeOptions, Subscription, Tracker, channels, cname_payload, config_payload,
    config_payload_many,
};
use super::keys::{self, Lock};
use super::{
    AccessStore, AuditLog, CertStore, ChangeFeed, DEFAULT_AUDIT_LEN, DEFAULT_CHANGELOG_LEN, DEFAULT_EVENTS_AGE,
    DEFAULT_EVENTS_LEN, DELIVERY_LOG_LEN, DomainStore, EventLog, JobQueue, LockStore, NodeStore, Ping, PurgeLog,
    WebhookStore, Write, validated_domain, validated_node,
};
use crate::model::{
    AcmeState, AuditRecord, CertBundle, Delivery, DeliveryOutcome, DomainConf, EdgeReport, EventId, EventRecord,
    NewEvent, Node, NodeHealth, PurgeRecord, PurgeRequest, Scope, ServiceToken, Session, User, Webhook,
    WebhookProgress, WebhookSecrets, is_webhook_id,
};
use crate::store::events::Change;
use crate::{Error, Result};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::{Client, RedisError, Script, Value, cmd};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::sync::mpsc;

mod access;
mod audit;
mod certs;
mod convergence;
mod domains;
mod events_log;
mod feed;
mod jobs;
mod locks;
mod nodes;
mod purges;
mod sentinel;
mod traced;
mod webhooks;

/// Runs a configuration change atomically: optional guard, the operations,
/// the revision bump, the publishes and their change-log entries.
const COMMIT_LUA: &str = r#"
local ops = cjson.decode(ARGV[1])
local pubs = cjson.decode(ARGV[2])
local guard = ARGV[3]
local existed = 0
if guard ~= '' then existed = redis.call('EXISTS', guard) end
if ARGV[4] == 'require' and existed == 0 then return {0, 0} end
local announce = #pubs > 0
if ARGV[6] ~= '' then
  local c = cjson.decode(ARGV[6])
  if redis.call('HGET', c[1], c[2]) == c[3] then announce = false end
end
for _, op in ipairs(ops) do redis.call(unpack(op)) end
if not announce then return {0, existed} end
local rev = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local head = '{"rev":' .. rev .. ',"at":' .. string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
for _, p in ipairs(pubs) do
  local body
  if p[2] == '{}' then body = head .. '}'
  else body = head .. ',' .. string.sub(p[2], 2) end
  redis.call('PUBLISH', p[1], body)
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], '*', 'rev', rev, 'channel', p[1], 'payload', body)
end
return {rev, existed}
"#;

const UNLOCK_LUA: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

const EXTEND_LOCK_LUA: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"#;

const DELETE_TOKEN_LUA: &str = r#"
local h = redis.call('HGET', KEYS[1], 'hash')
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if h then redis.call('DEL', ARGV[2] .. h) end
return existed
"#;

/// Bulk imports are split into scripts of this many domains, so Redis is
/// never blocked for long.
const BULK_CHUNK: usize = 1000;

/// Builder of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    url: String,
    response_timeout: Duration,
    connection_timeout: Duration,
    changelog_len: usize,
    audit_len: usize,
    events_len: usize,
    events_age: Duration,
    replica_acks: Option<(usize, Duration)>,
}

impl RedisStoreBuilder {
    /// A builder for `redis://host:port[/db]`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            response_timeout: Duration::from_secs(3),
            connection_timeout: Duration::from_secs(2),
            changelog_len: DEFAULT_CHANGELOG_LEN,
            audit_len: DEFAULT_AUDIT_LEN,
            events_len: DEFAULT_EVENTS_LEN,
            events_age: DEFAULT_EVENTS_AGE,
            replica_acks: None,
        }
    }

    /// Acknowledges a configuration write, purge, token or job only once
    /// `replicas` replicas have it (Redis `WAIT`), waiting at most
    /// `timeout`; fewer in time fail the write as unavailable (it is on the
    /// master, not yet safe from a failover; a retry is harmless). Default:
    /// none for `redis://`, one within a second for `redis+sentinel://`
    /// (its `acks` and `ack_timeout_ms` parameters say otherwise). The
    /// trade-off: with no replica reachable, writes are refused.
    pub fn replica_acks(mut self, replicas: usize, timeout: Duration) -> Self {
        self.replica_acks = Some((replicas, timeout));
        self
    }

    /// How long a command may wait for its answer.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long connecting may take.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Change-log entries kept for resync (`cdn:changes`, approximate).
    pub fn changelog_len(mut self, len: usize) -> Self {
        self.changelog_len = len.max(1);
        self
    }

    /// Audit records kept (`cdn:audit`, approximate).
    pub fn audit_len(mut self, len: usize) -> Self {
        self.audit_len = len.max(1);
        self
    }

    /// Events kept (`cdn:events`; default 100,000).
    pub fn events_len(mut self, len: usize) -> Self {
        self.events_len = len.max(1);
        self
    }

    /// How long events are kept (default 7 days).
    pub fn events_age(mut self, age: Duration) -> Self {
        self.events_age = age.max(Duration::from_secs(1));
        self
    }

    /// Creates the store. Connecting is lazy: a Redis that is down makes
    /// calls fail with [`Error::Unavailable`] until it is back. Must be called
    /// inside a Tokio runtime.
    pub fn build(self) -> Result<RedisStore> {
        let mut config = self;
        let (client, sentinel) = if config.url.starts_with("redis+sentinel://") {
            let url = sentinel::SentinelUrl::parse(&config.url)?;
            let (sentinel, client) = sentinel::resolve_now(&url)?;
            config.replica_acks = config.replica_acks.or(Some(url.acks));
            (client, Some(sentinel))
        } else {
            let client = Client::open(config.url.as_str())
                .map_err(|e| Error::backend(format!("bad Redis URL: {e}"), Some(e.into())))?;
            (client, None)
        };
        let link = Link::new(client, &config)?;
        let inner = Arc::new(Inner {
            link: std::sync::RwLock::new(link),
            moved: tokio::sync::watch::Sender::new(0),
            commit: Script::new(COMMIT_LUA),
            unlock: Script::new(UNLOCK_LUA),
            extend_lock: Script::new(EXTEND_LOCK_LUA),
            delete_token: Script::new(DELETE_TOKEN_LUA),
            hset_if_exists: Script::new(convergence::HSET_IF_EXISTS_LUA),
            defer: Script::new(jobs::DEFER_LUA),
            promote: Script::new(jobs::PROMOTE_LUA),
            group_ready: AtomicBool::new(false),
            domain_index_ready: AtomicBool::new(false),
            config,
        });
        if let Some(sentinel) = sentinel {
            tokio::spawn(sentinel::follow(Arc::downgrade(&inner), sentinel));
        }
        Ok(RedisStore { inner })
    }
}

/// The server the store talks to: its client (for subscriptions) and the
/// shared, self-reconnecting connection. Replaced when Sentinel names
/// another master.
#[derive(Clone)]
struct Link {
    client: Client,
    conn: ConnectionManager,
}

impl Link {
    fn new(client: Client, config: &RedisStoreBuilder) -> Result<Self> {
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connection_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager).map_err(map_err)?;
        Ok(Self { client, conn })
    }
}

/// The Redis backend. Cheap to clone; clones share one connection.
///
/// ```no_run
/// # async fn demo() -> cirrus_core::Result<()> {
/// use cirrus_core::{DomainStore, RedisStore};
/// let store = RedisStore::connect("redis://127.0.0.1:6379")?;
/// println!("{} domains", store.domain_names().await?.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    link: std::sync::RwLock<Link>,
    /// Counts the moves to another master (subscriptions resubscribe).
    moved: tokio::sync::watch::Sender<u64>,
    commit: Script,
    unlock: Script,
    extend_lock: Script,
    delete_token: Script,
    hset_if_exists: Script,
    defer: Script,
    promote: Script,
    group_ready: AtomicBool,
    domain_index_ready: AtomicBool,
    config: RedisStoreBuilder,
}

impl Inner {
    fn link(&self) -> Link {
        self.link.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_link(&self, link: Link) {
        *self.link.write().unwrap_or_else(|p| p.into_inner()) = link;
        self.moved.send_modify(|n| *n += 1);
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let link = self.inner.link();
        f.debug_struct("RedisStore")
            .field("addr", &link.client.get_connection_info().addr().to_string())
            .finish_non_exhaustive()
    }
}

fn map_err(e: RedisError) -> Error {
    // A master demoted to a replica answers READONLY until the store
    // follows the new one: unavailable for now, like a dropped connection.
    let read_only = e.code() == Some("READONLY");
    if read_only || e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() {
        Error::unavailable(e.to_string(), Some(e.into()))
    } else {
        Error::backend(e.to_string(), Some(e.into()))
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::corrupt(key, e))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::backend(format!("encoding failed: {e}"), Some(e.into())))
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

/// A change to apply with `COMMIT_LUA`.
#[derive(Default)]
struct Commit {
    ops: Vec<Vec<String>>,
    pubs: Vec<(&'static str, String)>,
    guard: Option<String>,
    require_guard: bool,
    unless_field_is: Option<[String; 3]>,
}

impl Commit {
    fn op(&mut self, parts: &[&str]) -> &mut Self {
        self.ops.push(parts.iter().map(|s| s.to_string()).collect());
        self
    }
    fn announce(&mut self, change: &Change) -> &mut Self {
        self.pubs.push((channels::CONFIG, config_payload(change)));
        self
    }
    fn cname_dirty(&mut self, reason: &str) -> &mut Self {
        self.pubs.push((channels::CNAME_DIRTY, cname_payload(reason)));
        self
    }
}

impl RedisStore {
    /// Connects (lazily) with default settings.
    pub fn connect(url: &str) -> Result<Self> {
        RedisStoreBuilder::new(url).build()
    }

    /// A builder for custom timeouts and retention.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url)
    }

    fn conn(&self) -> traced::Traced {
        traced::Traced(self.inner.link().conn)
    }

    async fn query<T: redis::FromRedisValue>(&self, c: &redis::Cmd) -> Result<T> {
        c.query_async(&mut self.conn()).await.map_err(map_err)
    }

    /// Returns (revision, existed). Revision 0: nothing announced (guard
    /// missing, or the watched field already had the value).
    async fn commit(&self, c: Commit) -> Result<(u64, bool)> {
        let ops = serde_json::to_string(&c.ops).map_err(|e| Error::backend(e.to_string(), Some(e.into())))?;
        let pubs: Vec<[&str; 2]> = c.pubs.iter().map(|(ch, p)| [*ch, p.as_str()]).collect();
        let pubs = serde_json::to_string(&pubs).map_err(|e| Error::backend(e.to_string(), Some(e.into())))?;
        let unless = match &c.unless_field_is {
            Some(u) => serde_json::to_string(u).map_err(|e| Error::backend(e.to_string(), Some(e.into())))?,
            None => String::new(),
        };
        let (rev, existed): (u64, i64) = self
            .inner
            .commit
            .key(keys::REVISION)
            .key(keys::CHANGES)
            .arg(ops)
            .arg(pubs)
            .arg(c.guard.unwrap_or_default())
            .arg(if c.require_guard { "require" } else { "" })
            .arg(self.inner.config.changelog_len)
            .arg(unless)
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        if rev > 0 {
            self.replicated().await?;
        }
        Ok((rev, existed == 1))
    }

    /// Waits until the configured number of replicas have this
    /// connection's writes ([`RedisStoreBuilder::replica_acks`]).
    async fn replicated(&self) -> Result<()> {
        let Some((replicas, timeout)) = self.inner.config.replica_acks.filter(|(n, _)| *n > 0) else {
            return Ok(());
        };
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        let acked: usize = self.query(cmd("WAIT").arg(replicas).arg(ms)).await?;
        if acked < replicas {
            return Err(Error::unavailable(
                format!("the write reached {acked} of {replicas} replicas within {timeout:?}; it is not acknowledged"),
                None,
            ));
        }
        Ok(())
    }

    async fn hash(&self, key: &str) -> Result<HashMap<String, String>> {
        self.query(cmd("HGETALL").arg(key)).await
    }

    /// The hashes of every member of the set `index`, in one pipeline,
    /// sorted by member; members whose hash vanished meanwhile are skipped.
    async fn indexed_hashes(
        &self,
        index: &str,
        key_of: fn(&str) -> String,
    ) -> Result<Vec<(String, HashMap<String, String>)>> {
        let ids = self.sorted_members(index).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(key_of(id));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut self.conn()).await.map_err(map_err)?;
        Ok(ids.into_iter().zip(hashes).filter(|(_, h)| !h.is_empty()).collect())
    }

    async fn sorted_members(&self, key: &str) -> Result<Vec<String>> {
        let mut v: Vec<String> = self.query(cmd("SMEMBERS").arg(key)).await?;
        v.sort();
        Ok(v)
    }

    async fn get_string(&self, key: &str) -> Result<Option<String>> {
        self.query(cmd("GET").arg(key)).await
    }

    async fn set_string(&self, key: &str, value: &str) -> Result<()> {
        self.query::<()>(cmd("SET").arg(key).arg(value)).await
    }

    async fn pubsub(&self) -> Result<PubSub> {
        let connect = async {
            let client = self.inner.link().client;
            let mut p = client.get_async_pubsub().await.map_err(map_err)?;
            p.subscribe(&[channels::PURGE, channels::CNAME_DIRTY, channels::CONFIG])
                .await
                .map_err(map_err)?;
            Ok(p)
        };
        tokio::time::timeout(self.inner.config.connection_timeout * 2, connect)
            .await
            .map_err(|e| Error::unavailable("timed out subscribing", Some(e.into())))?
    }
}

/// Parses an XRANGE-style reply: `[[id, [field, value, ...]], ...]`.
/// Entries whose fields are nil (deleted) come back with no fields.
fn stream_entries(v: Value) -> Vec<(String, HashMap<String, String>)> {
    let Value::Array(items) = v else { return Vec::new() };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut pair) = item else { return None };
            if pair.len() != 2 {
                return None;
            }
            let fields = pair.pop()?;
            let id: String = redis::from_redis_value(pair.pop()?).ok()?;
            let fields = match fields {
                Value::Array(flat) => {
                    let strings: Vec<String> = flat
                        .into_iter()
                        .filter_map(|f| redis::from_redis_value(f).ok())
                        .collect();
                    strings
                        .chunks(2)
                        .filter_map(|c| Some((c.first()?.clone(), c.get(1)?.clone())))
                        .collect()
                }
                Value::Map(m) => m
                    .into_iter()
                    .filter_map(|(k, v)| Some((redis::from_redis_value(k).ok()?, redis::from_redis_value(v).ok()?)))
                    .collect(),
                _ => return None,
            };
            Some((id, fields))
        })
        .collect()
}

fn parse_field<T: std::str::FromStr>(key: &str, field: &str, v: Option<&String>) -> Result<Option<T>> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<T>()
                .map_err(|_| Error::corrupt(key, format!("field {field} is malformed: {s:?}")))
        })
        .transpose()
}
