//! TLS termination: certificates chosen at SNI time, loaded from the store
//! (`cdn:cert:{domain}`) on first use and cached in process, dropped when
//! the store announces a new certificate; a fallback certificate for every
//! other name; session resumption; ALPN `h2` and `http/1.1`.

use crate::error::{BoxError, Error, Result};
use cirrus_core::EdgeSource;
use cirrus_core::model::{CertBundle, normalize_host};
use rustls::crypto::aws_lc_rs;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long "this domain has no certificate" is remembered before the
/// store is asked again (a missed announcement heals by itself).
const MISSING_FOR: Duration = Duration::from_secs(60);
/// Sessions kept for stateful resumption (TLS 1.2 session ids); TLS 1.3
/// clients resume with stateless tickets.
const SESSION_CACHE: usize = 16_384;

/// The certificates an edge presents, by server name.
///
/// Names with an entry get their certificate; every other name, and a
/// handshake without SNI, gets the fallback certificate. With a store
/// (the edge's [`cirrus_core::EdgeSource`]), a served domain's certificate is read
/// from `cdn:cert:{domain}` on its first handshake and kept until
/// [`Certificates::forget`] (which [`crate::Edge::sync`] calls when the
/// store announces a new certificate).
///
/// ```
/// use cirrus_edge::Certificates;
///
/// let certs = Certificates::self_signed()?;
/// assert_eq!(certs.len(), 0);
/// # Ok::<(), cirrus_edge::Error>(())
/// ```
#[derive(Clone)]
pub struct Certificates {
    inner: Arc<CertsInner>,
}

struct CertsInner {
    store: Option<Arc<dyn EdgeSource>>,
    entries: RwLock<HashMap<String, Entry>>,
    fallback: Arc<CertifiedKey>,
}

#[derive(Clone)]
enum Entry {
    Loaded(Arc<CertifiedKey>),
    Missing(Instant),
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("names", &self.len())
            .field("store", &self.inner.store.is_some())
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Certificates whose fallback is `fallback` (PEM chain and key).
    pub fn new(fallback: &CertBundle) -> Result<Self> {
        let fallback = certified_key("fallback certificate", fallback)?;
        Ok(Self {
            inner: Arc::new(CertsInner {
                store: None,
                entries: RwLock::new(HashMap::new()),
                fallback: Arc::new(fallback),
            }),
        })
    }

    /// Certificates whose fallback is a self-signed ECDSA P-256 certificate
    /// for `cirrus.invalid`, made now: clients asking for a name the edge
    /// has no certificate for get a handshake that their verification
    /// refuses, like nginx's default server.
    pub fn self_signed() -> Result<Self> {
        let made = rcgen::generate_simple_self_signed(vec!["cirrus.invalid".to_string()])
            .map_err(|e| Error::tls("fallback certificate", e))?;
        Self::new(&CertBundle::new(
            made.cert.pem(),
            made.signing_key.serialize_pem(),
            None,
        ))
    }

    /// Reads the certificates of served domains from `source` on first use
    /// (the edge builder does this with its own source).
    pub(crate) fn with_source(self, store: Arc<dyn EdgeSource>) -> Self {
        let inner = CertsInner {
            store: Some(store),
            entries: RwLock::new(self.read().clone()),
            fallback: self.inner.fallback.clone(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Serves `bundle` for `name` (replacing what was there).
    pub fn insert(&self, name: &str, bundle: &CertBundle) -> Result<()> {
        let key = certified_key(&format!("certificate of {name}"), bundle)?;
        self.write().insert(canonical(name), Entry::Loaded(Arc::new(key)));
        Ok(())
    }

    /// Drops what is known of `name`; the next handshake reads the store again.
    pub fn forget(&self, name: &str) {
        self.write().remove(&canonical(name));
    }

    /// Drops everything known (after events were lost).
    pub fn clear(&self) {
        self.write().clear();
    }

    /// Names with a certificate in memory.
    pub fn len(&self) -> usize {
        self.read().values().filter(|e| matches!(e, Entry::Loaded(_))).count()
    }

    /// True when no name has a certificate in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes sure `name`'s certificate is in memory when the store has
    /// one. Errors are the store's or an unusable stored certificate; the
    /// handshake then goes on with the fallback.
    pub(crate) async fn prepare(&self, name: &str) -> std::result::Result<(), BoxError> {
        let Some(store) = &self.inner.store else {
            return Ok(());
        };
        let name = canonical(name);
        match self.read().get(&name) {
            Some(Entry::Loaded(_)) => return Ok(()),
            Some(Entry::Missing(at)) if at.elapsed() < MISSING_FOR => return Ok(()),
            _ => {}
        }
        let bundle = store.certificate(&name).await?;
        let entry = match bundle {
            Some(bundle) => Entry::Loaded(Arc::new(certified_key(&format!("certificate of {name}"), &bundle)?)),
            None => Entry::Missing(Instant::now()),
        };
        self.write().insert(name, entry);
        Ok(())
    }

    fn lookup(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        match self.read().get(name) {
            Some(Entry::Loaded(key)) => Some(key.clone()),
            _ => None,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.inner.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.inner.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The server configuration presenting these certificates.
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::tls("tls protocol versions", e))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(self.clone()));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
        config.ticketer = aws_lc_rs::Ticketer::new().map_err(|e| Error::tls("tls session tickets", e))?;
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|name| self.lookup(&canonical(name)))
            .or_else(|| Some(self.inner.fallback.clone()))
    }
}

fn canonical(name: &str) -> String {
    normalize_host(name).unwrap_or_else(|_| name.to_ascii_lowercase())
}

/// A chain and key from PEM, the key checked against the leaf; errors
/// name `what` and the part that failed.
fn certified_key(what: &str, bundle: &CertBundle) -> Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(bundle.fullchain.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::tls(format!("{what}: not PEM certificates"), e))?;
    if chain.is_empty() {
        return Err(Error::tls(what, "no CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_slice(bundle.key.as_bytes())
        .map_err(|e| Error::tls(format!("{what}: not a PEM key"), e))?;
    CertifiedKey::from_der(chain, key, &aws_lc_rs::default_provider()).map_err(|e| Error::tls(what, e))
}

/// The client configuration for HTTPS origins: the platform's trusted
/// roots plus `extra_roots` (ALPN is set by the connector: HTTP/1.1).
pub(crate) fn origin_client_config(extra_roots: &[CertificateDer<'static>]) -> Result<ClientConfig> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots.iter().cloned(), provider.clone())
            .map_err(|e| Error::tls("origin tls roots", e))?;
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::tls("origin tls protocol versions", e))
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        })
}

/// Parses PEM certificates (extra trusted roots for HTTPS origins).
pub(crate) fn parse_roots(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::tls("trusted roots", e))?;
    if roots.is_empty() {
        return Err(Error::tls("trusted roots", "no CERTIFICATE block"));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(names: &[&str]) -> CertBundle {
        let made = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("certificate");
        CertBundle::new(made.cert.pem(), made.signing_key.serialize_pem(), None)
    }

    #[test]
    fn an_unusable_certificate_says_which_and_keeps_its_cause() {
        let certs = Certificates::self_signed().expect("fallback");
        let mut bad = bundle(&["a.test"]);
        bad.key = bundle(&["other.test"]).key;
        let e = certs.insert("a.test", &bad).expect_err("a key of another certificate");
        assert!(
            matches!(&e, Error::Tls { what, .. } if what == "certificate of a.test"),
            "{e}"
        );
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
        bad.fullchain = "not pem".into();
        let e = certs.insert("a.test", &bad).expect_err("no chain");
        assert_eq!(e.to_string(), "certificate of a.test: no CERTIFICATE block");
    }

    #[test]
    fn names_get_their_certificate_and_others_the_fallback() {
        let certs = Certificates::self_signed().expect("fallback");
        let a = bundle(&["a.test"]);
        certs.insert("A.test", &a).expect("insert");
        assert_eq!(certs.len(), 1);
        assert!(certs.lookup("a.test").is_some());
        assert!(certs.lookup("b.test").is_none());
        certs.forget("a.test");
        assert!(certs.is_empty());
    }

    #[test]
    fn unusable_bundles_are_refused() {
        let certs = Certificates::self_signed().expect("fallback");
        let a = bundle(&["a.test"]);
        let b = bundle(&["b.test"]);
        let mismatched = CertBundle::new(a.fullchain.clone(), b.key.clone(), None);
        assert!(certs.insert("a.test", &mismatched).is_err());
        assert!(
            certs
                .insert("a.test", &CertBundle::new("junk", a.key.clone(), None))
                .is_err()
        );
        assert!(
            certs
                .insert("a.test", &CertBundle::new(a.fullchain.clone(), "junk", None))
                .is_err()
        );
        assert!(Certificates::new(&mismatched).is_err());
        assert!(parse_roots("nothing here").is_err());
        assert_eq!(parse_roots(&a.fullchain).expect("roots").len(), 1);
    }
}
