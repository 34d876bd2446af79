//! Embedded backend: the job queue ([`JobQueue`]).

use super::*;

#[async_trait::async_trait]
impl JobQueue for EmbeddedStore {
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
