//! What a first start must get right: a start that fails keeps no secret
//! nobody saw, and a flood of wrong logins neither exhausts memory nor
//! starves the API.

use crate::harness::{Running, field, until};
use std::time::Duration;

/// A `cirrus up` configuration with every listener on a free port, except
/// the edge's, which is `edge`; a CA is named (never asked) so the worker
/// runs too.
fn up_config(edge: &str) -> String {
    format!(
        r#"threads = 1
[api]
listen = "127.0.0.1:0"
admin_user = "admin"
admin_password = "correct-horse-battery"
[edge]
listen = "{edge}"
tls_listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
[dns]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
[worker]
metrics_listen = "127.0.0.1:0"
acme_directory = "https://127.0.0.1:9/directory"
"#
    )
}

#[test]
fn a_start_that_fails_on_a_busy_port_keeps_no_unseen_master_token() {
    let dir = tempfile::tempdir().unwrap();
    // The edge binds after the API: a busy edge port fails the start after
    // the API's listener and store are already set up.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    std::fs::write(dir.path().join("cirrus.toml"), up_config(&busy_addr)).unwrap();
    let mut first = Running::cirrus(dir.path(), &["--config", "cirrus.toml", "up"]);
    let code = until("the first start fails", Duration::from_secs(30), || {
        first.child.try_wait().unwrap().map(|s| s.code())
    });
    assert_ne!(code, Some(0));
    let printed: Vec<String> = first.stdout.iter().collect();
    assert!(
        printed.iter().all(|l| !l.contains("cirrus_")),
        "no token shown by a failed start: {printed:#?}"
    );
    let errors: Vec<String> = first.stderr.iter().collect();
    assert!(
        errors.iter().any(|l| l.contains(&busy_addr)),
        "the error names the port: {errors:#?}"
    );

    std::fs::write(dir.path().join("cirrus.toml"), up_config("127.0.0.1:0")).unwrap();
    let second = Running::cirrus(dir.path(), &["--config", "cirrus.toml", "up"]);
    let banner = second.stdout_until("curl -i", Duration::from_secs(60));
    let token = field(&banner, "token      ");
    assert!(
        token.starts_with("cirrus_"),
        "the next start shows a new token, not one never printed: {banner:#?}"
    );
}

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn five_hundred_concurrent_wrong_logins_leave_memory_flat() {
    let dir = tempfile::tempdir().unwrap();
    // Every rate limit off: only the bound on password checks at once
    // stands between the flood and the allocator.
    let (api, url) = Running::api(
        dir.path(),
        "data",
        &[
            "--rate-limit",
            "0",
            "--login-rate-limit",
            "0",
            "--login-user-rate-limit",
            "0",
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let login = |user: String| {
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .post(format!("{url}/api/v1/auth/login"))
                .json(&serde_json::json!({"username": user, "password": "not the password"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    // One check first, so the baseline includes what any login needs.
    assert_eq!(rt.block_on(login("warm".into())), 401);
    let before = rss(api.child.id());
    let statuses = rt.block_on(futures_util::future::join_all(
        (0..500).map(|i| login(format!("user{i}"))),
    ));
    let after = rss(api.child.id());
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let busy = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(wrong + busy, 500, "every answer is 401 or 429: {statuses:?}");
    assert!(wrong >= 1 && busy >= 1, "{wrong} checked, {busy} turned away");
    let grown = after.saturating_sub(before);
    eprintln!(
        "RSS {} MB -> {} MB ({wrong} checked, {busy} turned away)",
        before >> 20,
        after >> 20
    );
    assert!(grown < 100 << 20, "RSS grew by {} MB", grown >> 20);
}

/// Sends a request head declaring a 100 GB body followed by two bytes and
/// returns the status line, which must come without the rest of the body.
fn declare_huge_body(addr: &str, path: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{{}}"
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let n = s
        .read(&mut buf)
        .unwrap_or_else(|e| panic!("{addr}{path}: no answer within 3 s: {e}"));
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_oversized_content_length_is_refused_at_once_by_every_listener() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cirrus.toml"), up_config("127.0.0.1:0")).unwrap();
    let up = Running::cirrus(dir.path(), &["--config", "cirrus.toml", "up"]);
    let banner = up.stdout_until("curl -i", Duration::from_secs(60));
    let api = field(&banner, "API        http://")
        .trim_end_matches("/api/v1")
        .to_string();
    assert!(
        banner
            .iter()
            .any(|l| l.contains(&format!("portal     http://{api}/  (log in as admin)"))),
        "the banner names the portal and its user: {banner:#?}"
    );
    // Authenticated, so the request gets as far as reading its body.
    let token = field(&banner, "token      ");
    let status = declare_huge_body(&api, "/api/v1/domains/a.example", token);
    assert!(status.contains(" 413 "), "{status}");
    let metrics = banner
        .iter()
        .find_map(|l| l.split("metrics    ").nth(1))
        .unwrap_or_else(|| panic!("no metrics in {banner:#?}"));
    let admins: Vec<&str> = metrics
        .split(", ")
        .map(|m| {
            m.split_whitespace()
                .next()
                .unwrap()
                .trim_start_matches("http://")
                .trim_end_matches("/metrics")
        })
        .collect();
    assert_eq!(admins.len(), 3, "edge, dns, worker: {metrics}");
    for admin in admins {
        let status = declare_huge_body(admin, "/healthz", token);
        assert!(status.contains(" 413 "), "{admin}: {status}");
    }
}
