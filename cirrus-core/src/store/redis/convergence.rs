//! Edge reports and purge acknowledgements in Redis: fields of the node's
//! hash `cdn:node:{id}` (`edge_revision`, `edge_applied_ms`,
//! `edge_reported_ms`) and the hash `cdn:purge:{id}` (`domain`,
//! `published_ms`, one `ack:{node}` field per edge), which expires a day
//! after publication, indexed by publication time in the sorted set
//! `cdn:purges` (trimmed to a day and [`PURGE_RECORDS_MAX`] ids). Neither bumps the revision nor publishes: they are
//! status, not configuration.

use super::{RedisStore, map_err, parse_field};
use crate::Result;
use crate::model::{EdgeReport, PurgeRecord};
use crate::store::{PURGE_RECORD_TTL, PURGE_RECORDS_MAX, keys};
use std::collections::HashMap;

/// Sets field/value pairs of the hash `KEYS[1]` only when it exists, so a
/// report never resurrects a deleted node nor an ack an expired purge.
pub(super) const HSET_IF_EXISTS_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"#;

impl RedisStore {
    async fn hset_if_exists(&self, key: &str, pairs: &[(&str, String)]) -> Result<bool> {
        let mut invocation = self.inner.hset_if_exists.key(key);
        for (field, value) in pairs {
            invocation.arg(*field).arg(value);
        }
        let set: i64 = invocation.invoke_async(&mut self.conn()).await.map_err(map_err)?;
        Ok(set == 1)
    }

    pub(super) async fn write_edge_report(&self, id: &str, report: &EdgeReport) -> Result<bool> {
        let pairs = [
            ("edge_revision", report.revision.to_string()),
            ("edge_applied_ms", report.applied_ms.to_string()),
            ("edge_reported_ms", report.reported_ms.to_string()),
            (
                "edge_shield_port",
                report.shield_port.map_or_else(String::new, |p| p.to_string()),
            ),
        ];
        self.hset_if_exists(&keys::node(id), &pairs).await
    }

    pub(super) async fn write_purge_ack(&self, id: &str, node: &str, applied_ms: u64) -> Result<bool> {
        self.hset_if_exists(&keys::purge(id), &[(&format!("ack:{node}"), applied_ms.to_string())])
            .await
    }

    pub(super) async fn read_purge_record(&self, id: &str) -> Result<Option<PurgeRecord>> {
        let key = keys::purge(id);
        purge_from_hash(id, &self.hash(&key).await?)
    }

    /// The newest `limit` purge records of the last day, newest first.
    pub(super) async fn read_recent_purges(&self, limit: usize) -> Result<Vec<PurgeRecord>> {
        let ttl = u64::try_from(PURGE_RECORD_TTL.as_millis()).unwrap_or(u64::MAX);
        let oldest = crate::store::now_ms().saturating_sub(ttl);
        let ids: Vec<String> = self
            .query(
                redis::cmd("ZREVRANGEBYSCORE")
                    .arg(keys::PURGES)
                    .arg("+inf")
                    .arg(oldest)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit),
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(keys::purge(id));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut self.conn()).await.map_err(map_err)?;
        let mut records = Vec::with_capacity(ids.len());
        for (id, h) in ids.iter().zip(&hashes) {
            // An id whose hash expired meanwhile is skipped.
            records.extend(purge_from_hash(id, h)?);
        }
        Ok(records)
    }
}

/// The purge record in the hash of purge `id`; `None` when it is gone.
fn purge_from_hash(id: &str, h: &HashMap<String, String>) -> Result<Option<PurgeRecord>> {
    let key = keys::purge(id);
    let Some(domain) = h.get("domain") else {
        return Ok(None);
    };
    let mut acks = std::collections::BTreeMap::new();
    for (field, value) in h {
        if let Some(node) = field.strip_prefix("ack:")
            && let Some(at) = parse_field::<u64>(&key, field, Some(value))?
        {
            acks.insert(node.to_string(), at);
        }
    }
    Ok(Some(PurgeRecord {
        id: id.to_string(),
        domain: domain.clone(),
        published_ms: parse_field(&key, "published_ms", h.get("published_ms"))?.unwrap_or(0),
        acks,
    }))
}

/// The commit operations recording purge `id` of `domain`, published now,
/// and indexing it (the index trimmed to a day and to the newest
/// [`PURGE_RECORDS_MAX`]).
pub(super) fn record_purge_ops(id: &str, domain: &str) -> [Vec<String>; 5] {
    let key = keys::purge(id);
    let ttl = u64::try_from(PURGE_RECORD_TTL.as_millis()).unwrap_or(u64::MAX);
    let now = crate::store::now_ms();
    let (now_s, ttl_s) = (now.to_string(), ttl.to_string());
    let expired = format!("({}", now.saturating_sub(ttl));
    let beyond = format!("-{}", PURGE_RECORDS_MAX + 1);
    let op = |args: &[&str]| args.iter().map(|a| a.to_string()).collect();
    [
        op(&["HSET", &key, "domain", domain, "published_ms", &now_s]),
        op(&["PEXPIRE", &key, &ttl_s]),
        op(&["ZADD", keys::PURGES, &now_s, id]),
        op(&["ZREMRANGEBYSCORE", keys::PURGES, "-inf", &expired]),
        op(&["ZREMRANGEBYRANK", keys::PURGES, "0", &beyond]),
    ]
}

/// The edge report kept in a node's hash, if its edge ever reported.
pub(super) fn edge_report_from_hash(key: &str, h: &HashMap<String, String>) -> Result<Option<EdgeReport>> {
    let Some(revision) = parse_field(key, "edge_revision", h.get("edge_revision"))? else {
        return Ok(None);
    };
    let applied = parse_field(key, "edge_applied_ms", h.get("edge_applied_ms"))?.unwrap_or(0);
    let reported = parse_field(key, "edge_reported_ms", h.get("edge_reported_ms"))?.unwrap_or(0);
    // Empty: the edge reported no shield port (a field, not a deletion,
    // keeps the report one HSET).
    let shield_port = parse_field(key, "edge_shield_port", h.get("edge_shield_port"))?;
    Ok(Some(
        EdgeReport::new(revision, applied, reported).with_shield_port(shield_port),
    ))
}
