//! Embedded backend: locks ([`LockStore`]).

use super::*;

#[async_trait::async_trait]
impl LockStore for EmbeddedStore {
    async fn try_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool> {
        let (key, owner) = (lock.key(), owner.to_string());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.write(move |tx, _| {
            let now = now_ms();
            if let Some(j) = get_str(tx, LOCKS, &key)? {
                let held: StoredLock = decode("locks", &key, &j)?;
                if held.expires_ms > now {
                    return Ok((false, Vec::new()));
                }
            }
            let lock = StoredLock {
                owner,
                expires_ms: now.saturating_add(ttl_ms),
            };
            put_str(tx, LOCKS, &key, &encode(&lock)?)?;
            Ok((true, Vec::new()))
        })
        .await
    }

    async fn extend_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool> {
        let (key, owner) = (lock.key(), owner.to_string());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.write(move |tx, _| {
            let Some(mut held) = held_by(tx, &key, &owner)? else {
                return Ok((false, Vec::new()));
            };
            held.expires_ms = now_ms().saturating_add(ttl_ms);
            put_str(tx, LOCKS, &key, &encode(&held)?)?;
            Ok((true, Vec::new()))
        })
        .await
    }

    async fn unlock(&self, lock: &Lock, owner: &str) -> Result<bool> {
        let (key, owner) = (lock.key(), owner.to_string());
        self.write(move |tx, _| {
            if held_by(tx, &key, &owner)?.is_none() {
                return Ok((false, Vec::new()));
            }
            remove_str(tx, LOCKS, &key)?;
            Ok((true, Vec::new()))
        })
        .await
    }

    async fn lock_owner(&self, lock: &Lock) -> Result<Option<String>> {
        let key = lock.key();
        self.read(move |tx| {
            let Some(j) = read_str(tx, LOCKS, &key)? else {
                return Ok(None);
            };
            let held: StoredLock = decode("locks", &key, &j)?;
            Ok((held.expires_ms > now_ms()).then_some(held.owner))
        })
        .await
    }
}

#[derive(Serialize, Deserialize)]
struct StoredLock {
    owner: String,
    expires_ms: u64,
}

/// The lock at `key` when `owner` holds it and it has not expired.
fn held_by(tx: &WriteTransaction, key: &str, owner: &str) -> Result<Option<StoredLock>> {
    let Some(j) = get_str(tx, LOCKS, key)? else {
        return Ok(None);
    };
    let held: StoredLock = decode("locks", key, &j)?;
    Ok((held.owner == owner && held.expires_ms > now_ms()).then_some(held))
}
