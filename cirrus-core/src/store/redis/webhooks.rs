//! Redis backend: webhook endpoints ([`WebhookStore`]) under
//! `cdn:webhook:{id}` (settings) and `cdn:webhook:{id}:{secrets,progress,
//! log,dead,replays}`, their ids in the set `cdn:webhooks`.

use super::*;

const PARTS: [&str; 5] = ["secrets", "progress", "log", "dead", "replays"];

impl RedisStore {
    async fn webhook_json<T: serde::de::DeserializeOwned>(&self, id: &str, part: Option<&str>) -> Result<Option<T>> {
        if !is_webhook_id(id) {
            return Ok(None);
        }
        let key = keys::webhook(id, part);
        self.get_string(&key).await?.map(|j| decode(&key, &j)).transpose()
    }

    async fn webhook_list(&self, id: &str, part: &str, limit: usize) -> Result<Vec<Delivery>> {
        if !is_webhook_id(id) || limit == 0 {
            return Ok(Vec::new());
        }
        let key = keys::webhook(id, Some(part));
        let stop = i64::try_from(limit).unwrap_or(i64::MAX) - 1;
        let items: Vec<String> = self.query(cmd("LRANGE").arg(&key).arg(0).arg(stop)).await?;
        items.iter().map(|j| decode(&key, j)).collect()
    }
}

#[async_trait::async_trait]
impl WebhookStore for RedisStore {
    async fn create_webhook(&self, hook: &Webhook, secrets: &WebhookSecrets, progress: &WebhookProgress) -> Result<()> {
        if !is_webhook_id(&hook.id) {
            return Err(Error::backend(format!("{:?} is not a webhook id", hook.id), None));
        }
        let id = &hook.id;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(keys::webhook(id, None))
            .arg(encode(hook)?)
            .cmd("SET")
            .arg(keys::webhook(id, Some("secrets")))
            .arg(encode(secrets)?)
            .cmd("SET")
            .arg(keys::webhook(id, Some("progress")))
            .arg(encode(progress)?)
            .cmd("SADD")
            .arg(keys::WEBHOOKS)
            .arg(id);
        pipe.query_async::<()>(&mut self.conn()).await.map_err(map_err)
    }

    async fn update_webhook(&self, hook: &Webhook) -> Result<bool> {
        if !is_webhook_id(&hook.id) {
            return Ok(false);
        }
        let set: Option<String> = self
            .query(
                cmd("SET")
                    .arg(keys::webhook(&hook.id, None))
                    .arg(encode(hook)?)
                    .arg("XX"),
            )
            .await?;
        Ok(set.is_some())
    }

    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>> {
        self.webhook_json(id, None).await
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let ids = self.sorted_members(keys::WEBHOOKS).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("GET").arg(keys::webhook(id, None));
        }
        let found: Vec<Option<String>> = pipe.query_async(&mut self.conn()).await.map_err(map_err)?;
        ids.iter()
            .zip(found)
            .filter_map(|(id, json)| json.map(|j| decode(&keys::webhook(id, None), &j)))
            .collect()
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool> {
        if !is_webhook_id(id) {
            return Ok(false);
        }
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("DEL").arg(keys::webhook(id, None));
        for part in PARTS {
            pipe.cmd("DEL").arg(keys::webhook(id, Some(part))).ignore();
        }
        pipe.cmd("SREM").arg(keys::WEBHOOKS).arg(id).ignore();
        let (deleted,): (i64,) = pipe.query_async(&mut self.conn()).await.map_err(map_err)?;
        Ok(deleted == 1)
    }

    async fn webhook_secrets(&self, id: &str) -> Result<Option<WebhookSecrets>> {
        self.webhook_json(id, Some("secrets")).await
    }

    async fn put_webhook_secrets(&self, id: &str, secrets: &WebhookSecrets) -> Result<bool> {
        if !is_webhook_id(id) {
            return Ok(false);
        }
        let set: Option<String> = self
            .query(
                cmd("SET")
                    .arg(keys::webhook(id, Some("secrets")))
                    .arg(encode(secrets)?)
                    .arg("XX"),
            )
            .await?;
        Ok(set.is_some())
    }

    async fn webhook_progress(&self, id: &str) -> Result<Option<WebhookProgress>> {
        self.webhook_json(id, Some("progress")).await
    }

    async fn put_webhook_progress(&self, id: &str, progress: &WebhookProgress) -> Result<()> {
        if !is_webhook_id(id) {
            return Ok(());
        }
        let _: Option<String> = self
            .query(
                cmd("SET")
                    .arg(keys::webhook(id, Some("progress")))
                    .arg(encode(progress)?)
                    .arg("XX"),
            )
            .await?;
        Ok(())
    }

    async fn record_delivery(&self, id: &str, delivery: &Delivery, progress: &WebhookProgress) -> Result<()> {
        if !is_webhook_id(id) {
            return Ok(());
        }
        let json = encode(delivery)?;
        let keep = i64::try_from(DELIVERY_LOG_LEN).unwrap_or(i64::MAX) - 1;
        let mut pipe = redis::pipe();
        // Only while the endpoint exists: a deleted one's keys stay gone.
        let exists: bool = self.query(cmd("EXISTS").arg(keys::webhook(id, None))).await?;
        if !exists {
            return Ok(());
        }
        pipe.atomic();
        pipe.cmd("SET")
            .arg(keys::webhook(id, Some("progress")))
            .arg(encode(progress)?)
            .arg("XX")
            .ignore();
        let mut parts = vec!["log"];
        if delivery.outcome == DeliveryOutcome::Dead {
            parts.push("dead");
        }
        for part in parts {
            let key = keys::webhook(id, Some(part));
            pipe.cmd("LPUSH").arg(&key).arg(&json).ignore();
            pipe.cmd("LTRIM").arg(&key).arg(0).arg(keep).ignore();
        }
        pipe.query_async::<()>(&mut self.conn()).await.map_err(map_err)
    }

    async fn deliveries(&self, id: &str, limit: usize) -> Result<Vec<Delivery>> {
        self.webhook_list(id, "log", limit).await
    }

    async fn dead_letters(&self, id: &str, limit: usize) -> Result<Vec<Delivery>> {
        self.webhook_list(id, "dead", limit).await
    }

    async fn queue_replay(&self, id: &str, delivery: &Delivery) -> Result<()> {
        if !is_webhook_id(id) {
            return Ok(());
        }
        let key = keys::webhook(id, Some("replays"));
        let keep = i64::try_from(DELIVERY_LOG_LEN).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        pipe.cmd("RPUSH").arg(&key).arg(encode(delivery)?).ignore();
        pipe.cmd("LTRIM").arg(&key).arg(-keep).arg(-1).ignore();
        pipe.query_async::<()>(&mut self.conn()).await.map_err(map_err)
    }

    async fn replays(&self, id: &str) -> Result<Vec<Delivery>> {
        if !is_webhook_id(id) {
            return Ok(Vec::new());
        }
        let key = keys::webhook(id, Some("replays"));
        let items: Vec<String> = self.query(cmd("LRANGE").arg(&key).arg(0).arg(-1)).await?;
        items.iter().map(|j| decode(&key, j)).collect()
    }

    async fn remove_replay(&self, id: &str, delivery_id: &str) -> Result<bool> {
        if !is_webhook_id(id) {
            return Ok(false);
        }
        let key = keys::webhook(id, Some("replays"));
        let items: Vec<String> = self.query(cmd("LRANGE").arg(&key).arg(0).arg(-1)).await?;
        for json in items {
            let queued: Delivery = decode(&key, &json)?;
            if queued.id == delivery_id {
                let n: i64 = self.query(cmd("LREM").arg(&key).arg(1).arg(&json)).await?;
                return Ok(n > 0);
            }
        }
        Ok(false)
    }
}
