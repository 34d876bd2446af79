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
    /// A name (the zone, a nameserver, a domain's record) is not a DNS name.
    #[error("{what} {name:?}: {source}")]
    Name {
        /// What the name is for (`origin`, `nameserver`, …).
        what: String,
        /// The name as given.
        name: String,
        /// Why it is not one.
        #[source]
        source: hickory_proto::ProtoError,
    },
    /// A metric could not be registered.
    #[error("dns metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The health checker's HTTP client could not be built.
    #[error("health checker client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// Result with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;
