//! # cirrus-cli
//!
//! The binaries: `cirrus` (server roles: `up`, `api`, `edge`, `dns`,
//! `worker`) and `cirrusctl` (operator CLI over `cirrus-client`). They only
//! parse flags and environment, then call the libraries.
//!
//! Not built yet: the binaries arrive with the issues that build their
//! roles.
