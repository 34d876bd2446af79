//! The HTTP cache: RFC 9111 storability and freshness (with RFC 9213
//! targeted fields), `Age`, keys, the memory tier and the disk tier, and
//! the cache's part of a request.

mod age;
pub(crate) mod control;
mod disk;
mod encode;
mod entry;
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

pub(crate) use encode::{compressible, encoded_key, may_be_encoded, negotiate, variant, vary_on_encoding};
pub(crate) use invalidate::after_unsafe;
pub(crate) use lock::{CacheLocks, Next, WriteLock};
pub(crate) use range::{Ranged, ask as ask_range};
pub(crate) use serve::{Fill, ask_to_validate, entry_of, from_cache, not_modified};
pub(crate) use slice::{Version, bounds, content_range, covering, slice_key};
pub(crate) use stale::{StaleUse, may_serve};
pub(crate) use status::CacheOutcome;
pub(crate) use tiers::Tiers;
