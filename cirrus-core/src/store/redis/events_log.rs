//! Redis backend: the event stream ([`EventLog`]) in the Redis Stream
//! `cdn:events`. Redis gives each entry its id (`<ms>-<n>`, increasing),
//! and trims the stream exactly by length and, with `MINID`, by age (an
//! event stream is written far less often than a trim costs).

use super::*;

#[async_trait::async_trait]
impl EventLog for RedisStore {
    async fn append_event(&self, event: &NewEvent) -> Result<EventRecord> {
        let mut written = self.append_events(std::slice::from_ref(event)).await?;
        written.pop().ok_or_else(|| Error::backend("XADD answered no id", None))
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<EventRecord>> {
        let Some(last) = events.len().checked_sub(1) else {
            return Ok(Vec::new());
        };
        let config = &self.inner.config;
        let mut pipe = redis::pipe();
        for (i, event) in events.iter().enumerate() {
            let add = pipe.cmd("XADD").arg(keys::EVENTS);
            // Trimmed by length once, with the last.
            if i == last {
                add.arg("MAXLEN").arg(config.events_len);
            }
            add.arg("*").arg("event").arg(encode(event)?);
        }
        let ids: Vec<String> = pipe.query_async(&mut self.conn()).await.map_err(map_err)?;
        let parsed: Vec<EventId> = ids
            .iter()
            .map(|id| {
                id.parse()
                    .map_err(|e: String| Error::corrupt(format!("{}/{id}", keys::EVENTS), e))
            })
            .collect::<Result<_>>()?;
        if let Some(newest) = parsed.last() {
            let age = u64::try_from(config.events_age.as_millis()).unwrap_or(u64::MAX);
            let oldest = newest.ms.saturating_sub(age);
            let _: i64 = self
                .query(cmd("XTRIM").arg(keys::EVENTS).arg("MINID").arg(format!("{oldest}-0")))
                .await?;
        }
        Ok(ids
            .into_iter()
            .zip(parsed)
            .zip(events)
            .map(|((id, p), e)| EventRecord::new(id, p.ms, e.clone()))
            .collect())
    }

    async fn newest_event(&self) -> Result<Option<EventId>> {
        let v: Value = self
            .query(cmd("XREVRANGE").arg(keys::EVENTS).arg("+").arg("-").arg("COUNT").arg(1))
            .await?;
        stream_entries(v)
            .into_iter()
            .next()
            .map(|(id, _)| {
                id.parse()
                    .map_err(|e: String| Error::corrupt(format!("{}/{id}", keys::EVENTS), e))
            })
            .transpose()
    }

    async fn events_after(&self, after: Option<EventId>, limit: usize) -> Result<Vec<EventRecord>> {
        let start = after.map_or_else(|| "-".to_string(), |a| format!("({a}"));
        let v: Value = self
            .query(
                cmd("XRANGE")
                    .arg(keys::EVENTS)
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit.max(1)),
            )
            .await?;
        stream_entries(v)
            .into_iter()
            .map(|(id, f)| {
                let key = format!("{}/{id}", keys::EVENTS);
                let json = f.get("event").ok_or_else(|| Error::corrupt(&key, "no event field"))?;
                let event: NewEvent = decode(&key, json)?;
                let at = id.parse::<EventId>().map_err(|e| Error::corrupt(&key, e))?.ms;
                Ok(EventRecord::new(id, at, event))
            })
            .collect()
    }
}
