//! Embedded backend: webhook endpoints ([`WebhookStore`]) in the
//! `webhooks`, `webhook_secrets` and `webhook_progress` tables, and each
//! endpoint's log, dead letters and replays in `(id, seq)`-keyed tables.

use super::*;

/// Appends `json` to `id`'s entries of `table`, keeping the newest `keep`.
fn push(tx: &WriteTransaction, table: HookSeqTable, id: &str, json: &str, keep: usize) -> Result<()> {
    let mut t = tx.open_table(table).map_err(db_err)?;
    let last = t
        .range((id, 0)..=(id, u64::MAX))
        .map_err(db_err)?
        .next_back()
        .transpose()
        .map_err(db_err)?
        .map(|(k, _)| k.value().1);
    t.insert((id, last.map_or(0, |s| s + 1)), json).map_err(db_err)?;
    let seqs: Vec<u64> = t
        .range((id, 0)..=(id, u64::MAX))
        .map_err(db_err)?
        .map(|e| e.map(|(k, _)| k.value().1).map_err(db_err))
        .collect::<Result<_>>()?;
    for seq in seqs.iter().take(seqs.len().saturating_sub(keep)) {
        t.remove((id, *seq)).map_err(db_err)?;
    }
    Ok(())
}

/// Removes every entry of `id` in `table`.
fn clear(tx: &WriteTransaction, table: HookSeqTable, id: &str) -> Result<()> {
    let mut t = tx.open_table(table).map_err(db_err)?;
    t.retain_in((id, 0)..=(id, u64::MAX), |_, _| false).map_err(db_err)?;
    Ok(())
}

/// `id`'s entries of `table` with their seq: oldest first, or newest first
/// when `newest_first`; at most `limit`.
fn entries(
    tx: &ReadTransaction,
    table: HookSeqTable,
    id: &str,
    newest_first: bool,
    limit: usize,
) -> Result<Vec<(u64, Delivery)>> {
    let t = tx.open_table(table).map_err(db_err)?;
    let range = t.range((id, 0)..=(id, u64::MAX)).map_err(db_err)?;
    let iter: Box<dyn Iterator<Item = _>> = if newest_first {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    iter.take(limit)
        .map(|e| {
            let (k, v) = e.map_err(db_err)?;
            let seq = k.value().1;
            Ok((seq, decode(table.name(), &format!("{id}/{seq}"), v.value())?))
        })
        .collect()
}

impl EmbeddedStore {
    async fn hook_entries(
        &self,
        table: HookSeqTable,
        id: &str,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        if !is_webhook_id(id) {
            return Ok(Vec::new());
        }
        let id = id.to_string();
        let found = self
            .read(move |tx| entries(tx, table, &id, newest_first, limit))
            .await?;
        Ok(found.into_iter().map(|(_, d)| d).collect())
    }

    /// Puts `value` at `id` in `table` when the endpoint exists.
    async fn put_hook_part(&self, table: StrTable, id: &str, value: String) -> Result<bool> {
        if !is_webhook_id(id) {
            return Ok(false);
        }
        let id = id.to_string();
        self.write(move |tx, _| {
            let exists = get_str(tx, WEBHOOKS, &id)?.is_some();
            if exists {
                put_str(tx, table, &id, &value)?;
            }
            Ok((exists, Vec::new()))
        })
        .await
    }
}

#[async_trait::async_trait]
impl WebhookStore for EmbeddedStore {
    async fn create_webhook(&self, hook: &Webhook, secrets: &WebhookSecrets, progress: &WebhookProgress) -> Result<()> {
        if !is_webhook_id(&hook.id) {
            return Err(Error::backend(format!("{:?} is not a webhook id", hook.id), None));
        }
        let (id, hook, secrets, progress) = (hook.id.clone(), encode(hook)?, encode(secrets)?, encode(progress)?);
        self.write(move |tx, _| {
            put_str(tx, WEBHOOKS, &id, &hook)?;
            put_str(tx, WEBHOOK_SECRETS, &id, &secrets)?;
            put_str(tx, WEBHOOK_PROGRESS, &id, &progress)?;
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn update_webhook(&self, hook: &Webhook) -> Result<bool> {
        self.put_hook_part(WEBHOOKS, &hook.id, encode(hook)?).await
    }

    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>> {
        if !is_webhook_id(id) {
            return Ok(None);
        }
        self.get_json(WEBHOOKS, id).await
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>> {
        self.read(move |tx| {
            read_all(tx, WEBHOOKS)?
                .into_iter()
                .map(|(id, json)| decode("webhooks", &id, &json))
                .collect()
        })
        .await
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool> {
        if !is_webhook_id(id) {
            return Ok(false);
        }
        let id = id.to_string();
        self.write(move |tx, _| {
            let existed = remove_str(tx, WEBHOOKS, &id)?;
            remove_str(tx, WEBHOOK_SECRETS, &id)?;
            remove_str(tx, WEBHOOK_PROGRESS, &id)?;
            for table in [WEBHOOK_LOG, WEBHOOK_DEAD, WEBHOOK_REPLAYS] {
                clear(tx, table, &id)?;
            }
            Ok((existed, Vec::new()))
        })
        .await
    }

    async fn webhook_secrets(&self, id: &str) -> Result<Option<WebhookSecrets>> {
        if !is_webhook_id(id) {
            return Ok(None);
        }
        self.get_json(WEBHOOK_SECRETS, id).await
    }

    async fn put_webhook_secrets(&self, id: &str, secrets: &WebhookSecrets) -> Result<bool> {
        self.put_hook_part(WEBHOOK_SECRETS, id, encode(secrets)?).await
    }

    async fn webhook_progress(&self, id: &str) -> Result<Option<WebhookProgress>> {
        if !is_webhook_id(id) {
            return Ok(None);
        }
        self.get_json(WEBHOOK_PROGRESS, id).await
    }

    async fn put_webhook_progress(&self, id: &str, progress: &WebhookProgress) -> Result<()> {
        self.put_hook_part(WEBHOOK_PROGRESS, id, encode(progress)?)
            .await
            .map(drop)
    }

    async fn record_delivery(&self, id: &str, delivery: &Delivery, progress: &WebhookProgress) -> Result<()> {
        if !is_webhook_id(id) {
            return Ok(());
        }
        let (id, json, dead) = (
            id.to_string(),
            encode(delivery)?,
            delivery.outcome == DeliveryOutcome::Dead,
        );
        let progress = encode(progress)?;
        self.write(move |tx, _| {
            if get_str(tx, WEBHOOKS, &id)?.is_none() {
                return Ok(((), Vec::new()));
            }
            put_str(tx, WEBHOOK_PROGRESS, &id, &progress)?;
            push(tx, WEBHOOK_LOG, &id, &json, DELIVERY_LOG_LEN)?;
            if dead {
                push(tx, WEBHOOK_DEAD, &id, &json, DELIVERY_LOG_LEN)?;
            }
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn deliveries(&self, id: &str, limit: usize) -> Result<Vec<Delivery>> {
        self.hook_entries(WEBHOOK_LOG, id, true, limit).await
    }

    async fn dead_letters(&self, id: &str, limit: usize) -> Result<Vec<Delivery>> {
        self.hook_entries(WEBHOOK_DEAD, id, true, limit).await
    }

    async fn queue_replay(&self, id: &str, delivery: &Delivery) -> Result<()> {
        if !is_webhook_id(id) {
            return Ok(());
        }
        let (id, json) = (id.to_string(), encode(delivery)?);
        self.write(move |tx, _| Ok((push(tx, WEBHOOK_REPLAYS, &id, &json, DELIVERY_LOG_LEN)?, Vec::new())))
            .await
    }

    async fn replays(&self, id: &str) -> Result<Vec<Delivery>> {
        self.hook_entries(WEBHOOK_REPLAYS, id, false, DELIVERY_LOG_LEN).await
    }

    async fn remove_replay(&self, id: &str, delivery_id: &str) -> Result<bool> {
        if !is_webhook_id(id) {
            return Ok(false);
        }
        let (id, delivery_id) = (id.to_string(), delivery_id.to_string());
        self.write(move |tx, _| {
            let found = {
                let t = tx.open_table(WEBHOOK_REPLAYS).map_err(db_err)?;
                let mut found = None;
                for e in t.range((id.as_str(), 0)..=(id.as_str(), u64::MAX)).map_err(db_err)? {
                    let (k, v) = e.map_err(db_err)?;
                    let d: Delivery = decode("webhook_replays", &id, v.value())?;
                    if d.id == delivery_id {
                        found = Some(k.value().1);
                        break;
                    }
                }
                found
            };
            if let Some(seq) = found {
                let mut t = tx.open_table(WEBHOOK_REPLAYS).map_err(db_err)?;
                t.remove((id.as_str(), seq)).map_err(db_err)?;
            }
            Ok((found.is_some(), Vec::new()))
        })
        .await
    }
}
