//! Embedded backend: the event stream ([`EventLog`]) in the `events`
//! table, with ids made as Redis makes them (`<ms>-<n>`: the time, or the
//! last id's time when the clock went back, and a counter within the
//! millisecond), trimmed by length and age on each append.

use super::*;

#[async_trait::async_trait]
impl EventLog for EmbeddedStore {
    async fn append_event(&self, event: &NewEvent) -> Result<EventRecord> {
        let mut written = self.append_events(std::slice::from_ref(event)).await?;
        written.pop().ok_or_else(|| Error::backend("no event written", None))
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<EventRecord>> {
        let encoded: Vec<(String, NewEvent)> = events
            .iter()
            .map(|e| Ok((encode(e)?, e.clone())))
            .collect::<Result<_>>()?;
        self.write(move |tx, cfg| {
            let mut t = tx.open_table(EVENTS).map_err(db_err)?;
            let mut last = t.last().map_err(db_err)?.map(|(k, _)| k.value());
            let now = now_ms();
            let mut written = Vec::with_capacity(encoded.len());
            for (json, event) in encoded {
                let id = match last {
                    Some((ms, seq)) if ms >= now => EventId { ms, seq: seq + 1 },
                    _ => EventId { ms: now, seq: 0 },
                };
                t.insert((id.ms, id.seq), json.as_str()).map_err(db_err)?;
                last = Some((id.ms, id.seq));
                written.push(EventRecord::new(id.to_string(), id.ms, event));
            }
            let cap = u64::try_from(cfg.events_len).unwrap_or(u64::MAX);
            let newest = last.map_or(now, |(ms, _)| ms);
            let oldest = newest.saturating_sub(u64::try_from(cfg.events_age.as_millis()).unwrap_or(u64::MAX));
            loop {
                let first = t.first().map_err(db_err)?.map(|(k, _)| k.value());
                match first {
                    Some((ms, _)) if ms < oldest || t.len().map_err(db_err)? > cap => {
                        t.pop_first().map_err(db_err)?;
                    }
                    _ => break,
                }
            }
            Ok((written, Vec::new()))
        })
        .await
    }

    async fn newest_event(&self) -> Result<Option<EventId>> {
        self.read(move |tx| {
            let t = tx.open_table(EVENTS).map_err(db_err)?;
            let last = t.last().map_err(db_err)?.map(|(k, _)| k.value());
            Ok(last.map(|(ms, seq)| EventId { ms, seq }))
        })
        .await
    }

    async fn events_after(&self, after: Option<EventId>, limit: usize) -> Result<Vec<EventRecord>> {
        self.read(move |tx| {
            let t = tx.open_table(EVENTS).map_err(db_err)?;
            let range = match after {
                Some(a) => t.range((a.ms, a.seq)..).map_err(db_err)?,
                None => t.range::<(u64, u64)>(..).map_err(db_err)?,
            };
            let mut out = Vec::new();
            for entry in range {
                let (k, v) = entry.map_err(db_err)?;
                let (ms, seq) = k.value();
                let id = EventId { ms, seq };
                if Some(id) == after {
                    continue;
                }
                let event: NewEvent = decode("events", &id.to_string(), v.value())?;
                out.push(EventRecord::new(id.to_string(), ms, event));
                if out.len() >= limit.max(1) {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }
}
