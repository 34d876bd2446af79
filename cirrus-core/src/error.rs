//! The one error type of `cirrus-core`.

use crate::model::ValidationErrors;

/// Errors of the store and of the core primitives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store cannot be reached (connection refused, dropped, timed out).
    /// Callers degrade service; a retry later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
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
    #[error("store error: {0}")]
    Backend(String),
    /// Password hashing failed.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}

impl Error {
    /// True when a later retry may succeed (the store was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
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
