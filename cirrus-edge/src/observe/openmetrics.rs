//! The OpenMetrics text exposition of the edge's registry, with the trace
//! exemplars of the request duration histogram (`prometheus` encodes only
//! the Prometheus text format, which has no exemplars; this writes the
//! other format from the same gathered families, so one registry serves
//! both). Asked for with `Accept: application/openmetrics-text`.

use crate::hashing::Map;
use prometheus::proto::{LabelPair, MetricFamily, MetricType};
use std::fmt::Write as _;
use std::sync::Mutex;

/// Hosts whose exemplars are kept; past it the table starts again.
const KEPT: usize = 4096;

/// A trace that ended in a bucket: its id, the value and when (Unix s).
#[derive(Debug, Clone, Copy)]
struct Exemplar {
    trace_id: [u8; 32],
    value: f64,
    at: f64,
}

/// The latest sampled trace in each bucket of each host's request
/// duration: written by sampled requests only.
#[derive(Debug)]
pub(crate) struct Exemplars {
    bounds: Vec<f64>,
    by_host: Mutex<Map<String, Vec<Option<Exemplar>>>>,
}

impl Exemplars {
    /// For a histogram with these bucket upper bounds (+Inf implied).
    pub(crate) fn new(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.to_vec(),
            by_host: Mutex::default(),
        }
    }

    /// `trace_id` (hex) took `seconds` for `host`.
    pub(crate) fn record(&self, host: &str, seconds: f64, trace_id: [u8; 32], at: f64) {
        let slot = self
            .bounds
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(self.bounds.len());
        let mut table = self.by_host.lock().unwrap_or_else(|p| p.into_inner());
        if table.len() >= KEPT && !table.contains_key(host) {
            table.clear();
        }
        let exemplar = Some(Exemplar {
            trace_id,
            value: seconds,
            at,
        });
        match table.get_mut(host) {
            Some(slots) => slots[slot] = exemplar,
            None => {
                let mut slots = vec![None; self.bounds.len() + 1];
                slots[slot] = exemplar;
                table.insert(host.to_string(), slots);
            }
        }
    }

    fn get(&self, host: &str, slot: usize) -> Option<Exemplar> {
        let table = self.by_host.lock().unwrap_or_else(|p| p.into_inner());
        *table.get(host)?.get(slot)?
    }
}

/// `families` in OpenMetrics text, the exemplars on `histogram`'s buckets
/// (its series labelled by `host`).
pub(crate) fn encode(families: &[MetricFamily], histogram: &str, exemplars: &Exemplars) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for family in families {
        let name = family.name();
        let (kind, base) = match family.get_field_type() {
            // A counter's family is named without `_total`, its sample with
            // it; one named otherwise keeps its name, typed `unknown`.
            MetricType::COUNTER => match name.strip_suffix("_total") {
                Some(base) => ("counter", base),
                None => ("unknown", name),
            },
            MetricType::GAUGE => ("gauge", name),
            MetricType::HISTOGRAM => ("histogram", name),
            MetricType::SUMMARY => ("summary", name),
            MetricType::UNTYPED => ("unknown", name),
        };
        let _ = writeln!(out, "# TYPE {base} {kind}");
        let _ = writeln!(out, "# HELP {base} {}", escape(family.help(), false));
        for m in family.get_metric() {
            let labels = m.get_label();
            match family.get_field_type() {
                MetricType::COUNTER => sample(&mut out, name, labels, None, m.get_counter().get_value()),
                MetricType::GAUGE => sample(&mut out, name, labels, None, m.get_gauge().get_value()),
                // (No collector of the edge's makes one; the accessor is
                // deprecated with the protobuf model it comes from.)
                #[allow(deprecated)]
                MetricType::UNTYPED => sample(&mut out, name, labels, None, m.get_untyped().get_value()),
                MetricType::SUMMARY => {
                    let s = m.get_summary();
                    for q in s.get_quantile() {
                        let quantile = ("quantile", float(q.quantile()));
                        sample(&mut out, name, labels, Some(quantile), q.value());
                    }
                    sample(&mut out, &format!("{name}_sum"), labels, None, s.sample_sum());
                    sample(
                        &mut out,
                        &format!("{name}_count"),
                        labels,
                        None,
                        s.sample_count() as f64,
                    );
                }
                MetricType::HISTOGRAM => {
                    let h = m.get_histogram();
                    let host = (name == histogram)
                        .then(|| labels.iter().find(|l| l.name() == "host"))
                        .flatten()
                        .map(LabelPair::value);
                    let bucket = format!("{name}_bucket");
                    let bounds = h.get_bucket().iter().map(|b| (b.upper_bound(), b.cumulative_count()));
                    let inf = (f64::INFINITY, h.get_sample_count());
                    for (slot, (bound, count)) in bounds.chain([inf]).enumerate() {
                        sample(&mut out, &bucket, labels, Some(("le", float(bound))), count as f64);
                        if let Some(e) = host.and_then(|host| exemplars.get(host, slot)) {
                            // After the sample's value, before its newline.
                            out.pop();
                            let id = std::str::from_utf8(&e.trace_id).unwrap_or("");
                            let _ = writeln!(out, " # {{trace_id=\"{id}\"}} {} {:.3}", float(e.value), e.at);
                        }
                    }
                    sample(&mut out, &format!("{name}_sum"), labels, None, h.get_sample_sum());
                    sample(
                        &mut out,
                        &format!("{name}_count"),
                        labels,
                        None,
                        h.get_sample_count() as f64,
                    );
                }
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// One sample line: `name{labels,extra} value`.
fn sample(out: &mut String, name: &str, labels: &[LabelPair], extra: Option<(&str, String)>, value: f64) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let pairs = labels.iter().map(|l| (l.name(), escape(l.value(), true)));
        for (i, (n, v)) in pairs.chain(extra).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{n}=\"{v}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", float(value));
}

/// A number as OpenMetrics writes it: `+Inf`, `-Inf`, `NaN`, else Rust's
/// shortest round-tripping form (`1`, `0.005`, `1e-7`).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// Escapes `\` and newlines (and `"` in a label value).
fn escape(text: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

    #[test]
    fn families_are_written_in_openmetrics_with_exemplars_on_buckets() {
        let registry = Registry::new();
        let requests = IntCounterVec::new(Opts::new("r_total", "Requests \\ \"all\"."), &["host"]).expect("valid");
        let duration =
            HistogramVec::new(HistogramOpts::new("d", "Duration.").buckets(vec![0.1, 1.0]), &["host"]).expect("valid");
        registry.register(Box::new(requests.clone())).expect("registered");
        registry.register(Box::new(duration.clone())).expect("registered");
        requests.with_label_values(&["a\"b"]).inc();
        duration.with_label_values(&["a.test"]).observe(0.5);
        let exemplars = Exemplars::new(&[0.1, 1.0]);
        exemplars.record("a.test", 0.7, [b'c'; 32], 1_700_000_000.0);
        // The latest of a bucket wins; another bucket of the host keeps its own.
        exemplars.record("a.test", 0.5, [b'a'; 32], 1_700_000_000.5);
        exemplars.record("a.test", 0.05, [b'b'; 32], 1_700_000_001.0);
        let text = encode(&registry.gather(), "d", &exemplars);
        let id = "a".repeat(32);
        for line in [
            "# TYPE d histogram".to_string(),
            format!(
                "d_bucket{{host=\"a.test\",le=\"0.1\"}} 0 # {{trace_id=\"{}\"}} 0.05 1700000001.000",
                "b".repeat(32)
            ),
            format!("d_bucket{{host=\"a.test\",le=\"1\"}} 1 # {{trace_id=\"{id}\"}} 0.5 1700000000.500"),
            "d_bucket{host=\"a.test\",le=\"+Inf\"} 1".into(),
            "d_count{host=\"a.test\"} 1".into(),
            "# TYPE r counter".into(),
            "# HELP r Requests \\\\ \"all\".".into(),
            "r_total{host=\"a\\\"b\"} 1".into(),
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
