//! The domains an edge serves: every `DomainConf` of the store, held in
//! process so no request waits on the store, refreshed from change events
//! and reloaded whole after a resync.

use crate::hashing::Set;
use cirrus_core::model::normalize_host;
use cirrus_core::{DomainConf, EdgeSource};
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Domains read from the source a page at a time on a reload.
const LOAD_PAGE: usize = 1000;

/// One served domain, found by its name: the set's key is the
/// configuration's own `domain`, so no second copy of the name is kept
/// (a million domains held in memory is the scale this is built for).
#[derive(Debug, Clone)]
struct Served(Arc<DomainConf>);

impl Served {
    /// Held without the spare capacity decoding left.
    fn new(mut conf: DomainConf) -> Self {
        conf.shrink_to_fit();
        Self(Arc::new(conf))
    }
}

impl Borrow<str> for Served {
    fn borrow(&self) -> &str {
        &self.0.domain
    }
}

impl Hash for Served {
    fn hash<S: Hasher>(&self, state: &mut S) {
        // As `str` hashes, so lookups by `&str` find it.
        self.0.domain.as_str().hash(state);
    }
}

impl PartialEq for Served {
    fn eq(&self, other: &Self) -> bool {
        self.0.domain == other.0.domain
    }
}

impl Eq for Served {}

/// Host → configuration, with the store revision it reflects.
#[derive(Debug, Default)]
pub(crate) struct DomainTable {
    set: RwLock<Set<Served>>,
    revision: AtomicU64,
    /// The revision served when the store's history went back below it
    /// (0: it did not): the table is kept until the store passes it.
    regressed_from: AtomicU64,
}

impl DomainTable {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The configuration serving `host` (a `Host` header or SNI name: case
    /// and a trailing port or dot are ignored).
    pub(crate) fn get(&self, host: &str) -> Option<Arc<DomainConf>> {
        let host = host_only(host);
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        if let Some(served) = set.get(host) {
            return Some(served.0.clone());
        }
        // Only allocate for the rare non-canonical spelling.
        let normalized = normalize_host(host).ok()?;
        set.get(normalized.as_str()).map(|s| s.0.clone())
    }

    /// The store revision the table reflects.
    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(Ordering::Relaxed)
    }

    /// The revision this edge kept when the store's history went back
    /// below it, while the store has not passed it again.
    pub(crate) fn regressed(&self) -> Option<u64> {
        Some(self.regressed_from.load(Ordering::Relaxed)).filter(|r| *r > 0)
    }

    /// Notes that the store is at `store_revision`: below the revision
    /// served, its history went back (lost, or restored from an older
    /// copy), and the table is kept. True when that is new.
    pub(crate) fn note_store_revision(&self, store_revision: u64) -> bool {
        let served = self.revision();
        store_revision < served
            && self
                .regressed_from
                .compare_exchange(0, served, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// The store passed the kept revision: its history is followed again.
    pub(crate) fn clear_regression(&self) {
        self.regressed_from.store(0, Ordering::Relaxed);
    }

    /// Takes `revision` as applied (an event with nothing to re-read).
    pub(crate) fn advance(&self, revision: u64) {
        self.revision.fetch_max(revision, Ordering::Relaxed);
    }

    /// Domains served.
    pub(crate) fn len(&self) -> usize {
        self.set.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Replaces the whole table with the store's domains, read a page at
    /// a time (the table is swapped in whole once the last page is read).
    pub(crate) async fn reload(&self, source: &dyn EdgeSource) -> cirrus_core::Result<()> {
        let revision = source.revision().await?;
        let mut set = Set::default();
        let mut after: Option<String> = None;
        loop {
            let page = source.domain_page(after.as_deref(), LOAD_PAGE).await?;
            set.extend(page.items.into_iter().map(Served::new));
            match page.next_cursor {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        set.shrink_to_fit();
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = set;
        self.revision.fetch_max(revision, Ordering::Relaxed);
        Ok(())
    }

    /// Re-reads one domain after a change event at `revision`.
    pub(crate) async fn refresh(&self, source: &dyn EdgeSource, name: &str, revision: u64) -> cirrus_core::Result<()> {
        let conf = source.domain(name).await?;
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        match conf {
            Some(c) => {
                set.replace(Served::new(c));
            }
            None => {
                set.remove(name);
            }
        }
        drop(set);
        self.revision.fetch_max(revision, Ordering::Relaxed);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn insert(&self, conf: DomainConf) {
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        set.replace(Served::new(conf));
    }
}

/// `Example.com:8080` → `Example.com`; `[::1]:80` stays an IPv6 literal.
fn host_only(host: &str) -> &str {
    let host = host.trim_end_matches('.');
    if host.starts_with('[') {
        return host;
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h.trim_end_matches('.'),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reload_reads_every_page() {
        let source = cirrus_core::StaticSource::new();
        for i in 0..2500 {
            let conf = DomainConf::new(format!("d{i}.example"), "http://192.0.2.1".parse().expect("origin"));
            source.put_domain(conf).expect("valid");
        }
        let t = DomainTable::new();
        t.insert(DomainConf::new(
            "gone.example",
            "http://192.0.2.1".parse().expect("origin"),
        ));
        t.reload(&source).await.expect("reload");
        assert_eq!(t.len(), 2500, "three pages, and nothing from before");
        assert_eq!(t.revision(), 2500);
        assert!(t.get("d999.example").is_some(), "the last name of the last page");
        assert!(t.get("gone.example").is_none());
    }

    #[test]
    fn a_domain_is_held_without_spare_room() {
        // Decoded, as from a store: room for four origins, one used.
        let json = r#"{"domain": "a.example", "origins": [{"host": "192.0.2.1"}]}"#;
        let conf: DomainConf = serde_json::from_str(json).expect("valid");
        assert!(conf.origins.capacity() > 1);
        assert_eq!(Served::new(conf).0.origins.capacity(), 1);
    }

    #[test]
    fn hosts_are_matched_whatever_their_spelling() {
        let t = DomainTable::new();
        t.insert(DomainConf::new(
            "example.com",
            "http://192.0.2.1".parse().expect("origin"),
        ));
        for host in [
            "example.com",
            "Example.COM",
            "example.com:8080",
            "example.com.",
            "EXAMPLE.com.:80",
        ] {
            assert!(t.get(host).is_some(), "{host}");
        }
        assert!(t.get("other.com").is_none());
        assert!(t.get("").is_none());
    }
}
