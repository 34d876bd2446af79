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

    async fn report_regression(&self, node: &str, kept: u64) -> Result<()> {
        self.put_plain(META, &format!("{REGRESSED}{node}"), kept.to_string())
            .await
    }

    async fn regressions(&self) -> Result<Vec<(String, u64)>> {
        self.read(|tx| {
            read_all(tx, META)?
                .into_iter()
                .filter_map(|(k, v)| {
                    let node = k.strip_prefix(REGRESSED)?.to_string();
                    Some(
                        v.parse()
                            .map(|kept| (node, kept))
                            .map_err(|_| Error::corrupt(format!("meta/{k}"), v)),
                    )
                })
                .collect()
        })
        .await
    }

    async fn adopt_history(&self) -> Result<u64> {
        let highest = self.regressions().await?.into_iter().map(|(_, k)| k).max().unwrap_or(0);
        let payload = cname_payload("the store's history adopted");
        self.write(move |tx, cfg| {
            let current = get_str(tx, META, REV)?.and_then(|r| r.parse::<u64>().ok()).unwrap_or(0);
            if current < highest {
                put_str(tx, META, REV, &highest.to_string())?;
            }
            let reported: Vec<String> = {
                let t = tx.open_table(META).map_err(db_err)?;
                t.iter()
                    .map_err(db_err)?
                    .filter_map(|e| e.ok().map(|(k, _)| k.value().to_string()))
                    .filter(|k| k.starts_with(REGRESSED))
                    .collect()
            };
            for k in reported {
                remove_str(tx, META, &k)?;
            }
            announce(tx, cfg.changelog_len, &[(channels::CNAME_DIRTY, payload)])
        })
        .await
    }
}

/// The prefix of the `meta` keys holding the nodes' regression reports.
const REGRESSED: &str = "regressed:";
