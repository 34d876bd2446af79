//! Tests of the umbrella crate: the examples' own code exercised on real
//! sockets (and, as the roles are composed, the whole CDN).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub, dead_code)]

mod examples;
