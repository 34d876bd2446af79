//! Embedded backend: certificates, ACME state and DNS-01 challenges ([`CertStore`]).

use super::*;

#[async_trait::async_trait]
impl CertStore for EmbeddedStore {
    async fn put_challenge(&self, domain: &str, values: &[String]) -> Result<u64> {
        let (domain, json) = (domain.to_string(), encode(&values)?);
        let empty = values.is_empty();
        let payload = cname_payload(&format!("challenge {domain}"));
        self.write(move |tx, cfg| {
            if empty {
                remove_str(tx, CHALLENGES, &domain)?;
            } else {
                put_str(tx, CHALLENGES, &domain, &json)?;
            }
            announce(tx, cfg.changelog_len, &[(channels::CNAME_DIRTY, payload)])
        })
        .await
    }

    async fn challenges(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        self.read(|tx| {
            read_all(tx, CHALLENGES)?
                .iter()
                .map(|(k, v)| Ok((k.clone(), decode("acme_challenges", k, v)?)))
                .collect()
        })
        .await
    }

    async fn get_cert(&self, domain: &str) -> Result<Option<CertBundle>> {
        self.get_json(CERTS, domain).await
    }

    async fn put_cert(&self, domain: &str, cert: &CertBundle) -> Result<u64> {
        let (domain, json) = (domain.to_string(), encode(cert)?);
        self.write(move |tx, cfg| {
            put_str(tx, CERTS, &domain, &json)?;
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &[(channels::CONFIG, config_payload(&Change::Certificate(domain)))],
            )?;
            Ok((rev, recs))
        })
        .await
    }

    async fn delete_cert(&self, domain: &str) -> Result<Option<u64>> {
        let domain = domain.to_string();
        self.write(move |tx, cfg| {
            if !remove_str(tx, CERTS, &domain)? {
                return Ok((None, Vec::new()));
            }
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &[(channels::CONFIG, config_payload(&Change::Certificate(domain)))],
            )?;
            Ok((Some(rev), recs))
        })
        .await
    }

    async fn cert_expiries(&self) -> Result<Vec<(String, u64)>> {
        self.read(|tx| {
            let domains = read_all(tx, DOMAINS)?;
            let configured: std::collections::HashSet<&str> = domains.iter().map(|(k, _)| k.as_str()).collect();
            let mut ends = Vec::new();
            for (domain, json) in read_all(tx, CERTS)? {
                let cert: CertBundle = decode(CERTS.name(), &domain, &json)?;
                if let (true, Some(end)) = (configured.contains(domain.as_str()), cert.not_after) {
                    ends.push((domain, end));
                }
            }
            Ok(ends)
        })
        .await
    }

    async fn get_acme_state(&self, domain: &str) -> Result<Option<AcmeState>> {
        self.get_json(ACME, domain).await
    }

    async fn put_acme_state(&self, domain: &str, state: &AcmeState) -> Result<()> {
        self.put_plain(ACME, domain, encode(state)?).await
    }

    async fn get_acme_account(&self) -> Result<Option<String>> {
        self.read(|tx| read_str(tx, META, ACME_ACCOUNT)).await
    }

    async fn put_acme_account(&self, credentials: &str) -> Result<()> {
        self.put_plain(META, ACME_ACCOUNT, credentials.to_string()).await
    }

    async fn get_cert_key(&self, domain: &str) -> Result<Option<String>> {
        let domain = domain.to_string();
        self.read(move |tx| read_str(tx, CERT_KEYS, &domain)).await
    }

    async fn put_cert_key(&self, domain: &str, pem: &str) -> Result<()> {
        self.put_plain(CERT_KEYS, domain, pem.to_string()).await
    }
}
