//! The one error type of `cirrus-client`.

use cirrus_core::model::FieldError;

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error (after retries, where allowed).
    #[error("{message} ({status} {code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's stable error code, e.g. `invalid_input`.
        code: String,
        /// The server's message.
        message: String,
        /// One entry per invalid field.
        details: Vec<FieldError>,
        /// The request id to quote when reporting the problem.
        request_id: Option<String>,
    },
    /// The request got no answer: [`TransportKind`] says why, `source`
    /// is the HTTP client's error with its chain.
    #[error("cannot reach the Cirrus API ({kind}): {source}")]
    Transport {
        /// Timeout, connection refused, TLS, or another failure.
        kind: TransportKind,
        /// What the HTTP client said.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not what the API promises.
    #[error("unexpected answer from the Cirrus API: {what}")]
    Decode {
        /// What was wrong with it.
        what: String,
        /// The parser's error, when one failed.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The client was configured wrongly (bad base URL, bad token).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// No answer within the client's timeout.
    Timeout,
    /// The connection could not be made (refused, unreachable, no such host).
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The connection broke or something else failed on the way.
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Timeout => "timeout",
            TransportKind::Connect => "connect",
            TransportKind::Tls => "TLS",
            TransportKind::Other => "transport",
        })
    }
}

impl Error {
    /// A [`Error::Transport`] of `source`, its kind told from the error and its chain.
    pub(crate) fn transport(source: reqwest::Error) -> Self {
        let kind = if source.is_timeout() {
            TransportKind::Timeout
        } else if tls_in_chain(&source) {
            TransportKind::Tls
        } else if source.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        };
        Error::Transport { kind, source }
    }

    /// A [`Error::Decode`] saying `what`, caused by `source` when given.
    pub(crate) fn decode(what: impl Into<String>, source: Option<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Decode {
            what: what.into(),
            source,
        }
    }

    /// Why the request got no answer, for [`Error::Transport`].
    pub fn transport_kind(&self) -> Option<TransportKind> {
        match self {
            Error::Transport { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The HTTP status, for errors the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error code, for errors the server answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True for a 412: a conditional write found the object changed,
    /// present or absent (see [`Precondition`](crate::Precondition)).
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    /// The invalid fields the server named.
    pub fn details(&self) -> &[FieldError] {
        match self {
            Error::Api { details, .. } => details,
            _ => &[],
        }
    }
}

/// True when a rustls error is somewhere in `e`'s chain. An I/O error is
/// looked into through its inner error (the TLS stream wraps the rustls
/// error in I/O errors, whose `source` skips what they wrap).
fn tls_in_chain(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        next = match err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// Result with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::TransportKind;
    use crate::{Client, RetryPolicy};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What `GET /api/v1/auth/me` at `base` fails with.
    async fn kind_of(base: &str) -> Option<TransportKind> {
        let client = Client::builder(base)
            .timeout(Duration::from_millis(300))
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let e = client.me().await.unwrap_err();
        assert!(std::error::Error::source(&e).is_some(), "{e}: the cause is kept");
        e.transport_kind()
    }

    /// A listener whose connections get `answer` (none: silence).
    async fn server(answer: Option<&'static [u8]>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                match answer {
                    Some(bytes) => drop(s.write_all(bytes).await),
                    None => tokio::time::sleep(Duration::from_secs(5)).await,
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn timeouts_refusals_and_tls_failures_are_told_apart() {
        let refused = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(
            kind_of(&format!("http://{refused}")).await,
            Some(TransportKind::Connect)
        );
        let silent = server(None).await;
        assert_eq!(kind_of(&format!("http://{silent}")).await, Some(TransportKind::Timeout));
        // HTTPS to a server speaking plain HTTP: the handshake fails.
        let plain = server(Some(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")).await;
        assert_eq!(kind_of(&format!("https://{plain}")).await, Some(TransportKind::Tls));
    }
}
