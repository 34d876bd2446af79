//! Embedded backend: purges and their acknowledgements ([`PurgeLog`]).

use super::*;

#[async_trait::async_trait]
impl PurgeLog for EmbeddedStore {
    async fn publish_purge(&self, purge: &PurgeRequest) -> Result<u64> {
        let purge = purge.clone().validated()?;
        if let Some(id) = &purge.id {
            self.live()
                .record_purge(id, &purge.domain, now_ms(), self.inner.config.purge_records);
        }
        let payload = encode(&purge)?;
        self.write(move |tx, cfg| {
            let (rev, recs) = announce(tx, cfg.changelog_len, &[(channels::PURGE, payload)])?;
            Ok((rev, recs))
        })
        .await
    }

    async fn ack_purge(&self, id: &str, node: &str, applied_ms: u64) -> Result<bool> {
        Ok(self.live().ack(id, node, applied_ms, now_ms()))
    }

    async fn purge_record(&self, id: &str) -> Result<Option<PurgeRecord>> {
        Ok(self.live().purge(id, now_ms()))
    }

    async fn recent_purges(&self, limit: usize) -> Result<Vec<PurgeRecord>> {
        Ok(self.live().recent(limit, now_ms()))
    }
}
