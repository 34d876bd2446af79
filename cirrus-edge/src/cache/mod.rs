//! The HTTP cache: RFC 9111 storability and freshness, keys, and the
//! memory tier.

mod control;
mod entry;
mod key;
mod memory;
mod policy;

pub use entry::CachedResponse;
pub use key::CacheKey;
pub use memory::MemoryCache;
pub use policy::{Exchange, NotStored, Storability, bypasses, matching_rule, storability};
