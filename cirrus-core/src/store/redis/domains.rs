//! Redis backend: domains ([`DomainStore`]).

use super::*;

#[async_trait::async_trait]
impl DomainStore for RedisStore {
    async fn domain_names(&self) -> Result<Vec<String>> {
        self.sorted_members(keys::DOMAINS).await
    }

    async fn get_domain(&self, name: &str) -> Result<Option<DomainConf>> {
        let key = keys::domain(name);
        self.get_string(&key).await?.map(|j| decode(&key, &j)).transpose()
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
            .announce(&Change::Domain(name.to_string()))
            .cname_dirty(&format!("domain {name} deleted"));
        let (revision, existed) = self.commit(c).await?;
        Ok(existed.then_some(revision))
    }
}
