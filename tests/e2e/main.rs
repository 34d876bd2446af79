//! End-to-end tests: the built binaries (`cirrus`, `cirrusctl`) run as
//! real processes over real stores and peers, and the examples' own code on
//! real sockets. They are the integration tests of `cirrus-cli` (which
//! builds the binaries they run), kept here at the top of the workspace.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub, dead_code)]

mod alerting;
mod certs;
mod chaos;
mod cli;
mod config;
mod deploy;
mod dns;
mod examples;
mod failover;
mod first_run;
mod flood;
mod harness;
mod logs;
mod many_boxes;
mod observability;
mod one_box;
mod portal;
mod shield;
mod traces;
