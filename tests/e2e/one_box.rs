//! One box: `cirrus up` on the embedded store, driven by `cirrusctl` as
//! the README says: onboard a domain in front of a local origin, find its
//! node in DNS, MISS then HIT, purge, the status check, a certificate
//! uploaded and served by SNI, SIGTERM, and a second start keeping it all.

use crate::harness::{ChildGuard, Running, ctl, field, ok, try_get, until};
use cirrus_core::model::DomainDns;
use cirrus_test_support::{FakeResolver, a_records, free_port};
use std::time::{Duration, Instant};

const DOMAIN: &str = "www.example.test";

#[test]
fn cirrus_up_serves_a_domain_onboarded_with_cirrusctl() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let resolver = rt.block_on(FakeResolver::start());
    let dir = tempfile::tempdir().unwrap();
    // Every listener on a free port; the edge's admin port is fixed so the
    // health checker probes it. Every role on one thread (`threads = 1`:
    // the single-threaded runtime).
    let health = free_port();
    let config = format!(
        r#"log = "info"
threads = 1
[api]
listen = "127.0.0.1:0"
resolver = "{resolver}"
[edge]
listen = "127.0.0.1:0"
tls_listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:{health}"
[dns]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
health_port = {health}
health_interval = 1
[worker]
metrics_listen = "127.0.0.1:0"
"#,
        resolver = resolver.addr()
    );
    std::fs::write(dir.path().join("cirrus.toml"), config).unwrap();
    let started = Instant::now();
    let mut up = Running::cirrus(dir.path(), &["--config", "cirrus.toml", "up"]);
    let banner = up.stdout_until("curl -i", Duration::from_secs(60));
    let api = format!("http://{}", field(&banner, "http://").trim_end_matches("/api/v1"));
    let edge = field(&banner, "edge       http://").to_string();
    let https = field(&banner, "https://").to_string();
    let dns = field(&banner, "DNS        ").to_string();
    let token = field(&banner, "token      ").to_string();
    assert!(token.starts_with("cirrus_"), "{banner:#?}");
    assert!(banner.iter().any(|l| l.contains("./cirrus-data (new)")), "{banner:#?}");
    let c = |args: &[&str]| ctl(&api, &token, args);

    // Every role of the one process is ready: the API with its store, the
    // edge with a configuration, the DNS with a zone, the worker with its store.
    let metrics = banner
        .iter()
        .find_map(|l| l.split("metrics    ").nth(1))
        .unwrap_or_else(|| panic!("no metrics in {banner:#?}"));
    let mut ready: Vec<String> = metrics
        .split(", ")
        .map(|m| m.split_whitespace().next().unwrap().replace("/metrics", "/readyz"))
        .collect();
    ready.push(format!("{api}/readyz"));
    assert_eq!(
        ready.len(),
        4,
        "edge, dns, the worker (webhooks, even without a CA) and the API: {metrics}"
    );
    for url in &ready {
        until(&format!("{url} ready"), Duration::from_secs(20), || {
            let status = rt.block_on(async { reqwest::get(url).await.ok().map(|r| r.status()) })?;
            (status == 200).then_some(())
        });
    }

    // Onboard the domain in front of a local origin; the answer says which
    // CNAMEs to set.
    // The quickstart's origin: `python3 -m http.server`, which sends no
    // freshness of its own, hence the quickstart's --default-ttl.
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "hello").unwrap();
    let port = free_port();
    let _origin = ChildGuard(
        std::process::Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(site.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 (scripts/test installs it)"),
    );
    let origin = format!("http://127.0.0.1:{port}");
    let put = ok(c(&[
        "domain",
        "put",
        DOMAIN,
        "--origin",
        &origin,
        "--default-ttl",
        "60s",
    ]));
    let records = DomainDns::for_domain(DOMAIN, "cdn.localhost");
    assert!(
        put.contains("created domain") && put.contains(&records.cname.target),
        "{put}"
    );
    assert!(put.contains(&records.acme_challenge.target), "{put}");

    // The DNS answers the domain's target with the edge's node.
    let target = format!("{}.", records.cname.target);
    let ips = until("the target in DNS", Duration::from_secs(20), || {
        rt.block_on(a_records(dns.parse().unwrap(), &target))
            .filter(|ips| !ips.is_empty())
    });
    assert_eq!(ips, vec![std::net::Ipv4Addr::LOCALHOST]);

    // MISS, then HIT.
    let first = until("the edge serving the domain", Duration::from_secs(20), || {
        try_get(&edge, "/", DOMAIN).filter(|a| a.starts_with("HTTP/1.1 200"))
    });
    assert!(first.contains("x-cache: MISS") && first.ends_with("hello"), "{first}");
    let second = try_get(&edge, "/", DOMAIN).unwrap();
    assert!(second.contains("x-cache: HIT"), "{second}");
    let first_hit = started.elapsed();

    // Purge: the next request is a MISS.
    ok(c(&["purge", DOMAIN, "--all"]));
    until("a MISS after the purge", Duration::from_secs(10), || {
        try_get(&edge, "/", DOMAIN).filter(|a| a.contains("x-cache: MISS"))
    });

    // Not ready until the customer's CNAMEs are in place: exit 8.
    let not_ready = c(&["domain", "status", DOMAIN]);
    assert_eq!(not_ready.code, 8, "{}", not_ready.stderr);
    assert!(not_ready.stdout.contains("is not ready"), "{}", not_ready.stdout);
    resolver.cname(DOMAIN, &records.cname.target);
    resolver.cname(&records.acme_challenge.name, &records.acme_challenge.target);
    let status = ok(c(&["domain", "status", DOMAIN, "--wait", "--wait-timeout", "20s"]));
    assert!(status.contains(&format!("{DOMAIN} is ready")), "{status}");

    // Without a CA named, certificate requests are refused with the setting to set.
    let refused = c(&["cert", "issue", DOMAIN]);
    assert!(
        refused.code != 0 && refused.stderr.contains("worker.acme_directory"),
        "{}",
        refused.stderr
    );

    // An uploaded certificate is served for the name over HTTPS.
    let issued = rcgen::generate_simple_self_signed(vec![DOMAIN.to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    ok(c(&[
        "cert",
        "upload",
        DOMAIN,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]));
    let https_addr: std::net::SocketAddr = https.parse().unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(issued.cert.pem().as_bytes()).unwrap()])
        .resolve(DOMAIN, https_addr)
        .build()
        .unwrap();
    let url = format!("https://{DOMAIN}:{}/", https_addr.port());
    let body = until("the certificate served by SNI", Duration::from_secs(20), || {
        rt.block_on(async { client.get(&url).send().await.ok()?.text().await.ok() })
    });
    assert_eq!(body, "hello");

    // SIGTERM stops every role cleanly; logs written to a pipe carry no
    // colour codes.
    assert_eq!(up.terminate(Duration::from_secs(20)), 0);
    let logs: Vec<String> = up.stderr.iter().collect(); // to the end: the process has exited
    assert!(logs.iter().any(|l| l.contains("cirrus edge stopped")), "{logs:#?}");
    assert!(!logs.iter().any(|l| l.contains('\u{1b}')), "{logs:#?}");

    // A second start keeps the data and the token, and says so.
    let up = Running::cirrus(dir.path(), &["--config", "cirrus.toml", "up"]);
    let banner = up.stdout_until("curl -i", Duration::from_secs(60));
    assert!(
        banner.iter().any(|l| l.contains("kept from the last start: 1 domains")),
        "{banner:#?}"
    );
    assert!(
        !banner.iter().any(|l| l.contains("cirrus_")),
        "the token is not shown again: {banner:#?}"
    );
    let api = format!("http://{}", field(&banner, "http://").trim_end_matches("/api/v1"));
    let edge = field(&banner, "edge       http://").to_string();
    assert!(ok(ctl(&api, &token, &["domain", "get", DOMAIN])).contains(DOMAIN));
    until("the domain served after the restart", Duration::from_secs(20), || {
        try_get(&edge, "/", DOMAIN).filter(|a| a.starts_with("HTTP/1.1 200"))
    });
    eprintln!(
        "one box: first cached request {first_hit:?} after `cirrus up` started; whole scenario {:?}",
        started.elapsed()
    );
}
