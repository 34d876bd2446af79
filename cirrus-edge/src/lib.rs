//! # cirrus-edge
//!
//! The Cirrus data plane: a reverse proxy with an RFC 9111 cache (memory
//! and disk tiers), purge by URL, prefix, tag and domain, dynamic TLS
//! resolved at SNI time from the store, and Prometheus metrics with the
//! seed's names. Embedders plug their own logic in through a small hook
//! trait, the way Pingora's `ProxyHttp` works.
//!
//! Not built yet: this crate holds only its documentation until the edge
//! issue lands. Configuration types it will serve come from
//! [`cirrus_core`](https://docs.rs/cirrus-core), for example
//! `cirrus_core::DomainConf`.
