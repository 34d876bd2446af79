//! The memory tier in front of the optional disk tier, as the request path
//! uses them: look up (promoting disk finds to memory), store (the disk
//! written in the background), invalidate, purge.

use super::disk::DiskCache;
use super::entry::CachedResponse;
use super::key::CacheKey;
use super::memory::MemoryCache;
use crate::head::Fields;
use cirrus_core::PurgeRequest;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every tier of an edge's cache.
#[derive(Debug)]
pub(crate) struct Tiers {
    pub(crate) memory: MemoryCache,
    pub(crate) disk: Option<DiskCache>,
    /// Origin tags ignored for the limits (cache/tags.rs), since start.
    tags_ignored: AtomicU64,
    /// Whether the disk tier's writes work.
    pub(crate) disk_health: Arc<DiskHealth>,
}

/// Whether the disk tier's writes work: a full or failing disk leaves the
/// edge serving from memory, and says so in `/healthz` and the metrics.
#[derive(Debug, Default)]
pub(crate) struct DiskHealth {
    /// Since when writes fail (Unix ms; 0: the last one worked).
    failing_since_ms: AtomicU64,
    errors: AtomicU64,
    last_error: std::sync::Mutex<String>,
}

impl DiskHealth {
    fn failed(&self, error: &std::io::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error.to_string();
        let now = cirrus_core::model::now_ms().max(1);
        if self
            .failing_since_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            tracing::warn!(error = %error, "disk cache writes fail; serving from memory until they work again");
        }
    }

    fn written(&self) {
        if self.failing_since_ms.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!("disk cache writes work again");
        }
    }

    /// Since when writes fail (Unix ms) and the last error, while they do.
    pub(crate) fn failing(&self) -> Option<(u64, String)> {
        let since = self.failing_since_ms.load(Ordering::Relaxed);
        (since != 0).then(|| (since, self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()))
    }

    /// Disk writes that failed, since start.
    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

impl Tiers {
    /// The memory tier, in front of `disk` when there is one.
    pub(crate) fn new(memory: MemoryCache, disk: Option<DiskCache>) -> Self {
        Self {
            memory,
            disk,
            tags_ignored: AtomicU64::new(0),
            disk_health: Arc::default(),
        }
    }

    /// Counts origin tags ignored for the limits.
    pub(crate) fn ignore_tags(&self, n: u64) {
        if n > 0 {
            self.tags_ignored.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Origin tags ignored for the limits, since start.
    pub(crate) fn tags_ignored(&self) -> u64 {
        self.tags_ignored.load(Ordering::Relaxed)
    }

    /// The stored response for a request with `headers` to `key`, fresh or not.
    pub(crate) async fn lookup(&self, key: &CacheKey, headers: &Fields) -> Option<Arc<CachedResponse>> {
        if let Some(found) = self.memory.get(key, headers) {
            return Some(found);
        }
        // Boxed: a memory HIT should not carry the disk read's state.
        let found = Box::pin(self.disk.as_ref()?.get(key, headers)).await?;
        // Promote to memory: the next HIT costs no disk read.
        self.memory.insert(key.clone(), headers, found);
        self.memory.get(key, headers)
    }

    /// Stores `entry` in every tier; returns it as stored in memory.
    pub(crate) fn store(&self, key: &CacheKey, headers: &Fields, entry: CachedResponse) -> Option<Arc<CachedResponse>> {
        if let Some(disk) = &self.disk {
            // Written in the background: the client does not wait for the disk.
            let (disk, key, headers, entry) = (disk.clone(), key.clone(), headers.clone(), entry.clone());
            let health = self.disk_health.clone();
            tokio::spawn(async move {
                match disk.insert(&key, &headers, &entry).await {
                    Ok(_) => health.written(),
                    Err(e) => health.failed(&e),
                }
            });
        }
        self.memory.insert(key.clone(), headers, entry);
        self.memory.get(key, headers)
    }

    /// The entry stored under `derived`, a key derived from the resource
    /// `key` (a slice, an encoding), fresh or not.
    pub(crate) async fn lookup_derived(
        &self,
        key: &CacheKey,
        derived: &CacheKey,
        headers: &Fields,
    ) -> Option<Arc<CachedResponse>> {
        let found = self.lookup(derived, headers).await?;
        self.memory.note_derived(key);
        Some(found)
    }

    /// Stores `entry` under `derived`, a key derived from the resource `key`.
    pub(crate) fn store_derived(
        &self,
        key: &CacheKey,
        derived: &CacheKey,
        headers: &Fields,
        entry: CachedResponse,
    ) -> Option<Arc<CachedResponse>> {
        self.memory.note_derived(key);
        self.store(derived, headers, entry)
    }

    /// Drops every stored response of the resource `key`, from every tier.
    pub(crate) async fn invalidate(&self, key: &CacheKey) -> usize {
        let mut dropped = self.memory.invalidate(key);
        if let Some(disk) = &self.disk {
            dropped += disk.invalidate(key).await;
        }
        dropped
    }

    /// Drops (or, for a soft purge, marks stale) what `purge` selects in
    /// every tier.
    pub(crate) async fn purge(&self, purge: &PurgeRequest) -> usize {
        let mut dropped = self.memory.purge(purge);
        if let Some(disk) = &self.disk {
            dropped += disk.purge(purge).await;
        }
        dropped
    }

    /// Marks everything stale in every tier (a soft purge of every domain);
    /// returns how many responses.
    pub(crate) async fn mark_all_stale(&self) -> usize {
        let mut marked = self.memory.mark_stale_where(|_, _| true);
        if let Some(disk) = &self.disk {
            marked += disk.mark_all_stale().await;
        }
        marked
    }

    /// Empties every tier.
    pub(crate) async fn clear(&self) {
        self.memory.clear();
        if let Some(disk) = &self.disk {
            disk.clear().await;
        }
    }
}
