//! The acme-dns solver: challenge values go to an external acme-dns
//! server through its HTTP API. Each domain is registered once
//! (`POST /register`); the credentials are kept in the domain's ACME state
//! (`cdn:acme:{domain}`), and the domain's owner points
//! `_acme-challenge.<domain>` at the registration's `fulldomain` with a
//! CNAME. Each value is sent with `POST /update`.

use crate::error::{Error, Result};
use crate::solver::Dns01Solver;
use cirrus_core::CertStore;
use cirrus_core::model::AcmeDnsCredentials;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Publishes challenge values through an acme-dns server's HTTP API.
#[derive(Debug, Clone)]
pub struct AcmeDnsSolver {
    api: String,
    http: reqwest::Client,
    store: Arc<dyn CertStore>,
}

#[derive(Deserialize)]
struct Registration {
    username: String,
    password: String,
    subdomain: String,
    fulldomain: String,
}

impl AcmeDnsSolver {
    /// A solver for the acme-dns server at `api` (e.g.
    /// `https://auth.acme-dns.example`), keeping registrations in `store`.
    pub fn new(api: impl Into<String>, store: Arc<dyn CertStore>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::local("acme-dns HTTP client", e))?;
        Ok(Self {
            api: api.into().trim_end_matches('/').to_string(),
            http,
            store,
        })
    }

    /// The domain's registration: the one kept in its ACME state, else a
    /// new one, kept there. Its `fulldomain` is what the domain's owner
    /// points `_acme-challenge.<domain>` at.
    pub async fn registration(&self, domain: &str) -> Result<AcmeDnsCredentials> {
        let mut state = self.store.get_acme_state(domain).await?.unwrap_or_default();
        if let Some(creds) = state.acme_dns {
            return Ok(creds);
        }
        let res = self
            .http
            .post(format!("{}/register", self.api))
            .send()
            .await
            .map_err(|source| Error::AcmeDnsHttp {
                what: "register".into(),
                source,
            })?;
        let status = res.status();
        if !status.is_success() {
            let body = res.text().await.unwrap_or_default();
            return Err(Error::AcmeDns(format!("register: {status}: {body}")));
        }
        let r: Registration = res.json().await.map_err(|source| Error::AcmeDnsHttp {
            what: "register: unreadable answer".into(),
            source,
        })?;
        let creds = AcmeDnsCredentials {
            username: r.username,
            password: r.password,
            subdomain: r.subdomain,
            fulldomain: r.fulldomain,
        };
        state.acme_dns = Some(creds.clone());
        self.store.put_acme_state(domain, &state).await?;
        Ok(creds)
    }
}

#[async_trait::async_trait]
impl Dns01Solver for AcmeDnsSolver {
    async fn present(&self, domain: &str, value: &str) -> Result<()> {
        let creds = self.registration(domain).await?;
        let res = self
            .http
            .post(format!("{}/update", self.api))
            .header("X-Api-User", &creds.username)
            .header("X-Api-Key", &creds.password)
            .json(&serde_json::json!({ "subdomain": creds.subdomain, "txt": value }))
            .send()
            .await
            .map_err(|source| Error::AcmeDnsHttp {
                what: format!("update for {domain}"),
                source,
            })?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let body = res.text().await.unwrap_or_default();
        Err(Error::Challenge {
            domain: domain.to_string(),
            message: format!("acme-dns update: {status}: {}", body.trim()),
        })
    }

    async fn record_name(&self, domain: &str) -> Result<Option<String>> {
        Ok(Some(self.registration(domain).await?.fulldomain))
    }

    /// acme-dns has no delete: it keeps the two latest values (a name and
    /// its wildcard) and replaces them with the next ones. Nothing to do.
    async fn cleanup(&self, _domain: &str) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use cirrus_core::EmbeddedStore;
    use cirrus_test_support::AcmeDnsServer;

    #[tokio::test]
    async fn registers_once_per_domain_and_updates_with_its_credentials() {
        let server = AcmeDnsServer::start("auth.test").await;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn cirrus_core::Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let solver = AcmeDnsSolver::new(format!("{}/", server.api), store.clone()).unwrap();
        solver.present("a.test", "value-1").await.unwrap();
        solver.present("a.test", "value-2").await.unwrap();
        solver.present("b.test", "value-3").await.unwrap();
        assert_eq!(server.registrations(), 2, "one registration per domain");
        let a = store.get_acme_state("a.test").await.unwrap().unwrap().acme_dns.unwrap();
        let b = store.get_acme_state("b.test").await.unwrap().unwrap().acme_dns.unwrap();
        assert_eq!(a.fulldomain, format!("{}.auth.test", a.subdomain), "kept in the store");
        assert_eq!(
            solver.record_name("a.test").await.unwrap().as_deref(),
            Some(a.fulldomain.as_str())
        );
        assert_eq!(
            server.updates(),
            [
                (a.subdomain.clone(), "value-1".into()),
                (a.subdomain.clone(), "value-2".into()),
                (b.subdomain.clone(), "value-3".into())
            ]
        );
        solver.cleanup("a.test").await.unwrap();

        // Credentials the server refuses: a clear error naming the domain.
        let mut state = store.get_acme_state("a.test").await.unwrap().unwrap();
        state.acme_dns.as_mut().unwrap().password = "wrong".into();
        store.put_acme_state("a.test", &state).await.unwrap();
        let e = solver.present("a.test", "value-4").await.unwrap_err().to_string();
        assert!(e.contains("a.test") && e.contains("401"), "{e}");
        let down = AcmeDnsSolver::new("http://127.0.0.1:9", store).unwrap();
        assert!(
            down.present("c.test", "v")
                .await
                .unwrap_err()
                .to_string()
                .contains("register")
        );
    }
}
