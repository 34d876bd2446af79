//! The one error type of `cirrus-core`.

use crate::model::ValidationErrors;

/// The error a backend raised, kept as the source of an [`Error`].
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Errors of the store and of the core primitives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store cannot be reached (connection refused, dropped, timed out).
    /// Callers degrade service; a retry later may succeed.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The backend's error, when one was raised.
        #[source]
        source: Option<Cause>,
    },
    /// A value failed validation; every problem is listed.
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationErrors),
    /// A record in the store could not be decoded.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// The key (or table/key) holding the record.
        key: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The store refused an operation (a bug or a misconfigured server).
    #[error("store error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// The backend's error, when one was raised.
        #[source]
        source: Option<Cause>,
    },
    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// A webhook signature did not verify, or a secret is malformed.
    #[error("webhook signature refused: {0}")]
    Signature(String),
}

impl Error {
    /// True when a later retry may succeed (the store was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    /// [`Error::Unavailable`] saying `message`, caused by `source`.
    pub fn unavailable(message: impl Into<String>, source: Option<Cause>) -> Self {
        Error::Unavailable {
            message: message.into(),
            source,
        }
    }

    /// [`Error::Backend`] saying `message`, caused by `source`.
    pub fn backend(message: impl Into<String>, source: Option<Cause>) -> Self {
        Error::Backend {
            message: message.into(),
            source,
        }
    }

    #[cfg_attr(not(any(feature = "redis", feature = "embedded")), allow(dead_code))]
    pub(crate) fn corrupt(key: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;
