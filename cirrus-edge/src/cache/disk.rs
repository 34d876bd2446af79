//! The disk tier: one file per response under `dir/objects/xx/<sha256>`,
//! named by the key's hash (never the URL), bounded by bytes with
//! least-recently-used eviction. The index lives in memory and is rebuilt
//! from the files' headers at start, so the cache survives a restart.
//! File I/O runs on Tokio's blocking pool, never on a request task.
//!
//! File layout: `CIRRUS-CACHE-1\n`, a little-endian u32 length, a JSON
//! header (key, status, headers, freshness, tags), then the body.

use super::entry::CachedResponse;
use super::key::CacheKey;
use super::memory::selects;
use bytes::Bytes;
use cirrus_core::PurgeRequest;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8] = b"CIRRUS-CACHE-1\n";
/// Largest header accepted when reading a file back (a corrupt length
/// must not allocate gigabytes).
const MAX_HEADER: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
struct FileHeader {
    key: String,
    /// Key of the resource when this is a `Vary` variant.
    primary: Option<String>,
    status: u16,
    headers: Vec<(String, String)>,
    stored_at_ms: u64,
    ttl: u64,
    initial_age: u64,
    revalidate: bool,
    vary: Vec<String>,
    tags: Vec<String>,
}

#[derive(Debug, Clone)]
struct Indexed {
    key: CacheKey,
    tags: Vec<String>,
    size: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Index {
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
        let cache = Self {
            dir,
            capacity,
            index: Arc::new(Mutex::new(index)),
            clock: Arc::new(AtomicU64::new(1)),
            evictions: Arc::new(AtomicU64::new(0)),
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
    pub async fn get(&self, key: &CacheKey, headers: &HeaderMap) -> Option<CachedResponse> {
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
            Ok((header, body)) => Some(to_response(header, body)),
            Err(_) => {
                // Gone or damaged behind our back: forget it.
                self.forget(&hex);
                None
            }
        }
    }

    /// Stores `response` for the resource `key` as requested with `headers`.
    pub async fn insert(&self, key: &CacheKey, headers: &HeaderMap, response: &CachedResponse) -> std::io::Result<()> {
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
                .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            stored_at_ms: response
                .stored_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            ttl: response.ttl,
            initial_age: response.initial_age,
            revalidate: response.revalidate,
            vary: response.vary.clone(),
            tags: response.tags.clone(),
        };
        let hex = stored_key.hex();
        let path = Self::path_of(&self.dir, &hex);
        let body = response.body.clone();
        let size = tokio::task::spawn_blocking(move || write_file(&path, &header, &body))
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

    /// Drops what `purge` selects; returns how many responses were dropped.
    pub async fn purge(&self, purge: &PurgeRequest) -> usize {
        let doomed: Vec<String> = {
            let index = self.lock();
            index
                .entries
                .iter()
                .filter(|(_, e)| selects(purge, &e.key, &e.tags))
                .map(|(hex, _)| hex.clone())
                .collect()
        };
        self.remove_all(doomed).await
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

fn to_response(h: FileHeader, body: Bytes) -> CachedResponse {
    let mut headers = HeaderMap::with_capacity(h.headers.len());
    for (n, v) in h.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n.as_bytes()), HeaderValue::from_str(&v)) {
            headers.append(n, v);
        }
    }
    let stored_at = UNIX_EPOCH + Duration::from_millis(h.stored_at_ms);
    let status = StatusCode::from_u16(h.status).unwrap_or(StatusCode::OK);
    CachedResponse::new(status, headers, body, stored_at, h.ttl, h.initial_age).revalidated_when_stale(h.revalidate)
}

/// Writes to a temporary file and renames it into place, so a crash never
/// leaves a half-written object under its real name. Returns the size.
fn write_file(path: &Path, header: &FileHeader, body: &[u8]) -> std::io::Result<u64> {
    let json = serde_json::to_vec(header).map_err(std::io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(std::io::Error::other)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(MAGIC)?;
    f.write_all(&len.to_le_bytes())?;
    f.write_all(&json)?;
    f.write_all(body)?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    Ok((MAGIC.len() + 4 + json.len() + body.len()) as u64)
}

fn read_file(path: &Path, with_body: bool) -> std::io::Result<(FileHeader, Bytes)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; MAGIC.len()];
    f.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(bad("not a cache file"));
    }
    let mut len = [0u8; 4];
    f.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_HEADER {
        return Err(bad("header too large"));
    }
    let mut json = vec![0u8; len];
    f.read_exact(&mut json)?;
    let header: FileHeader = serde_json::from_slice(&json).map_err(|e| bad(&e.to_string()))?;
    let mut body = Vec::new();
    if with_body {
        f.read_to_end(&mut body)?;
    }
    Ok((header, Bytes::from(body)))
}

/// Reads every file's header; removes what cannot be read.
fn rebuild(objects: &Path) -> std::io::Result<Index> {
    std::fs::create_dir_all(objects)?;
    let mut index = Index::default();
    let started = SystemTime::now();
    for shard in std::fs::read_dir(objects)?.flatten() {
        let Ok(files) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            let name = file.file_name().to_string_lossy().into_owned();
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let parsed = if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                read_file(&path, false).ok()
            } else {
                None
            };
            let Some((header, _)) = parsed else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            let key = CacheKey::from_text(header.key);
            if key.hex() != name {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if let Some(primary) = header.primary {
                index.vary.insert(CacheKey::from_text(primary).hex(), header.vary);
            }
            index.bytes += size;
            index.entries.insert(
                name,
                Indexed {
                    key,
                    tags: header.tags,
                    size,
                    last_used: 0,
                },
            );
        }
    }
    tracing::info!(
        objects = index.entries.len(),
        bytes = index.bytes,
        took_ms = started.elapsed().map_or(0, |d| d.as_millis()),
        "disk cache index rebuilt"
    );
    Ok(index)
}

#[cfg(test)]
mod tests;
