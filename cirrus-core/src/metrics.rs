//! What every role's `/metrics` shows besides its own registry: the
//! process-wide metrics in the `prometheus` crate's default registry
//! (such as `cirrus_otel_spans_dropped_total`, which counts the spans of
//! every role of the process).
//!
//! ```
//! let registry = prometheus::Registry::new();
//! registry.register(Box::new(prometheus::IntCounter::new("jobs_total", "Jobs run.")?))?;
//! let families = cirrus_core::metrics::gather(&registry);
//! assert!(families.iter().any(|f| f.name() == "jobs_total"));
//! # Ok::<(), prometheus::Error>(())
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn the_process_metrics_are_added_once() {
        let process = prometheus::IntCounter::new("cirrus_test_process_total", "A process-wide counter.").unwrap();
        prometheus::default_registry()
            .register(Box::new(process.clone()))
            .unwrap();
        let own = prometheus::Registry::new();
        let role = prometheus::IntCounter::new("cirrus_test_role_total", "A role's counter.").unwrap();
        own.register(Box::new(role)).unwrap();
        let names = |r: &prometheus::Registry| -> Vec<String> {
            super::gather(r).iter().map(|f| f.name().to_string()).collect()
        };
        let seen = names(&own);
        assert!(seen.contains(&"cirrus_test_role_total".to_string()));
        assert!(seen.contains(&"cirrus_test_process_total".to_string()));
        // A role given the default registry itself: each family once.
        let twice = names(prometheus::default_registry());
        assert_eq!(twice.iter().filter(|n| *n == "cirrus_test_process_total").count(), 1);
    }
}
