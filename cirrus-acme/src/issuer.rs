//! The issuer: one ACME account for the CDN (created once, kept in the
//! store), an order per domain, DNS-01 through a [`Dns01Solver`], a wait
//! until the value is visible at the authoritative servers, a CSR from the
//! domain's own key (ECDSA P-256, made once and reused across renewals),
//! and the chain stored where every edge reads it.

use crate::ari::{RenewalWindow, certificate_id};
use crate::error::{Error, Result};
use crate::http::CaClient;
use crate::propagation::wait_visible;
use crate::solver::Dns01Solver;
use cirrus_core::model::CertBundle;
use cirrus_core::{CertStore, DomainStore, Store};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

/// Obtains certificates from one ACME directory.
pub struct Issuer<S: ?Sized = dyn Store> {
    store: Arc<S>,
    solver: Arc<dyn Dns01Solver>,
    directory: String,
    root: Option<PathBuf>,
    http: tokio::sync::OnceCell<CaClient>,
    authoritative: Vec<SocketAddr>,
    resolver: SocketAddr,
    visible_within: Duration,
    account: tokio::sync::OnceCell<Account>,
}

impl<S: ?Sized> std::fmt::Debug for Issuer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("directory", &self.directory)
            .field("solver", &self.solver)
            .field("authoritative", &self.authoritative)
            .finish_non_exhaustive()
    }
}

impl<S: DomainStore + CertStore + ?Sized> Issuer<S> {
    /// An issuer for the directory at `directory` (its URL), keeping state
    /// in `store` and publishing challenges with `solver`.
    pub fn new(store: Arc<S>, solver: Arc<dyn Dns01Solver>, directory: impl Into<String>) -> Self {
        Self {
            store,
            solver,
            directory: directory.into(),
            root: None,
            http: tokio::sync::OnceCell::new(),
            authoritative: Vec::new(),
            resolver: cirrus_core::resolve::system_resolver(),
            visible_within: Duration::from_secs(60),
            account: tokio::sync::OnceCell::new(),
        }
    }

    /// Trusts the CA certificate in the PEM file at `path` for the
    /// directory's HTTPS (a private CA such as Pebble's).
    pub fn directory_root(mut self, path: impl Into<PathBuf>) -> Self {
        self.root = Some(path.into());
        self
    }

    /// Before asking the CA to validate, wait (at most `within`) until every
    /// server in `servers` answers the challenge value (the authoritative
    /// servers of the solver's record name). None: no wait.
    pub fn wait_for(mut self, servers: Vec<SocketAddr>, within: Duration) -> Self {
        self.authoritative = servers;
        self.visible_within = within;
        self
    }

    /// The resolver asked whether a domain's `_acme-challenge` CNAME
    /// points at the solver's record before an order is placed (default:
    /// the first `nameserver` of `/etc/resolv.conf`).
    pub fn resolver(mut self, resolver: SocketAddr) -> Self {
        self.resolver = resolver;
        self
    }

    /// Fails unless `_acme-challenge.<domain>` is a CNAME to the record
    /// the solver publishes at.
    async fn check_delegation(&self, domain: &str) -> Result<()> {
        let not_delegated = |message: String| Error::NotDelegated {
            domain: domain.to_string(),
            message,
        };
        let Some(target) = self.solver.record_name(domain).await? else {
            return Err(not_delegated("the solver names no challenge record to check".into()));
        };
        let delegation = cirrus_core::model::Delegation {
            name: format!("_acme-challenge.{domain}"),
            target: target.trim_end_matches('.').to_string(),
        };
        let check = cirrus_core::resolve::check(self.resolver, &delegation).await;
        if check.ok {
            return Ok(());
        }
        let found = match (check.error, check.found.is_empty()) {
            (Some(error), _) => error,
            (None, false) => format!("it points to {}", check.found.join(", ")),
            (None, true) => "no CNAME found".into(),
        };
        Err(not_delegated(format!(
            "{} must be a CNAME to {}; {found}",
            delegation.name, delegation.target
        )))
    }

    /// The CDN's account: the one kept in the store, else a new one, kept.
    async fn account(&self) -> Result<&Account> {
        self.account
            .get_or_try_init(|| async {
                crate::http::check_directory(&self.directory)?;
                // One client for every attempt, so the Retry-After it keeps
                // is the one `ca` reads.
                let http = self
                    .http
                    .get_or_try_init(|| async { CaClient::new(self.root.as_deref()) })
                    .await?;
                let builder = Account::builder_with_http(Box::new(http.clone()));
                if let Some(json) = self.store.get_acme_account().await? {
                    let credentials: AccountCredentials =
                        serde_json::from_str(&json).map_err(|e| Error::local("stored account", e))?;
                    return builder.from_credentials(credentials).await.map_err(|e| self.ca(e));
                }
                let new = NewAccount {
                    contact: &[],
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                };
                let (account, credentials) = builder
                    .create(&new, self.directory.clone(), None)
                    .await
                    .map_err(|e| self.ca(e))?;
                let json = serde_json::to_string(&credentials).map_err(|e| Error::local("account", e))?;
                self.store.put_acme_account(&json).await?;
                Ok(account)
            })
            .await
    }

    /// Issues a certificate for `domain` (registered in the store) and
    /// stores it with its key for the edges; returns it.
    pub async fn issue(&self, domain: &str) -> Result<CertBundle> {
        self.issue_steps(domain)
            .instrument(tracing::info_span!("acme issue", domain))
            .await
    }

    /// [`Issuer::issue`]'s steps, each a span: the order, the validation
    /// (DNS-01 values presented, visible, accepted), the finalization.
    async fn issue_steps(&self, domain: &str) -> Result<CertBundle> {
        if self.store.get_domain(domain).await?.is_none() {
            return Err(Error::NotOnboarded(domain.to_string()));
        }
        self.check_delegation(domain).await?;
        let mut order = self
            .new_order(domain)
            .instrument(tracing::info_span!("acme order"))
            .await?;
        let result = self
            .validate(&mut order, domain)
            .instrument(tracing::info_span!("acme validate"))
            .await;
        // Whatever happened, the challenge values go.
        if let Err(e) = self.solver.cleanup(domain).await {
            tracing::warn!(domain, error = %e, "could not remove the challenge values");
        }
        result?;
        let key = self.domain_key(domain).await?;
        let mut params = rcgen::CertificateParams::new(vec![domain.to_string()]).map_err(|e| Error::local("CSR", e))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(|e| Error::local("CSR", e))?;
        let finalized = async {
            order.finalize_csr(csr.der()).await?;
            order.poll_certificate(&retries()).await
        };
        let chain = finalized
            .instrument(tracing::info_span!("acme finalize"))
            .await
            .map_err(|e| self.ca(e))?;
        let bundle = CertBundle::new(chain.clone(), key.serialize_pem(), not_after(&chain));
        self.store.put_cert(domain, &bundle).await?;
        Ok(bundle)
    }

    /// An order for `domain`; one that renews a certificate of this CA
    /// says which (RFC 9773 `replaces`) where the directory offers ARI,
    /// and is placed again without it if the CA does not take it (a
    /// certificate it already saw replaced, or not its own).
    async fn new_order(&self, domain: &str) -> Result<instant_acme::Order> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(domain.to_string())];
        let replaced = self
            .store
            .get_cert(domain)
            .await?
            .and_then(|c| certificate_id(&c.fullchain));
        if let Some(id) = replaced {
            match account.new_order(&NewOrder::new(&identifiers).replaces(id)).await {
                Ok(order) => return Ok(order),
                // The directory offers no ARI: nothing was sent.
                Err(instant_acme::Error::Unsupported(_)) => {}
                Err(e) => match self.ca(e) {
                    limited @ Error::RetryLater { .. } => return Err(limited),
                    e => {
                        tracing::info!(domain, error = %e, "the CA did not take the order as a replacement; ordering anew")
                    }
                },
            }
        }
        account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| self.ca(e))
    }

    /// The CA's suggested renewal window (RFC 9773) for the leaf of
    /// `chain`; None when its directory offers no renewal information or
    /// the certificate carries no authority key identifier.
    pub async fn renewal_window(&self, chain: &str) -> Result<Option<RenewalWindow>> {
        match certificate_id(chain) {
            Some(id) => self.renewal_window_of(&id).await,
            None => Ok(None),
        }
    }

    /// The CA's suggested renewal window for the certificate `id`.
    pub(crate) async fn renewal_window_of(&self, id: &CertificateIdentifier<'_>) -> Result<Option<RenewalWindow>> {
        match self.account().await?.renewal_info(id).await {
            Ok((info, retry_after)) => Ok(Some(RenewalWindow::from_ari(&info, retry_after))),
            Err(instant_acme::Error::Unsupported(_)) => Ok(None),
            Err(e) => Err(self.ca(e)),
        }
    }

    /// Presents every pending authorization's DNS-01 value, waits until it
    /// is visible, tells the CA, and waits for the order to be ready.
    async fn validate(&self, order: &mut instant_acme::Order, domain: &str) -> Result<()> {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| self.ca(e))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(Error::Ca(format!("authorization for {domain} is {other:?}"))),
            }
            let mut challenge = authz
                .challenge(ChallengeType::Dns01)
                .ok_or_else(|| Error::Ca(format!("the CA offers no DNS-01 challenge for {domain}")))?;
            let value = challenge.key_authorization().dns_value();
            self.solver.present(domain, &value).await?;
            if let Some(name) = self.solver.record_name(domain).await? {
                wait_visible(&self.authoritative, &name, &value, self.visible_within)
                    .await
                    .map_err(|message| Error::Challenge {
                        domain: domain.to_string(),
                        message,
                    })?;
            }
            challenge.set_ready().await.map_err(|e| self.ca(e))?;
        }
        match order.poll_ready(&retries()).await.map_err(|e| self.ca(e))? {
            OrderStatus::Ready => Ok(()),
            status => Err(Error::Ca(format!(
                "the order for {domain} is {status:?} after validation: {}",
                order_problem(order)
            ))),
        }
    }

    /// Our error for instant-acme's: a rate limit carries the CA's
    /// `Retry-After`, so the job's next attempt waits that long.
    fn ca(&self, e: instant_acme::Error) -> Error {
        let after = self.http.get().and_then(CaClient::take_retry_after);
        match &e {
            instant_acme::Error::Api(problem) if is_rate_limit(problem) => Error::RetryLater {
                message: problem.to_string(),
                after,
            },
            _ => Error::Acme(e),
        }
    }

    /// The domain's key: the one kept in the store, else a new P-256 one, kept.
    async fn domain_key(&self, domain: &str) -> Result<rcgen::KeyPair> {
        if let Some(pem) = self.store.get_cert_key(domain).await? {
            return rcgen::KeyPair::from_pem(&pem).map_err(|e| Error::local(format!("stored key of {domain}"), e));
        }
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| Error::local("key", e))?;
        self.store.put_cert_key(domain, &key.serialize_pem()).await?;
        Ok(key)
    }
}

/// Whether a CA's problem is "come back later".
fn is_rate_limit(problem: &instant_acme::Problem) -> bool {
    problem.r#type.as_deref() == Some("urn:ietf:params:acme:error:rateLimited")
        || matches!(problem.status, Some(429 | 503))
}

fn retries() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .timeout(Duration::from_secs(60))
}

/// The CA's error on an order that did not become ready, if it gave one.
fn order_problem(order: &mut instant_acme::Order) -> String {
    order
        .state()
        .error
        .as_ref()
        .map_or_else(|| "no error given".into(), |p| p.to_string())
}

/// The leaf's `notAfter` (Unix seconds) in a PEM chain.
fn not_after(chain: &str) -> Option<u64> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    u64::try_from(cert.validity().not_after.timestamp()).ok()
}
