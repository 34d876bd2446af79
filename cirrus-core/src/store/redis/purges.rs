//! Redis backend: purges and their acknowledgements ([`PurgeLog`]).

use super::*;

#[async_trait::async_trait]
impl PurgeLog for RedisStore {
    async fn publish_purge(&self, purge: &PurgeRequest) -> Result<u64> {
        let purge = purge.clone().validated()?;
        let mut c = Commit::default();
        if let Some(id) = &purge.id {
            c.ops.extend(convergence::record_purge_ops(id, &purge.domain));
        }
        c.pubs.push((channels::PURGE, encode(&purge)?));
        Ok(self.commit(c).await?.0)
    }

    async fn ack_purge(&self, id: &str, node: &str, applied_ms: u64) -> Result<bool> {
        self.write_purge_ack(id, node, applied_ms).await
    }

    async fn purge_record(&self, id: &str) -> Result<Option<PurgeRecord>> {
        self.read_purge_record(id).await
    }

    async fn recent_purges(&self, limit: usize) -> Result<Vec<PurgeRecord>> {
        self.read_recent_purges(limit).await
    }
}
