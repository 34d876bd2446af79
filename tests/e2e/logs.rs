//! The logs pipeline of `deploy/` against what the roles write: every
//! field the Vector configuration reads, and every field the Loki rules
//! parse with `| json`, is in the JSON lines of a running `cirrus up`
//! (`--log-format json`, and the edge's access log), or, for the ACME
//! worker's lines (which need a CA), in the statement that writes them.
//! Vector and Loki are not in Debian's packages: their configurations are
//! read here, not run.

use crate::harness::{Running, ctl, field, try_get, up_on_free_ports};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether `line` holds the dotted `path` (with a value, null included).
fn has(line: &serde_json::Value, path: &str) -> bool {
    let mut at = line;
    for part in path.split('.') {
        match at.get(part) {
            Some(next) => at = next,
            None => return false,
        }
    }
    true
}

/// The dotted paths after `prefix` in `text` (`log.span.request_id`
/// gives `span.request_id` for the prefix `log.`).
fn paths_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices(prefix) {
        // A whole word: not the tail of another identifier.
        if text[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let path = path.trim_end_matches('.');
        if !path.is_empty() {
            out.insert(path.to_string());
        }
    }
    out
}

/// The fields of `| json | field="…"` filters in LogQL rules.
fn logql_fields(rules: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for expr in rules.lines().filter_map(|l| l.trim().strip_prefix("expr:")) {
        for stage in expr.split("| json").skip(1) {
            if let Some(filter) = stage.trim().strip_prefix('|') {
                let name: String = filter
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn the_log_pipeline_reads_only_fields_the_roles_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = up_on_free_ports("log = \"info\"\nlog_format = \"json\"\nthreads = 1", "");
    std::fs::write(dir.path().join("cirrus.toml"), config).unwrap();
    let up = Running::cirrus(dir.path(), &["--config", "cirrus.toml", "up"]);
    let banner = up.stdout_until("curl -i", Duration::from_secs(60));
    let api = format!("http://{}", field(&banner, "http://").trim_end_matches("/api/v1"));
    let edge = field(&banner, "edge       http://").to_string();
    let token = field(&banner, "token      ").to_string();
    // An access line (a host no domain serves) and an API line in a request span.
    let _ = try_get(&edge, "/", "nobody.example");
    let out = ctl(&api, &token, &["domain", "get", "nobody.example"]);
    assert_ne!(out.code, 0, "{}", out.stderr);

    let mut lines: Vec<serde_json::Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = |lines: &[serde_json::Value]| {
        lines.iter().any(|l| has(l, "span.request_id")) && lines.iter().any(|l| has(l, "ts") && has(l, "path"))
    };
    while !seen(&lines) && Instant::now() < deadline {
        for line in up.stderr.try_iter().chain(up.stdout.try_iter()) {
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line)
                && json.is_object()
            {
                lines.push(json);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen(&lines), "an API line and an access line: {lines:#?}");

    // What the ACME worker writes (it needs a CA to run): its statement.
    let worker = std::fs::read_to_string(repo().join("cirrus-acme/src/job.rs")).unwrap();
    let written_by_worker = |field: &str| {
        worker.contains(&format!("{field} = \"acme_fail\"")) || worker.contains(&format!("acme_fail\", {field},"))
    };

    let vector = std::fs::read_to_string(repo().join("deploy/vector/vector.yaml")).unwrap();
    let yaml = yaml_rust2::YamlLoader::load_from_str(&vector).unwrap();
    let source = yaml[0]["transforms"]["cirrus"]["source"]
        .as_str()
        .expect("the remap source");
    let read = paths_after(source, "log.");
    assert!(read.len() >= 8, "{read:?}");
    for path in &read {
        assert!(
            lines.iter().any(|l| has(l, path)) || written_by_worker(path),
            "deploy/vector reads `{path}`, which no role writes; lines seen: {lines:#?}"
        );
    }
    // The labels are the five documented ones, none of them per request.
    let labels: BTreeSet<&str> = yaml[0]["sinks"]["loki"]["labels"]
        .as_hash()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(labels, BTreeSet::from(["env", "host", "level", "role", "stream"]));

    let rules = std::fs::read_to_string(repo().join("deploy/loki/rules.yml")).unwrap();
    let parsed = logql_fields(&rules);
    assert!(parsed.contains("event") && parsed.contains("error"), "{parsed:?}");
    for name in &parsed {
        assert!(
            lines.iter().any(|l| has(l, name)) || written_by_worker(name),
            "deploy/loki parses `{name}`, which no role writes"
        );
    }
    // Every stream selector uses the pipeline's labels only.
    let exprs: String = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .collect::<Vec<_>>()
        .join("\n");
    for selector in exprs.match_indices('{').map(|(i, _)| &exprs[i + 1..]) {
        let inside = selector.split('}').next().unwrap_or_default();
        for matcher in inside.split(',') {
            let label: String = matcher
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(labels.contains(label.as_str()), "a selector on `{label}`: {inside}");
        }
    }
    // Each rule has its playbook.
    let runbooks = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    for alert in rules.lines().filter_map(|l| l.trim().strip_prefix("- alert:")) {
        let alert = alert.trim();
        assert!(
            runbooks.contains(&format!("\n### {alert}\n")),
            "{alert} has no playbook"
        );
        assert!(
            rules.contains(&format!("docs/operations.md#{}", alert.to_lowercase())),
            "{alert}"
        );
    }
}
