//! # cirrus-edge
//!
//! The Cirrus data plane: a reverse proxy with an RFC 9111 cache (memory
//! and disk tiers), purge by URL, prefix, tag and domain, dynamic TLS
//! resolved at SNI time, and Prometheus metrics with the seed's names. It
//! runs as the `cirrus edge` role, or inside a proxy of your own.
//!
//! - [`Edge`], built by [`Edge::builder`] over an [`EdgeSource`] (any
//!   [`cirrus_core::Store`], or a [`StaticSource`] in memory): HTTP/1.1
//!   ([`Edge::serve`]) and HTTPS ([`Edge::serve_tls`]: HTTP/2 or HTTP/1.1
//!   by ALPN) with graceful drain, or mounted as a hyper service in your
//!   own server ([`Edge::service`]); kept in step with its source by
//!   [`Edge::sync`]; `/healthz`, `/readyz` and `/metrics` by [`Edge::serve_admin`];
//!   all of these at once, drained together, by [`Edge::run`] (the
//!   `cirrus edge` role).
//! - [`EdgeHooks`]: your logic, phase by phase (request filter, cache key,
//!   hit filter, origin choice, upstream request and response filters,
//!   response filter, error page, logging), in the spirit of Pingora's
//!   `ProxyHttp`; [`DefaultHooks`] is the edge's own behaviour.
//! - [`ProxyError`]: why a request could not be proxied, which side
//!   failed ([`Side`]), the status answered and whether a retry is allowed.
//! - The cache: [`Storability`] decides what is stored (RFC 9111 for a
//!   shared cache, RFC 9213 targeted fields, the domain's rules),
//!   [`CacheKey`] what selects a stored response, [`MemoryCache`] and
//!   [`DiskCache`] hold them.
//! - [`Certificates`]: the certificate for each SNI name.
//! - Shielding: an edge with a node id fetches a shielded domain's misses
//!   from the object's owner edge before the origin, and answers its
//!   peers' signed requests ([`Session::from_peer`], [`Tier`];
//!   `docs/shielding.md`).
//!
//! The embedding guide is `docs/embedding.md`; the cache's rules are in
//! `docs/cache.md`.
//!
//! ## Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cirrus_core::{DomainConf, StaticSource};
//! use cirrus_edge::{Edge, Exchange, Storability};
//! use cirrus_edge::head::Fields;
//! use http::{Method, StatusCode};
//! use std::sync::Arc;
//!
//! // An edge for one domain, configured in memory (no store).
//! let source = StaticSource::new().with_domain(DomainConf::new("example.com", "http://192.0.2.10".parse()?))?;
//! let edge = Edge::builder(Arc::new(source)).build()?;
//! edge.load().await?;
//! assert_eq!(edge.domain_count(), 1);
//!
//! // What its cache would do with a response.
//! let mut response = Fields::new();
//! response.insert("cache-control", "public, max-age=300")?;
//! let exchange = Exchange {
//!     method: &Method::GET,
//!     path: "/logo.png",
//!     request: &Fields::new(),
//!     status: StatusCode::OK,
//!     response: &response,
//! };
//! let decision = Storability::of(&Default::default(), &exchange, std::time::SystemTime::now());
//! assert!(matches!(decision, Storability::Store { ttl: 300, .. }));
//! # Ok(()) }
//! ```

mod admin;
mod body;
mod cache;
mod connections;
mod deadline;
mod domains;
mod downstream;
mod edge;
mod error;
mod hashing;
pub mod head;
mod headers;
mod hooks;
mod http1;
mod observe;
mod proxy;
mod reply;
mod report;
mod role;
mod route;
mod session;
mod settings;
mod shield;
mod source_state;
mod sync;
mod tls;
mod trace;
mod upstream;
mod workers;

#[cfg(test)]
mod fuzz;

pub use body::Body;
pub use cache::{CacheKey, CacheStatus, CachedResponse, DiskCache, Exchange, MemoryCache, NotStored, Storability};
pub use cirrus_core::model::AllowList;
pub use cirrus_core::{EdgeSource, StaticSource};
pub use edge::{Edge, EdgeBuilder};
pub use error::{BoxError, Error, ErrorKind, ProxyError, Result, Side};
pub use hooks::{DefaultHooks, EdgeHooks, HitDecision};
/// The `http` crate whose types the hooks speak (match its version).
pub use http;
pub use role::EdgeListeners;
pub use session::{RequestSummary, Session, Tier};
pub use settings::EdgeSettings;
pub use tls::Certificates;
pub use trace::Tracing;
pub use workers::bind_shared;
