//! # cirrus-acme
//!
//! Certificate issuance and renewal through ACME DNS-01 (instant-acme),
//! with an acme-dns compatible challenge flow, per-domain issuance locks and
//! a job worker fed by the store's durable queue.
//!
//! Not built yet: this crate holds only its documentation until the ACME
//! issue lands.
