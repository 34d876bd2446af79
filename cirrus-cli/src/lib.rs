//! # cirrus-cli
//!
//! The binaries: `cirrus` (server roles; today `cirrus api`) and
//! `cirrusctl` (the operator CLI over [`cirrus_client`]). They parse flags
//! and environment, then call the libraries; this crate holds that glue so
//! each `main` stays a few lines.
//!
//! ## Example
//!
//! ```no_run
//! // What `cirrusctl domain list --output json` does:
//! std::process::exit(cirrus_cli::ctl::main_with_args(["cirrusctl", "domain", "list", "--output", "json"]));
//! ```

pub mod ctl;
pub mod server;
