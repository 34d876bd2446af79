//! Redis backend: the revision, the change log and subscriptions ([`ChangeFeed`]).

use super::*;

#[async_trait::async_trait]
impl Ping for RedisStore {
    async fn ping(&self) -> Result<()> {
        let _: String = self.query(&cmd("PING")).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ChangeFeed for RedisStore {
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

    async fn mark_cname_dirty(&self, reason: &str) -> Result<u64> {
        let mut c = Commit::default();
        c.cname_dirty(reason);
        Ok(self.commit(c).await?.0)
    }

    async fn report_regression(&self, node: &str, kept: u64) -> Result<()> {
        self.query::<()>(cmd("HSET").arg(keys::REGRESSED).arg(node).arg(kept))
            .await
    }

    async fn regressions(&self) -> Result<Vec<(String, u64)>> {
        let all: HashMap<String, String> = self.hash(keys::REGRESSED).await?;
        let mut out: Vec<(String, u64)> = all
            .into_iter()
            .map(|(node, kept)| {
                let kept = parse_field(keys::REGRESSED, &node, Some(&kept))?.unwrap_or(0);
                Ok((node, kept))
            })
            .collect::<Result<_>>()?;
        out.sort();
        Ok(out)
    }

    async fn adopt_history(&self) -> Result<u64> {
        let highest = self.regressions().await?.into_iter().map(|(_, k)| k).max().unwrap_or(0);
        // Only ever forward: a revision already past them stays.
        let _: i64 = self
            .query(cmd("EVAL").arg(RAISE_LUA).arg(1).arg(keys::REVISION).arg(highest))
            .await?;
        let revision = self.mark_cname_dirty("the store's history adopted").await?;
        let _: i64 = self.query(cmd("DEL").arg(keys::REGRESSED)).await?;
        Ok(revision)
    }
}

/// Sets KEYS[1] to ARGV[1] when it is below it.
const RAISE_LUA: &str = "local c = tonumber(redis.call('GET', KEYS[1]) or '0') \
if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 0";

/// Reads live messages; after the connection drops, or the master moved
/// (Sentinel: the old one may be frozen, its connection open and silent),
/// reconnects with backoff and replays what was missed before reading live
/// messages again.
async fn run_subscription(store: RedisStore, pubsub: PubSub, mut tracker: Tracker, options: SubscribeOptions) {
    let mut stream = pubsub.into_on_message();
    let mut moved = store.inner.moved.subscribe();
    loop {
        loop {
            let master_moved = async {
                if moved.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => {
                        if !tracker.live(msg.get_channel_name(), msg.get_payload_bytes()).await {
                            return;
                        }
                    }
                    None => break,
                },
                () = master_moved => break,
            }
        }
        tracing::warn!("store subscription lost its connection (or its master moved); reconnecting");
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
