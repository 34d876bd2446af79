//! The job queue in Redis: the stream `cdn:jobs` read through the consumer
//! group `cirrus-workers` (a job claimed and never acked comes back after
//! the visibility timeout, by XPENDING/XCLAIM), and the sorted set
//! `cdn:jobs:delayed` holding jobs given back to wait before their next
//! attempt. Moves between the two are Lua scripts, so a job is always in
//! exactly one of them; their clock is Redis's, so workers' clocks do not
//! matter.

use super::{JobQueue, RedisStore, decode, encode, map_err, stream_entries};
use crate::model::{Job, NewJob};
use crate::store::keys;
use crate::{Error, Result};
use redis::{Value, cmd};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Moves a pending job (ARGV[2]) of the stream KEYS[1] (group ARGV[1]) to
/// the delayed set KEYS[2], due ARGV[3] ms from now, as member ARGV[4];
/// 0 when it was no longer pending (acked meanwhile).
pub(super) const DEFER_LUA: &str = r#"
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4])
return 1
"#;

/// Moves up to ten due jobs from the delayed set KEYS[1] back to the
/// stream KEYS[2], their attempts so far kept in the entry.
pub(super) const PROMOTE_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 10)
for _, m in ipairs(due) do
  local d = cjson.decode(m)
  redis.call('XADD', KEYS[2], '*', 'job', d.job, 'attempts', tostring(d.attempts))
  redis.call('ZREM', KEYS[1], m)
end
return #due
"#;

/// A delayed job, as a member of `cdn:jobs:delayed`.
#[derive(serde::Serialize)]
struct Delayed<'a> {
    /// Its stream id before, which keeps members distinct.
    id: &'a str,
    attempts: u32,
    /// The `NewJob`, JSON-encoded as in the stream's `job` field.
    job: String,
}

impl RedisStore {
    async fn ensure_group(&self) -> Result<()> {
        if self.inner.group_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let created: Result<()> = self
            .query(
                cmd("XGROUP")
                    .arg("CREATE")
                    .arg(keys::JOBS)
                    .arg(keys::JOB_GROUP)
                    .arg("0")
                    .arg("MKSTREAM"),
            )
            .await;
        match created {
            Ok(()) => {}
            Err(Error::Backend { message: msg, .. }) if msg.contains("BUSYGROUP") => {}
            Err(e) => return Err(e),
        }
        self.inner.group_ready.store(true, Ordering::Release);
        Ok(())
    }

    pub(super) async fn enqueue_job(&self, job: &NewJob) -> Result<String> {
        self.ensure_group().await?;
        let id = self
            .query(cmd("XADD").arg(keys::JOBS).arg("*").arg("job").arg(encode(job)?))
            .await?;
        self.replicated().await?;
        Ok(id)
    }

    pub(super) async fn claim_job(&self, consumer: &str, visibility: Duration) -> Result<Option<Job>> {
        match self.claim_once(consumer, visibility).await {
            // The group vanishes when Redis restarts without persistence.
            Err(Error::Backend { message: msg, .. }) if msg.contains("NOGROUP") => {
                self.inner.group_ready.store(false, Ordering::Release);
                self.claim_once(consumer, visibility).await
            }
            other => other,
        }
    }

    pub(super) async fn defer_job(&self, job: &Job, delay: Duration) -> Result<bool> {
        let member = Delayed {
            id: &job.id,
            attempts: job.attempts,
            job: encode(&job.job)?,
        };
        let member = serde_json::to_string(&member).map_err(|e| Error::backend(e.to_string(), Some(e.into())))?;
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let moved: i64 = self
            .inner
            .defer
            .key(keys::JOBS)
            .key(keys::JOBS_DELAYED)
            .arg(keys::JOB_GROUP)
            .arg(&job.id)
            .arg(delay_ms)
            .arg(member)
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(moved == 1)
    }

    pub(super) async fn ack_job(&self, id: &str) -> Result<bool> {
        let (acked, deleted): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(keys::JOBS)
            .arg(keys::JOB_GROUP)
            .arg(id)
            .cmd("XDEL")
            .arg(keys::JOBS)
            .arg(id)
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(acked + deleted > 0)
    }

    /// Jobs in the stream and jobs waiting to be retried.
    pub(super) async fn job_count(&self) -> Result<u64> {
        let (queued, delayed): (u64, u64) = redis::pipe()
            .cmd("XLEN")
            .arg(keys::JOBS)
            .cmd("ZCARD")
            .arg(keys::JOBS_DELAYED)
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(queued + delayed)
    }

    async fn claim_once(&self, consumer: &str, visibility: Duration) -> Result<Option<Job>> {
        self.ensure_group().await?;
        let _: i64 = self
            .inner
            .promote
            .key(keys::JOBS_DELAYED)
            .key(keys::JOBS)
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        let idle_ms = u64::try_from(visibility.as_millis()).unwrap_or(u64::MAX);
        let pending: Vec<(String, String, u64, u64)> = self
            .query(
                cmd("XPENDING")
                    .arg(keys::JOBS)
                    .arg(keys::JOB_GROUP)
                    .arg("IDLE")
                    .arg(idle_ms)
                    .arg("-")
                    .arg("+")
                    .arg(10),
            )
            .await?;
        for (id, _owner, _idle, deliveries) in pending {
            let claimed: Value = self
                .query(
                    cmd("XCLAIM")
                        .arg(keys::JOBS)
                        .arg(keys::JOB_GROUP)
                        .arg(consumer)
                        .arg(idle_ms)
                        .arg(&id),
                )
                .await?;
            match stream_entries(claimed).into_iter().next() {
                Some((id, fields)) => {
                    let attempts = u32::try_from(deliveries).unwrap_or(u32::MAX).saturating_add(1);
                    return job_from_fields(id, &fields, attempts).map(Some);
                }
                None => {
                    // Taken by another worker meanwhile, or its entry was deleted.
                    let _: i64 = self
                        .query(cmd("XACK").arg(keys::JOBS).arg(keys::JOB_GROUP).arg(&id))
                        .await?;
                }
            }
        }
        let read: Value = self
            .query(
                cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(keys::JOB_GROUP)
                    .arg(consumer)
                    .arg("COUNT")
                    .arg(1)
                    .arg("STREAMS")
                    .arg(keys::JOBS)
                    .arg(">"),
            )
            .await?;
        let entries = match read {
            Value::Array(streams) => streams
                .into_iter()
                .filter_map(|s| match s {
                    Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                    _ => None,
                })
                .flat_map(stream_entries)
                .collect(),
            Value::Map(streams) => streams.into_iter().flat_map(|(_, v)| stream_entries(v)).collect(),
            _ => Vec::new(),
        };
        match entries.into_iter().next() {
            Some((id, fields)) => job_from_fields(id, &fields, 1).map(Some),
            None => Ok(None),
        }
    }
}

/// A stream entry as a job handed out `deliveries` times from the stream,
/// after the attempts it had before a delay (its `attempts` field).
fn job_from_fields(id: String, fields: &HashMap<String, String>, deliveries: u32) -> Result<Job> {
    let json = fields
        .get("job")
        .ok_or_else(|| Error::corrupt(format!("{}/{id}", keys::JOBS), "no job field"))?;
    let job: NewJob = decode(&format!("{}/{id}", keys::JOBS), json)?;
    let before: u32 = fields.get("attempts").and_then(|a| a.parse().ok()).unwrap_or(0);
    Ok(Job {
        id,
        job,
        attempts: before.saturating_add(deliveries),
    })
}

#[async_trait::async_trait]
impl JobQueue for RedisStore {
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
}
