//! The memory tier: bounded by bytes, evicting with S3-FIFO (quick_cache),
//! which keeps hot objects better than LRU under scans. Lookups take a
//! shard read lock for a moment and clone an `Arc`; no lock is held across
//! an await.

use super::entry::CachedResponse;
use super::key::CacheKey;
use crate::head::Fields;
use cirrus_core::PurgeRequest;
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone)]
struct ByBytes;

impl Weighter<CacheKey, Arc<CachedResponse>> for ByBytes {
    fn weight(&self, _: &CacheKey, value: &Arc<CachedResponse>) -> u64 {
        value.weight()
    }
}

#[derive(Debug, Clone, Default)]
struct CountEvictions(Arc<AtomicU64>);

impl Lifecycle<CacheKey, Arc<CachedResponse>> for CountEvictions {
    type RequestState = ();
    fn begin_request(&self) {}
    fn on_evict(&self, _: &mut (), _: CacheKey, _: Arc<CachedResponse>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Responses kept in memory, at most `capacity` bytes.
pub struct MemoryCache {
    entries: Cache<CacheKey, Arc<CachedResponse>, ByBytes, DefaultHashBuilder, CountEvictions>,
    /// Resource key → the header names its responses vary on.
    vary: Cache<CacheKey, Arc<[String]>>,
    /// Resource keys with entries derived from them (slices, encodings),
    /// which invalidation must look for.
    derived: Cache<CacheKey, ()>,
    evictions: Arc<AtomicU64>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("objects", &self.entries.len())
            .field("bytes", &self.entries.weight())
            .finish_non_exhaustive()
    }
}

impl MemoryCache {
    /// A cache of at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        let evictions = CountEvictions::default();
        let counter = evictions.0.clone();
        // Sizing hint only: an average object of 16 KiB.
        let items = usize::try_from(capacity / 16_384)
            .unwrap_or(usize::MAX)
            .clamp(64, 1 << 22);
        Self {
            entries: Cache::with(
                items,
                capacity.max(1),
                ByBytes,
                DefaultHashBuilder::default(),
                evictions,
            ),
            vary: Cache::new(items),
            derived: Cache::new(items),
            evictions: counter,
        }
    }

    /// The stored response for a request with `headers` to the resource
    /// `key`, if any (fresh or not: the caller decides).
    pub fn get(&self, key: &CacheKey, headers: &Fields) -> Option<Arc<CachedResponse>> {
        match self.vary.get(key) {
            Some(names) => self.entries.get(&key.variant(&names, headers)),
            None => self.entries.get(key),
        }
    }

    /// Stores `response` for the resource `key` as requested with `headers`.
    pub fn insert(&self, key: CacheKey, headers: &Fields, response: CachedResponse) {
        let response = Arc::new(response);
        if response.vary.is_empty() {
            self.vary.remove(&key);
            self.entries.insert(key, response);
        } else {
            let names: Arc<[String]> = response.vary.clone().into();
            let variant = key.variant(&names, headers);
            self.vary.insert(key, names);
            self.entries.insert(variant, response);
        }
    }

    /// Drops what `purge` selects, or marks it stale when the purge is
    /// soft; returns how many responses it selected.
    pub fn purge(&self, purge: &PurgeRequest) -> usize {
        let selection = Selection::new(purge);
        if purge.selection.soft {
            return self.mark_stale_where(|key, value| selection.selects(key, &value.tags));
        }
        let before = self.entries.len();
        self.entries.retain(|key, value| !selection.selects(key, &value.tags));
        before.saturating_sub(self.entries.len())
    }

    /// Marks stale (as a soft purge does) every response `select` picks;
    /// returns how many.
    pub(crate) fn mark_stale_where(&self, select: impl Fn(&CacheKey, &CachedResponse) -> bool) -> usize {
        let now = std::time::SystemTime::now();
        let marked = std::cell::Cell::new(0);
        self.entries.retain(|key, value| {
            if select(key, value) {
                value.mark_stale(now);
                marked.set(marked.get() + 1);
            }
            true
        });
        marked.get()
    }

    /// Drops every stored response of the resource `key` (each `Vary`
    /// variant, each value of keyed headers); returns how many.
    pub(crate) fn invalidate(&self, key: &CacheKey) -> usize {
        if key.is_resource_only() && self.vary.get(key).is_none() && self.derived.get(key).is_none() {
            return usize::from(self.entries.remove(key).is_some());
        }
        self.invalidate_all_of(key)
    }

    /// Notes that entries derived from the resource `key` (slices,
    /// encodings) are stored under keys of their own.
    pub(crate) fn note_derived(&self, key: &CacheKey) {
        if self.derived.get(key).is_none() {
            self.derived.insert(key.clone(), ());
        }
    }

    /// Drops every stored response under `key`'s host and path and query,
    /// whatever else their keys hold (variants, keyed headers, slices).
    fn invalidate_all_of(&self, key: &CacheKey) -> usize {
        self.vary.remove(key);
        self.derived.remove(key);
        let before = self.entries.len();
        self.entries
            .retain(|k, _| !(k.host() == key.host() && k.path_and_query() == key.path_and_query()));
        before.saturating_sub(self.entries.len())
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.entries.clear();
        self.vary.clear();
        self.derived.clear();
    }

    /// Responses stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Bytes stored.
    pub fn bytes(&self) -> u64 {
        self.entries.weight()
    }

    /// Responses evicted to make room, since creation.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

/// What a purge selects, prepared once per purge: its URLs and tags in
/// sets, so checking one stored response costs its own tags and a look-up
/// each, not (purge tags × stored tags). A purge names up to 1,000
/// selectors and a response may carry thousands of tags: compared pairwise,
/// one tenant's purge would spend seconds of every edge's CPU.
pub(crate) struct Selection<'p> {
    purge: &'p PurgeRequest,
    urls: HashSet<&'p str>,
    tags: HashSet<&'p str>,
}

impl<'p> Selection<'p> {
    pub(crate) fn new(purge: &'p PurgeRequest) -> Self {
        Self {
            purge,
            urls: purge.selection.urls.iter().map(String::as_str).collect(),
            tags: purge.selection.tags.iter().map(String::as_str).collect(),
        }
    }

    /// True when the purge selects the response stored under `key` with `tags`.
    pub(crate) fn selects(&self, key: &CacheKey, tags: &[String]) -> bool {
        let purge = self.purge;
        if key.host() != purge.domain {
            return false;
        }
        purge.selection.all
            || self.urls.contains(key.path_and_query())
            || self.urls.contains(key.path())
            || purge
                .selection
                .prefixes
                .iter()
                .any(|p| key.path().starts_with(p.as_str()))
            || (!self.tags.is_empty() && tags.iter().any(|t| self.tags.contains(t.as_str())))
    }
}

#[cfg(test)]
mod tests;
