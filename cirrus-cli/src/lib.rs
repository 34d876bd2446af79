//! # cirrus-cli
//!
//! The binaries: `cirrus` (the roles `up`, `api`, `edge`, `dns`, `worker` and
//! `config check`) and `cirrusctl` (the operator CLI over
//! [`cirrus_client`]). They read flags, the environment and a TOML file,
//! then call the libraries, where each role's lifecycle lives
//! ([`cirrus_edge::Edge::run`], [`cirrus_dns::DnsRole`],
//! [`cirrus_api::Api::run`], [`cirrus_core::lifecycle`]); this crate
//! holds that glue so each `main` stays a few lines.
//!
//! ## Example
//!
//! ```no_run
//! // What `cirrus config check edge` does:
//! let code = cirrus_cli::server::main_with_args(["cirrus", "config", "check", "edge"].map(Into::into).to_vec());
//! assert_eq!(code, 0);
//! // What `cirrusctl domain list --output json` does:
//! std::process::exit(cirrus_cli::ctl::main_with_args(["cirrusctl", "domain", "list", "--output", "json"]));
//! ```

pub mod ctl;
#[cfg(test)]
mod documented;
mod duration;
pub mod server;
