//! The disk tier: one file per response under `dir/objects/xx/<sha256>`,
//! named by the key's hash (never the URL), bounded by bytes with
//! least-recently-used eviction. The index lives in memory and is rebuilt
//! from the files' headers at start, so the cache survives a restart.
//! File I/O runs on Tokio's blocking pool, never on a request task.
//!
//! File layout: `CIRRUS-CACHE-2\n`, a little-endian u64 soft-purge mark
//! (ms since the epoch, 0 for none: fixed-size, so a soft purge rewrites
//! eight bytes in place), a little-endian u32 length, a JSON header (key,
//! status, headers, freshness, tags), then the body. Files of the first
//! layout (no mark) are still read; a soft purge drops them instead.

use super::entry::CachedResponse;
use super::key::CacheKey;
use super::memory::Selection;
use crate::head::Fields;
use cirrus_core::PurgeRequest;
use file::{FileHeader, epoch_ms, mark_file, read_file, rebuild, to_response, write_file};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

mod file;

/// Where the revision the files reflect is kept, in the cache directory.
const REVISION_FILE: &str = "revision";

#[derive(Debug, Clone)]
pub(super) struct Indexed {
    key: CacheKey,
    tags: Vec<String>,
    size: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
pub(super) struct Index {
    entries: HashMap<String, Indexed>,
    /// Resource key hex → header names its responses vary on.
    vary: HashMap<String, Vec<String>>,
    bytes: u64,
}

/// Responses kept on disk, at most `capacity` bytes.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    capacity: u64,
    index: Arc<Mutex<Index>>,
    clock: Arc<AtomicU64>,
    evictions: Arc<AtomicU64>,
    /// The store revision whose purges the files reflect, as saved by the
    /// edge (`dir/revision`), read at open.
    saved_revision: Option<u64>,
}

impl DiskCache {
    /// Opens (creating it when missing) the cache in `dir`, rebuilding the
    /// index from the files there; unreadable files are removed.
    pub async fn open(dir: impl Into<PathBuf>, capacity: u64) -> std::io::Result<Self> {
        let dir: PathBuf = dir.into();
        let objects = dir.join("objects");
        let index = tokio::task::spawn_blocking(move || rebuild(&objects))
            .await
            .map_err(std::io::Error::other)??;
        let at = dir.join(REVISION_FILE);
        let saved_revision = tokio::task::spawn_blocking(move || std::fs::read_to_string(at))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|s| s.trim().parse().ok());
        let cache = Self {
            dir,
            capacity,
            index: Arc::new(Mutex::new(index)),
            clock: Arc::new(AtomicU64::new(1)),
            evictions: Arc::new(AtomicU64::new(0)),
            saved_revision,
        };
        cache.evict_over_capacity().await;
        Ok(cache)
    }

    fn path_of(dir: &Path, hex: &str) -> PathBuf {
        dir.join("objects").join(&hex[..2]).join(hex)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored response for a request with `headers` to the resource `key`.
    pub async fn get(&self, key: &CacheKey, headers: &Fields) -> Option<CachedResponse> {
        let hex = {
            let mut index = self.lock();
            let hex = match index.vary.get(&key.hex()) {
                Some(names) => key.variant(names, headers).hex(),
                None => key.hex(),
            };
            let tick = self.clock.fetch_add(1, Ordering::Relaxed);
            index.entries.get_mut(&hex)?.last_used = tick;
            hex
        };
        let path = Self::path_of(&self.dir, &hex);
        let read = tokio::task::spawn_blocking(move || read_file(&path, true)).await.ok()?;
        match read {
            Ok((header, mark_ms, body)) => Some(to_response(header, mark_ms, body)),
            Err(_) => {
                // Gone or damaged behind our back: forget it.
                self.forget(&hex);
                None
            }
        }
    }

    /// Stores `response` for the resource `key` as requested with `headers`.
    pub async fn insert(&self, key: &CacheKey, headers: &Fields, response: &CachedResponse) -> std::io::Result<()> {
        let (stored_key, primary) = if response.vary.is_empty() {
            (key.clone(), None)
        } else {
            (key.variant(&response.vary, headers), Some(key.text().to_string()))
        };
        let header = FileHeader {
            key: stored_key.text().to_string(),
            primary,
            status: response.status.as_u16(),
            headers: response
                .headers
                .iter()
                .filter_map(|(n, v)| {
                    Some((
                        std::str::from_utf8(n).ok()?.to_string(),
                        std::str::from_utf8(v).ok()?.to_string(),
                    ))
                })
                .collect(),
            stored_at_ms: epoch_ms(response.stored_at),
            ttl: response.ttl,
            initial_age: response.initial_age,
            revalidate: response.revalidate,
            vary: response.vary.clone(),
            tags: response.tags.clone(),
        };
        let hex = stored_key.hex();
        let path = Self::path_of(&self.dir, &hex);
        let (body, mark_ms) = (response.body.clone(), response.stale_since().map_or(0, epoch_ms));
        let size = tokio::task::spawn_blocking(move || write_file(&path, &header, mark_ms, &body))
            .await
            .map_err(std::io::Error::other)??;
        {
            let mut index = self.lock();
            if !response.vary.is_empty() {
                index.vary.insert(key.hex(), response.vary.clone());
            }
            let tick = self.clock.fetch_add(1, Ordering::Relaxed);
            let entry = Indexed {
                key: stored_key,
                tags: response.tags.clone(),
                size,
                last_used: tick,
            };
            if let Some(old) = index.entries.insert(hex, entry) {
                index.bytes = index.bytes.saturating_sub(old.size);
            }
            index.bytes += size;
        }
        self.evict_over_capacity().await;
        Ok(())
    }

    /// Drops what `purge` selects, or marks it stale when the purge is
    /// soft; returns how many responses it selected.
    pub async fn purge(&self, purge: &PurgeRequest) -> usize {
        let selection = Selection::new(purge);
        let selected: Vec<String> = {
            let index = self.lock();
            index
                .entries
                .iter()
                .filter(|(_, e)| selection.selects(&e.key, &e.tags))
                .map(|(hex, _)| hex.clone())
                .collect()
        };
        if !purge.selection.soft {
            return self.remove_all(selected).await;
        }
        self.mark_stale(selected).await
    }

    /// Marks every stored response stale (as a soft purge does); returns how many.
    pub(crate) async fn mark_all_stale(&self) -> usize {
        let all: Vec<String> = self.lock().entries.keys().cloned().collect();
        self.mark_stale(all).await
    }

    async fn mark_stale(&self, selected: Vec<String>) -> usize {
        let count = selected.len();
        let (dir, now) = (self.dir.clone(), SystemTime::now());
        let unmarkable = tokio::task::spawn_blocking(move || {
            selected
                .into_iter()
                .filter(|hex| mark_file(&Self::path_of(&dir, hex), now).is_err())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        // Gone, damaged or of the first layout: dropped, never served fresh.
        self.remove_all(unmarkable).await;
        count
    }

    /// Drops every stored response of the resource `key` (each variant).
    pub(crate) async fn invalidate(&self, key: &CacheKey) -> usize {
        let doomed: Vec<String> = {
            let mut index = self.lock();
            index.vary.remove(&key.hex());
            index
                .entries
                .iter()
                .filter(|(_, e)| e.key.host() == key.host() && e.key.path_and_query() == key.path_and_query())
                .map(|(hex, _)| hex.clone())
                .collect()
        };
        self.remove_all(doomed).await
    }

    /// Drops everything.
    pub async fn clear(&self) {
        let all: Vec<String> = self.lock().entries.keys().cloned().collect();
        self.remove_all(all).await;
    }

    async fn remove_all(&self, hexes: Vec<String>) -> usize {
        for hex in &hexes {
            self.forget(hex);
        }
        let dir = self.dir.clone();
        let count = hexes.len();
        let _ = tokio::task::spawn_blocking(move || {
            for hex in hexes {
                let _ = std::fs::remove_file(Self::path_of(&dir, &hex));
            }
        })
        .await;
        count
    }

    fn forget(&self, hex: &str) {
        let mut index = self.lock();
        if let Some(old) = index.entries.remove(hex) {
            index.bytes = index.bytes.saturating_sub(old.size);
        }
    }

    /// Evicts the least recently used responses until 90% of the capacity.
    async fn evict_over_capacity(&self) {
        let doomed = {
            let index = self.lock();
            if index.bytes <= self.capacity {
                return;
            }
            let mut by_age: Vec<(&String, &Indexed)> = index.entries.iter().collect();
            by_age.sort_by_key(|(_, e)| e.last_used);
            let target = self.capacity / 10 * 9;
            let mut bytes = index.bytes;
            let mut doomed = Vec::new();
            for (hex, e) in by_age {
                if bytes <= target {
                    break;
                }
                bytes = bytes.saturating_sub(e.size);
                doomed.push(hex.clone());
            }
            doomed
        };
        let n = self.remove_all(doomed).await;
        self.evictions.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The store revision whose purges the stored files reflect, as last
    /// saved with [`DiskCache::save_revision`] (by this process or one
    /// before it): an edge replays the changes after it at start, so the
    /// purges it missed while it was down reach the files.
    pub fn saved_revision(&self) -> Option<u64> {
        self.saved_revision
    }

    /// Records that the files reflect every purge up to `revision`
    /// (written to a temporary file and renamed into place).
    pub async fn save_revision(&self, revision: u64) -> std::io::Result<()> {
        let (path, tmp) = (self.dir.join(REVISION_FILE), self.dir.join("revision.tmp"));
        tokio::task::spawn_blocking(move || {
            std::fs::write(&tmp, revision.to_string())?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Responses stored.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes stored (files included).
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Responses evicted to make room, since opening.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
