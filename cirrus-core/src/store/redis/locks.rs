//! Redis backend: locks ([`LockStore`]).

use super::*;

#[async_trait::async_trait]
impl LockStore for RedisStore {
    async fn try_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let r: Option<String> = self
            .query(cmd("SET").arg(lock.key()).arg(owner).arg("NX").arg("PX").arg(ms))
            .await?;
        Ok(r.is_some())
    }

    async fn extend_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let n: i64 = self
            .inner
            .extend_lock
            .key(lock.key())
            .arg(owner)
            .arg(ms)
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(n == 1)
    }

    async fn unlock(&self, lock: &Lock, owner: &str) -> Result<bool> {
        let n: i64 = self
            .inner
            .unlock
            .key(lock.key())
            .arg(owner)
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(n == 1)
    }

    async fn lock_owner(&self, lock: &Lock) -> Result<Option<String>> {
        self.get_string(&lock.key()).await
    }
}
