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
    /// The store's history went back below the zone served (Redis restarted
    /// without its data): the zone is kept until the store passes it.
    #[error("the store is at revision {store}, behind the zone served (built at {served}): keeping the zone")]
    StoreWentBack {
        /// The store's revision now.
        store: u64,
        /// The revision the served zone was built at.
        served: u64,
    },
}

/// Result with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;
