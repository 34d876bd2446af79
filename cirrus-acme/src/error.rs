//! The crate's one error type.

/// What can go wrong obtaining a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed or is unavailable.
    #[error("store: {0}")]
    Store(#[from] cirrus_core::Error),
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

/// This crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
