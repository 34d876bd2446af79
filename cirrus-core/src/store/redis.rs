//! Redis backend: the key layout of DESIGN.md, multi-key changes in one Lua
//! script (atomic with the revision bump and the publish), a
//! self-reconnecting connection, and subscriptions that resync after
//! reconnecting. Redis being down is `Error::Unavailable`, never a panic.

use super::events::{
    ChangeRecord, ChangesSince, SubscribeOptions, Subscription, Tracker, channels, cname_payload, config_payload,
    config_payload_many,
};
use super::keys::{self, Lock};
use super::{DEFAULT_AUDIT_LEN, DEFAULT_CHANGELOG_LEN, Store, Write, validated_domain, validated_node};
use crate::model::{
    AcmeState, AuditRecord, CertBundle, DomainConf, EdgeReport, Job, NewJob, Node, NodeHealth, PurgeRecord,
    PurgeRequest, Scope, ServiceToken, Session, User,
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

mod convergence;
mod jobs;

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
        }
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

    /// Creates the store. Connecting is lazy: a Redis that is down makes
    /// calls fail with [`Error::Unavailable`] until it is back. Must be called
    /// inside a Tokio runtime.
    pub fn build(self) -> Result<RedisStore> {
        let client = Client::open(self.url.as_str()).map_err(|e| Error::Backend(format!("bad Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connection_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(map_err)?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client,
                conn,
                commit: Script::new(COMMIT_LUA),
                unlock: Script::new(UNLOCK_LUA),
                extend_lock: Script::new(EXTEND_LOCK_LUA),
                delete_token: Script::new(DELETE_TOKEN_LUA),
                hset_if_exists: Script::new(convergence::HSET_IF_EXISTS_LUA),
                defer: Script::new(jobs::DEFER_LUA),
                promote: Script::new(jobs::PROMOTE_LUA),
                group_ready: AtomicBool::new(false),
                config: self,
            }),
        })
    }
}

/// The Redis backend. Cheap to clone; clones share one connection.
///
/// ```no_run
/// # async fn demo() -> cirrus_core::Result<()> {
/// use cirrus_core::{RedisStore, Store};
/// let store = RedisStore::connect("redis://127.0.0.1:6379")?;
/// println!("{} domains", store.domain_names().await?.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    conn: ConnectionManager,
    commit: Script,
    unlock: Script,
    extend_lock: Script,
    delete_token: Script,
    hset_if_exists: Script,
    defer: Script,
    promote: Script,
    group_ready: AtomicBool,
    config: RedisStoreBuilder,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.inner.client.get_connection_info();
        f.debug_struct("RedisStore")
            .field("addr", &info.addr().to_string())
            .finish_non_exhaustive()
    }
}

fn map_err(e: RedisError) -> Error {
    if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() {
        Error::Unavailable(e.to_string())
    } else {
        Error::Backend(e.to_string())
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::corrupt(key, e))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Backend(format!("encoding failed: {e}")))
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

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    async fn query<T: redis::FromRedisValue>(&self, c: &redis::Cmd) -> Result<T> {
        c.query_async(&mut self.conn()).await.map_err(map_err)
    }

    /// Returns (revision, existed). Revision 0: nothing announced (guard
    /// missing, or the watched field already had the value).
    async fn commit(&self, c: Commit) -> Result<(u64, bool)> {
        let ops = serde_json::to_string(&c.ops).map_err(|e| Error::Backend(e.to_string()))?;
        let pubs: Vec<[&str; 2]> = c.pubs.iter().map(|(ch, p)| [*ch, p.as_str()]).collect();
        let pubs = serde_json::to_string(&pubs).map_err(|e| Error::Backend(e.to_string()))?;
        let unless = match &c.unless_field_is {
            Some(u) => serde_json::to_string(u).map_err(|e| Error::Backend(e.to_string()))?,
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
        Ok((rev, existed == 1))
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
            let mut p = self.inner.client.get_async_pubsub().await.map_err(map_err)?;
            p.subscribe(&[channels::PURGE, channels::CNAME_DIRTY, channels::CONFIG])
                .await
                .map_err(map_err)?;
            Ok(p)
        };
        tokio::time::timeout(self.inner.config.connection_timeout * 2, connect)
            .await
            .map_err(|_| Error::Unavailable("timed out subscribing".into()))?
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

fn node_from_hash(id: &str, h: &HashMap<String, String>) -> Result<Node> {
    let key = keys::node(id);
    let mut node = Node::new(id);
    node.ipv4 = parse_field(&key, "ipv4", h.get("ipv4"))?;
    node.ipv6 = parse_field(&key, "ipv6", h.get("ipv6"))?;
    node.weight = parse_field(&key, "weight", h.get("weight"))?.unwrap_or(1);
    node.enabled = h.get("enabled").is_none_or(|v| v == "1");
    node.active = h.get("active").is_none_or(|v| v == "1");
    node.health.consecutive_failures = parse_field(&key, "fails", h.get("fails"))?.unwrap_or(0);
    node.health.consecutive_successes = parse_field(&key, "successes", h.get("successes"))?.unwrap_or(0);
    node.health.last_check = parse_field(&key, "last_check", h.get("last_check"))?;
    node.health.last_error = h.get("last_error").filter(|s| !s.is_empty()).cloned();
    node.last_seen = parse_field(&key, "last_seen", h.get("last_seen"))?;
    node.edge = convergence::edge_report_from_hash(&key, h)?;
    Ok(node)
}

fn token_from_hash(id: &str, h: &HashMap<String, String>) -> Result<ServiceToken> {
    let key = keys::token(id);
    let field = |f: &str| {
        h.get(f)
            .ok_or_else(|| Error::corrupt(&key, format!("missing field {f}")))
    };
    let scopes: Vec<Scope> = decode(&key, field("scopes")?)?;
    let domains: Option<Vec<String>> = h.get("domains").map(|d| decode(&key, d)).transpose()?;
    Ok(ServiceToken {
        id: id.to_string(),
        name: field("name")?.clone(),
        scopes,
        domains,
        created_at: parse_field(&key, "created_at", h.get("created_at"))?.unwrap_or(0),
        expires_at: parse_field(&key, "expires_at", h.get("expires_at"))?,
    })
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> Result<()> {
        let _: String = self.query(&cmd("PING")).await?;
        Ok(())
    }

    async fn revision(&self) -> Result<u64> {
        Ok(self
            .query::<Option<u64>>(cmd("GET").arg(keys::REVISION))
            .await?
            .unwrap_or(0))
    }

    async fn changes_since(&self, revision: u64) -> Result<ChangesSince> {
        let current = self.revision().await?;
        if revision >= current {
            return Ok(ChangesSince {
                current,
                records: Vec::new(),
                complete: true,
            });
        }
        let mut records = Vec::new();
        let mut end = "+".to_string();
        let mut complete = false;
        'pages: loop {
            let page: Value = self
                .query(
                    cmd("XREVRANGE")
                        .arg(keys::CHANGES)
                        .arg(&end)
                        .arg("-")
                        .arg("COUNT")
                        .arg(500),
                )
                .await?;
            let entries = stream_entries(page);
            if entries.is_empty() {
                break;
            }
            for (id, f) in entries {
                let rev: u64 = parse_field(keys::CHANGES, "rev", f.get("rev"))?.unwrap_or(0);
                if rev <= revision {
                    complete = true;
                    break 'pages;
                }
                if rev == revision + 1 {
                    complete = true;
                }
                let (Some(channel), Some(payload)) = (f.get("channel"), f.get("payload")) else {
                    return Err(Error::corrupt(
                        format!("{}/{id}", keys::CHANGES),
                        "missing channel or payload",
                    ));
                };
                records.push(ChangeRecord {
                    revision: rev,
                    channel: channel.clone(),
                    payload: payload.clone(),
                });
                end = format!("({id}");
            }
        }
        records.reverse();
        Ok(ChangesSince {
            current,
            records,
            complete,
        })
    }

    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription> {
        let pubsub = self.pubsub().await?;
        let (tx, rx) = mpsc::channel(options.buffer.max(1));
        let tracker = Tracker::start(self, options.from_revision, tx).await?;
        let task = tokio::spawn(run_subscription(self.clone(), pubsub, tracker, options));
        Ok(Subscription::new(rx, task))
    }

    async fn publish_purge(&self, purge: &PurgeRequest) -> Result<u64> {
        let purge = purge.clone().validated()?;
        let mut c = Commit::default();
        if let Some(id) = &purge.id {
            c.ops.extend(convergence::record_purge_ops(id, &purge.domain));
        }
        c.pubs.push((channels::PURGE, encode(&purge)?));
        Ok(self.commit(c).await?.0)
    }

    async fn mark_cname_dirty(&self, reason: &str) -> Result<u64> {
        let mut c = Commit::default();
        c.cname_dirty(reason);
        Ok(self.commit(c).await?.0)
    }

    async fn domain_names(&self) -> Result<Vec<String>> {
        self.sorted_members(keys::DOMAINS).await
    }

    async fn get_domain(&self, name: &str) -> Result<Option<DomainConf>> {
        let key = keys::domain(name);
        self.get_string(&key).await?.map(|j| decode(&key, &j)).transpose()
    }

    async fn put_domain(&self, conf: &DomainConf) -> Result<Write> {
        let conf = validated_domain(conf)?;
        let key = keys::domain(&conf.domain);
        let mut c = Commit {
            guard: Some(key.clone()),
            ..Commit::default()
        };
        c.op(&["SET", &key, &encode(&conf)?])
            .op(&["SADD", keys::DOMAINS, &conf.domain])
            .announce(&Change::Domain(conf.domain.clone()))
            .cname_dirty(&format!("domain {}", conf.domain));
        let (revision, existed) = self.commit(c).await?;
        Ok(Write {
            revision,
            created: !existed,
        })
    }

    async fn put_domains(&self, confs: &[DomainConf]) -> Result<u64> {
        let confs: Vec<DomainConf> = confs.iter().map(validated_domain).collect::<Result<_>>()?;
        if confs.is_empty() {
            return self.revision().await;
        }
        let mut revision = 0;
        for chunk in confs.chunks(BULK_CHUNK) {
            let mut c = Commit::default();
            for conf in chunk {
                c.op(&["SET", &keys::domain(&conf.domain), &encode(conf)?]);
            }
            let mut sadd = vec!["SADD".to_string(), keys::DOMAINS.to_string()];
            sadd.extend(chunk.iter().map(|d| d.domain.clone()));
            c.ops.push(sadd);
            let names: Vec<String> = chunk.iter().map(|d| d.domain.clone()).collect();
            c.pubs.push((channels::CONFIG, config_payload_many("domain", &names)));
            c.cname_dirty("bulk import");
            revision = self.commit(c).await?.0;
        }
        Ok(revision)
    }

    async fn delete_domain(&self, name: &str) -> Result<Option<u64>> {
        let key = keys::domain(name);
        let mut c = Commit {
            guard: Some(key.clone()),
            require_guard: true,
            ..Commit::default()
        };
        c.op(&["DEL", &key])
            .op(&["SREM", keys::DOMAINS, name])
            .announce(&Change::Domain(name.to_string()))
            .cname_dirty(&format!("domain {name} deleted"));
        let (revision, existed) = self.commit(c).await?;
        Ok(existed.then_some(revision))
    }

    async fn put_challenge(&self, domain: &str, values: &[String]) -> Result<u64> {
        let mut c = Commit::default();
        if values.is_empty() {
            c.op(&["HDEL", keys::ACME_CHALLENGES, domain]);
        } else {
            c.op(&["HSET", keys::ACME_CHALLENGES, domain, &encode(&values)?]);
        }
        c.cname_dirty(&format!("challenge {domain}"));
        Ok(self.commit(c).await?.0)
    }

    async fn challenges(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        let h = self.hash(keys::ACME_CHALLENGES).await?;
        h.into_iter()
            .map(|(d, v)| Ok((d.clone(), decode(&format!("{}/{d}", keys::ACME_CHALLENGES), &v)?)))
            .collect()
    }

    async fn report_edge(&self, id: &str, report: &EdgeReport) -> Result<bool> {
        self.write_edge_report(id, report).await
    }

    async fn ack_purge(&self, id: &str, node: &str, applied_ms: u64) -> Result<bool> {
        self.write_purge_ack(id, node, applied_ms).await
    }

    async fn purge_record(&self, id: &str) -> Result<Option<PurgeRecord>> {
        self.read_purge_record(id).await
    }

    async fn recent_purges(&self, limit: usize) -> Result<Vec<PurgeRecord>> {
        self.read_recent_purges(limit).await
    }

    async fn nodes(&self) -> Result<Vec<Node>> {
        let hashes = self.indexed_hashes(keys::NODES, keys::node).await?;
        hashes.iter().map(|(id, h)| node_from_hash(id, h)).collect()
    }

    async fn get_node(&self, id: &str) -> Result<Option<Node>> {
        let h = self.hash(&keys::node(id)).await?;
        if h.is_empty() {
            Ok(None)
        } else {
            node_from_hash(id, &h).map(Some)
        }
    }

    async fn put_node(&self, node: &Node) -> Result<Write> {
        let node = validated_node(node)?;
        let key = keys::node(&node.id);
        let mut c = Commit {
            guard: Some(key.clone()),
            ..Commit::default()
        };
        let weight = node.weight.to_string();
        c.op(&[
            "HSET",
            &key,
            "id",
            &node.id,
            "weight",
            &weight,
            "enabled",
            &flag(node.enabled),
        ]);
        match node.ipv4 {
            Some(a) => c.op(&["HSET", &key, "ipv4", &a.to_string()]),
            None => c.op(&["HDEL", &key, "ipv4"]),
        };
        match node.ipv6 {
            Some(a) => c.op(&["HSET", &key, "ipv6", &a.to_string()]),
            None => c.op(&["HDEL", &key, "ipv6"]),
        };
        c.op(&["HSETNX", &key, "active", &flag(node.active)])
            .op(&["SADD", keys::NODES, &node.id])
            .announce(&Change::Node(node.id.clone()))
            .cname_dirty(&format!("node {}", node.id));
        let (revision, existed) = self.commit(c).await?;
        Ok(Write {
            revision,
            created: !existed,
        })
    }

    async fn delete_node(&self, id: &str) -> Result<Option<u64>> {
        let key = keys::node(id);
        let mut c = Commit {
            guard: Some(key.clone()),
            require_guard: true,
            ..Commit::default()
        };
        c.op(&["DEL", &key])
            .op(&["SREM", keys::NODES, id])
            .announce(&Change::Node(id.to_string()))
            .cname_dirty(&format!("node {id} deleted"));
        let (revision, existed) = self.commit(c).await?;
        Ok(existed.then_some(revision))
    }

    async fn record_node_health(
        &self,
        id: &str,
        health: &NodeHealth,
        active: bool,
        last_seen: Option<u64>,
    ) -> Result<Option<u64>> {
        let key = keys::node(id);
        let mut c = Commit {
            guard: Some(key.clone()),
            require_guard: true,
            unless_field_is: Some([key.clone(), "active".into(), flag(active)]),
            ..Commit::default()
        };
        let (fails, oks) = (
            health.consecutive_failures.to_string(),
            health.consecutive_successes.to_string(),
        );
        c.op(&[
            "HSET",
            &key,
            "active",
            &flag(active),
            "fails",
            &fails,
            "successes",
            &oks,
        ]);
        if let Some(t) = health.last_check {
            c.op(&["HSET", &key, "last_check", &t.to_string()]);
        }
        match &health.last_error {
            Some(e) => c.op(&["HSET", &key, "last_error", e]),
            None => c.op(&["HDEL", &key, "last_error"]),
        };
        if let Some(t) = last_seen {
            c.op(&["HSET", &key, "last_seen", &t.to_string()]);
        }
        c.announce(&Change::Node(id.to_string()))
            .cname_dirty(&format!("node {id} {}", if active { "up" } else { "down" }));
        let (revision, _) = self.commit(c).await?;
        Ok((revision > 0).then_some(revision))
    }

    async fn get_cert(&self, domain: &str) -> Result<Option<CertBundle>> {
        let key = keys::cert(domain);
        let h = self.hash(&key).await?;
        if h.is_empty() {
            return Ok(None);
        }
        let (Some(fullchain), Some(pem)) = (h.get("fullchain"), h.get("key")) else {
            return Err(Error::corrupt(&key, "missing fullchain or key"));
        };
        Ok(Some(CertBundle::new(
            fullchain.clone(),
            pem.clone(),
            parse_field(&key, "not_after", h.get("not_after"))?,
        )))
    }

    async fn put_cert(&self, domain: &str, cert: &CertBundle) -> Result<u64> {
        let key = keys::cert(domain);
        let mut c = Commit::default();
        c.op(&["DEL", &key])
            .op(&["HSET", &key, "fullchain", &cert.fullchain, "key", &cert.key]);
        if let Some(t) = cert.not_after {
            c.op(&["HSET", &key, "not_after", &t.to_string()]);
        }
        c.announce(&Change::Certificate(domain.to_string()));
        Ok(self.commit(c).await?.0)
    }

    async fn delete_cert(&self, domain: &str) -> Result<Option<u64>> {
        let key = keys::cert(domain);
        let mut c = Commit {
            guard: Some(key.clone()),
            require_guard: true,
            ..Commit::default()
        };
        c.op(&["DEL", &key]).announce(&Change::Certificate(domain.to_string()));
        let (revision, existed) = self.commit(c).await?;
        Ok(existed.then_some(revision))
    }

    async fn cert_expiries(&self) -> Result<Vec<(String, u64)>> {
        let domains = self.sorted_members(keys::DOMAINS).await?;
        if domains.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for domain in &domains {
            pipe.cmd("HGET").arg(keys::cert(domain)).arg("not_after");
        }
        let ends: Vec<Option<String>> = pipe.query_async(&mut self.conn()).await.map_err(map_err)?;
        let mut found = Vec::new();
        for (domain, end) in domains.into_iter().zip(ends) {
            if let Some(end) = parse_field::<u64>(&keys::cert(&domain), "not_after", end.as_ref())? {
                found.push((domain, end));
            }
        }
        Ok(found)
    }

    async fn get_acme_state(&self, domain: &str) -> Result<Option<AcmeState>> {
        let key = keys::acme(domain);
        self.get_string(&key).await?.map(|j| decode(&key, &j)).transpose()
    }

    async fn put_acme_state(&self, domain: &str, state: &AcmeState) -> Result<()> {
        self.set_string(&keys::acme(domain), &encode(state)?).await
    }

    async fn get_acme_account(&self) -> Result<Option<String>> {
        self.get_string(keys::ACME_ACCOUNT).await
    }

    async fn put_acme_account(&self, credentials: &str) -> Result<()> {
        self.set_string(keys::ACME_ACCOUNT, credentials).await
    }

    async fn get_cert_key(&self, domain: &str) -> Result<Option<String>> {
        self.get_string(&keys::cert_key(domain)).await
    }

    async fn put_cert_key(&self, domain: &str, pem: &str) -> Result<()> {
        self.set_string(&keys::cert_key(domain), pem).await
    }

    async fn try_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let r: Option<String> = self
            .query(cmd("SET").arg(lock.key()).arg(owner).arg("NX").arg("PX").arg(ms))
            .await?;
        Ok(r.is_some())
    }

    async fn extend_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let n: i64 = self
            .inner
            .extend_lock
            .key(lock.key())
            .arg(owner)
            .arg(ms)
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(n == 1)
    }

    async fn unlock(&self, lock: &Lock, owner: &str) -> Result<bool> {
        let n: i64 = self
            .inner
            .unlock
            .key(lock.key())
            .arg(owner)
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(n == 1)
    }

    async fn lock_owner(&self, lock: &Lock) -> Result<Option<String>> {
        self.get_string(&lock.key()).await
    }

    async fn put_token(&self, token: &ServiceToken, secret_hash: &str) -> Result<()> {
        let token = token.clone().validated()?;
        let key = keys::token(&token.id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(&key)
            .cmd("HSET")
            .arg(&key)
            .arg("id")
            .arg(&token.id)
            .arg("name")
            .arg(&token.name)
            .arg("scopes")
            .arg(encode(&token.scopes)?)
            .arg("created_at")
            .arg(token.created_at)
            .arg("hash")
            .arg(secret_hash);
        if let Some(d) = &token.domains {
            pipe.cmd("HSET").arg(&key).arg("domains").arg(encode(d)?);
        }
        if let Some(e) = token.expires_at {
            pipe.cmd("HSET").arg(&key).arg("expires_at").arg(e);
        }
        pipe.cmd("SADD").arg(keys::TOKENS).arg(&token.id);
        pipe.cmd("SET").arg(keys::token_hash(secret_hash)).arg(&token.id);
        pipe.query_async::<()>(&mut self.conn()).await.map_err(map_err)
    }

    async fn get_token(&self, id: &str) -> Result<Option<ServiceToken>> {
        let h = self.hash(&keys::token(id)).await?;
        if h.is_empty() {
            Ok(None)
        } else {
            token_from_hash(id, &h).map(Some)
        }
    }

    async fn token_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ServiceToken>> {
        match self.get_string(&keys::token_hash(secret_hash)).await? {
            Some(id) => {
                let h = self.hash(&keys::token(&id)).await?;
                // A hash key left pointing at a replaced secret must not authenticate.
                if h.get("hash").is_some_and(|stored| stored == secret_hash) {
                    token_from_hash(&id, &h).map(Some)
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }

    async fn tokens(&self) -> Result<Vec<ServiceToken>> {
        let hashes = self.indexed_hashes(keys::TOKENS, keys::token).await?;
        hashes.iter().map(|(id, h)| token_from_hash(id, h)).collect()
    }

    async fn delete_token(&self, id: &str) -> Result<bool> {
        let n: i64 = self
            .inner
            .delete_token
            .key(keys::token(id))
            .key(keys::TOKENS)
            .arg(id)
            .arg(keys::token_hash(""))
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(n == 1)
    }

    async fn put_user(&self, user: &User) -> Result<()> {
        let key = keys::user(&user.name);
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(&key)
            .arg("name")
            .arg(&user.name)
            .arg("password_hash")
            .arg(&user.password_hash)
            .arg("created_at")
            .arg(user.created_at)
            .cmd("SADD")
            .arg(keys::USERS)
            .arg(&user.name)
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(map_err)
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>> {
        let key = keys::user(name);
        let h = self.hash(&key).await?;
        if h.is_empty() {
            return Ok(None);
        }
        let hash = h
            .get("password_hash")
            .ok_or_else(|| Error::corrupt(&key, "missing password_hash"))?;
        Ok(Some(User::new(
            name,
            hash.clone(),
            parse_field(&key, "created_at", h.get("created_at"))?.unwrap_or(0),
        )))
    }

    async fn user_names(&self) -> Result<Vec<String>> {
        self.sorted_members(keys::USERS).await
    }

    async fn delete_user(&self, name: &str) -> Result<bool> {
        let (n, _): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(keys::user(name))
            .cmd("SREM")
            .arg(keys::USERS)
            .arg(name)
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(n == 1)
    }

    async fn put_session(&self, session: &Session, ttl: Duration) -> Result<()> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.query(
            cmd("SET")
                .arg(keys::session(&session.id))
                .arg(encode(session)?)
                .arg("PX")
                .arg(ms),
        )
        .await
    }

    async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        let key = keys::session(id);
        self.get_string(&key).await?.map(|j| decode(&key, &j)).transpose()
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        Ok(self.query::<i64>(cmd("DEL").arg(keys::session(id))).await? == 1)
    }

    async fn enqueue(&self, job: &NewJob) -> Result<String> {
        self.enqueue_job(job).await
    }

    async fn claim(&self, consumer: &str, visibility: Duration) -> Result<Option<Job>> {
        self.claim_job(consumer, visibility).await
    }

    async fn retry_later(&self, job: &Job, delay: Duration) -> Result<bool> {
        self.defer_job(job, delay).await
    }

    async fn ack(&self, id: &str) -> Result<bool> {
        self.ack_job(id).await
    }

    async fn queue_depth(&self) -> Result<u64> {
        self.job_count().await
    }

    async fn append_audit(&self, record: &AuditRecord) -> Result<()> {
        let _: String = self
            .query(
                cmd("XADD")
                    .arg(keys::AUDIT)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.inner.config.audit_len)
                    .arg("*")
                    .arg("record")
                    .arg(encode(record)?),
            )
            .await?;
        Ok(())
    }

    async fn recent_audit(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let v: Value = self
            .query(
                cmd("XREVRANGE")
                    .arg(keys::AUDIT)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(limit),
            )
            .await?;
        stream_entries(v)
            .into_iter()
            .map(|(id, f)| {
                let key = format!("{}/{id}", keys::AUDIT);
                let json = f.get("record").ok_or_else(|| Error::corrupt(&key, "no record field"))?;
                decode(&key, json)
            })
            .collect()
    }
}

/// Reads live messages; after the connection drops, reconnects with backoff
/// and replays what was missed before reading live messages again.
async fn run_subscription(store: RedisStore, pubsub: PubSub, mut tracker: Tracker, options: SubscribeOptions) {
    let mut stream = pubsub.into_on_message();
    loop {
        while let Some(msg) = stream.next().await {
            if !tracker.live(msg.get_channel_name(), msg.get_payload_bytes()).await {
                return;
            }
        }
        tracing::warn!("store subscription lost its connection; reconnecting");
        let mut delay = options.reconnect_min;
        stream = loop {
            if tracker.is_closed() {
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(options.reconnect_max);
            let pubsub = match store.pubsub().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(error = %e, "resubscribe failed");
                    continue;
                }
            };
            match tracker.resync(&store).await {
                Ok(true) => break pubsub.into_on_message(),
                Ok(false) => return,
                Err(e) => tracing::debug!(error = %e, "resync failed"),
            }
        };
        tracing::info!("store subscription resumed");
    }
}
