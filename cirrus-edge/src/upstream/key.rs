//! What an origin connection was made for, so that a pooled connection is
//! only handed to a request for the same origin and TLS server name.

use cirrus_core::model::{Origin, Scheme};

/// What a connection was made for: where it goes, and with which TLS name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(super) scheme: Scheme,
    pub(super) host: String,
    pub(super) port: u16,
    tls_name: Option<String>,
}

impl Key {
    pub(super) fn of(origin: &Origin) -> Self {
        Self {
            scheme: origin.scheme,
            host: origin.host.clone(),
            port: origin.effective_port(),
            tls_name: (origin.scheme == Scheme::Https).then(|| tls_name(origin).to_string()),
        }
    }

    pub(super) fn matches(&self, origin: &Origin) -> bool {
        self.scheme == origin.scheme
            && self.host == origin.host
            && self.port == origin.effective_port()
            && self.tls_name.as_deref() == (origin.scheme == Scheme::Https).then(|| tls_name(origin))
    }
}

pub(super) fn tls_name(origin: &Origin) -> &str {
    origin
        .sni
        .as_deref()
        .or(origin.host_header.as_deref())
        .unwrap_or(&origin.host)
}
