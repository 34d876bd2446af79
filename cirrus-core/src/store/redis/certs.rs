//! Redis backend: certificates, ACME state and DNS-01 challenges ([`CertStore`]).

use super::*;

#[async_trait::async_trait]
impl CertStore for RedisStore {
    async fn put_challenge(&self, domain: &str, values: &[String]) -> Result<u64> {
        let mut c = Commit::default();
        if values.is_empty() {
            c.op(&["HDEL", keys::ACME_CHALLENGES, domain]);
        } else {
            c.op(&["HSET", keys::ACME_CHALLENGES, domain, &encode(&values)?]);
        }
        c.cname_dirty(&format!("challenge {domain}"));
        Ok(self.commit(c).await?.0)
    }

    async fn challenges(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        let h = self.hash(keys::ACME_CHALLENGES).await?;
        h.into_iter()
            .map(|(d, v)| Ok((d.clone(), decode(&format!("{}/{d}", keys::ACME_CHALLENGES), &v)?)))
            .collect()
    }

    async fn get_cert(&self, domain: &str) -> Result<Option<CertBundle>> {
        let key = keys::cert(domain);
        let h = self.hash(&key).await?;
        if h.is_empty() {
            return Ok(None);
        }
        let (Some(fullchain), Some(pem)) = (h.get("fullchain"), h.get("key")) else {
            return Err(Error::corrupt(&key, "missing fullchain or key"));
        };
        Ok(Some(CertBundle::new(
            fullchain.clone(),
            pem.clone(),
            parse_field(&key, "not_after", h.get("not_after"))?,
        )))
    }

    async fn put_cert(&self, domain: &str, cert: &CertBundle) -> Result<u64> {
        let key = keys::cert(domain);
        let mut c = Commit::default();
        c.op(&["DEL", &key])
            .op(&["HSET", &key, "fullchain", &cert.fullchain, "key", &cert.key]);
        if let Some(t) = cert.not_after {
            c.op(&["HSET", &key, "not_after", &t.to_string()]);
        }
        c.announce(&Change::Certificate(domain.to_string()));
        Ok(self.commit(c).await?.0)
    }

    async fn delete_cert(&self, domain: &str) -> Result<Option<u64>> {
        let key = keys::cert(domain);
        let mut c = Commit {
            guard: Some(key.clone()),
            require_guard: true,
            ..Commit::default()
        };
        c.op(&["DEL", &key]).announce(&Change::Certificate(domain.to_string()));
        let (revision, existed) = self.commit(c).await?;
        Ok(existed.then_some(revision))
    }

    async fn cert_expiries(&self) -> Result<Vec<(String, u64)>> {
        let domains = self.sorted_members(keys::DOMAINS).await?;
        if domains.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for domain in &domains {
            pipe.cmd("HGET").arg(keys::cert(domain)).arg("not_after");
        }
        let ends: Vec<Option<String>> = pipe.query_async(&mut self.conn()).await.map_err(map_err)?;
        let mut found = Vec::new();
        for (domain, end) in domains.into_iter().zip(ends) {
            if let Some(end) = parse_field::<u64>(&keys::cert(&domain), "not_after", end.as_ref())? {
                found.push((domain, end));
            }
        }
        Ok(found)
    }

    async fn get_acme_state(&self, domain: &str) -> Result<Option<AcmeState>> {
        let key = keys::acme(domain);
        self.get_string(&key).await?.map(|j| decode(&key, &j)).transpose()
    }

    async fn put_acme_state(&self, domain: &str, state: &AcmeState) -> Result<()> {
        self.set_string(&keys::acme(domain), &encode(state)?).await
    }

    async fn get_acme_account(&self) -> Result<Option<String>> {
        self.get_string(keys::ACME_ACCOUNT).await
    }

    async fn put_acme_account(&self, credentials: &str) -> Result<()> {
        self.set_string(keys::ACME_ACCOUNT, credentials).await
    }

    async fn get_cert_key(&self, domain: &str) -> Result<Option<String>> {
        self.get_string(&keys::cert_key(domain)).await
    }

    async fn put_cert_key(&self, domain: &str, pem: &str) -> Result<()> {
        self.set_string(&keys::cert_key(domain), pem).await
    }
}
