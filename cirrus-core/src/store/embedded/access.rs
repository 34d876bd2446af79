//! Embedded backend: service tokens, portal users and sessions ([`AccessStore`]).

use super::*;

#[async_trait::async_trait]
impl AccessStore for EmbeddedStore {
    async fn put_token(&self, token: &ServiceToken, secret_hash: &str) -> Result<()> {
        let stored = StoredToken {
            token: token.clone().validated()?,
            hash: secret_hash.to_string(),
        };
        self.write(move |tx, _| {
            let id = stored.token.id.clone();
            if let Some(old) = get_str(tx, TOKENS, &id)? {
                let old: StoredToken = decode("tokens", &id, &old)?;
                remove_str(tx, TOKEN_HASHES, &old.hash)?;
            }
            put_str(tx, TOKEN_HASHES, &stored.hash, &id)?;
            put_str(tx, TOKENS, &id, &encode(&stored)?)?;
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn get_token(&self, id: &str) -> Result<Option<ServiceToken>> {
        Ok(self.get_json::<StoredToken>(TOKENS, id).await?.map(|s| s.token))
    }

    async fn token_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ServiceToken>> {
        let hash = secret_hash.to_string();
        self.read(move |tx| {
            let Some(id) = read_str(tx, TOKEN_HASHES, &hash)? else {
                return Ok(None);
            };
            let Some(j) = read_str(tx, TOKENS, &id)? else {
                return Ok(None);
            };
            let stored: StoredToken = decode("tokens", &id, &j)?;
            Ok((stored.hash == hash).then_some(stored.token))
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<ServiceToken>> {
        self.read(|tx| {
            read_all(tx, TOKENS)?
                .iter()
                .map(|(k, v)| decode::<StoredToken>("tokens", k, v).map(|s| s.token))
                .collect()
        })
        .await
    }

    async fn delete_token(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx, _| {
            let Some(j) = get_str(tx, TOKENS, &id)? else {
                return Ok((false, Vec::new()));
            };
            let stored: StoredToken = decode("tokens", &id, &j)?;
            remove_str(tx, TOKEN_HASHES, &stored.hash)?;
            remove_str(tx, TOKENS, &id)?;
            Ok((true, Vec::new()))
        })
        .await
    }

    async fn put_user(&self, user: &User) -> Result<()> {
        self.put_plain(USERS, &user.name, encode(user)?).await
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>> {
        self.get_json(USERS, name).await
    }

    async fn user_names(&self) -> Result<Vec<String>> {
        self.keys_of(USERS).await
    }

    async fn delete_user(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.write(move |tx, _| Ok((remove_str(tx, USERS, &name)?, Vec::new())))
            .await
    }

    async fn put_session(&self, session: &Session, ttl: Duration) -> Result<()> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let stored = StoredSession {
            session: session.clone(),
            expires_ms: now_ms().saturating_add(ttl_ms),
        };
        self.put_plain(SESSIONS, &session.id, encode(&stored)?).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        let s: Option<StoredSession> = self.get_json(SESSIONS, id).await?;
        Ok(s.filter(|s| s.expires_ms > now_ms()).map(|s| s.session))
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx, _| {
            let Some(j) = get_str(tx, SESSIONS, &id)? else {
                return Ok((false, Vec::new()));
            };
            let s: StoredSession = decode("sessions", &id, &j)?;
            remove_str(tx, SESSIONS, &id)?;
            Ok((s.expires_ms > now_ms(), Vec::new()))
        })
        .await
    }
}

#[derive(Serialize, Deserialize)]
struct StoredToken {
    token: ServiceToken,
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct StoredSession {
    session: Session,
    expires_ms: u64,
}
