//! # cirrus-edge
//!
//! The Cirrus data plane: a reverse proxy with an RFC 9111 cache (memory
//! and disk tiers), purge by URL, prefix, tag and domain, dynamic TLS
//! resolved at SNI time from the store, and Prometheus metrics with the
//! seed's names.
//!
//! Built so far:
//!
//! - [`Edge`]: a reverse proxy over HTTP/1.1 ([`Edge::serve`]) and HTTPS
//!   ([`Edge::serve_tls`]: HTTP/2 or HTTP/1.1 by ALPN) routing by `Host` over an
//!   in-process [`DomainTable`] (no store round trip per request), kept in
//!   step with the store by [`Edge::sync`] (changed domains re-read, purges
//!   applied, a full reload after a resync); origins chosen by weight with
//!   backups and passive health, idempotent requests retried on the next
//!   origin; hop-by-hop headers stripped, `X-Forwarded-*` and `Via` set;
//!   ambiguous framing refused (also what hyper would let through: both
//!   `Content-Length` and `Transfer-Encoding`, bare LF); limits on heads,
//!   bodies, header time and HTTP/2 streams and resets; HTTPS origins.
//! - [`Certificates`]: the certificate for each SNI name, read from the
//!   store on first use and replaced when the store announces a new one; a
//!   fallback for other names; session resumption; `force_https` and HSTS.
//! - [`cache`]: whether a response may be stored and for how long (RFC 9111
//!   for a shared cache, the domain's rules, guards against cached error
//!   pages and web cache deception), keys that only keyed parts of a
//!   request can change, `Vary` variants, revalidation with the origin,
//!   purges, a byte-bounded memory tier and a disk tier that survives
//!   restarts; `X-Cache` and `Cache-Status`.
//! - Metrics with the seed's nginx names and `/healthz` on an admin
//!   listener ([`Edge::serve_admin`], [`AllowList`]); a JSON access log.
//!
//! ## Example
//!
//! ```
//! use cirrus_core::model::CachePolicy;
//! use cirrus_edge::cache::{Exchange, Storability, storability};
//! use http::{HeaderMap, HeaderValue, Method, StatusCode};
//!
//! let mut response = HeaderMap::new();
//! response.insert("cache-control", HeaderValue::from_static("public, max-age=300"));
//! let exchange = Exchange {
//!     method: &Method::GET,
//!     path: "/logo.png",
//!     request: &HeaderMap::new(),
//!     status: StatusCode::OK,
//!     response: &response,
//! };
//! let decision = storability(&CachePolicy::default(), &exchange, std::time::SystemTime::now());
//! assert!(matches!(decision, Storability::Store { ttl: 300, .. }));
//! ```

mod access_log;
mod admin;
pub mod cache;
mod domains;
mod error;
mod guard;
mod headers;
mod metrics;
mod origin;
mod proxy;
mod server;
mod sync;
pub mod tls;

pub use cirrus_core::model::AllowList;
pub use domains::DomainTable;
pub use error::{Error, Result};
pub use proxy::{Edge, EdgeBuilder, EdgeSettings};
pub use tls::Certificates;
