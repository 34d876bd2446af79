//! # cirrus-edge
//!
//! The Cirrus data plane: a reverse proxy with an RFC 9111 cache (memory
//! and disk tiers), purge by URL, prefix, tag and domain, dynamic TLS
//! resolved at SNI time from the store, and Prometheus metrics with the
//! seed's names.
//!
//! Built so far: the cache's decisions and memory tier ([`cache`]):
//! whether a response may be stored and for how long (RFC 9111 for a shared
//! cache, the domain's rules, guards against cached error pages and web
//! cache deception), cache keys that only keyed parts of a request can
//! change, `Vary` variants, purges, and a byte-bounded memory tier. The
//! proxy, the disk tier, TLS and metrics are not built yet.
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

pub mod cache;
