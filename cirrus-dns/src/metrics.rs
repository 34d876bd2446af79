//! Prometheus metrics of the DNS roles, in a registry of their own.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Counters and gauges shared by the master, the rebuild loop and the
/// health checker; cheap to clone. Render with [`DnsMetrics::render`].
#[derive(Debug, Clone)]
pub struct DnsMetrics {
    registry: Registry,
    pub(crate) queries: IntCounterVec,
    pub(crate) transfers: IntCounterVec,
    pub(crate) ixfr: IntCounterVec,
    pub(crate) tsig_errors: IntCounterVec,
    pub(crate) notifies: IntCounterVec,
    pub(crate) rebuilds: IntCounter,
    pub(crate) rebuild_seconds: Histogram,
    pub(crate) zone_records: IntGauge,
    pub(crate) zone_serial: IntGauge,
    pub(crate) node_flips: IntCounterVec,
    pub(crate) records_skipped: IntCounterVec,
    pub(crate) secondary_serial: IntGaugeVec,
    pub(crate) node_failures: IntGaugeVec,
    pub(crate) ready: IntGauge,
    pub(crate) store_up: IntGauge,
}

/// The `reason` of `cirrus_dns_records_skipped_total` for a domain whose
/// target name is not a valid DNS name under the zone.
pub(crate) const SKIPPED_INVALID_NAME: &str = "invalid_name";

impl DnsMetrics {
    /// A fresh registry with every DNS metric.
    pub fn new() -> crate::Result<Self> {
        Ok(Self::try_new()?)
    }

    fn try_new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let queries = IntCounterVec::new(
            Opts::new(
                "cirrus_dns_queries_total",
                "Queries answered, by type and response code.",
            ),
            &["type", "rcode"],
        )?;
        let transfers = IntCounterVec::new(
            Opts::new("cirrus_dns_axfr_total", "Zone transfers, served or refused."),
            &["outcome"],
        )?;
        let ixfr = IntCounterVec::new(
            Opts::new(
                "cirrus_dns_ixfr_total",
                "IXFR answers by kind: incremental, full (the serial is not in the history), up_to_date.",
            ),
            &["answer"],
        )?;
        let tsig_errors = IntCounterVec::new(
            Opts::new(
                "cirrus_dns_tsig_errors_total",
                "Signed requests refused, by TSIG error (badkey, badsig, badtime, badtrunc).",
            ),
            &["error"],
        )?;
        let notifies = IntCounterVec::new(
            Opts::new(
                "cirrus_dns_notify_total",
                "NOTIFY messages sent to secondaries, and those acknowledged.",
            ),
            &["outcome"],
        )?;
        let rebuilds = IntCounter::new("cirrus_dns_rebuilds_total", "Zone rebuilds.")?;
        let rebuild_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "cirrus_dns_rebuild_seconds",
                "Time to read the store and build the zone.",
            )
            .buckets(vec![0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0]),
        )?;
        let zone_records = IntGauge::new("cirrus_dns_zone_records", "Records in the zone served.")?;
        let zone_serial = IntGauge::new("cirrus_dns_zone_serial", "SOA serial of the zone served.")?;
        let node_flips = IntCounterVec::new(
            Opts::new(
                "cirrus_dns_node_flips_total",
                "Nodes the health checker marked up or down.",
            ),
            &["to"],
        )?;
        let records_skipped = IntCounterVec::new(
            Opts::new(
                "cirrus_dns_records_skipped_total",
                "Domains a rebuild left out of the zone, by reason (counted at every rebuild that skips them).",
            ),
            &["reason"],
        )?;
        let secondary_serial = IntGaugeVec::new(
            Opts::new(
                "cirrus_dns_secondary_serial",
                "SOA serial each notified secondary answers (0 while it does not answer).",
            ),
            &["secondary"],
        )?;
        let node_failures = IntGaugeVec::new(
            Opts::new(
                "cirrus_dns_node_consecutive_failures",
                "Health probes each node failed in a row (0 after a success), as this checker last saw.",
            ),
            &["node"],
        )?;
        let ready = IntGauge::new("cirrus_ready", "1 when a zone is served (/readyz answers 200), else 0.")?;
        let store_up = IntGauge::new("cirrus_store_up", "1 when the store answered at this scrape, else 0.")?;
        for c in [
            Box::new(queries.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(secondary_serial.clone()),
            Box::new(node_failures.clone()),
            Box::new(ready.clone()),
            Box::new(store_up.clone()),
            Box::new(transfers.clone()),
            Box::new(ixfr.clone()),
            Box::new(tsig_errors.clone()),
            Box::new(notifies.clone()),
            Box::new(rebuilds.clone()),
            Box::new(rebuild_seconds.clone()),
            Box::new(zone_records.clone()),
            Box::new(zone_serial.clone()),
            Box::new(node_flips.clone()),
            Box::new(records_skipped.clone()),
        ] {
            registry.register(c)?;
        }
        for outcome in ["served", "refused"] {
            transfers.with_label_values(&[outcome]);
        }
        for answer in ["incremental", "full", "up_to_date"] {
            ixfr.with_label_values(&[answer]);
        }
        for error in ["badkey", "badsig", "badtime", "badtrunc"] {
            tsig_errors.with_label_values(&[error]);
        }
        for outcome in ["sent", "acked"] {
            notifies.with_label_values(&[outcome]);
        }
        for to in ["up", "down"] {
            node_flips.with_label_values(&[to]);
        }
        records_skipped.with_label_values(&[SKIPPED_INVALID_NAME]);
        Ok(Self {
            registry,
            queries,
            transfers,
            ixfr,
            tsig_errors,
            notifies,
            rebuilds,
            rebuild_seconds,
            zone_records,
            zone_serial,
            node_flips,
            records_skipped,
            secondary_serial,
            node_failures,
            ready,
            store_up,
        })
    }

    /// Whether a zone is served (its serial set by a first build).
    pub(crate) fn serving(&self) -> bool {
        self.zone_serial.get() > 0
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&cirrus_core::metrics::gather(&self.registry), &mut buf) {
            tracing::warn!(error = %e, "dns metrics encoding failed");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// The `type` label: common types by name, the rest as `other` (a client
/// choosing the type must not grow the label set).
pub(crate) fn type_label(rtype: hickory_proto::rr::RecordType) -> &'static str {
    use hickory_proto::rr::RecordType as T;
    match rtype {
        T::A => "A",
        T::AAAA => "AAAA",
        T::NS => "NS",
        T::SOA => "SOA",
        T::TXT => "TXT",
        T::CNAME => "CNAME",
        T::MX => "MX",
        T::ANY => "ANY",
        T::AXFR => "AXFR",
        T::IXFR => "IXFR",
        T::CAA => "CAA",
        T::HTTPS => "HTTPS",
        _ => "other",
    }
}

/// The `rcode` label, as DNS tools spell it.
pub(crate) fn rcode_label(code: hickory_proto::op::ResponseCode) -> &'static str {
    use hickory_proto::op::ResponseCode as R;
    match code {
        R::NoError => "NOERROR",
        R::FormErr => "FORMERR",
        R::ServFail => "SERVFAIL",
        R::NXDomain => "NXDOMAIN",
        R::NotImp => "NOTIMP",
        R::Refused => "REFUSED",
        R::BADVERS => "BADVERS",
        _ => "other",
    }
}
