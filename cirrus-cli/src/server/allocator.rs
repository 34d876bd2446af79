//! The allocator's own figures, `cirrus_allocator_bytes{kind}`, on the
//! edge's `/metrics` when the process allocates with jemalloc (the `cirrus`
//! binary does: [`jemalloc_is_global`]). They say where resident memory
//! that the live objects do not explain sits: `allocated` is what live
//! objects hold, `active` the pages of the runs that hold them (the
//! difference is fragmentation inside those runs), `resident` every page
//! jemalloc holds in memory, its metadata and freed pages not yet returned
//! included, `metadata` its own bookkeeping, `mapped` what it has mapped,
//! `retained` what it keeps mapped but returned to the system
//! (docs/operations.md#soak).

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};
use std::sync::atomic::{AtomicBool, Ordering};
use tikv_jemalloc_ctl::{epoch, stats};

static JEMALLOC: AtomicBool = AtomicBool::new(false);

/// Says that the process's global allocator is jemalloc (the
/// `tikv-jemallocator` this crate links), so that the edge role exports
/// its statistics. Without it they would describe only the allocations
/// that went to jemalloc directly, and the edge exports none.
pub fn jemalloc_is_global() {
    JEMALLOC.store(true, Ordering::Relaxed);
}

/// The gauges, read from jemalloc when gathered; `None` unless
/// [`jemalloc_is_global`] was called.
pub(crate) fn collector() -> Option<Box<dyn Collector>> {
    if !JEMALLOC.load(Ordering::Relaxed) {
        return None;
    }
    let gauge = IntGaugeVec::new(
        Opts::new(
            "cirrus_allocator_bytes",
            "jemalloc's statistics: allocated (live objects), active (pages of the runs holding them), resident (pages held in memory: freed pages not yet returned and metadata included), metadata, mapped, retained (mapped but returned to the system).",
        ),
        &["kind"],
    )
    .ok()?;
    Some(Box::new(JemallocGauges { gauge }))
}

struct JemallocGauges {
    gauge: IntGaugeVec,
}

impl Collector for JemallocGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // jemalloc's statistics are a snapshot taken at each epoch.
        if epoch::advance().is_ok() {
            let figures = [
                ("allocated", stats::allocated::read()),
                ("active", stats::active::read()),
                ("resident", stats::resident::read()),
                ("metadata", stats::metadata::read()),
                ("mapped", stats::mapped::read()),
                ("retained", stats::retained::read()),
            ];
            for (kind, value) in figures {
                if let Ok(v) = value {
                    self.gauge
                        .with_label_values(&[kind])
                        .set(i64::try_from(v).unwrap_or(i64::MAX));
                }
            }
        }
        self.gauge.collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Off until the binary says jemalloc is its allocator; then every
    /// figure is read (this test binary allocates with the system's
    /// allocator, so only jemalloc's own bookkeeping shows).
    #[test]
    fn exported_only_on_jemalloc() {
        assert!(collector().is_none());
        jemalloc_is_global();
        let families = collector().unwrap().collect();
        let mut kinds: Vec<_> = families[0]
            .get_metric()
            .iter()
            .map(|m| m.get_label()[0].value().to_owned())
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            ["active", "allocated", "mapped", "metadata", "resident", "retained"]
        );
        JEMALLOC.store(false, Ordering::Relaxed);
    }
}
