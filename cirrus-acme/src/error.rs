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
    /// The CA refused, failed, or could not be reached; its own words.
    #[error("ACME: {0}")]
    Ca(String),
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
    /// The acme-dns server could not be reached or refused a registration.
    #[error("acme-dns: {0}")]
    AcmeDns(String),
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
