//! The domains an edge serves: every `DomainConf` of the store, held in
//! process so no request waits on the store, refreshed from change events
//! and reloaded whole after a resync.

use cirrus_core::model::normalize_host;
use cirrus_core::{DomainConf, EdgeSource};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Host → configuration, with the store revision it reflects.
#[derive(Debug, Default)]
pub(crate) struct DomainTable {
    map: RwLock<HashMap<String, Arc<DomainConf>>>,
    revision: AtomicU64,
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
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        if let Some(conf) = map.get(host) {
            return Some(conf.clone());
        }
        // Only allocate for the rare non-canonical spelling.
        let normalized = normalize_host(host).ok()?;
        map.get(&normalized).cloned()
    }

    /// The store revision the table reflects.
    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(Ordering::Relaxed)
    }

    /// Takes `revision` as applied (an event with nothing to re-read).
    pub(crate) fn advance(&self, revision: u64) {
        self.revision.fetch_max(revision, Ordering::Relaxed);
    }

    /// Domains served.
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Replaces the whole table with the store's domains.
    pub(crate) async fn reload(&self, source: &dyn EdgeSource) -> cirrus_core::Result<()> {
        let revision = source.revision().await?;
        let map = source
            .domains()
            .await?
            .into_iter()
            .map(|c| (c.domain.clone(), Arc::new(c)))
            .collect();
        *self.map.write().unwrap_or_else(|p| p.into_inner()) = map;
        self.revision.fetch_max(revision, Ordering::Relaxed);
        Ok(())
    }

    /// Re-reads one domain after a change event at `revision`.
    pub(crate) async fn refresh(&self, source: &dyn EdgeSource, name: &str, revision: u64) -> cirrus_core::Result<()> {
        let conf = source.domain(name).await?;
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        match conf {
            Some(c) => map.insert(name.to_string(), Arc::new(c)),
            None => map.remove(name),
        };
        drop(map);
        self.revision.fetch_max(revision, Ordering::Relaxed);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn insert(&self, conf: DomainConf) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.insert(conf.domain.clone(), Arc::new(conf));
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
