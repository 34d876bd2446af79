//! The one error type of `cirrus-dns`.

/// Errors of building zones and running the DNS roles.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] cirrus_core::Error),
    /// A socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Result with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;
