//! DNS-01 solvers: where a challenge's TXT value is published.

use crate::error::{Error, Result};
use cirrus_core::CertStore;
use std::sync::Arc;

/// Publishes DNS-01 challenge values for a domain and removes them.
///
/// `present` may be called more than once for one domain before
/// `cleanup` (an order for a name and its wildcard has two values at the
/// same name); `cleanup` removes every value presented for the domain.
/// Callers hold the domain's issuance lock, so one domain never has two
/// flows at once.
#[async_trait::async_trait]
pub trait Dns01Solver: Send + Sync + std::fmt::Debug + 'static {
    /// Publishes `value` as a TXT record for `_acme-challenge.<domain>`.
    async fn present(&self, domain: &str, value: &str) -> Result<()>;
    /// Removes every value presented for `domain`.
    async fn cleanup(&self, domain: &str) -> Result<()>;
    /// The name whose TXT records hold the values (the target of the
    /// domain's `_acme-challenge` CNAME), when the solver knows it: the
    /// issuer waits until its authoritative servers answer the value.
    async fn record_name(&self, domain: &str) -> Result<Option<String>> {
        let _ = domain;
        Ok(None)
    }
}

/// The built-in solver: values go into the store, and `cirrus dns` serves
/// them as TXT records at the domain's challenge name in the CDN's zone
/// (`_acme-challenge.<target>`; `cirrus_core::model::DomainDns` names it).
#[derive(Debug, Clone)]
pub struct StoreSolver {
    store: Arc<dyn CertStore>,
    zone: Option<String>,
}

impl StoreSolver {
    /// A solver writing to `store`.
    pub fn new(store: Arc<dyn CertStore>) -> Self {
        Self { store, zone: None }
    }

    /// The CDN's zone (`CNAME_BASE_DOMAIN`), which names the records the
    /// values are served at ([`Dns01Solver::record_name`]).
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }
}

#[async_trait::async_trait]
impl Dns01Solver for StoreSolver {
    async fn present(&self, domain: &str, value: &str) -> Result<()> {
        if value.is_empty() || value.len() > 255 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Challenge {
                domain: domain.to_string(),
                message: "a challenge value is 1-255 visible ASCII characters".into(),
            });
        }
        let mut values = self.store.challenges().await?.remove(domain).unwrap_or_default();
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
            self.store.put_challenge(domain, &values).await?;
        }
        Ok(())
    }

    async fn cleanup(&self, domain: &str) -> Result<()> {
        if self.store.challenges().await?.contains_key(domain) {
            self.store.put_challenge(domain, &[]).await?;
        }
        Ok(())
    }

    async fn record_name(&self, domain: &str) -> Result<Option<String>> {
        let dns = |zone: &String| {
            cirrus_core::model::DomainDns::for_domain(domain, zone)
                .acme_challenge
                .target
        };
        Ok(self.zone.as_ref().map(dns))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use cirrus_core::{EmbeddedStore, Store};

    #[tokio::test]
    async fn values_accumulate_per_domain_and_go_together() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let solver = StoreSolver::new(store.clone());
        solver.present("a.test", "one").await.unwrap();
        solver.present("a.test", "two").await.unwrap();
        solver.present("a.test", "two").await.unwrap();
        solver.present("b.test", "other").await.unwrap();
        let rev = store.revision().await.unwrap();
        assert_eq!(store.challenges().await.unwrap()["a.test"], ["one", "two"]);
        solver.cleanup("a.test").await.unwrap();
        assert_eq!(store.challenges().await.unwrap().keys().collect::<Vec<_>>(), ["b.test"]);
        solver.cleanup("a.test").await.unwrap();
        assert_eq!(
            store.revision().await.unwrap(),
            rev + 1,
            "a second cleanup writes nothing"
        );
        let bad = solver.present("a.test", "has space").await.unwrap_err();
        assert!(bad.to_string().contains("visible ASCII"), "{bad}");
    }
}
