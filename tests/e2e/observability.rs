//! The operations assets of `deploy/`, checked by real tools: promtool on
//! the shipped Prometheus configuration, rules and alert tests (every
//! alert tested, every alert's playbook in docs/operations.md), and, from
//! the many-boxes scenario, a real Prometheus scraping the running roles
//! with the shipped configuration: every target up, every rule evaluated,
//! every recording rule producing series, every dashboard query parsing,
//! and every metric the rules and dashboards read exported by a role.

use crate::harness::until;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs (scripts/test installs Debian's prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

/// The alert names of a rule file, in order.
fn alerts_in(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|a| a.trim().to_string())
        .collect()
}

#[test]
fn promtool_checks_the_config_the_rules_and_a_test_of_every_alert() {
    let dir = repo().join("deploy/prometheus");
    promtool(&dir, &["check", "config", "prometheus.yml"]);
    let rules = promtool(
        &dir,
        &[
            "check",
            "rules",
            "rules/recording.yml",
            "rules/alerts.yml",
            "rules/slo.yml",
        ],
    );
    assert!(!rules.contains("WARNING"), "{rules}");
    promtool(&dir, &["test", "rules", "tests/alerts.test.yml"]);

    let tests = std::fs::read_to_string(dir.join("tests/alerts.test.yml")).unwrap();
    let runbooks = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    let mut alerts = alerts_in(&dir.join("rules/alerts.yml"));
    alerts.extend(alerts_in(&dir.join("rules/slo.yml")));
    assert!(alerts.len() >= 18, "{alerts:?}");
    for alert in &alerts {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "{alert} has no promtool test"
        );
        assert!(
            runbooks.contains(&format!("\n### {alert}\n")),
            "{alert} has no playbook in docs/operations.md"
        );
    }
    // Each alert links to its playbook.
    for file in ["rules/alerts.yml", "rules/slo.yml"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let links = text.matches("runbook_url: docs/operations.md#").count();
        let count = alerts_in(&dir.join(file)).len();
        assert_eq!(links, count, "{file}: one runbook_url per alert");
        for alert in alerts_in(&dir.join(file)) {
            let link = format!("runbook_url: docs/operations.md#{}\n", alert.to_lowercase());
            assert!(text.contains(&link), "{alert}: {link}");
        }
    }
}

/// Where the running roles answer `/metrics` (host:port).
pub struct Targets {
    pub api: String,
    pub edges: Vec<String>,
    pub dns: String,
    pub worker: String,
}

/// A Prometheus process, stopped on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// The shipped configuration and rules, with target files naming `targets`.
    fn start(targets: &Targets) -> Self {
        let shipped = repo().join("deploy/prometheus");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rules")).unwrap();
        std::fs::create_dir_all(dir.path().join("targets")).unwrap();
        std::fs::copy(shipped.join("prometheus.yml"), dir.path().join("prometheus.yml")).unwrap();
        for rules in ["recording.yml", "alerts.yml", "slo.yml"] {
            std::fs::copy(shipped.join("rules").join(rules), dir.path().join("rules").join(rules)).unwrap();
        }
        let group = |addrs: &[String]| {
            let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
            format!("- targets: [{}]\n  labels:\n    env: e2e\n", list.join(", "))
        };
        for (file, addrs) in [
            ("api.yml", vec![targets.api.clone()]),
            ("edge.yml", targets.edges.clone()),
            ("dns.yml", vec![targets.dns.clone()]),
            ("worker.yml", vec![targets.worker.clone()]),
        ] {
            std::fs::write(dir.path().join("targets").join(file), group(&addrs)).unwrap();
        }
        std::fs::write(dir.path().join("targets/alertmanager.yml"), "[]\n").unwrap();
        let port = cirrus_test_support::free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // As deploy/compose runs it: the edges' exemplars kept.
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (scripts/test installs Debian's prometheus)");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn api(&self, rt: &tokio::runtime::Runtime, path: &str, query: &[(&str, &str)]) -> Option<serde_json::Value> {
        rt.block_on(async {
            let res = reqwest::Client::new()
                .get(format!("{}{path}", self.url))
                .query(query)
                .send()
                .await
                .ok()?;
            res.json().await.ok()
        })
    }
}

/// The metric names (samples: a histogram's `_bucket`, `_sum`, `_count`)
/// a Prometheus text exposition holds.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Aggregation operators: a label list may stand between them and their parenthesis.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];

/// Words followed by a list of label names.
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Binary operators and modifiers spelled as words.
const OPERATORS: &[&str] = &["bool", "and", "or", "unless", "offset"];

/// The index just past the string literal opening at `i`.
fn past_string(chars: &[char], mut i: usize) -> usize {
    i += 1;
    while i < chars.len() && chars[i] != '"' {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// The metric names a PromQL expression reads: identifiers that are not
/// functions, aggregations, operators, label names or durations.
fn metrics_read(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let next_non_space = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            i = past_string(&chars, i);
        } else if c == '{' || c == '[' {
            // Label matchers and ranges: no metric inside.
            let close = if c == '{' { '}' } else { ']' };
            while i < chars.len() && chars[i] != close {
                i = if chars[i] == '"' { past_string(&chars, i) } else { i + 1 };
            }
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = next_non_space(i);
            let call = chars.get(next) == Some(&'(');
            if LABEL_LISTS.contains(&word.as_str()) {
                if call {
                    i = next + chars[next..].iter().position(|c| *c == ')').unwrap_or(0) + 1;
                }
            } else if !call && !OPERATORS.contains(&word.as_str()) && !AGGREGATIONS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Every panel query and variable query of the shipped dashboards.
fn dashboard_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let dir = repo().join("deploy/grafana/dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 5, "{files:?}");
    for file in files {
        let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let name = d["uid"].as_str().unwrap().to_string();
        let vars: Vec<&str> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert!(
            vars.contains(&"env") && vars.contains(&"instance"),
            "{name}: environment and instance variables"
        );
        for panel in d["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                queries.push((
                    format!("{name}: {}", panel["title"]),
                    target["expr"].as_str().unwrap().to_string(),
                ));
            }
        }
        for var in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = var["query"]["query"].as_str() {
                let inner = q
                    .strip_prefix("label_values(")
                    .and_then(|q| q.rsplit_once(','))
                    .unwrap()
                    .0;
                queries.push((format!("{name}: variable {}", var["name"]), inner.to_string()));
            }
        }
    }
    queries
}

/// Grafana's variables as a query would see them with "All" chosen.
fn expand(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$env", ".*")
        .replace("$instance", ".*")
        .replace("$host", ".*")
}

/// Starts a Prometheus with the shipped configuration on `targets` and
/// checks what it scrapes and evaluates.
pub fn prometheus_scrapes_every_role(rt: &tokio::runtime::Runtime, targets: &Targets) {
    // What the roles export, scraped directly.
    let mut all: Vec<String> = vec![targets.api.clone(), targets.dns.clone(), targets.worker.clone()];
    all.extend(targets.edges.iter().cloned());
    // `up` is Prometheus's; the probe_* series are the blackbox exporter's
    // (tests/e2e/alerting.rs runs it with the shipped modules and reads
    // probe_success; probe_ssl_earliest_cert_expiry, its metric of TLS
    // probes, needs a certificate it trusts and is not run there).
    let mut names: BTreeSet<String> = ["up", "probe_success", "probe_ssl_earliest_cert_expiry"]
        .into_iter()
        .map(String::from)
        .collect();
    for addr in &all {
        let text = rt.block_on(async {
            reqwest::get(format!("http://{addr}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        });
        names.extend(exported(&text));
    }

    let prometheus = Prometheus::start(targets);
    until("every target up", Duration::from_secs(60), || {
        let v = prometheus.api(rt, "/api/v1/targets", &[])?;
        let active = v["data"]["activeTargets"].as_array()?;
        (active.len() == all.len() && active.iter().all(|t| t["health"] == "up")).then_some(())
    });
    // The edges trace every request: Prometheus scrapes their OpenMetrics
    // exposition and keeps the trace ids of the duration histogram.
    until("the edges' exemplars", Duration::from_secs(60), || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (start, end) = ((now - 600).to_string(), (now + 60).to_string());
        let query = [
            ("query", "nginx_http_request_duration_seconds_bucket"),
            ("start", &start),
            ("end", &end),
        ];
        let v = prometheus.api(rt, "/api/v1/query_exemplars", &query)?;
        let ids = v["data"]
            .as_array()?
            .iter()
            .flat_map(|s| s["exemplars"].as_array().cloned().unwrap_or_default());
        ids.into_iter()
            .any(|e| e["labels"]["trace_id"].as_str().is_some_and(|id| id.len() == 32))
            .then_some(())
    });
    let rules = until("every rule evaluated", Duration::from_secs(60), || {
        let v = prometheus.api(rt, "/api/v1/rules", &[])?;
        let rules: Vec<serde_json::Value> = v["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let evaluated = rules.iter().all(|r| r["health"] == "ok");
        (!rules.is_empty() && evaluated).then_some(rules)
    });
    let recorded: BTreeSet<String> = rules
        .iter()
        .filter(|r| r["type"] == "recording")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.extend(recorded.iter().cloned());
    for rule in &rules {
        for metric in metrics_read(rule["query"].as_str().unwrap()) {
            assert!(
                names.contains(&metric),
                "rule {}: no role exports {metric}",
                rule["name"]
            );
        }
    }
    // Every recording rule produces series from what the roles export.
    for record in &recorded {
        until(&format!("{record} recorded"), Duration::from_secs(60), || {
            let v = prometheus.api(rt, "/api/v1/query", &[("query", record)])?;
            let series = v["data"]["result"].as_array()?;
            (!series.is_empty()).then_some(())
        });
    }
    // Every dashboard query parses, and reads exported metrics.
    for (panel, expr) in dashboard_queries() {
        let query = expand(&expr);
        let v = prometheus.api(rt, "/api/v1/query", &[("query", &query)]).unwrap();
        assert_eq!(v["status"], "success", "{panel}: {query}: {v}");
        for metric in metrics_read(&query) {
            assert!(names.contains(&metric), "{panel}: no role exports {metric}");
        }
    }
}

#[test]
fn the_metric_reader_finds_metrics_not_functions_labels_or_durations() {
    let read = metrics_read(
        r#"sum by (env, host) (rate(nginx_http_requests_total{status=~"5..", x="a{b}"}[5m])) / on (env) group_left () max(cirrus_store_revision offset 5m) > 0.25 and env:slo:ratio_rate1h"#,
    );
    let want: BTreeSet<String> = [
        "nginx_http_requests_total",
        "cirrus_store_revision",
        "env:slo:ratio_rate1h",
    ]
    .map(String::from)
    .into();
    assert_eq!(read, want);
    assert!(exported("# HELP a x\na_bucket{le=\"1\"} 1\nb 2\n").contains("a_bucket"));
}
