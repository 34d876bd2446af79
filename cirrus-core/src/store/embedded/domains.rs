//! Embedded backend: domains ([`DomainStore`]).

use super::*;

#[async_trait::async_trait]
impl DomainStore for EmbeddedStore {
    async fn domain_names(&self) -> Result<Vec<String>> {
        self.keys_of(DOMAINS).await
    }

    async fn domain_names_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let after = after.map(str::to_string);
        self.read(move |tx| {
            let t = tx.open_table(DOMAINS).map_err(db_err)?;
            let range = match &after {
                Some(a) => t.range::<&str>((std::ops::Bound::Excluded(a.as_str()), std::ops::Bound::Unbounded)),
                None => t.range::<&str>(..),
            };
            range
                .map_err(db_err)?
                .take(limit)
                .map(|r| r.map(|(k, _)| k.value().to_string()).map_err(db_err))
                .collect()
        })
        .await
    }

    async fn get_domain(&self, name: &str) -> Result<Option<DomainConf>> {
        self.get_json(DOMAINS, name).await
    }

    async fn get_domains(&self, names: &[String]) -> Result<Vec<DomainConf>> {
        let names = names.to_vec();
        self.read(move |tx| {
            let mut confs = Vec::with_capacity(names.len());
            for name in &names {
                if let Some(json) = read_str(tx, DOMAINS, name)? {
                    confs.push(decode(DOMAINS.name(), name, &json)?);
                }
            }
            Ok(confs)
        })
        .await
    }

    async fn put_domain(&self, conf: &DomainConf) -> Result<Write> {
        let conf = validated_domain(conf)?;
        let json = encode(&conf)?;
        self.write(move |tx, cfg| {
            let existed = get_str(tx, DOMAINS, &conf.domain)?.is_some();
            put_str(tx, DOMAINS, &conf.domain, &json)?;
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &domain_pubs(std::slice::from_ref(&conf.domain), &format!("domain {}", conf.domain)),
            )?;
            Ok((
                Write {
                    revision: rev,
                    created: !existed,
                },
                recs,
            ))
        })
        .await
    }

    async fn put_domains(&self, confs: &[DomainConf]) -> Result<u64> {
        let confs: Vec<(String, String)> = confs
            .iter()
            .map(|c| {
                let c = validated_domain(c)?;
                Ok((c.domain.clone(), encode(&c)?))
            })
            .collect::<Result<_>>()?;
        if confs.is_empty() {
            return self.revision().await;
        }
        self.write(move |tx, cfg| {
            {
                let mut t = tx.open_table(DOMAINS).map_err(db_err)?;
                for (name, json) in &confs {
                    t.insert(name.as_str(), json.as_str()).map_err(db_err)?;
                }
            }
            let names: Vec<String> = confs.into_iter().map(|(n, _)| n).collect();
            let (rev, recs) = announce(tx, cfg.changelog_len, &domain_pubs(&names, "bulk import"))?;
            Ok((rev, recs))
        })
        .await
    }

    async fn record_readiness(&self, name: &str, ready: bool) -> Result<Option<bool>> {
        let name = name.to_string();
        self.write(move |tx, _| {
            let before = get_str(tx, DOMAINS_READY, &name)?.map(|b| b == "1");
            put_str(tx, DOMAINS_READY, &name, if ready { "1" } else { "0" })?;
            Ok((before, Vec::new()))
        })
        .await
    }

    async fn delete_domain(&self, name: &str) -> Result<Option<u64>> {
        let name = name.to_string();
        self.write(move |tx, cfg| {
            if !remove_str(tx, DOMAINS, &name)? {
                return Ok((None, Vec::new()));
            }
            remove_str(tx, DOMAINS_READY, &name)?;
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &domain_pubs(std::slice::from_ref(&name), &format!("domain {name} deleted")),
            )?;
            Ok((Some(rev), recs))
        })
        .await
    }
}

fn domain_pubs(names: &[String], reason: &str) -> Vec<(&'static str, String)> {
    vec![
        (channels::CONFIG, config_payload_many("domain", names)),
        (channels::CNAME_DIRTY, cname_payload(reason)),
    ]
}
