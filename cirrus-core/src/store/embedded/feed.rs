//! Embedded backend: the revision, the change log and subscriptions ([`ChangeFeed`]).

use super::*;

#[async_trait::async_trait]
impl Ping for EmbeddedStore {
    async fn ping(&self) -> Result<()> {
        self.read(|_| Ok(())).await
    }
}

#[async_trait::async_trait]
impl ChangeFeed for EmbeddedStore {
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

    async fn mark_cname_dirty(&self, reason: &str) -> Result<u64> {
        let payload = cname_payload(reason);
        self.write(move |tx, cfg| {
            let (rev, recs) = announce(tx, cfg.changelog_len, &[(channels::CNAME_DIRTY, payload)])?;
            Ok((rev, recs))
        })
        .await
    }
}
