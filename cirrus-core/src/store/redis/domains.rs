//! Redis backend: domains ([`DomainStore`]).

use super::*;

#[async_trait::async_trait]
impl DomainStore for RedisStore {
    async fn domain_names(&self) -> Result<Vec<String>> {
        self.sorted_members(keys::DOMAINS).await
    }

    async fn domain_names_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.ensure_domain_index().await?;
        let start = after.map_or_else(|| "-".to_string(), |a| format!("({a}"));
        self.query(
            cmd("ZRANGEBYLEX")
                .arg(keys::DOMAIN_INDEX)
                .arg(start)
                .arg("+")
                .arg("LIMIT")
                .arg(0)
                .arg(limit),
        )
        .await
    }

    async fn get_domain(&self, name: &str) -> Result<Option<DomainConf>> {
        let key = keys::domain(name);
        self.get_string(&key).await?.map(|j| decode(&key, &j)).transpose()
    }

    async fn get_domains(&self, names: &[String]) -> Result<Vec<DomainConf>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = names.iter().map(|n| keys::domain(n)).collect();
        let values: Vec<Option<String>> = self.query(cmd("MGET").arg(&keys)).await?;
        keys.iter()
            .zip(values)
            .filter_map(|(key, json)| Some(decode(key, &json?)))
            .collect()
    }

    async fn put_domain(&self, conf: &DomainConf) -> Result<Write> {
        let conf = validated_domain(conf)?;
        let key = keys::domain(&conf.domain);
        let mut c = Commit {
            guard: Some(key.clone()),
            ..Commit::default()
        };
        c.op(&["SET", &key, &encode(&conf)?])
            .op(&["SADD", keys::DOMAINS, &conf.domain])
            .op(&["ZADD", keys::DOMAIN_INDEX, "0", &conf.domain])
            .announce(&Change::Domain(conf.domain.clone()))
            .cname_dirty(&format!("domain {}", conf.domain));
        let (revision, existed) = self.commit(c).await?;
        Ok(Write {
            revision,
            created: !existed,
        })
    }

    async fn put_domains(&self, confs: &[DomainConf]) -> Result<u64> {
        let confs: Vec<DomainConf> = confs.iter().map(validated_domain).collect::<Result<_>>()?;
        if confs.is_empty() {
            return self.revision().await;
        }
        let mut revision = 0;
        for chunk in confs.chunks(BULK_CHUNK) {
            let mut c = Commit::default();
            for conf in chunk {
                c.op(&["SET", &keys::domain(&conf.domain), &encode(conf)?]);
            }
            let mut sadd = vec!["SADD".to_string(), keys::DOMAINS.to_string()];
            sadd.extend(chunk.iter().map(|d| d.domain.clone()));
            c.ops.push(sadd);
            let mut zadd = vec!["ZADD".to_string(), keys::DOMAIN_INDEX.to_string()];
            zadd.extend(chunk.iter().flat_map(|d| ["0".to_string(), d.domain.clone()]));
            c.ops.push(zadd);
            let names: Vec<String> = chunk.iter().map(|d| d.domain.clone()).collect();
            c.pubs.push((channels::CONFIG, config_payload_many("domain", &names)));
            c.cname_dirty("bulk import");
            revision = self.commit(c).await?.0;
        }
        Ok(revision)
    }

    async fn delete_domain(&self, name: &str) -> Result<Option<u64>> {
        let key = keys::domain(name);
        let mut c = Commit {
            guard: Some(key.clone()),
            require_guard: true,
            ..Commit::default()
        };
        c.op(&["DEL", &key])
            .op(&["SREM", keys::DOMAINS, name])
            .op(&["ZREM", keys::DOMAIN_INDEX, name])
            .op(&["HDEL", keys::DOMAINS_READY, name])
            .announce(&Change::Domain(name.to_string()))
            .cname_dirty(&format!("domain {name} deleted"));
        let (revision, existed) = self.commit(c).await?;
        Ok(existed.then_some(revision))
    }

    async fn record_readiness(&self, name: &str, ready: bool) -> Result<Option<bool>> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HGET")
            .arg(keys::DOMAINS_READY)
            .arg(name)
            .cmd("HSET")
            .arg(keys::DOMAINS_READY)
            .arg(name)
            .arg(if ready { "1" } else { "0" })
            .ignore();
        let (before,): (Option<String>,) = pipe.query_async(&mut self.conn()).await.map_err(map_err)?;
        Ok(before.map(|b| b == "1"))
    }
}

impl RedisStore {
    /// Builds the sorted index `cdn:domains:index` from the set
    /// `cdn:domains` once, for a store written before the index existed
    /// (every write keeps both since). Idempotent: a concurrent write only
    /// adds what this adds too.
    async fn ensure_domain_index(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.inner.domain_index_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (indexed, names): (u64, u64) = redis::pipe()
            .cmd("EXISTS")
            .arg(keys::DOMAIN_INDEX)
            .cmd("SCARD")
            .arg(keys::DOMAINS)
            .query_async(&mut self.conn())
            .await
            .map_err(map_err)?;
        if indexed == 0 && names > 0 {
            let all = self.sorted_members(keys::DOMAINS).await?;
            for chunk in all.chunks(BULK_CHUNK) {
                let mut zadd = cmd("ZADD");
                zadd.arg(keys::DOMAIN_INDEX);
                for name in chunk {
                    zadd.arg(0).arg(name);
                }
                self.query::<()>(&zadd).await?;
            }
            tracing::info!(domains = all.len(), "built the sorted domain index");
        }
        self.inner.domain_index_ready.store(true, Ordering::Relaxed);
        Ok(())
    }
}
