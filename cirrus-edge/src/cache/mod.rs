//! The HTTP cache: RFC 9111 storability and freshness (with RFC 9213
//! targeted fields), `Age`, keys, the memory tier and the disk tier, and
//! the cache's part of a request.

mod age;
pub(crate) mod control;
mod disk;
mod encode;
mod entry;
mod front;
mod invalidate;
mod key;
mod lock;
mod memory;
mod policy;
pub(crate) mod range;
mod serve;
mod slice;
mod stale;
mod status;
mod tags;
mod tiers;

pub use disk::DiskCache;
pub use entry::CachedResponse;
pub use key::CacheKey;
pub use memory::MemoryCache;
pub(crate) use policy::bypasses;
pub use policy::{Exchange, NotStored, Storability};
pub use status::CacheStatus;

pub(crate) use encode::{may_be_encoded, vary_on_encoding};
pub(crate) use front::{Cache, SliceAnswer};
pub(crate) use lock::{CacheLocks, Next, WriteLock};
pub(crate) use range::{Ranged, ask as ask_range};
pub(crate) use serve::{Fill, ask_to_validate, not_modified};
pub(crate) use slice::{Version, bounds, content_range, covering, slice_key};
pub(crate) use stale::{StaleUse, may_serve};
pub(crate) use status::CacheOutcome;
pub(crate) use tiers::Tiers;
