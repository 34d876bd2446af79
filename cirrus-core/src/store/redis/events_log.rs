//! Redis backend: the event stream ([`EventLog`]) in the Redis Stream
//! `cdn:events`. Redis gives each entry its id (`<ms>-<n>`, increasing),
//! and trims the stream exactly by length and, with `MINID`, by age (an
//! event stream is written far less often than a trim costs).

use super::*;

#[async_trait::async_trait]
impl EventLog for RedisStore {
    async fn append_event(&self, event: &NewEvent) -> Result<EventRecord> {
        let json = encode(event)?;
        let config = &self.inner.config;
        let id: String = self
            .query(
                cmd("XADD")
                    .arg(keys::EVENTS)
                    .arg("MAXLEN")
                    .arg(config.events_len)
                    .arg("*")
                    .arg("event")
                    .arg(&json),
            )
            .await?;
        let parsed: EventId = id
            .parse()
            .map_err(|e: String| Error::corrupt(format!("{}/{id}", keys::EVENTS), e))?;
        let age = u64::try_from(config.events_age.as_millis()).unwrap_or(u64::MAX);
        let oldest = parsed.ms.saturating_sub(age);
        let _: i64 = self
            .query(cmd("XTRIM").arg(keys::EVENTS).arg("MINID").arg(format!("{oldest}-0")))
            .await?;
        Ok(EventRecord::new(id, parsed.ms, event.clone()))
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
