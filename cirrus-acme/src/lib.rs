//! # cirrus-acme
//!
//! Certificate issuance and renewal through ACME DNS-01. [`Issuer`] (on
//! instant-acme) keeps one account for the CDN in the store, places an
//! order only for a domain registered there, publishes the DNS-01 value
//! through a solver, waits until the authoritative servers answer it,
//! finalizes with a CSR from the domain's own P-256 key (made once, kept in
//! the store, reused by renewals) and stores the chain where every edge
//! reads it. A [`Dns01Solver`] publishes a challenge's TXT
//! value where the CA will look, and removes it afterwards; [`StoreSolver`]
//! is the built-in one, which puts the value in the store so `cirrus dns`
//! serves it at the domain's challenge name in the CDN's zone (the name the
//! API shows the domain's owner, who points `_acme-challenge.<domain>` at
//! it with one CNAME). [`AcmeDnsSolver`] sends the values to an external
//! acme-dns server instead (one registration per domain, kept in the store).
//!
//! An order is placed only for a domain registered in the store whose
//! `_acme-challenge` CNAME points where the solver publishes (checked
//! through a resolver first). [`IssueJobs`] runs the API's `issue_cert`
//! jobs under the domain's issuance lock (renewed while the flow runs);
//! a failure waits out the job runner's backoff, or the CA's
//! `Retry-After` when it is longer. [`RenewalScan`] queues certificates
//! close to their end, or whose CA suggests renewing them (ARI, RFC 9773,
//! see [`RenewalWindow`]). [`WebhookDeliverer`] posts the event stream to
//! the registered webhook endpoints, signed, in order, at least once, and
//! [`WorkerRole`] is the whole `cirrus worker`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cirrus_acme::{Dns01Solver, StoreSolver};
//! use cirrus_core::{EmbeddedStore, Store};
//! use std::sync::Arc;
//!
//! let dir = tempfile::tempdir()?;
//! let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path())?);
//! let solver = StoreSolver::new(store.clone());
//! solver.present("shop.example.com", "token-digest").await?;
//! assert_eq!(store.challenges().await?["shop.example.com"], ["token-digest"]);
//! solver.cleanup("shop.example.com").await?;
//! assert!(store.challenges().await?.is_empty());
//! # Ok(()) }
//! ```

mod acme_dns;
mod ari;
mod error;
mod http;
mod issuer;
mod job;
mod metrics;
mod propagation;
mod renew;
mod solver;
mod webhooks;
mod worker;

pub use acme_dns::AcmeDnsSolver;
pub use ari::RenewalWindow;
pub use error::{Error, Result};
pub use issuer::Issuer;
pub use job::{ISSUE_JOB, IssueJobs};
pub use metrics::{CERT_EXPIRY, JOB_DURATION, WEBHOOK_ATTEMPTS, WEBHOOK_BACKLOG, WEBHOOK_LAG, WorkerMetrics};
pub use renew::RenewalScan;
pub use solver::{Dns01Solver, StoreSolver};
pub use webhooks::{WebhookDeliverer, WebhookSettings};
pub use worker::{LETS_ENCRYPT, SolverChoice, WorkerRole};
