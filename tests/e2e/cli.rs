//! End-to-end tests of the binaries: `cirrus api` started as a process on a
//! free port (embedded store, then Redis), driven by `cirrusctl` processes.

use crate::harness::{ctl, get, logged, ok, raw_get, spawn, tiny_origin};
use cirrus_test_support::RedisServer;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A running `cirrus api`, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cirrus api` on a free port; returns it and the master token it
/// printed on stdout, if any (printed before it logs its address).
fn start(store: &str, extra: &[&str]) -> (Server, Option<String>) {
    let mut args = vec!["api", "--listen", "127.0.0.1:0", "--store", store];
    args.extend_from_slice(extra);
    let (child, stderr, stdout) = spawn(&args);
    let url = format!("http://{}", logged(&stderr, "listening on http://"));
    let token = stdout
        .recv_timeout(Duration::from_millis(200))
        .ok()
        .and_then(|l| l.rsplit(' ').next().map(str::to_string));
    (Server { child, url }, token)
}

#[test]
fn operator_workflow_with_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data").display().to_string();
    let (server, master) = start(&store, &[]);
    let master = master.expect("a master token is generated and printed on first start");
    assert!(master.starts_with("cirrus_"), "{master}");
    let url = server.url.clone();
    let c = |args: &[&str]| ctl(&url, &master, args);

    assert!(
        ok(c(&["domain", "put", "example.com", "--origin", "https://192.0.2.10"]))
            .contains("created domain example.com")
    );
    // A second put from flags leaves the domain as it is and says how to
    // change or replace it.
    let again = c(&["domain", "put", "example.com", "--origin", "https://192.0.2.99"]);
    assert_eq!(again.code, 6, "{}", again.stderr);
    assert!(
        again.stderr.contains("domain set example.com") && again.stderr.contains("--replace"),
        "{}",
        again.stderr
    );
    // `set` changes the settings named and keeps every other one.
    let set = ok(c(&[
        "domain",
        "set",
        "example.com",
        "--default-ttl",
        "1h",
        "--compress",
        "off",
        "-o",
        "json",
    ]));
    let set: serde_json::Value = serde_json::from_str(&set).unwrap();
    assert_eq!(set["cache"]["default_ttl"], 3600);
    assert_eq!(set["cache"]["compress"], false);
    assert_eq!(set["origins"][0]["host"], "192.0.2.10", "the origin is kept");
    let set: serde_json::Value = serde_json::from_str(&ok(c(&[
        "domain",
        "set",
        "example.com",
        "--default-ttl",
        "off",
        "-o",
        "json",
    ])))
    .unwrap();
    assert!(set["cache"].get("default_ttl").is_none(), "{set}");
    assert_eq!(set["cache"]["compress"], false, "kept");
    // Shielding: by node ids, over the cluster, off; a bad id is the API's 422.
    let shield = |value: &str| c(&["domain", "set", "example.com", "--shield", value, "-o", "json"]);
    let set: serde_json::Value = serde_json::from_str(&ok(shield("edge-2,edge-1"))).unwrap();
    assert_eq!(
        set["shield"],
        serde_json::json!({"mode": "nodes", "nodes": ["edge-1", "edge-2"]})
    );
    let set: serde_json::Value = serde_json::from_str(&ok(shield("cluster"))).unwrap();
    assert_eq!(set["shield"], serde_json::json!({"mode": "cluster"}));
    assert_eq!(set["cache"]["compress"], false, "kept");
    let set: serde_json::Value = serde_json::from_str(&ok(shield("off"))).unwrap();
    assert!(set.get("shield").is_none(), "off is the default, left out: {set}");
    let bad = shield("Edge One");
    assert_eq!(bad.code, 5, "{}", bad.stderr);
    assert!(bad.stderr.contains("shield.nodes[0]"), "{}", bad.stderr);
    let nothing = c(&["domain", "set", "example.com"]);
    assert_eq!(
        nothing.code, 2,
        "set without a change is a usage error: {}",
        nothing.stderr
    );
    assert!(
        ok(c(&[
            "domain",
            "put",
            "example.com",
            "--origin",
            "https://192.0.2.10",
            "--replace"
        ]))
        .contains("updated domain example.com")
    );
    let listed: serde_json::Value = serde_json::from_str(&ok(c(&["domain", "list", "--output", "json"]))).unwrap();
    // Times for people: RFC 3339 in tables, and --expires-at takes durations.
    let made = ok(c(&[
        "token",
        "create",
        "--name",
        "t",
        "--scope",
        "read",
        "--expires-at",
        "90d",
    ]));
    assert!(made.contains("created"), "{made}");
    let tokens = ok(c(&["token", "list"]));
    assert!(has_rfc3339(&tokens), "RFC 3339 expiry: {tokens}");
    let audit = ok(c(&["audit", "--limit", "1"]));
    assert!(audit.starts_with("AT ") && has_rfc3339(&audit), "{audit}");
    assert_eq!(listed[0]["domain"], "example.com");
    let table = ok(c(&["domain", "list"]));
    assert!(
        table.starts_with("DOMAIN") && table.contains("https://192.0.2.10:443"),
        "{table}"
    );

    let conf = dir.path().join("d.json");
    std::fs::write(&conf, r#"{"origins": [{"host": "o.example.net", "weight": 0}]}"#).unwrap();
    let bad = c(&["domain", "put", "bad.com", "-f", conf.to_str().unwrap()]);
    assert_eq!(bad.code, 5, "{}", bad.stderr);
    assert_eq!(bad.stderr.lines().count(), 1, "one-line error: {}", bad.stderr);
    assert!(bad.stderr.contains("origins[0].weight"), "{}", bad.stderr);

    let missing = c(&["domain", "get", "nope.com"]);
    assert_eq!(
        (missing.code, missing.stderr.lines().count()),
        (4, 1),
        "{}",
        missing.stderr
    );

    let purge: serde_json::Value =
        serde_json::from_str(&ok(c(&["purge", "example.com", "--prefix", "/img/", "-o", "json"]))).unwrap();
    assert!(purge["id"].as_str().unwrap().starts_with("pg_"));
    assert_eq!(c(&["purge", "example.com"]).code, 5, "a purge must select something");
    let listed: serde_json::Value =
        serde_json::from_str(&ok(c(&["purges", "--domain", "example.com", "-o", "json"]))).unwrap();
    assert_eq!(listed[0]["id"], purge["id"], "{listed}");
    assert!(ok(c(&["purges"])).contains(purge["id"].as_str().unwrap()));

    // Errors name the flag, say the reason once, and are JSON with -o json.
    let bad_path = c(&["purge", "example.com", "--path", "/a\nb"]);
    assert_eq!(bad_path.code, 5, "{}", bad_path.stderr);
    assert!(
        bad_path
            .stderr
            .contains("--path #1: contains a line feed (LF) at byte 2"),
        "{}",
        bad_path.stderr
    );
    assert!(!bad_path.stderr.contains("urls[0]"), "{}", bad_path.stderr);
    assert_eq!(
        bad_path.stderr.matches("line feed").count(),
        1,
        "said once: {}",
        bad_path.stderr
    );
    let as_json = c(&["purge", "example.com", "--path", "/a\nb", "-o", "json"]);
    let e: serde_json::Value = serde_json::from_str(as_json.stderr.trim()).unwrap();
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["status"].as_u64()),
        (Some("invalid_input"), Some(422))
    );
    assert_eq!(e["error"]["details"][0]["field"], "--path #1");
    let local = c(&["domain", "put", "x.example", "--origin", "gopher://o.example"]);
    assert_eq!(local.code, 5, "a local input error exits 5: {}", local.stderr);
    let local = c(&["domain", "set", "example.com", "--backup-origin", "gopher://o.example"]);
    assert_eq!(local.code, 5, "{}", local.stderr);
    assert!(local.stderr.contains("--backup-origin gopher://"), "{}", local.stderr);
    assert!(!local.stderr.contains("client configuration"), "{}", local.stderr);
    let anonymous = ctl(&url, "", &["domain", "list"]);
    assert_eq!(anonymous.code, 3);
    assert!(anonymous.stderr.contains("no token"), "{}", anonymous.stderr);

    assert!(ok(c(&["cert", "issue", "example.com"])).contains("queued"));
    assert!(ok(c(&["cert", "status", "example.com"])).contains("queued"));
    let issued = rcgen::generate_simple_self_signed(vec!["example.com".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let upload = |key: &std::path::Path| {
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        c(&["cert", "upload", "example.com", "--cert", cert, "--key", key])
    };
    assert!(ok(upload(&key)).contains("issued"));
    let listed: serde_json::Value = serde_json::from_str(&ok(c(&["cert", "list", "-o", "json"]))).unwrap();
    assert_eq!(listed[0]["domain"], "example.com", "{listed}");
    let soon = c(&["cert", "list", "--expiring-within-days", "14", "-o", "json"]);
    assert_eq!(ok(soon).trim(), "[]", "rcgen's certificate ends in 4096");
    assert_eq!(upload(&conf).code, 5, "a key that is not PEM is refused");

    let patch = dir.path().join("patch.json");
    std::fs::write(&patch, r#"{"enabled": false}"#).unwrap();
    let patched: serde_json::Value = serde_json::from_str(&ok(c(&[
        "domain",
        "patch",
        "example.com",
        "-f",
        patch.to_str().unwrap(),
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(patched["enabled"], false);

    ok(c(&["node", "put", "edge-1", "--ipv4", "192.0.2.1", "--weight", "2"]));
    assert!(ok(c(&["node", "disable", "edge-1"])).contains("false"));
    let nodes: serde_json::Value = serde_json::from_str(&ok(c(&["node", "list", "-o", "json"]))).unwrap();
    assert_eq!(
        (nodes[0]["id"].as_str(), nodes[0]["enabled"].as_bool()),
        (Some("edge-1"), Some(false))
    );

    let created: serde_json::Value = serde_json::from_str(&ok(c(&[
        "token",
        "create",
        "--name",
        "ci",
        "--scope",
        "read",
        "--domain",
        "example.com",
        "-o",
        "json",
    ])))
    .unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["token"]["id"].as_str().unwrap().to_string();
    let ci = |args: &[&str]| ctl(&url, &secret, args);
    assert!(ok(ci(&["whoami"])).contains("example.com"));
    assert_eq!(ci(&["domain", "delete", "example.com"]).code, 3, "read-only token");
    assert_eq!(ctl(&url, "cirrus_wrong", &["domain", "list"]).code, 3);
    assert!(ok(c(&["token", "list"])).contains(&id));
    ok(c(&["token", "revoke", &id]));
    assert_eq!(ci(&["whoami"]).code, 3, "revoked");
    assert_eq!(
        c(&["token", "create", "--name", "x", "--scope", "root"]).code,
        5,
        "unknown scope is refused locally, as input"
    );

    let audit = ok(c(&["audit", "--limit", "5"]));
    assert!(audit.contains("token.revoke") && audit.contains("master"), "{audit}");
    assert!(ok(c(&["health"])).starts_with("ok"));
    assert!(ok(c(&["completions", "bash"])).contains("cirrusctl"));
    ok(c(&["domain", "delete", "example.com"]));
    assert_eq!(c(&["--bogus-flag"]).code, 2);
    drop(server);

    // The token survives a restart and is not printed again.
    let (server, again) = start(&store, &[]);
    assert_eq!(again, None);
    assert!(ok(ctl(&server.url, &master, &["whoami"])).contains("master"));
    let port = server.url.rsplit(':').next().unwrap().to_string();
    drop(server);
    let down = ctl(&format!("http://127.0.0.1:{port}"), &master, &["domain", "list"]);
    assert_eq!(down.code, 7, "unreachable API: {}", down.stderr);
}

#[test]
fn api_role_runs_on_redis_with_a_configured_master_token() {
    let redis = RedisServer::start();
    let (server, printed) = start(&redis.url(), &["--master-token", "configured-master-token-123"]);
    assert_eq!(printed, None, "a configured master token is never printed");
    let started = Instant::now();
    let out = ctl(
        &server.url,
        "configured-master-token-123",
        &["domain", "put", "r.com", "--origin", "http://192.0.2.3:8080"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    let got = ok(ctl(
        &server.url,
        "configured-master-token-123",
        &["domain", "get", "r.com", "-o", "json"],
    ));
    assert!(got.contains("8080"));
    let bad = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["api", "--store", &redis.url(), "--master-token", "short"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).starts_with("Error: "),
        "clear error, no panic"
    );
}

#[test]
fn cirrusctl_imports_domains_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (server, master) = start(&dir.path().join("data").display().to_string(), &[]);
    let master = master.unwrap();
    let c = |args: &[&str]| ctl(&server.url, &master, args);
    // 2,500 domains, one per line; the 1,234th is invalid.
    let mut lines: Vec<String> = (0..2500)
        .map(|i| {
            format!(
                r#"{{"domain": "d{i}.example", "origins": [{{"host": "192.0.2.{}"}}]}}"#,
                i % 250 + 1
            )
        })
        .collect();
    lines[1233] = r#"{"domain": "bad.example", "origins": []}"#.into();
    let file = dir.path().join("domains.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = c(&["domain", "import", file.to_str().unwrap()]);
    assert_eq!(out.code, 5, "a refused domain exits 5: {}", out.stderr);
    assert!(
        out.stdout.contains("refused 1234 (bad.example): origins:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("2500 domains: 2499 created, 0 updated, 0 unchanged, 1 refused"),
        "{}",
        out.stdout
    );

    // What `-o json domain list` prints imports back unchanged, in
    // requests of 700.
    let listed = ok(c(&["domain", "list", "-o", "json"]));
    let export = dir.path().join("export.json");
    std::fs::write(&export, &listed).unwrap();
    let out = ok(c(&[
        "domain",
        "import",
        export.to_str().unwrap(),
        "--batch",
        "700",
        "-o",
        "json",
    ]));
    let result: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = result["items"].as_array().unwrap();
    assert_eq!(items.len(), 2499);
    assert!(items.iter().all(|i| i["outcome"] == "unchanged"), "{out}");
    assert_eq!(items[2498]["index"], 2498, "numbered across requests");

    // A malformed file sends nothing.
    std::fs::write(&file, "{\"domain\": \"x.example\"").unwrap();
    let out = c(&["domain", "import", file.to_str().unwrap()]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("not JSON"), "{}", out.stderr);
}

#[test]
fn cirrusctl_lists_and_follows_events() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (server, master) = start(&dir.path().join("data").display().to_string(), &[]);
    let master = master.unwrap();
    let c = |args: &[&str]| ctl(&server.url, &master, args);
    ok(c(&["domain", "put", "a.example", "--origin", "https://192.0.2.10"]));
    ok(c(&["domain", "delete", "a.example"]));
    let listed: serde_json::Value = serde_json::from_str(&ok(c(&["events", "-o", "json"]))).unwrap();
    let items = listed["items"].as_array().unwrap();
    let types: Vec<&str> = items.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["domain.created", "domain.deleted"]);
    assert_eq!(items[0]["actor"], "master");
    let table = ok(c(&["events", "--type", "domain.deleted"]));
    assert!(
        table.contains("domain.deleted") && !table.contains("domain.created"),
        "{table}"
    );
    let bad = c(&["events", "--type", "domain.exploded"]);
    assert_eq!(bad.code, 2, "an unknown type is a usage error: {}", bad.stderr);
    let bad = c(&["events", "--after", "yesterday"]);
    assert_eq!(bad.code, 5, "{}", bad.stderr);
    assert!(bad.stderr.contains("--after"), "{}", bad.stderr);

    // --follow prints what is written from now on, one JSON object a line.
    let last = items[1]["id"].as_str().unwrap().to_string();
    let mut follow = Command::new(env!("CARGO_BIN_EXE_cirrusctl"))
        .args(["events", "--follow", "-o", "json"])
        .env("CIRRUS_URL", &server.url)
        .env("CIRRUS_TOKEN", &master)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Changes until one shows: the follower may still be finding the end.
    // Each is a real change (a put that changes nothing writes no event).
    let mut ttl = 60;
    let first = cirrus_test_support::until(
        "cirrusctl events --follow prints a change",
        Duration::from_secs(20),
        || {
            ttl += 1;
            ok(c(&[
                "domain",
                "put",
                "b.example",
                "--origin",
                "https://192.0.2.10",
                "--default-ttl",
                &format!("{ttl}s"),
                "--replace",
            ]));
            lines.recv_timeout(Duration::from_millis(500)).ok()
        },
    );
    let _ = follow.kill();
    let _ = follow.wait();
    let event: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(event["subject"], "b.example", "{first}");
    let id: cirrus_core::model::EventId = event["id"].as_str().unwrap().parse().unwrap();
    assert!(id > last.parse().unwrap(), "only events after the follower started");
}

#[test]
fn edge_role_serves_caches_logs_and_exports_metrics() {
    let redis = RedisServer::start();
    let origin = tiny_origin();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).unwrap();
    rt.block_on(async {
        let store = cirrus_core::RedisStore::connect(&redis.url()).unwrap();
        let mut conf = cirrus_core::DomainConf::new("a.test", format!("http://{origin}").parse().unwrap());
        conf.tls.mode = cirrus_core::model::TlsMode::Manual;
        cirrus_core::DomainStore::put_domain(&store, &conf).await.unwrap();
        let bundle = cirrus_core::model::CertBundle::new(cert.cert.pem(), cert.signing_key.serialize_pem(), None);
        cirrus_core::CertStore::put_cert(&store, "a.test", &bundle)
            .await
            .unwrap();
    });
    let redis_url = redis.url();
    let (child, stderr, lines) = spawn(&[
        "edge",
        "--listen",
        "127.0.0.1:0",
        "--tls-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--store",
        &redis_url,
    ]);
    let edge = logged(&stderr, "listening on http://");
    let tls: std::net::SocketAddr = logged(&stderr, "listening on https://").parse().unwrap();
    let admin = logged(&stderr, "metrics on http://");
    let _guard = Server {
        child,
        url: String::new(),
    };

    let first = crate::harness::until("the domain served", Duration::from_secs(10), || {
        Some(get(&edge, "/hello?utm=1")).filter(|a| a.starts_with("HTTP/1.1 200"))
    });
    assert!(first.starts_with("HTTP/1.1 200") && first.ends_with("hello"), "{first}");
    let second = get(&edge, "/hello?utm=1");
    assert!(second.to_ascii_lowercase().contains("x-cache: hit"), "{second}");

    // Requests made before the domain was loaded (404) are logged too.
    let hit: serde_json::Value = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(5))
            .expect("a HIT line in the access log");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if entry["cache"] == "HIT" {
            break entry;
        }
    };
    assert_eq!(
        (hit["host"].as_str(), hit["status"].as_u64()),
        (Some("a.test"), Some(200))
    );
    assert_eq!(hit["path"], "/hello", "no query string in the log");
    assert!(hit["request_id"].as_str().is_some_and(|id| id.len() == 32));

    // HTTPS with the domain's certificate from the store, over HTTP/2 or HTTP/1.1.
    let https = rt.block_on(async {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap()])
            .resolve("a.test", tls)
            .build()
            .unwrap();
        let res = client
            .get(format!("https://a.test:{}/hello?utm=1", tls.port()))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    });
    assert_eq!(https, (200, "hello".to_string()));

    let metrics = raw_get(&admin, "/metrics", "x");
    assert!(
        metrics.contains(r#"nginx_cache_status_total{status="HIT"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("cirrus_config_revision 2"),
        "domain and certificate: {metrics}"
    );
    assert!(
        metrics.contains(r#"cirrus_tls_handshakes_total{resumed="false"} 1"#),
        "{metrics}"
    );
}

#[test]
fn cirrusctl_refuses_an_api_url_that_is_not_absolute() {
    for bad in ["/x", "127.0.0.1:8000"] {
        let out = ctl(bad, "t", &["purge", "example.com", "--all"]);
        assert_eq!(out.code, 2, "a usage error: {}", out.stderr);
        assert!(out.stderr.contains("absolute http(s) URL"), "{}", out.stderr);
        assert!(
            out.stderr.contains("--url http://127.0.0.1:8000"),
            "with a hint: {}",
            out.stderr
        );
    }
}

/// True when some word of `text` is a UTC RFC 3339 time
/// (`2026-12-06T01:02:03Z`, milliseconds optional).
fn has_rfc3339(text: &str) -> bool {
    text.split_whitespace().any(|w| {
        let b = w.as_bytes();
        let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        b.len() >= 20
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && w.ends_with('Z')
    })
}
