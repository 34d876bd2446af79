//! Redis backend: service tokens, portal users and sessions ([`AccessStore`]).

use super::*;

#[async_trait::async_trait]
impl AccessStore for RedisStore {
    async fn put_token(&self, token: &ServiceToken, secret_hash: &str) -> Result<()> {
        let token = token.clone().validated()?;
        let key = keys::token(&token.id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(&key)
            .cmd("HSET")
            .arg(&key)
            .arg("id")
            .arg(&token.id)
            .arg("name")
            .arg(&token.name)
            .arg("scopes")
            .arg(encode(&token.scopes)?)
            .arg("created_at")
            .arg(token.created_at)
            .arg("hash")
            .arg(secret_hash);
        if let Some(d) = &token.domains {
            pipe.cmd("HSET").arg(&key).arg("domains").arg(encode(d)?);
        }
        if let Some(e) = token.expires_at {
            pipe.cmd("HSET").arg(&key).arg("expires_at").arg(e);
        }
        pipe.cmd("SADD").arg(keys::TOKENS).arg(&token.id);
        pipe.cmd("SET").arg(keys::token_hash(secret_hash)).arg(&token.id);
        pipe.query_async::<()>(&mut self.conn()).await.map_err(map_err)?;
        self.replicated().await
    }

    async fn get_token(&self, id: &str) -> Result<Option<ServiceToken>> {
        let h = self.hash(&keys::token(id)).await?;
        if h.is_empty() {
            Ok(None)
        } else {
            token_from_hash(id, &h).map(Some)
        }
    }

    async fn token_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ServiceToken>> {
        match self.get_string(&keys::token_hash(secret_hash)).await? {
            Some(id) => {
                let h = self.hash(&keys::token(&id)).await?;
                // A hash key left pointing at a replaced secret must not authenticate.
                if h.get("hash").is_some_and(|stored| stored == secret_hash) {
                    token_from_hash(&id, &h).map(Some)
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }

    async fn tokens(&self) -> Result<Vec<ServiceToken>> {
        let hashes = self.indexed_hashes(keys::TOKENS, keys::token).await?;
        hashes.iter().map(|(id, h)| token_from_hash(id, h)).collect()
    }

    async fn delete_token(&self, id: &str) -> Result<bool> {
        let n: i64 = self
            .inner
            .delete_token
            .key(keys::token(id))
            .key(keys::TOKENS)
            .arg(id)
            .arg(keys::token_hash(""))
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(n == 1)
    }

    async fn put_user(&self, user: &User) -> Result<()> {
        let key = keys::user(&user.name);
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(&key)
            .arg("name")
            .arg(&user.name)
            .arg("password_hash")
            .arg(&user.password_hash)
            .arg("created_at")
            .arg(user.created_at)
            .cmd("SADD")
            .arg(keys::USERS)
            .arg(&user.name)
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(map_err)
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>> {
        let key = keys::user(name);
        let h = self.hash(&key).await?;
        if h.is_empty() {
            return Ok(None);
        }
        let hash = h
            .get("password_hash")
            .ok_or_else(|| Error::corrupt(&key, "missing password_hash"))?;
        Ok(Some(User::new(
            name,
            hash.clone(),
            parse_field(&key, "created_at", h.get("created_at"))?.unwrap_or(0),
        )))
    }

    async fn user_names(&self) -> Result<Vec<String>> {
        self.sorted_members(keys::USERS).await
    }

    async fn delete_user(&self, name: &str) -> Result<bool> {
        let (n, _): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(keys::user(name))
            .cmd("SREM")
            .arg(keys::USERS)
            .arg(name)
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        Ok(n == 1)
    }

    async fn put_session(&self, session: &Session, ttl: Duration) -> Result<()> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.query(
            cmd("SET")
                .arg(keys::session(&session.id))
                .arg(encode(session)?)
                .arg("PX")
                .arg(ms),
        )
        .await
    }

    async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        let key = keys::session(id);
        self.get_string(&key).await?.map(|j| decode(&key, &j)).transpose()
    }

    async fn delete_session(&self, id: &str) -> Result<bool> {
        Ok(self.query::<i64>(cmd("DEL").arg(keys::session(id))).await? == 1)
    }
}

fn token_from_hash(id: &str, h: &HashMap<String, String>) -> Result<ServiceToken> {
    let key = keys::token(id);
    let field = |f: &str| {
        h.get(f)
            .ok_or_else(|| Error::corrupt(&key, format!("missing field {f}")))
    };
    let scopes: Vec<Scope> = decode(&key, field("scopes")?)?;
    let domains: Option<Vec<String>> = h.get("domains").map(|d| decode(&key, d)).transpose()?;
    Ok(ServiceToken {
        id: id.to_string(),
        name: field("name")?.clone(),
        scopes,
        domains,
        created_at: parse_field(&key, "created_at", h.get("created_at"))?.unwrap_or(0),
        expires_at: parse_field(&key, "expires_at", h.get("expires_at"))?,
    })
}
