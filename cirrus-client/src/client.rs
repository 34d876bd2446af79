//! The client and its builder; the endpoints are in `endpoints.rs`, how a
//! call travels (retries, errors) in `transport.rs`.

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use reqwest::{Url, header};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub(crate) const SESSION_COOKIE: &str = "cirrus_session";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// A typed client for the Cirrus control-plane API. Cheap to clone; clones
/// share connections and the session.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) retry: RetryPolicy,
    pub(crate) auth: RwLock<Auth>,
}

#[derive(Clone, Default)]
pub(crate) enum Auth {
    #[default]
    None,
    Bearer(String),
    Session {
        id: String,
        csrf: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Bearer(_) => "Bearer(<redacted>)",
            Auth::Session { .. } => "Session(<redacted>)",
        })
    }
}

/// Settings of a [`Client`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    base: String,
    token: Option<String>,
    timeout: Duration,
    retry: RetryPolicy,
}

/// Outcome of a create-or-replace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written<T> {
    /// The object as stored.
    pub item: T,
    /// True when it did not exist before (201).
    pub created: bool,
}

/// A value read with its version, for a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Versioned<T> {
    /// The value.
    pub item: T,
    /// Its entity tag (`ETag`), when the API sent one.
    pub etag: Option<String>,
}

/// What must hold for a conditional write to apply (RFC 9110 §13).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precondition {
    /// The object is still the version with this entity tag (`If-Match`).
    Unchanged(String),
    /// The object does not exist: create, never replace (`If-None-Match: *`).
    Absent,
}

/// What [`Client::events`] asks for: a place in the stream and filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Events after this id (an event's `id` or a page's `next_after`).
    pub after: Option<String>,
    /// Only these types (all when empty).
    pub types: Vec<cirrus_core::model::EventType>,
    /// Only events about this subject.
    pub subject: Option<String>,
    /// Events a page, 1-1000 (the API's default: 100).
    pub limit: Option<usize>,
}

impl EventQuery {
    /// Every event after `after` (from the oldest kept when `None`).
    pub fn after(after: Option<String>) -> Self {
        Self {
            after,
            ..Self::default()
        }
    }
}

impl ClientBuilder {
    /// Authenticates with a bearer token (master or service token).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Timeout of each attempt (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// When to retry (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client> {
        let base = Url::parse(&self.base).map_err(|e| Error::Config(format!("base URL {:?}: {e}", self.base)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Config(format!(
                "base URL {:?} must be http(s)://host[:port]",
                self.base
            )));
        }
        if let Some(t) = &self.token
            && header::HeaderValue::from_str(&format!("Bearer {t}")).is_err()
        {
            return Err(Error::Config(
                "the token contains characters not allowed in a header".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(concat!("cirrus-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                retry: self.retry,
                auth: RwLock::new(self.token.map_or(Auth::None, Auth::Bearer)),
            }),
        })
    }
}

impl Client {
    /// Starts configuring a client for the API at `base_url`, e.g.
    /// `http://127.0.0.1:8000`.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base_url.into(),
            token: None,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}
