//! # cirrus
//!
//! Cirrus is a programmable CDN written in Rust. This umbrella crate
//! re-exports the Cirrus libraries so an application can depend on one
//! crate:
//!
//! - [`core`]: models, validation, the store (Redis and embedded),
//!   events and subscriptions, rendezvous hashing, auth primitives.
//! - [`api`] (feature `api`): the control-plane REST API as an axum router.
//! - [`client`] (feature `client`): the typed client of that API.
//! - [`edge`] (feature `edge`): the reverse proxy, cache and TLS.
//! - [`dns`] (feature `dns`): the zone builder, hidden master and health checker.
//! - [`acme`] (feature `acme`): certificates by ACME DNS-01 (issuer,
//!   solvers, the worker role).
//!
//! ```
//! let nodes = ["edge-a", "edge-b", "edge-c"];
//! let chosen = cirrus::core::rendezvous_topk("example.com", &nodes, 2);
//! assert_eq!(chosen.len(), 2);
//! ```

#[cfg(feature = "acme")]
pub use cirrus_acme as acme;
#[cfg(feature = "api")]
pub use cirrus_api as api;
#[cfg(feature = "client")]
pub use cirrus_client as client;
pub use cirrus_core as core;
#[cfg(feature = "dns")]
pub use cirrus_dns as dns;
#[cfg(feature = "edge")]
pub use cirrus_edge as edge;
