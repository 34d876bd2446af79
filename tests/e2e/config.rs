//! Settings as operators give them: Redis over TLS with an ACL user, the
//! documented configuration file, and the order flags > environment >
//! file > defaults.

use crate::harness::{Running, ctl, logged, ok};
use cirrus_test_support::RedisServer;
use std::process::Command;
use std::time::Duration;

#[test]
fn roles_reach_redis_over_tls_with_an_acl_user() {
    let issued = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let redis = RedisServer::start_tls(&issued.cert.pem(), &issued.signing_key.serialize_pem());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, issued.cert.pem()).unwrap();
    let api = |url: &str| {
        let mut cmd = Running::command(dir.path(), &["api", "--listen", "127.0.0.1:0", "--store", url]);
        cmd.env("SSL_CERT_FILE", &ca);
        cmd
    };
    // A wrong password is refused at start with the server's reason.
    let out = api(&redis.tls_url("cirrus", "wrong")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Error:") && stderr.to_lowercase().contains("pass"),
        "{stderr}"
    );

    // The right one: the API works over TLS.
    let server = Running::start(api(&redis.tls_url("cirrus", "secret")));
    let url = format!("http://{}", logged(&server.stderr, "listening on http://"));
    let token = server.stdout.recv_timeout(Duration::from_secs(5)).unwrap();
    let token = token.rsplit(' ').next().unwrap();
    let out = ok(ctl(
        &url,
        token,
        &["domain", "put", "tls.example.com", "--origin", "http://192.0.2.1"],
    ));
    assert!(out.contains("created domain"), "{out}");
}

#[test]
fn the_documented_configuration_file_passes_config_check() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md")).unwrap();
    let example = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cirrus.toml");
    std::fs::write(&path, example).unwrap();
    for role in ["up", "api", "edge", "dns"] {
        let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .args(["--config", path.to_str().unwrap(), "config", "check", role])
            .env_remove("CIRRUS_STORE")
            .env_remove("CNAME_BASE_DOMAIN")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{role}: {stderr}");
        assert!(
            stdout.contains("# no errors") && stdout.contains("# file"),
            "{role}: {stdout}"
        );
    }
    // A typo is refused with where it is.
    std::fs::write(
        &path,
        "[edge]\nlisten = \"0.0.0.0:80\"\nlisen = 1\n[dns]\nttl = \"soon\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["--config", path.to_str().unwrap(), "edge"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("edge.lisen: unknown key"), "{stderr}");
    // Every error at once: the bad value of another table too.
    let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["--config", path.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("edge.lisen: unknown key") && stderr.contains("dns.ttl (file)"),
        "{stderr}"
    );
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[edge]\nlisten = \"127.0.0.1:1001\"\ncache_mem = \"64MiB\"\nmax_connections = 7\n",
    )
    .unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["--config", path.to_str().unwrap(), "config", "check", "edge"])
        .env("CIRRUS_EDGE_LISTEN", "127.0.0.1:1002")
        .env_remove("CIRRUS_CACHE_MEM")
        .env_remove("CIRRUS_MAX_CONNECTIONS")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        out.contains("listen = \"127.0.0.1:1002\"  # env CIRRUS_EDGE_LISTEN"),
        "{out}"
    );
    assert!(out.contains("cache_mem = \"64MiB\"  # file"), "{out}");
    assert!(out.contains("max_connections = 7  # file"), "{out}");
    assert!(out.contains("drain_timeout = \"30s\"  # default"), "{out}");

    // A flag wins over a bad environment value and a bad file value.
    std::fs::write(&path, "[edge]\nlisten = \"not an address\"\n").unwrap();
    let store = dir.path().join("data");
    let mut edge = Running::command(
        dir.path(),
        &[
            "--config",
            path.to_str().unwrap(),
            "--log-format",
            "json",
            "edge",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    edge.args(["--metrics-listen", "127.0.0.1:0", "--store", store.to_str().unwrap()])
        .env("CIRRUS_EDGE_LISTEN", "bogus");
    let edge = Running::start(edge);
    // --log-format json: one JSON object per line, no colour codes (a line
    // about the descriptor limit may come before the listener's).
    let (line, json) = loop {
        let line = edge.stderr.recv_timeout(Duration::from_secs(20)).unwrap();
        assert!(!line.contains('\u{1b}'), "{line}");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if json["message"].as_str().is_some_and(|m| m.contains("listening on")) {
            break (line, json);
        }
    };
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("listening on http://127.0.0.1:"),
        "{line}"
    );
    assert_eq!(
        (&json["level"], &json["target"]),
        (&"INFO".into(), &"cirrus_cli::server::edge".into()),
        "{line}"
    );
    assert!(json["timestamp"].is_string(), "{line}");
    assert!(!line.contains('\u{1b}'), "{line}");
}

#[test]
fn a_log_filter_tracing_cannot_read_is_refused_not_replaced() {
    for (how, value) in [("flag", "cirrus_api=loud"), ("env", "=[")] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cirrus"));
        cmd.env_remove("CIRRUS_LOG");
        match how {
            "flag" => cmd.args(["--log", value]),
            _ => cmd.env("CIRRUS_LOG", value),
        };
        let store = dir.path().to_str().unwrap();
        let out = cmd
            .args(["api", "--listen", "127.0.0.1:0", "--store", store])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{how}: {stderr}");
        assert!(stderr.contains("not a log filter"), "{how}: {stderr}");
    }
}

#[test]
fn a_store_of_an_unknown_scheme_is_refused_not_made_a_directory() {
    for role in ["api", "edge", "dns", "worker", "up"] {
        for store in ["redi://localhost:6379", "redis+sentinal://127.0.0.1:26379/mymaster"] {
            let dir = tempfile::tempdir().unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
                .current_dir(dir.path())
                .env_remove("CIRRUS_STORE")
                .env_remove("CIRRUS_CONFIG")
                .args([role, "--store", store])
                .args(if role == "edge" {
                    &[][..]
                } else {
                    &["--zone", "cdn.test"][..]
                })
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{role} {store}: {stderr}");
            assert!(stderr.contains("unknown store scheme"), "{role} {store}: {stderr}");
            assert!(stderr.contains("redis://"), "the known schemes are named: {stderr}");
            let made: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(made.is_empty(), "{role} {store}: created {made:?}");
        }
    }
    // `config check` says so too; the embedded store may be named explicitly.
    let dir = tempfile::tempdir().unwrap();
    for (store, code) in [("redi://h", 2), ("embedded:./data", 0)] {
        std::fs::write(dir.path().join("c.toml"), format!("store = \"{store}\"\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .current_dir(dir.path())
            .env_remove("CIRRUS_STORE")
            .args(["--config", "c.toml", "config", "check", "api"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{store}: {text}");
        if code == 2 {
            assert!(text.contains("unknown store scheme"), "{text}");
        }
    }
}

#[test]
fn an_edge_registers_the_node_it_is_told_to() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data");
    let store = store.to_str().unwrap();
    let edge = |extra: &[&str]| {
        let mut cmd = Running::command(
            dir.path(),
            &[
                "edge",
                "--metrics-listen",
                "127.0.0.1:0",
                "--store",
                store,
                "--node-id",
                "n1",
            ],
        );
        cmd.args(extra);
        cmd
    };
    // Listening on every address names none to publish: refused, with how.
    let out = edge(&["--listen", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --node-ipv4 or --node-ipv6"));

    let mut registered = Running::start(edge(&[
        "--listen",
        "0.0.0.0:0",
        "--node-ipv4",
        "192.0.2.7",
        "--node-ipv6",
        "2001:db8::7",
    ]));
    logged(&registered.stderr, "registered as a node");
    registered.kill();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = rt.block_on(async {
        let store = cirrus_core::EmbeddedStore::open(store).unwrap();
        cirrus_core::NodeStore::get_node(&store, "n1").await.unwrap().unwrap()
    });
    assert_eq!(node.ipv4, Some("192.0.2.7".parse().unwrap()));
    assert_eq!(node.ipv6, Some("2001:db8::7".parse().unwrap()));
    assert!(node.enabled && node.active);
}

#[test]
fn cirrus_up_runs_on_redis_too_and_says_when_data_was_kept() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let up = |extra: &[&str]| {
        let mut cmd = Running::command(
            dir.path(),
            &[
                "up",
                "--store",
                &url,
                "--set",
                "api.listen=127.0.0.1:0",
                "--set",
                "edge.listen=127.0.0.1:0",
                "--set",
                "edge.tls_listen=127.0.0.1:0",
                "--set",
                "edge.metrics_listen=127.0.0.1:0",
                "--set",
                "dns.listen=127.0.0.1:0",
                "--set",
                "dns.metrics_listen=127.0.0.1:0",
                "--set",
                "worker.metrics_listen=127.0.0.1:0",
                "--set",
                "dns.no_health_check=true",
            ],
        );
        cmd.args(extra);
        Running::start(cmd)
    };
    let first = up(&[]);
    let banner = first.stdout_until("curl -i", Duration::from_secs(60));
    assert!(
        banner.iter().any(|l| l.contains(&format!("{url} (new)"))),
        "{banner:#?}"
    );
    let api = format!(
        "http://{}",
        crate::harness::field(&banner, "http://").trim_end_matches("/api/v1")
    );
    let token = crate::harness::field(&banner, "token      ").to_string();
    ok(ctl(
        &api,
        &token,
        &["domain", "put", "r.example.com", "--origin", "http://192.0.2.1"],
    ));
    drop(first);
    let second = up(&[]);
    let banner = second.stdout_until("curl -i", Duration::from_secs(60));
    assert!(
        banner.iter().any(|l| l.contains("kept from the last start: 1 domains")),
        "{banner:#?}"
    );
    assert!(
        !std::path::Path::new(&dir.path().join("cirrus-data")).exists(),
        "no embedded store was made"
    );
}
