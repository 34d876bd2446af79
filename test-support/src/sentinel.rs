//! [`SentinelCluster`]: a Redis master, two replicas and three sentinels on
//! loopback (Debian's `redis-server`, the sentinels with `--sentinel`),
//! ready once every sentinel knows the replica and the other sentinels, so
//! a failover can happen. Asked with `redis-cli`.

use crate::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The master's name the sentinels monitor.
pub const MASTER_NAME: &str = "mymaster";

#[derive(Debug)]
struct Node {
    port: u16,
    child: Option<Child>,
}

impl Node {
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A master, two replicas and three sentinels, stopped on drop.
#[derive(Debug)]
pub struct SentinelCluster {
    dir: TempDir,
    redis: Vec<Node>,
    sentinels: Vec<Node>,
}

impl Drop for SentinelCluster {
    fn drop(&mut self) {
        for n in self.redis.iter_mut().chain(self.sentinels.iter_mut()) {
            n.kill();
        }
    }
}

/// `redis-cli -p port args…`, its output trimmed (empty when it fails).
pub fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn wait(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl SentinelCluster {
    /// Starts the six processes and waits (at most 30 s) until a failover
    /// could happen. Sentinels call a master down after 1 s of silence.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("cirrus-sentinel-").tempdir().unwrap();
        let mut cluster = Self {
            dir,
            redis: Vec::new(),
            sentinels: Vec::new(),
        };
        let master = free_port();
        cluster.redis.push(cluster.server(master, None));
        // Two replicas: after a failover the new master still has one.
        cluster.redis.push(cluster.server(free_port(), Some(master)));
        cluster.redis.push(cluster.server(free_port(), Some(master)));
        for _ in 0..3 {
            let port = free_port();
            let conf = cluster.dir.path().join(format!("sentinel-{port}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nsentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\nsentinel failover-timeout {MASTER_NAME} 5000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                dir = cluster.dir.path().display()
            );
            std::fs::write(&conf, text).unwrap();
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server runs as a sentinel");
            cluster.sentinels.push(Node {
                port,
                child: Some(child),
            });
        }
        let replicas: Vec<u16> = cluster.redis[1..].iter().map(|n| n.port).collect();
        for r in &replicas {
            wait("the replicas in sync", Duration::from_secs(30), || {
                cli(*r, &["INFO", "replication"]).contains("master_link_status:up")
            });
        }
        for s in cluster.sentinels.iter().map(|s| s.port) {
            wait(
                "every sentinel knowing the replicas and the others",
                Duration::from_secs(30),
                || {
                    let known = cli(s, &["SENTINEL", "REPLICAS", MASTER_NAME]);
                    let others = cli(s, &["SENTINEL", "SENTINELS", MASTER_NAME]);
                    replicas.iter().all(|r| known.contains(&r.to_string())) && others.matches("127.0.0.1").count() >= 2
                },
            );
        }
        cluster
    }

    fn server(&self, port: u16, replica_of: Option<u16>) -> Node {
        let data = self.dir.path().join(format!("redis-{port}"));
        std::fs::create_dir_all(&data).unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&data);
        if let Some(m) = replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &m.to_string()]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        wait("redis-server answering", Duration::from_secs(10), || {
            cli(port, &["PING"]) == "PONG"
        });
        Node {
            port,
            child: Some(child),
        }
    }

    /// `redis+sentinel://127.0.0.1:a,127.0.0.1:b,127.0.0.1:c/mymaster`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
        format!("redis+sentinel://{}/{MASTER_NAME}", hosts.join(","))
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// The master's port, as the first sentinel that answers says.
    pub fn master_port(&self) -> u16 {
        for s in &self.sentinels {
            let out = cli(s.port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME]);
            if let Some(port) = out.lines().nth(1).and_then(|p| p.trim().parse().ok()) {
                return port;
            }
        }
        panic!("no sentinel names the master");
    }

    fn node(&mut self, port: u16) -> &mut Node {
        self.redis
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a server of this cluster")
    }

    /// Kills the current master; returns its port.
    pub fn kill_master(&mut self) -> u16 {
        let port = self.master_port();
        self.node(port).kill();
        port
    }

    /// Freezes the current master (SIGSTOP); returns its port.
    pub fn pause_master(&mut self) -> u16 {
        let port = self.master_port();
        let pid = self.node(port).child.as_ref().map(Child::id).expect("running");
        let _ = Command::new("kill").args(["-STOP", &pid.to_string()]).status();
        port
    }

    /// Thaws a paused server.
    pub fn resume(&mut self, port: u16) {
        let pid = self.node(port).child.as_ref().map(Child::id).expect("running");
        let _ = Command::new("kill").args(["-CONT", &pid.to_string()]).status();
    }

    /// Waits (at most `within`) until the sentinels name a master other
    /// than `old`; returns it.
    pub fn wait_failover(&self, old: u16, within: Duration) -> u16 {
        let mut new = old;
        wait("the failover", within, || {
            new = self.master_port();
            new != old && cli(new, &["ROLE"]).starts_with("master")
        });
        new
    }
}
