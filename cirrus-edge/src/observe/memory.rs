//! `cirrus_process_memory_bytes{component}`: where the edge's process
//! memory goes, read when gathered. `resident` is the process's resident
//! set (Linux; absent elsewhere), of which `files` is backed by files (the
//! binary's code and the libraries, shared); `cache` the bytes the memory tier counts
//! against its budget (bodies, headers, bookkeeping: what a cached
//! response holds, since it owns its bytes); `connections` the buffers of
//! the client connections open (8 KiB to read and 1 KiB to write each, at
//! least); `other` the rest of the anonymous memory: the domain table,
//! TLS state, origin connections, and what the allocator keeps free.

use crate::cache::Tiers;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The metric's name.
pub(crate) const NAME: &str = "cirrus_process_memory_bytes";
/// What one client connection's buffers hold at least.
const PER_CONNECTION: u64 = 9 * 1024;

/// The memory gauges, read from the process, the cache and the
/// connection count when gathered.
pub(crate) struct MemoryGauges {
    gauge: IntGaugeVec,
    tiers: Arc<Tiers>,
    open: Arc<AtomicUsize>,
}

impl MemoryGauges {
    pub(crate) fn new(tiers: Arc<Tiers>, open: Arc<AtomicUsize>) -> Result<Self, prometheus::Error> {
        let gauge = IntGaugeVec::new(
            Opts::new(
                NAME,
                "Process memory by component: resident (the whole resident set), files (the part backed by files: code, libraries), cache (the memory tier's counted bytes), connections (client connection buffers), other (the rest).",
            ),
            &["component"],
        )?;
        Ok(Self { gauge, tiers, open })
    }
}

/// The resident set of this process and the part of it backed by files,
/// in bytes.
fn resident() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace().skip(1).map(str::parse::<u64>);
    let (resident, files) = (fields.next()?.ok()?, fields.next()?.ok()?);
    let page = rustix::param::page_size() as u64;
    Some((resident * page, files * page))
}

impl Collector for MemoryGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let set = |component: &str, v: u64| {
            self.gauge
                .with_label_values(&[component])
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        let cache = self.tiers.memory.bytes();
        let connections = self.open.load(Ordering::Relaxed) as u64 * PER_CONNECTION;
        set("cache", cache);
        set("connections", connections);
        if let Some((resident, files)) = resident() {
            set("resident", resident);
            set("files", files);
            set("other", resident.saturating_sub(files + cache + connections));
        }
        self.gauge.collect()
    }
}
