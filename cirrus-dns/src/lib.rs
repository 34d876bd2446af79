//! # cirrus-dns
//!
//! Authoritative DNS for Cirrus: a pure zone builder (domains and nodes to
//! records, using `cirrus_core::rendezvous_topk`), a hidden master on
//! hickory-server with AXFR to an allow list and NOTIFY to secondaries such
//! as NSD, and a node health checker that flips `active` in the store.
//!
//! Not built yet: this crate holds only its documentation until the DNS
//! issue lands.
