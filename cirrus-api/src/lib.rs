//! # cirrus-api
//!
//! The Cirrus control plane as a library: an axum [`Router`](axum::Router)
//! serving `/api/v1` (domains, purge, certificates, nodes, tokens,
//! sessions, audit), `/healthz`, `/metrics`, `/openapi.json` and Swagger UI
//! at `/docs`, over any [`Store`](cirrus_core::Store).
//!
//! - **Auth**: the master token (configured, or generated once with
//!   [`ensure_master_token`]), service tokens with scopes and optional
//!   domain lists and expiry, portal sessions (HttpOnly, SameSite=Strict
//!   cookie + `x-csrf-token` on mutating calls).
//! - **Hygiene**: one JSON error shape naming each invalid field, a body
//!   size limit, `x-request-id` on every answer, per-caller rate limits
//!   (429 + `Retry-After`), and an audit record for every change.
//!
//! ## Example
//!
//! ```no_run
//! # async fn run() -> Result<(), cirrus_api::Error> {
//! use cirrus_api::Api;
//!
//! let store = cirrus_core::open_store("/var/lib/cirrus")?;
//! let api = Api::builder(store).master_token("a long random secret").build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! api.run(listener, &cirrus_core::lifecycle::Shutdown::new()).await?;
//! # Ok(()) }
//! ```

mod auth;
mod cert;
mod config;
mod error;
mod extract;
mod login;
mod metrics;
mod portal;
mod purge_watch;
mod ratelimit;
mod readiness;
mod routes;
mod setup;
mod state;

pub use config::{LoginLimits, RateLimit};

pub use error::{Error, ErrorBody, ErrorDetail, Result};
pub use setup::{
    Api, ApiBuilder, NewMasterToken, bootstrap_user, ensure_master_token, new_master_token, openapi,
    rotate_master_token,
};
