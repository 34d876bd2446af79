//! Test fixtures shared by every Cirrus crate (not published).
//!
//! - [`RedisServer`]: a private `redis-server` on a free loopback port with
//!   its own data directory, stopped on drop. The machine's Redis on 6379 is
//!   never touched.
//! - [`eventually`]: a bounded retrying wait, instead of bare sleeps;
//!   [`metric_value`]: one sample of a Prometheus exposition.
//! - [`FakeResolver`]: a customer's DNS as a resolver sees it (CNAMEs).
//! - [`Nsd`]: a real NSD as secondary of a zone; [`a_records`] to ask it.
//! - [`Relay`]: a TCP relay to cut one client off from a server and back.
//! - [`Pebble`]: a real ACME CA; [`OwnerResolver`]: a domain owner's resolver
//!   following `_acme-challenge` CNAMEs into the CDN's zone; [`AcmeDnsServer`]:
//!   an acme-dns-compatible server (its HTTP API and its DNS).
//! - [`SentinelCluster`]: a Redis master, two replicas and three sentinels,
//!   ready to fail over.
//! - [`WebhookReceiver`]: a webhook endpoint that verifies every signature
//!   and answers as told (2xx, errors, redirects, huge bodies, hangs, down).
//!
//! Panics here are deliberate: they fail the test with a clear message.
#![allow(clippy::unwrap_used)]

mod acme_dns;
pub mod fuzz;
mod knot;
mod nsd;
mod otlp;
mod pebble;
mod probe;
mod relay;
mod resolver;
mod sentinel;
mod small_disk;
mod wait;
mod webhook;

pub use acme_dns::AcmeDnsServer;
pub use knot::Knot;
pub use nsd::{Nsd, a_records, dns_summary};
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use pebble::{OwnerResolver, Pebble, txt_at};
pub use probe::{Readiness, get_raw, readiness};
pub use relay::Relay;
pub use resolver::FakeResolver;
pub use sentinel::{MASTER_NAME, SentinelCluster, cli as redis_cli};
pub use small_disk::SmallDisk;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
pub use wait::{Ready, eventually, stays, until, within};
pub use webhook::{Answer, Received, WebhookReceiver};

/// A `redis-server` child process owned by one test.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    aof: bool,
    /// TLS port, when started with [`RedisServer::start_tls`].
    tls_port: Option<u16>,
}

impl RedisServer {
    /// Starts a server that keeps nothing on disk.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// Starts a server with the append-only file on (`appendfsync always`),
    /// so its data survives [`RedisServer::restart`].
    pub fn start_with_aof() -> Self {
        Self::launch(true)
    }

    /// Starts a server that also listens with TLS (certificate and key as
    /// PEM, the certificate naming 127.0.0.1) and knows the ACL user
    /// `cirrus` with password `secret`; see [`RedisServer::tls_url`].
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        let mut last_err = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new().prefix("cirrus-redis-").tempdir().unwrap();
            std::fs::write(dir.path().join("tls.crt"), cert_pem).unwrap();
            std::fs::write(dir.path().join("tls.key"), key_pem).unwrap();
            let mut server = Self {
                child: None,
                port: free_port(),
                dir,
                aof: false,
                tls_port: Some(free_port()),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_err = e,
            }
        }
        panic!("could not start redis-server with TLS: {last_err}");
    }

    /// `rediss://user:password@127.0.0.1:{tls port}` (TLS servers only).
    pub fn tls_url(&self, user: &str, password: &str) -> String {
        let port = self.tls_port.expect("started with start_tls");
        format!("rediss://{user}:{password}@127.0.0.1:{port}")
    }

    fn launch(aof: bool) -> Self {
        let mut last_err = String::new();
        // Another process may grab the free port before redis binds it: retry.
        for _ in 0..5 {
            let dir = tempfile::Builder::new().prefix("cirrus-redis-").tempdir().unwrap();
            let mut server = Self {
                child: None,
                port: free_port(),
                dir,
                aof,
                tls_port: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_err = e,
            }
        }
        panic!("could not start redis-server: {last_err}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"))
            .arg("--daemonize")
            .arg("no");
        if let Some(tls) = self.tls_port {
            let (crt, key) = (self.dir.path().join("tls.crt"), self.dir.path().join("tls.key"));
            cmd.arg("--tls-port").arg(tls.to_string());
            cmd.arg("--tls-cert-file").arg(&crt).arg("--tls-key-file").arg(&key);
            cmd.arg("--tls-ca-cert-file")
                .arg(&crt)
                .args(["--tls-auth-clients", "no"]);
            cmd.args(["--user", "cirrus", "on", ">secret", "~*", "&*", "+@all"]);
        }
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                panic!(
                    "redis-server is not installed: install Debian's package `redis-server` \
                     (apt-get install redis-server), or run ./scripts/test, which installs it"
                );
            }
            format!("spawning redis-server: {e}")
        })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                let log = std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
                return Err(format!("redis-server exited with {status}: {log}"));
            }
            if ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
        Err("redis-server did not answer PING within 10 s".into())
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (clients see their connections drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing is
    /// answered, as with a Redis stuck on a slow disk or a long command.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a [`RedisServer::pause`]d server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            // The shell's builtin kill: no procps needed.
            let sent = Command::new("sh")
                .args(["-c", &format!("kill -{name} {}", child.id())])
                .status()
                .expect("sh");
            assert!(sent.success(), "kill -{name}");
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("redis-server did not restart: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A stopped process would not die of SIGKILL until continued.
        self.resume();
        self.stop();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    // Outside Linux's ephemeral range (32768-60999), which bind(0) and
    // outgoing connections draw from: a port handed back here is not given
    // to another test's listener or connection the moment it is released,
    // as one from bind(0) can be. Random, so parallel callers rarely meet,
    // and checked free (TCP and UDP) before it is returned.
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..200 {
        let port = rng.gen_range(20_000..30_000);
        let tcp = TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// The value of `sample` (a metric name with its labels as exposed, e.g.
/// `cirrus_ready` or `a_total{phase="x"}`) in a Prometheus text exposition.
pub fn metric_value(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The parts of a TSIG key spec `NAME:ALGORITHM:BASE64SECRET`.
fn split_key(spec: &str) -> (&str, &str, &str) {
    let mut parts = spec.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(a), Some(s)) => (n, a, s),
        _ => panic!("a TSIG key spec NAME:ALGORITHM:BASE64SECRET"),
    }
}
