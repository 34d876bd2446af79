//! # cirrus-client
//!
//! A typed async client for the Cirrus control-plane API: one method per
//! endpoint, the model types of [`cirrus_core::model`] (built without the
//! store, so no Redis or Tokio runtime features come along), errors that
//! carry the server's code, message and invalid fields, and retries with
//! exponential backoff and jitter on 429 and 5xx that honor `Retry-After`.
//! Webhook receivers verify what they get with
//! [`core::webhook::verify`].
//!
//! ## Example
//!
//! ```no_run
//! # async fn run() -> Result<(), cirrus_client::Error> {
//! use cirrus_client::Client;
//! use cirrus_core::DomainConf;
//! use cirrus_core::model::PurgeSelection;
//!
//! let api = Client::builder("http://127.0.0.1:8000").token("cirrus_…").build()?;
//! let origin = "https://192.0.2.10".parse().map_err(cirrus_client::Error::Config)?;
//! let written = api.put_domain(&DomainConf::new("example.com", origin)).await?;
//! println!("created: {}", written.created);
//! let purge = PurgeSelection { prefixes: vec!["/img/".into()], ..Default::default() };
//! let accepted = api.purge("example.com", &purge).await?;
//! println!("purge {} at revision {}", accepted.id, accepted.revision);
//! # Ok(()) }
//! ```

mod client;
mod endpoints;
mod error;
mod follow;
mod retry;
mod transport;
mod webhooks;

pub use client::{Client, ClientBuilder, EventQuery, Precondition, Versioned, Written};
pub use error::{Error, Result, TransportKind};
pub use follow::EventFollower;
pub use retry::RetryPolicy;

/// The model crate the client speaks, re-exported so users match versions.
pub use cirrus_core as core;
