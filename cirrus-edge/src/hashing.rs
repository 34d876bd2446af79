//! The hasher of the tables the request path reads on every request (the
//! domain table, coalescing locks, the origin pool, metric series): keyed
//! per process as std's SipHash is, so request-chosen keys cannot be made
//! to collide, and several times faster on the short keys these tables
//! hold.

/// The tables' hasher.
pub(crate) type Hasher = ahash::RandomState;

/// A map of the request path.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, Hasher>;

/// A set of the request path.
pub(crate) type Set<T> = std::collections::HashSet<T, Hasher>;
