//! The errors of `cirrus-edge`: [`Error`] for building and running an
//! edge, [`ProxyError`] for one request that could not be proxied. A
//! `ProxyError` says which side failed, the status to answer and whether
//! the request may be tried again; failover, the response and the metrics
//! are decided from it.

use crate::body::{Body, BodyFailure, text};
use http::{Response, StatusCode};
use std::borrow::Cow;

/// Errors of building and running an edge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store (or configuration source) failed while loading configuration.
    #[error(transparent)]
    Store(#[from] cirrus_core::Error),
    /// A listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A certificate, key or TLS setting could not be used.
    #[error("{what}: {source}")]
    Tls {
        /// Which one (`fallback certificate`, `certificate of example.com`, …).
        what: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A metric could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A worker thread could not bind its own listener.
    #[error("worker listener {addr}: {source} (bind the edge's listeners with cirrus_edge::bind_shared)")]
    WorkerListener {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A worker thread panicked.
    #[error("an edge worker thread panicked")]
    WorkerPanicked,
    /// A request could not be proxied.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// A cause of any type, kept as the error's source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Error {
    /// A TLS error: `what` could not be used, because of `source`.
    pub(crate) fn tls(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Tls {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// Result with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which side of the proxy a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Side {
    /// The client sent something the edge refuses (4xx).
    Client,
    /// The origin could not be reached, or answered badly (5xx).
    Origin,
    /// The edge itself, or an embedder's hook.
    Internal,
}

/// What went wrong, precisely enough to count it and to decide a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed (framing, `Host`, target).
    BadRequest,
    /// No domain is served under the request's host.
    UnknownHost,
    /// The domain is disabled.
    DomainDisabled,
    /// The request body is larger than allowed.
    BodyTooLarge,
    /// The client's request body broke off or was malformed.
    ClientBody,
    /// No connection to the origin could be made.
    OriginConnect,
    /// A connection was made but failed before any byte of the answer
    /// arrived (the keep-alive race on a reused connection, a reset).
    OriginClosed,
    /// The origin did not answer in time.
    OriginTimeout,
    /// The origin answered with something that is not HTTP, or its body broke off.
    OriginProtocol,
    /// The origin's TLS server name is not a DNS name or IP address.
    OriginTlsName,
    /// The request has already passed through this CDN more often than a
    /// chain of edges needs (`CDN-Loop`, RFC 8586): a domain whose origin
    /// leads back to the edges. Answered 508.
    LoopDetected,
    /// A request carrying a shield credential (`Cirrus-Shield`) that this
    /// edge cannot verify: another cluster's, stale, forged, or this edge
    /// takes no shield requests. Answered 403.
    ShieldRefused,
    /// Refused by an embedder's hook, or a failure inside the edge.
    Internal,
}

/// A request that could not be proxied.
///
/// ```
/// use cirrus_edge::{ErrorKind, ProxyError, Side};
///
/// let e = ProxyError::new(ErrorKind::OriginTimeout, "origin timed out");
/// assert_eq!((e.side(), e.status().as_u16(), e.retryable()), (Side::Origin, 504, true));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProxyError {
    kind: ErrorKind,
    status: StatusCode,
    message: Cow<'static, str>,
}

impl ProxyError {
    /// An error of `kind`, answered with the kind's status.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        let status = match kind {
            ErrorKind::BadRequest | ErrorKind::ClientBody => StatusCode::BAD_REQUEST,
            ErrorKind::UnknownHost => StatusCode::NOT_FOUND,
            ErrorKind::DomainDisabled | ErrorKind::ShieldRefused => StatusCode::FORBIDDEN,
            ErrorKind::LoopDetected => StatusCode::LOOP_DETECTED,
            ErrorKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::OriginTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::OriginConnect
            | ErrorKind::OriginClosed
            | ErrorKind::OriginProtocol
            | ErrorKind::OriginTlsName => StatusCode::BAD_GATEWAY,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self {
            kind,
            status,
            message: message.into(),
        }
    }

    /// The same error answered with `status` instead (an embedder's hook
    /// refusing a request with 403, say).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Which side failed.
    pub fn side(&self) -> Side {
        match self.kind {
            ErrorKind::BadRequest
            | ErrorKind::UnknownHost
            | ErrorKind::DomainDisabled
            | ErrorKind::BodyTooLarge
            | ErrorKind::ClientBody
            | ErrorKind::LoopDetected
            | ErrorKind::ShieldRefused => Side::Client,
            ErrorKind::OriginConnect
            | ErrorKind::OriginClosed
            | ErrorKind::OriginTimeout
            | ErrorKind::OriginProtocol
            | ErrorKind::OriginTlsName => Side::Origin,
            ErrorKind::Internal => Side::Internal,
        }
    }

    /// The status to answer the client with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// True when an idempotent request may be sent again (to the next
    /// origin, or on a new connection): nothing of the answer was received.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::OriginConnect | ErrorKind::OriginClosed | ErrorKind::OriginTimeout | ErrorKind::OriginTlsName
        )
    }

    /// True when the client connection must be closed after the answer
    /// (what follows on it cannot be trusted to be a request).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::BadRequest | ErrorKind::BodyTooLarge | ErrorKind::ClientBody
        )
    }

    /// The answer the edge gives by itself: the status with the message as
    /// one line of text. (Whatever page is sent, the edge closes the
    /// connection after it when [`ProxyError::closes_connection`].)
    pub fn default_response(&self) -> Response<Body> {
        text(self.status, &format!("{}\n", self.message))
    }

    /// The message, safe to show to the client (it never carries an
    /// internal cause; those go to the log).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<BodyFailure> for ProxyError {
    fn from(failure: BodyFailure) -> Self {
        match failure {
            BodyFailure::TooLarge => Self::new(ErrorKind::BodyTooLarge, "request body too large"),
            BodyFailure::Broken => Self::new(ErrorKind::ClientBody, "malformed request body"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_status_and_retry_follow_the_kind() {
        let cases = [
            (ErrorKind::BadRequest, Side::Client, 400, false),
            (ErrorKind::UnknownHost, Side::Client, 404, false),
            (ErrorKind::BodyTooLarge, Side::Client, 413, false),
            (ErrorKind::ClientBody, Side::Client, 400, false),
            (ErrorKind::LoopDetected, Side::Client, 508, false),
            (ErrorKind::OriginConnect, Side::Origin, 502, true),
            (ErrorKind::OriginClosed, Side::Origin, 502, true),
            (ErrorKind::OriginTimeout, Side::Origin, 504, true),
            (ErrorKind::OriginProtocol, Side::Origin, 502, false),
            (ErrorKind::Internal, Side::Internal, 500, false),
        ];
        for (kind, side, status, retry) in cases {
            let e = ProxyError::new(kind, "x");
            assert_eq!(
                (e.side(), e.status().as_u16(), e.retryable()),
                (side, status, retry),
                "{kind:?}"
            );
        }
        let refused = ProxyError::new(ErrorKind::Internal, "no").with_status(StatusCode::FORBIDDEN);
        assert_eq!((refused.status().as_u16(), refused.side()), (403, Side::Internal));
    }
}
