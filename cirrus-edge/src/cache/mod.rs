//! The HTTP cache: RFC 9111 storability and freshness, keys, the memory
//! tier and the disk tier.

mod control;
mod disk;
mod entry;
mod key;
mod memory;
mod policy;

pub use disk::DiskCache;
pub use entry::CachedResponse;
pub use key::CacheKey;
pub use memory::MemoryCache;
pub use policy::{Exchange, NotStored, Storability, bypasses, matching_rule, storability};
