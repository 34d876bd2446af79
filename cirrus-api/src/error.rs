//! Errors: [`Error`] for setting up and running the API, [`ApiError`] for
//! what a request gets back. Every error answer has one JSON shape:
//! `{"error": {"code", "message", "details"}}`; 5xx bodies stay generic
//! while the cause goes to the log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use cirrus_core::model::{ErrorBody, ErrorDetail};
use cirrus_core::model::{FieldError, ValidationErrors};

/// Errors of `cirrus-api` outside of request handling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed while setting up (bootstrap user, master token).
    #[error(transparent)]
    Store(#[from] cirrus_core::Error),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A metric could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Result with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error answer: status, code, message, field details.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<FieldError>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn invalid(errors: ValidationErrors) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("invalid input: {errors}"),
        );
        e.details = errors.errors;
        e
    }

    pub(crate) fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let mut errs = ValidationErrors::default();
        errs.push(field, reason);
        Self::invalid(errs)
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; retry later",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// The same error with another message (for a 429 that says which
    /// limit was reached).
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
        e.retry_after = Some(1);
        e
    }

    /// A failure on our side: logged with its cause, answered generically.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The code, message and field details, without the status (for one
    /// item of a batch).
    pub(crate) fn into_detail(self) -> ErrorDetail {
        ErrorDetail {
            code: self.code.to_string(),
            message: self.message,
            details: self.details,
        }
    }
}

impl From<cirrus_core::Error> for ApiError {
    fn from(e: cirrus_core::Error) -> Self {
        match e {
            cirrus_core::Error::Invalid(errors) => Self::invalid(errors),
            e if e.is_retryable() => {
                tracing::warn!(error = %e, "store unavailable");
                Self::unavailable("the store is unavailable; retry later")
            }
            e => Self::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, retry_after) = (self.status, self.retry_after);
        let body = ErrorBody {
            error: self.into_detail(),
        };
        let mut res = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// What handlers return.
pub(crate) type ApiResult<T> = std::result::Result<T, ApiError>;
