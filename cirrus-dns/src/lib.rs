//! # cirrus-dns
//!
//! Authoritative DNS for Cirrus. Each customer domain points a CNAME at its
//! target name under `CNAME_BASE_DOMAIN`; that name's A/AAAA records are the
//! edge nodes chosen for the domain by weighted rendezvous hashing, so one
//! node's loss moves only its own domains.
//!
//! Built so far:
//!
//! - [`Zone::build`]: the zone builder, a pure function from domains, nodes
//!   and [`ZoneSettings`] to records (SOA, NS, A/AAAA per domain, DNS-01
//!   TXT), with a documented fallback when no node is active, lookups
//!   (answer, NODATA, NXDOMAIN) and master-file output.
//! - [`HiddenMaster`]: the authoritative server of a [`SharedZone`] over
//!   UDP and TCP on hickory-server, with AXFR, IXFR and SOA queries limited
//!   to an allow list and, with [`TsigKey`]s, to signed requests (RFC
//!   8945; every message of a transfer signed, chained).
//! - [`Zone::with_history`] and [`Zone::ixfr`]: the bounded history of
//!   zone differences an IXFR is answered from (RFC 1995), with RFC 1982
//!   serial order ([`serial_lt`]).
//! - [`Rebuilder`]: rebuilds the zone from the store on change (debounced),
//!   with a serial that always grows ([`next_serial`]), and sends NOTIFY
//!   (signed with a TSIG key when given) to secondaries until they
//!   acknowledge.
//!
//! - [`HealthChecker`]: probes each enabled node's `/healthz`, keeps the
//!   counters in the store and flips `active` after N failures or M
//!   successes, under per-node store locks shared by several checkers.
//!
//! - [`DnsMetrics`]: queries by type and rcode, transfers, NOTIFYs,
//!   rebuilds (count, time, zone size, serial) and node flips.
//!
//! - [`DnsRole`]: all of the above as the `cirrus dns` role, with its
//!   admin listener (`/healthz`, `/readyz`, `/metrics`), and the watch of
//!   each secondary's serial, started and stopped together.
//!
//! ## Example
//!
//! ```
//! use cirrus_core::{DomainConf, Node};
//! use cirrus_dns::{Zone, ZoneInput, ZoneSettings, target_name};
//!
//! let settings = ZoneSettings::builder("cdn.example.net").replicas_per_site(2).build()?;
//! let domains = [DomainConf::new("www.example.com", "http://192.0.2.1".parse()?)];
//! let mut nodes = Vec::new();
//! for (id, ip) in [("edge-1", [198, 51, 100, 1]), ("edge-2", [198, 51, 100, 2]), ("edge-3", [198, 51, 100, 3])] {
//!     let mut node = Node::new(id);
//!     node.ipv4 = Some(ip.into());
//!     nodes.push(node);
//! }
//! let zone = Zone::build(ZoneInput { domains: &domains, nodes: &nodes, challenges: None }, &settings, 1)?;
//! let target = target_name("www.example.com", settings.origin())?;
//! assert!(target.to_string().starts_with("www-example-com-"));
//! assert_eq!(zone.len(), 1 + 1 + 2, "SOA, NS, two A records");
//! println!("{zone}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admin;
mod error;
mod health;
mod master;
mod metrics;
mod notify;
mod rebuild;
mod role;
mod secondaries;
mod tsig;
mod zone;

pub use error::{Error, Result};
pub use health::{HealthChecker, HealthCheckerBuilder, Round};
pub use master::{HiddenMaster, HiddenMasterBuilder, SharedZone, bind};
pub use metrics::DnsMetrics;
pub use rebuild::{Rebuilder, ZoneSource, next_serial};
pub use role::DnsRole;
pub use tsig::{TSIG_FUDGE, TsigKey};
pub use zone::{
    Ixfr, JournalLimits, Lookup, NodePool, SkippedDomain, Zone, ZoneInput, ZoneSettings, ZoneSettingsBuilder,
    challenge_name, serial_lt, target_name,
};
