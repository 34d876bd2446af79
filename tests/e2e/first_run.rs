//! What a first start must get right: a start that fails keeps no secret
//! nobody saw, and a flood of wrong logins neither exhausts memory nor
//! starves the API.

use crate::harness::{Running, field, until};
use std::time::Duration;

/// A `cirrus up` configuration with every listener on a free port, except
/// the edge's, which is `edge`.
fn up_config(edge: &str) -> String {
    format!(
        r#"threads = 1
[api]
listen = "127.0.0.1:0"
[edge]
listen = "{edge}"
tls_listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
[dns]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
[worker]
metrics_listen = "127.0.0.1:0"
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
