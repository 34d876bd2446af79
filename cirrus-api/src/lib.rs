//! # cirrus-api
//!
//! The Cirrus control plane: an axum REST API under `/api/v1` (domains,
//! purge, certificates, nodes, tokens, sessions), bearer and cookie auth
//! with scopes, audit, Prometheus metrics and an OpenAPI document.
//!
//! Not built yet: this crate holds only its documentation until the control
//! plane issue lands.
