//! The Alertmanager configuration of `deploy/alertmanager`, checked by the
//! real tools of Debian's `prometheus-alertmanager`: `amtool check-config`,
//! the routing cases of `tests/routes.txt` and every alert of the rules
//! routed by its severity (`amtool config routes test`), and a running
//! Alertmanager given alerts through its API: an edge that is down
//! inhibits its own warnings and probes, not another edge's. And the
//! blackbox exporter's modules of `deploy/blackbox`, run by Debian's
//! `prometheus-blackbox-exporter` against a DNS master and a health
//! endpoint: what the probe alerts read is what it reports.

use crate::harness::ChildGuard;
use cirrus_test_support::eventually;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/alertmanager")
}

fn amtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("amtool")
        .args(args)
        .current_dir(dir())
        .output()
        .expect("amtool runs (scripts/test installs Debian's prometheus-alertmanager)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The receivers `labels` are routed to, as amtool prints them.
fn routed(labels: &[&str]) -> String {
    let mut args = vec!["config", "routes", "test", "--config.file=alertmanager.yml"];
    args.extend_from_slice(labels);
    let (ok, text) = amtool(&args);
    assert!(ok, "amtool {args:?}: {text}");
    text.lines()
        .find(|l| !l.starts_with("Warning"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Every alert of a rule file with its severity label.
fn severities(file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(alert) = line.strip_prefix("- alert:") {
            out.push((alert.trim().to_string(), String::new()));
        } else if let (Some(severity), Some(last)) = (line.strip_prefix("severity:"), out.last_mut()) {
            last.1 = severity.trim().to_string();
        }
    }
    out
}

#[test]
fn amtool_checks_the_config_and_routes_every_alert_by_severity() {
    let (ok, text) = amtool(&["check-config", "alertmanager.yml"]);
    assert!(ok && text.contains("SUCCESS"), "{text}");

    let cases = std::fs::read_to_string(dir().join("tests/routes.txt")).unwrap();
    let mut n = 0;
    for line in cases.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let (expected, labels) = line.split_once('|').unwrap();
        let labels: Vec<&str> = labels.split_whitespace().collect();
        assert_eq!(routed(&labels), expected.trim(), "{line}");
        n += 1;
    }
    assert!(n >= 5, "{n} cases");

    let rules = dir().join("../prometheus/rules");
    let mut alerts = severities(&rules.join("alerts.yml"));
    alerts.extend(severities(&rules.join("slo.yml")));
    assert!(alerts.len() > 20, "{alerts:?}");
    for (alert, severity) in &alerts {
        let expected = match (alert.as_str(), severity.as_str()) {
            ("Watchdog", _) => "deadmans-switch",
            (_, "critical") => "pager,team",
            (_, "warning") => "team",
            other => panic!("an alert of an unknown severity: {other:?}"),
        };
        let labels = [
            format!("alertname={alert}"),
            format!("severity={severity}"),
            "env=prod".into(),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        assert_eq!(routed(&labels), expected, "{alert}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_that_is_down_inhibits_its_own_warnings_only() {
    let data = tempfile::tempdir().unwrap();
    let port = cirrus_test_support::free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", dir().join("alertmanager.yml").display()))
        .arg(format!("--storage.path={}", data.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager runs (scripts/test installs it)");
    let _am = ChildGuard(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually("Alertmanager is ready", Duration::from_secs(20), || async {
        let r = http.get(format!("{base}/-/ready")).send().await;
        r.is_ok_and(|r| r.status().is_success())
    })
    .await;

    let alert = |name: &str, severity: &str, instance: &str, job: &str| {
        serde_json::json!({
            "labels": {"alertname": name, "severity": severity, "env": "prod", "instance": instance, "job": job},
            "annotations": {"summary": name},
        })
    };
    let alerts = serde_json::json!([
        alert("CirrusScrapeFailed", "critical", "edge-1:9145", "cirrus-edge"),
        alert("CirrusUpstreamErrorsHigh", "warning", "edge-1:9145", "cirrus-edge"),
        alert("CirrusProbeFailed", "critical", "edge-1:9145", "blackbox"),
        alert("CirrusUpstreamErrorsHigh", "warning", "edge-2:9145", "cirrus-edge"),
    ]);
    let posted = http
        .post(format!("{base}/api/v2/alerts"))
        .json(&alerts)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());

    let listed = eventually("the four alerts listed", Duration::from_secs(20), || async {
        let r = http.get(format!("{base}/api/v2/alerts")).send().await.ok()?;
        let list: Vec<serde_json::Value> = r.json().await.ok()?;
        (list.len() == 4).then_some(list)
    })
    .await;
    let inhibited = |name: &str, instance: &str| {
        let a = listed
            .iter()
            .find(|a| a["labels"]["alertname"] == name && a["labels"]["instance"] == instance)
            .unwrap_or_else(|| panic!("{name} {instance} listed: {listed:?}"));
        a["status"]["inhibitedBy"].as_array().is_some_and(|by| !by.is_empty())
    };
    assert!(!inhibited("CirrusScrapeFailed", "edge-1:9145"), "the page itself");
    assert!(inhibited("CirrusUpstreamErrorsHigh", "edge-1:9145"), "its own warning");
    assert!(inhibited("CirrusProbeFailed", "edge-1:9145"), "the probe through it");
    assert!(
        !inhibited("CirrusUpstreamErrorsHigh", "edge-2:9145"),
        "another edge's warning"
    );
}

/// An HTTP server answering `/healthz` with 200, anything else 404.
async fn health_endpoint() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let ok = buf[..n].starts_with(b"GET /healthz ");
                let status = if ok { "200 OK" } else { "404 Not Found" };
                let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blackbox_modules_probe_a_dns_master_and_a_health_endpoint() {
    // A DNS master of the zone the module asks for (cdn.example.net).
    let settings = cirrus_dns::ZoneSettings::builder("cdn.example.net").build().unwrap();
    let input = cirrus_dns::ZoneInput::default();
    let zone = cirrus_dns::Zone::build(input, &settings, 7).unwrap();
    let (udp, tcp) = cirrus_dns::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dns = tcp.local_addr().unwrap();
    let master = cirrus_dns::HiddenMaster::builder(cirrus_dns::SharedZone::new(zone)).build();
    tokio::spawn(master.serve(udp, tcp, std::future::pending()));
    let health = health_endpoint().await;

    let port = cirrus_test_support::free_port();
    let child = Command::new("prometheus-blackbox-exporter")
        .arg(format!(
            "--config.file={}",
            dir().join("../blackbox/blackbox.yml").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-blackbox-exporter runs (scripts/test installs it)");
    let _blackbox = ChildGuard(child);
    let http = reqwest::Client::new();
    let probe = |module: &'static str, target: String| {
        let http = http.clone();
        async move {
            let url = format!("http://127.0.0.1:{port}/probe");
            let r = http
                .get(url)
                .query(&[("module", module), ("target", &target)])
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())?;
            r.text().await.ok()
        }
    };
    let metric = |text: &str, name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
    };
    let soa = eventually("the exporter probes", Duration::from_secs(20), || {
        probe("cirrus_secondary_soa", dns.to_string())
    })
    .await;
    assert_eq!(metric(&soa, "probe_success"), Some(1.0), "{soa}");
    let healthy = probe("cirrus_edge_health", format!("http://{health}/healthz"))
        .await
        .unwrap();
    assert_eq!(metric(&healthy, "probe_success"), Some(1.0), "{healthy}");
    // What fails: a path that is not healthy, a DNS server that is not there.
    let missing = probe("cirrus_edge_health", format!("http://{health}/nothing"))
        .await
        .unwrap();
    assert_eq!(metric(&missing, "probe_success"), Some(0.0), "{missing}");
    let nobody = format!("127.0.0.1:{}", cirrus_test_support::free_port());
    let silent = probe("cirrus_secondary_soa", nobody).await.unwrap();
    assert_eq!(metric(&silent, "probe_success"), Some(0.0), "{silent}");
}
