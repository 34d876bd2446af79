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
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the Cirrus API: {0}")]
    Transport(String),
    /// The answer was not what the API promises.
    #[error("unexpected answer from the Cirrus API: {0}")]
    Decode(String),
    /// The client was configured wrongly (bad base URL, bad token).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl Error {
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

/// Result with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;
