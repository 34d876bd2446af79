//! The crate's one error type.

/// What can go wrong obtaining a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed or is unavailable.
    #[error("store: {0}")]
    Store(#[from] cirrus_core::Error),
    /// The domain is not registered in the store: no order is placed for a
    /// name nobody onboarded.
    #[error("{0} is not a domain of this CDN")]
    NotOnboarded(String),
    /// The domain's `_acme-challenge` CNAME does not point where the
    /// solver publishes: no order is placed.
    #[error("{domain}: the challenge delegation is not in place: {message}")]
    NotDelegated {
        /// The domain.
        domain: String,
        /// What the resolver found instead.
        message: String,
    },
    /// The CA's answer does not allow going on (an authorization
    /// invalid, no DNS-01 challenge offered, an order failed).
    #[error("ACME: {0}")]
    Ca(String),
    /// The CA refused or could not be reached, as the ACME client reported it.
    #[error("ACME: {0}")]
    Acme(#[source] instant_acme::Error),
    /// The CA asked us to come back later: a rate limit
    /// (`urn:ietf:params:acme:error:rateLimited`, 429) or a 503; `after` is
    /// its `Retry-After`, if it sent one.
    #[error("ACME: come back later{}: {message}", after.map(|a| format!(" (in {} s)", a.as_secs())).unwrap_or_default())]
    RetryLater {
        /// The CA's words.
        message: String,
        /// How long the CA asked us to wait.
        after: Option<std::time::Duration>,
    },
    /// The acme-dns server refused a registration.
    #[error("acme-dns: {0}")]
    AcmeDns(String),
    /// The acme-dns server could not be reached, or its answer read.
    #[error("acme-dns: {what}: {source}")]
    AcmeDnsHttp {
        /// The call (`register`, `update for example.com`, …).
        what: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// Something on this side failed: the CA root file, the HTTP client, a
    /// stored account or key, a CSR.
    #[error("{what}: {source}")]
    Local {
        /// What could not be done.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A challenge could not be published or removed.
    #[error("DNS-01 challenge for {domain}: {message}")]
    Challenge {
        /// The domain being validated.
        domain: String,
        /// What failed.
        message: String,
    },
}

impl Error {
    /// `what` could not be done on this side, because of `source`.
    pub(crate) fn local(what: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Local {
            what: what.into(),
            source: source.into(),
        }
    }

    /// How long the next attempt must wait at least, when the CA said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::RetryLater { after, .. } => *after,
            _ => None,
        }
    }
}

/// This crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
