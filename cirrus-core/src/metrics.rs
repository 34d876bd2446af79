//! What every role's `/metrics` shows besides its own registry: the
//! process-wide metrics in the `prometheus` crate's default registry
//! (such as `cirrus_otel_spans_dropped_total`, which counts the spans of
//! every role of the process).
//!
//! ```
//! let registry = prometheus::Registry::new();
//! let families = cirrus_core::metrics::gather(&registry);
//! assert_eq!(families.len(), prometheus::gather().len());
//! ```

use prometheus::proto::MetricFamily;

/// `registry`'s families, then the default registry's not already among them.
pub fn gather(registry: &prometheus::Registry) -> Vec<MetricFamily> {
    let mut families = registry.gather();
    for family in prometheus::gather() {
        if !families.iter().any(|f| f.name() == family.name()) {
            families.push(family);
        }
    }
    families
}
