//! What the soak samples from `/proc` every interval (resident memory,
//! descriptors, threads, sockets of each process) and its verdict: memory
//! and descriptors flat after the warm-up (growth under 5 % an hour by a
//! least-squares fit), no failed cached request, every purge acknowledged.

/// One process at one moment.
#[derive(Clone, Copy, Default)]
pub(crate) struct Sample {
    pub(crate) rss_kib: u64,
    pub(crate) fds: u64,
    pub(crate) threads: u64,
    pub(crate) sockets: u64,
}

/// `pid` now, or `None` once it exited.
pub(crate) fn sample(pid: u32) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let (mut fds, mut sockets) = (0, 0);
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        fds += 1;
        if std::fs::read_link(entry.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")) {
            sockets += 1;
        }
    }
    Some(Sample {
        rss_kib: field("VmRSS:"),
        fds,
        threads: field("Threads:"),
        sockets,
    })
}

/// The columns of the allocator's figures.
pub(crate) const ALLOCATOR_CSV_HEADER: &str = "minute,edge,allocated,active,resident,metadata,retained\n";

/// The edge's jemalloc figures (`cirrus_allocator_bytes`) from its
/// metrics `text` at minute `t`: appended to `csv`, and returned as a
/// short text (empty when the edge exports none).
pub(crate) fn allocator(text: &str, t: f64, edge: usize, csv: &mut String) -> String {
    let kinds = ["allocated", "active", "resident", "metadata", "retained"];
    let values: Option<Vec<f64>> = kinds
        .iter()
        .map(|k| cirrus_test_support::metric_value(text, &format!("cirrus_allocator_bytes{{kind=\"{k}\"}}")))
        .collect();
    let Some(v) = values else {
        return String::new();
    };
    let mib = |b: f64| b / 1048576.0;
    csv.push_str(&format!("{t:.2},{edge},{},{},{},{},{}\n", v[0], v[1], v[2], v[3], v[4]));
    format!(
        " heap {:.1}/{:.1}/{:.1}/{:.1} MiB",
        mib(v[0]),
        mib(v[1]),
        mib(v[2]),
        mib(v[3])
    )
}

/// Growth in % of the first value per hour, by a least-squares line
/// through `(minutes, value)` points.
pub(crate) fn growth_per_hour(points: &[(f64, f64)]) -> f64 {
    if points.len() < 3 {
        return 0.0;
    }
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    if den == 0.0 || points[0].1 == 0.0 {
        return 0.0;
    }
    num / den * 60.0 / points[0].1 * 100.0
}

/// The p50 and p99 of `v` (ms), 0 when empty.
pub(crate) fn percentiles(mut v: Vec<f32>) -> (f32, f32) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f32::total_cmp);
    let at = |q: f32| v[(((v.len() as f32) * q).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.5), at(0.99))
}

/// One process's verdict line, and whether it passes.
pub(crate) fn verdict(name: &str, series: &[(f64, Sample)], warmup_min: f64) -> (String, bool) {
    let after: Vec<&(f64, Sample)> = series.iter().filter(|(t, _)| *t >= warmup_min).collect();
    let points = |f: fn(&Sample) -> u64| -> Vec<(f64, f64)> { after.iter().map(|(t, s)| (*t, f(s) as f64)).collect() };
    let rss = growth_per_hour(&points(|s| s.rss_kib));
    let fds = growth_per_hour(&points(|s| s.fds));
    let (first, last) = match (after.first(), after.last()) {
        (Some(a), Some(b)) => (a.1, b.1),
        _ => return (format!("{name}: no sample after the warm-up"), false),
    };
    // Descriptors are few: a handful more connections open at the last
    // sample is not growth.
    let fds_flat = fds < 5.0 || last.fds <= first.fds + 8;
    let pass = rss < 5.0 && fds_flat;
    (
        format!(
            "{name:<8} RSS {:.1} -> {:.1} MiB ({rss:+.1} %/h after the warm-up), fds {} -> {} ({fds:+.1} %/h), threads {} -> {}: {}",
            first.rss_kib as f64 / 1024.0,
            last.rss_kib as f64 / 1024.0,
            first.fds,
            last.fds,
            first.threads,
            last.threads,
            if pass { "flat" } else { "GROWING" }
        ),
        pass,
    )
}
