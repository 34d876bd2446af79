//! Certificates end to end: `cirrus up` with its worker pointed at a real
//! Pebble. A certificate requested with `cirrusctl cert issue` is issued
//! through the built-in DNS-01 solver and `cirrus up`'s own DNS (the
//! domain owner's resolver following the `_acme-challenge` CNAME into it),
//! then served over HTTPS by the edge for the name, and verified against
//! Pebble's root.

use crate::harness::{Running, ctl, field, https_body, ok, pebble_root, tiny_origin, until};
use cirrus_core::model::DomainDns;
use cirrus_test_support::{OwnerResolver, Pebble};
use std::time::{Duration, Instant};

const DOMAIN: &str = "shop.test";
const ZONE: &str = "cdn.test";

#[test]
fn a_certificate_requested_with_cirrusctl_is_issued_by_pebble_and_served_over_https() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let resolver = rt.block_on(OwnerResolver::start(|d| {
        DomainDns::for_domain(d, ZONE).acme_challenge.target
    }));
    let pebble = Pebble::start(resolver.addr);
    let dir = tempfile::tempdir().unwrap();
    let worker = format!(
        "acme_directory = \"{directory}\"\nacme_directory_root = \"{root}\"\nresolver = \"{resolver}\"",
        resolver = resolver.addr,
        directory = pebble.directory,
        root = pebble.tls_cert.display()
    );
    let config = crate::harness::up_on_free_ports("log = \"info\"", &worker);
    std::fs::write(dir.path().join("cirrus.toml"), config).unwrap();
    let up = Running::cirrus(dir.path(), &["--config", "cirrus.toml", "up", "--zone", ZONE]);
    let banner = up.stdout_until("curl -i", Duration::from_secs(60));
    assert!(banner.iter().any(|l| l.contains(&pebble.directory)), "{banner:#?}");
    let api = format!("http://{}", field(&banner, "http://").trim_end_matches("/api/v1"));
    let https: std::net::SocketAddr = field(&banner, "https://").parse().unwrap();
    let dns = field(&banner, "DNS        ").parse().unwrap();
    let token = field(&banner, "token      ").to_string();
    resolver.follow(dns);
    let c = |args: &[&str]| ctl(&api, &token, args);

    let origin = tiny_origin();
    ok(c(&["domain", "put", DOMAIN, "--origin", &format!("http://{origin}")]));
    let requested = Instant::now();
    ok(c(&["cert", "issue", DOMAIN]));
    let status = until("the certificate issued", Duration::from_secs(60), || {
        let out = ok(c(&["cert", "status", DOMAIN, "--output", "json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_ne!(v["status"], "failed", "{v}");
        (v["status"] == "issued").then_some(v)
    });
    assert_eq!(status["has_certificate"], true, "{status}");

    // The edge serves it for the name; it verifies against Pebble's root.
    let root = pebble_root(&rt, &pebble);
    let body = until("the issued certificate served by SNI", Duration::from_secs(20), || {
        https_body(&rt, &root, DOMAIN, https)
    });
    assert_eq!(body, "hello");
    eprintln!(
        "certificate: requested to served over HTTPS in {:?}",
        requested.elapsed()
    );

    // The worker's metrics: the job's outcome, and the days left.
    let worker_metrics = banner
        .iter()
        .find_map(|l| l.split(", ").find(|p| p.ends_with("(worker)")))
        .and_then(|p| p.split_whitespace().next())
        .unwrap_or_else(|| panic!("no worker metrics in {banner:#?}"))
        .to_string();
    let text = rt.block_on(async { reqwest::get(&worker_metrics).await.unwrap().text().await.unwrap() });
    assert!(
        text.contains(r#"cirrus_job_duration_seconds_count{kind="issue_cert",outcome="succeeded"} 1"#),
        "{text}"
    );
    let left: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!(r#"cirrus_acme_cert_expiry_seconds{{domain="{DOMAIN}"}} "#)))
        .unwrap_or_else(|| panic!("no expiry gauge in {text}"))
        .parse()
        .unwrap();
    assert!(left > 30.0 * 86_400.0, "{left} s left");
}
