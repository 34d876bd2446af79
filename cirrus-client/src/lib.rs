//! # cirrus-client
//!
//! A typed async client for the Cirrus REST API, sharing its model types
//! with `cirrus-core` (built with `default-features = false`, so no Redis or
//! Tokio store code is pulled in), with backoff on 429 and 5xx.
//!
//! Not built yet: this crate holds only its documentation until the control
//! plane issue lands.
