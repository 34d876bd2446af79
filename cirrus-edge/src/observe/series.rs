//! The request series resolved once per domain: a label lookup hashes the
//! labels, takes the vector's lock and clones the series; a request only
//! finds its domain's handles (by the address of the configuration it was
//! routed with, which the table holds on to) and increments them. A
//! replaced configuration's entry goes when its successor's comes: the
//! table holds one configuration per domain, never a history of them.

use crate::cache::CacheStatus;
use crate::hashing::Map;
use cirrus_core::DomainConf;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};
use std::sync::{Arc, OnceLock, RwLock};

/// Domains whose handles are kept; past it the table starts again (the
/// handles stay registered: only the shortcut to them goes).
const KEPT: usize = 4096;
/// The status codes counted under their own label; the rest are counted
/// by class (no allocation per request).
const KNOWN: [u16; 14] = [200, 204, 206, 301, 302, 304, 400, 403, 404, 413, 500, 502, 503, 504];
/// The `status` labels: [`KNOWN`]'s, then the classes; a label's index is
/// its handle's slot.
const STATUSES: [&str; 19] = [
    "200", "204", "206", "301", "302", "304", "400", "403", "404", "413", "500", "502", "503", "504", "1xx", "2xx",
    "3xx", "4xx", "5xx",
];

/// The slot of `status`'s label in [`STATUSES`].
fn status_slot(status: u16) -> usize {
    match KNOWN.iter().position(|code| *code == status) {
        Some(slot) => slot,
        None => KNOWN.len() + usize::from(status / 100).clamp(1, 5) - 1,
    }
}
/// Every cache status, in the order of its handle slot.
const CACHE: [CacheStatus; 7] = [
    CacheStatus::Hit,
    CacheStatus::Miss,
    CacheStatus::Expired,
    CacheStatus::Revalidated,
    CacheStatus::Bypass,
    CacheStatus::Stale,
    CacheStatus::Updating,
];

/// One domain's handles; a status's counter made on its first request (a
/// series appears when it is first counted, as with label lookups).
#[derive(Debug)]
struct Handles {
    /// Held so the address it is found by is not reused by another.
    _conf: Arc<DomainConf>,
    duration: Histogram,
    requests: [OnceLock<IntCounter>; STATUSES.len()],
}

/// The series of `nginx_http_requests_total`, its duration histogram and
/// `nginx_cache_status_total`, with shortcuts to them.
#[derive(Debug)]
pub(crate) struct Series {
    requests: IntCounterVec,
    duration: HistogramVec,
    cache_status: IntCounterVec,
    cache: [OnceLock<IntCounter>; CACHE.len()],
    domains: RwLock<Table>,
}

/// The handles by configuration, at most one configuration per domain.
#[derive(Debug, Default)]
struct Table {
    /// By the address of the configuration, which the entry holds.
    by_conf: Map<usize, Handles>,
    /// Each domain's key in `by_conf`.
    by_name: Map<String, usize>,
}

impl Series {
    pub(crate) fn new(requests: IntCounterVec, duration: HistogramVec, cache_status: IntCounterVec) -> Self {
        Self {
            requests,
            duration,
            cache_status,
            cache: Default::default(),
            domains: RwLock::default(),
        }
    }

    /// Counts one answer: its domain (`None`: no domain was found), its
    /// status, how long it took and what the cache made of it.
    pub(crate) fn count(&self, conf: Option<&Arc<DomainConf>>, status: u16, seconds: f64, cache: Option<CacheStatus>) {
        if let Some(c) = cache {
            let slot = CACHE.iter().position(|s| *s == c).unwrap_or(0);
            self.cache[slot]
                .get_or_init(|| self.cache_status.with_label_values(&[c.as_str()]))
                .inc();
        }
        let slot = status_slot(status);
        let Some(conf) = conf else {
            self.requests.with_label_values(&["unknown", STATUSES[slot]]).inc();
            self.duration.with_label_values(&["unknown"]).observe(seconds);
            return;
        };
        let key = Arc::as_ptr(conf) as usize;
        {
            let table = self.domains.read().unwrap_or_else(|p| p.into_inner());
            if let Some(h) = table.by_conf.get(&key) {
                self.counted(h, conf, slot, seconds);
                return;
            }
        }
        let mut guard = self.domains.write().unwrap_or_else(|p| p.into_inner());
        let table = &mut *guard;
        if !table.by_conf.contains_key(&key) {
            if table.by_conf.len() >= KEPT {
                *table = Table::default();
            }
            // The domain's previous configuration: its series go on, its
            // entry (and the configuration it holds) goes.
            let previous = table
                .by_name
                .insert(conf.domain.clone(), key)
                .and_then(|old| table.by_conf.remove(&old));
            let handles = match previous {
                Some(p) => Handles {
                    _conf: conf.clone(),
                    ..p
                },
                None => Handles {
                    _conf: conf.clone(),
                    duration: self.duration.with_label_values(&[conf.domain.as_str()]),
                    requests: Default::default(),
                },
            };
            table.by_conf.insert(key, handles);
        }
        if let Some(h) = table.by_conf.get(&key) {
            self.counted(h, conf, slot, seconds);
        }
    }

    fn counted(&self, h: &Handles, conf: &DomainConf, slot: usize, seconds: f64) {
        h.requests[slot]
            .get_or_init(|| self.requests.with_label_values(&[conf.domain.as_str(), STATUSES[slot]]))
            .inc();
        h.duration.observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{HistogramOpts, Opts};

    fn series() -> Series {
        Series::new(
            IntCounterVec::new(Opts::new("r", "r"), &["host", "status"]).expect("valid"),
            HistogramVec::new(HistogramOpts::new("d", "d"), &["host"]).expect("valid"),
            IntCounterVec::new(Opts::new("c", "c"), &["status"]).expect("valid"),
        )
    }

    #[test]
    fn statuses_are_labelled_by_code_or_by_class() {
        let label = |status| STATUSES[status_slot(status)];
        for (status, expected) in [
            (100, "1xx"),
            (200, "200"),
            (201, "2xx"),
            (206, "206"),
            (299, "2xx"),
            (304, "304"),
            (308, "3xx"),
            (404, "404"),
            (418, "4xx"),
            (502, "502"),
            (599, "5xx"),
        ] {
            assert_eq!(label(status), expected, "{status}");
        }
        for (slot, code) in KNOWN.iter().enumerate() {
            assert_eq!(STATUSES[slot], code.to_string());
        }
    }

    #[test]
    fn a_replaced_configuration_counts_into_the_same_series() {
        let s = series();
        let origin = "http://192.0.2.1".parse().expect("origin");
        let old = Arc::new(DomainConf::new("a.test", origin));
        let new = Arc::new((*old).clone());
        s.count(Some(&old), 200, 0.1, Some(CacheStatus::Hit));
        s.count(Some(&new), 200, 0.1, Some(CacheStatus::Miss));
        s.count(Some(&new), 418, 0.1, None);
        s.count(None, 404, 0.1, None);
        assert_eq!(s.requests.with_label_values(&["a.test", "200"]).get(), 2);
        assert_eq!(s.requests.with_label_values(&["a.test", "4xx"]).get(), 1);
        assert_eq!(s.requests.with_label_values(&["unknown", "404"]).get(), 1);
        assert_eq!(s.duration.with_label_values(&["a.test"]).get_sample_count(), 3);
        assert_eq!(s.cache_status.with_label_values(&["HIT"]).get(), 1);
        assert_eq!(s.cache_status.with_label_values(&["MISS"]).get(), 1);
    }

    #[test]
    fn a_replaced_configuration_is_let_go() {
        let s = series();
        let origin: cirrus_core::model::Origin = "http://192.0.2.1".parse().expect("origin");
        let first = Arc::new(DomainConf::new("a.test", origin.clone()));
        s.count(Some(&first), 200, 0.0, None);
        for _ in 0..100 {
            let next = Arc::new(DomainConf::new("a.test", origin.clone()));
            s.count(Some(&next), 200, 0.0, None);
        }
        let other = Arc::new(DomainConf::new("b.test", origin));
        s.count(Some(&other), 200, 0.0, None);
        assert_eq!(Arc::strong_count(&first), 1, "the table let the first configuration go");
        let table = s.domains.read().expect("lock");
        assert_eq!((table.by_conf.len(), table.by_name.len()), (2, 2));
        assert_eq!(s.requests.with_label_values(&["a.test", "200"]).get(), 101);
    }

    #[test]
    fn the_shortcuts_are_bounded() {
        let s = series();
        let origin: cirrus_core::model::Origin = "http://192.0.2.1".parse().expect("origin");
        for i in 0..KEPT + 10 {
            let conf = Arc::new(DomainConf::new(format!("d{i}.test"), origin.clone()));
            s.count(Some(&conf), 200, 0.0, None);
        }
        assert!(s.domains.read().expect("lock").by_conf.len() <= KEPT);
        assert_eq!(s.requests.with_label_values(&["d1.test", "200"]).get(), 1);
    }
}
