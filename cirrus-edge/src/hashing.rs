//! The hasher of the tables the request path reads on every request (the
//! domain table, coalescing locks, the origin pool, metric series): keyed
//! per process as std's SipHash is, so request-chosen keys cannot be made
//! to collide, and several times faster on the short keys these tables
//! hold. And the request path's random numbers (request, trace and span
//! ids).

/// The tables' hasher.
pub(crate) type Hasher = ahash::RandomState;

/// A map of the request path.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, Hasher>;

/// A set of the request path.
pub(crate) type Set<T> = std::collections::HashSet<T, Hasher>;

/// The next number of the thread's SplitMix64 sequence, which starts at a
/// random point: unique and unguessable enough for ids that are not
/// secrets (request ids, trace and span ids), at a fraction of a
/// cryptographic generator's cost.
pub(crate) fn random_u64() -> u64 {
    thread_local! {
        static NEXT: std::cell::Cell<u64> = std::cell::Cell::new(rand::random());
    }
    NEXT.with(|next| {
        let state = next.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        next.set(state);
        split_mix(state)
    })
}

/// SplitMix64's output function: a bijection of the 64-bit state.
fn split_mix(state: u64) -> u64 {
    let z = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
