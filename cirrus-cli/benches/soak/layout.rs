//! The processes under soak: `cirrus up` on its embedded store (one box),
//! or the roles as separate processes on one private Redis (many boxes:
//! an API, two edges on 127.0.0.2 and .3 registered as nodes, the DNS
//! master with its health checker, a worker).

use crate::procs::{Proc, cirrus, logged};
use cirrus_test_support::{RedisServer, free_port};
use std::net::SocketAddr;
use std::time::Duration;

/// One edge's listeners.
pub(crate) struct EdgeAddrs {
    pub(crate) http: SocketAddr,
    pub(crate) https: SocketAddr,
    pub(crate) admin: SocketAddr,
}

/// What runs, and where to reach it.
pub(crate) struct Layout {
    /// Each process by name, for sampling.
    pub(crate) procs: Vec<(String, Proc)>,
    /// The Redis of the many-boxes layout, sampled too.
    pub(crate) redis: Option<RedisServer>,
    pub(crate) api: String,
    pub(crate) token: String,
    pub(crate) edges: Vec<EdgeAddrs>,
    pub(crate) dns: SocketAddr,
    pub(crate) zone: &'static str,
    _dir: tempfile::TempDir,
}

const ZONE: &str = "cdn.soak.test";

/// The one-box store, with caps an hour's load reaches within the warm-up
/// (a 2 MiB page cache, 300 purge records: five minutes of purges), so
/// that memory still growing after it is growth beyond every cap.
pub(crate) const ONE_BOX_STORE: &str = "embedded:cirrus-data?cache=2MiB&purge_records=300";

impl Layout {
    /// Starts `one-box` or `many-boxes`.
    pub(crate) fn start(name: &str) -> Self {
        match name {
            "one-box" => one_box(),
            "many-boxes" => many_boxes(),
            other => panic!("unknown layout {other:?}: one-box or many-boxes"),
        }
    }

    /// Pids to sample, by name.
    pub(crate) fn pids(&self) -> Vec<(String, u32)> {
        let mut pids: Vec<(String, u32)> = self.procs.iter().map(|(n, p)| (n.clone(), p.0.id())).collect();
        if let Some(pid) = self.redis.as_ref().and_then(RedisServer::pid) {
            pids.push(("redis".into(), pid));
        }
        pids
    }
}

fn one_box() -> Layout {
    let dir = tempfile::tempdir().unwrap();
    let (edge_admin, dns) = (free_port(), free_port());
    let (http, https) = (free_port(), free_port());
    let config = format!(
        r#"log = "warn"
zone = "{ZONE}"
store = "{ONE_BOX_STORE}"
[api]
listen = "127.0.0.1:0"
rate_limit = 0
[edge]
listen = "127.0.0.1:{http}"
tls_listen = "127.0.0.1:{https}"
metrics_listen = "127.0.0.1:{edge_admin}"
no_access_log = true
[dns]
listen = "127.0.0.1:{dns}"
metrics_listen = "127.0.0.1:0"
health_port = {edge_admin}
health_interval = 1
[worker]
metrics_listen = "127.0.0.1:0"
"#
    );
    std::fs::write(dir.path().join("cirrus.toml"), config).unwrap();
    let mut child = crate::procs::cirrus_command()
        .args(["--config", "cirrus.toml", "up"])
        .current_dir(dir.path())
        .env_remove("CIRRUS_MASTER_TOKEN")
        .env_remove("CIRRUS_STORE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cirrus up runs");
    let _err = crate::procs::lines(child.stderr.take().unwrap());
    let out = crate::procs::lines(child.stdout.take().unwrap());
    let (mut api, mut token) = (String::new(), String::new());
    while token.is_empty() || api.is_empty() {
        let line = out.recv_timeout(Duration::from_secs(60)).expect("cirrus up's banner");
        let after = |label: &str| {
            line.split(label)
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        };
        if let Some(t) = after("token      ") {
            token = t;
        }
        if let Some(u) = after("API        ") {
            api = u.trim_end_matches("/api/v1").to_string();
        }
    }
    Layout {
        procs: vec![("up".into(), crate::procs::Proc(child))],
        redis: None,
        api,
        token,
        edges: vec![EdgeAddrs {
            http: ([127, 0, 0, 1], http).into(),
            https: ([127, 0, 0, 1], https).into(),
            admin: ([127, 0, 0, 1], edge_admin).into(),
        }],
        dns: ([127, 0, 0, 1], dns).into(),
        zone: ZONE,
        _dir: dir,
    }
}

fn many_boxes() -> Layout {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start_with_aof();
    let store = redis.url();
    let (api_proc, api, token) = crate::procs::api(&store, &[]);
    let mut procs = vec![("api".to_string(), api_proc)];
    let (http, https, health) = (free_port(), free_port(), free_port());
    let mut edges = Vec::new();
    for n in 2..=3u8 {
        let at = |port: u16| SocketAddr::from(([127, 0, 0, n], port));
        let (proc, err, _) = cirrus(&[
            "edge",
            "--listen",
            &at(http).to_string(),
            "--tls-listen",
            &at(https).to_string(),
            "--metrics-listen",
            &at(health).to_string(),
            "--node-id",
            &format!("edge-{n}"),
            "--node-ipv4",
            &format!("127.0.0.{n}"),
            "--store",
            &store,
            "--no-access-log",
        ]);
        logged(&err, "registered as a node");
        procs.push((format!("edge-{n}"), proc));
        edges.push(EdgeAddrs {
            http: at(http),
            https: at(https),
            admin: at(health),
        });
    }
    let dns_port = free_port();
    let (dns_proc, err, _) = cirrus(&[
        "dns",
        "--listen",
        &format!("127.0.0.1:{dns_port}"),
        "--zone",
        ZONE,
        "--metrics-listen",
        "127.0.0.1:0",
        "--health-port",
        &health.to_string(),
        "--health-interval",
        "1",
        "--store",
        &store,
    ]);
    logged(&err, "listening on");
    procs.push(("dns".into(), dns_proc));
    let (worker, err, _) = cirrus(&[
        "worker",
        "--store",
        &store,
        "--zone",
        ZONE,
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    logged(&err, "running certificate jobs");
    procs.push(("worker".into(), worker));
    Layout {
        procs,
        redis: Some(redis),
        api,
        token,
        edges,
        dns: ([127, 0, 0, 1], dns_port).into(),
        zone: ZONE,
        _dir: dir,
    }
}
