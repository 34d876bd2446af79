//! The file layout of the disk tier (see the parent module): writing,
//! reading back, marking stale in place, and rebuilding the index.

use super::{Index, Indexed};
use crate::cache::entry::CachedResponse;
use crate::cache::key::CacheKey;
use crate::head::Fields;
use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8] = b"CIRRUS-CACHE-2\n";
/// The first layout: no soft-purge mark.
const MAGIC_V1: &[u8] = b"CIRRUS-CACHE-1\n";
/// Largest header accepted when reading a file back (a corrupt length
/// must not allocate gigabytes).
const MAX_HEADER: usize = 1 << 20;
#[derive(Serialize, Deserialize)]
pub(super) struct FileHeader {
    pub(super) key: String,
    /// Key of the resource when this is a `Vary` variant.
    pub(super) primary: Option<String>,
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) stored_at_ms: u64,
    pub(super) ttl: u64,
    pub(super) initial_age: u64,
    pub(super) revalidate: bool,
    pub(super) vary: Vec<String>,
    pub(super) tags: Vec<String>,
}

pub(super) fn to_response(h: FileHeader, mark_ms: u64, body: Bytes) -> CachedResponse {
    let mut headers = Fields::with_capacity(h.headers.len());
    for (n, v) in h.headers {
        // A field the file should not hold (written by hand) is skipped.
        let _ = headers.append(n, v);
    }
    let headers = headers.detached();
    let stored_at = UNIX_EPOCH + Duration::from_millis(h.stored_at_ms);
    let status = StatusCode::from_u16(h.status).unwrap_or(StatusCode::OK);
    let response = CachedResponse::new(status, headers, body, stored_at, h.ttl, h.initial_age)
        .revalidated_when_stale(h.revalidate)
        .with_tags(h.tags);
    if mark_ms > 0 {
        response.mark_stale(UNIX_EPOCH + Duration::from_millis(mark_ms));
    }
    response
}

pub(super) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes the soft-purge mark of the file at `path` in place, unless an
/// earlier mark stands.
pub(super) fn mark_file(path: &Path, at: SystemTime) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let mut head = [0u8; MAGIC.len() + 8];
    f.read_exact_at(&mut head, 0)?;
    if &head[..MAGIC.len()] != MAGIC {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "no mark slot"));
    }
    if head[MAGIC.len()..].iter().all(|b| *b == 0) {
        f.write_all_at(&epoch_ms(at).max(1).to_le_bytes(), MAGIC.len() as u64)?;
    }
    Ok(())
}

/// Writes to a temporary file and renames it into place, so a crash never
/// leaves a half-written object under its real name (and a failed write,
/// a full disk say, leaves no temporary file behind). Returns the size.
pub(super) fn write_file(path: &Path, header: &FileHeader, mark_ms: u64, body: &[u8]) -> std::io::Result<u64> {
    let json = serde_json::to_vec(header).map_err(std::io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(std::io::Error::other)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&mark_ms.to_le_bytes())?;
        f.write_all(&len.to_le_bytes())?;
        f.write_all(&json)?;
        f.write_all(body)?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    Ok((MAGIC.len() + 8 + 4 + json.len() + body.len()) as u64)
}

/// A file's header, soft-purge mark and (when asked) body.
pub(super) fn read_file(path: &Path, with_body: bool) -> std::io::Result<(FileHeader, u64, Bytes)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; MAGIC.len()];
    f.read_exact(&mut magic)?;
    let mut mark = [0u8; 8];
    if magic == MAGIC {
        f.read_exact(&mut mark)?;
    } else if magic != MAGIC_V1 {
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
    Ok((header, u64::from_le_bytes(mark), Bytes::from(body)))
}

/// Reads every file's header; removes what cannot be read.
pub(super) fn rebuild(objects: &Path) -> std::io::Result<Index> {
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
            let Some((header, _, _)) = parsed else {
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
