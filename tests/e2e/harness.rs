//! Running the built binaries as processes: their output line by line,
//! `cirrusctl` calls, a tiny origin, raw HTTP.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// Starts `cirrus` with `args`; returns the process and its stderr and
/// stdout, line by line.
pub fn spawn(args: &[&str]) -> (Child, Receiver<String>, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(args)
        .env_remove("CIRRUS_MASTER_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines_of(child.stderr.take().unwrap());
    let stdout = lines_of(child.stdout.take().unwrap());
    (child, stderr, stdout)
}

/// Waits for the log line carrying `marker` and returns what follows it.
pub fn logged(stderr: &Receiver<String>, marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let line = stderr
            .recv_timeout(wait)
            .unwrap_or_else(|_| panic!("no log line with {marker:?} in 20 s; the process said {seen:#?}"));
        if let Some(rest) = line.split(marker).nth(1) {
            return rest.trim().to_string();
        }
        seen.push(line);
    }
}

/// Waits for the JSON log line (`--log-format json`) for which `found`
/// gives a value, and returns it.
pub fn json_logged<T>(stderr: &Receiver<String>, found: impl Fn(&serde_json::Value) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let line = stderr.recv_timeout(wait).expect("the awaited JSON log line");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if let Some(value) = found(&json) {
            return value;
        }
    }
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn ctl(server_url: &str, token: &str, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_cirrusctl"))
        .args(args)
        .env("CIRRUS_URL", server_url)
        .env("CIRRUS_TOKEN", token)
        .env_remove("CIRRUS_OUTPUT")
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn ok(out: Out) -> String {
    assert_eq!(out.code, 0, "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    out.stdout
}

/// A blocking origin answering every request with a cacheable "hello".
pub fn tiny_origin() -> std::net::SocketAddr {
    origin(None)
}

/// The heads of the requests an origin got.
pub type Heads = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// [`tiny_origin`], keeping the head of each request it gets.
pub fn recording_origin() -> (std::net::SocketAddr, Heads) {
    let heads = Heads::default();
    (origin(Some(heads.clone())), heads)
}

fn origin(kept: Option<Heads>) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = seen.drain(..end + 4).collect();
                        if let Some(kept) = &kept {
                            kept.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                        }
                        let reply = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 5\r\n\r\nhello";
                        if s.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// One GET with `Host: a.test`; returns the raw answer.
pub fn get(edge: &str, path: &str) -> String {
    raw_get(edge, path, "a.test")
}

/// One HTTP/1.1 GET on a fresh connection; returns the raw answer.
pub fn raw_get(addr: &str, path: &str, host: &str) -> String {
    try_get(addr, path, host).unwrap_or_else(|| panic!("GET {path} from {addr} failed"))
}

/// A `cirrus` process started in a directory of its own, killed on drop.
pub struct Running {
    pub child: Child,
    pub stderr: Receiver<String>,
    pub stdout: Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// `cirrus args…` with `dir` as its working directory and none of the
    /// caller's Cirrus settings in its environment; add more before
    /// [`Running::start`].
    pub fn command(dir: &std::path::Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cirrus"));
        cmd.args(args).current_dir(dir);
        for var in [
            "CIRRUS_MASTER_TOKEN",
            "CIRRUS_STORE",
            "CIRRUS_CONFIG",
            "CNAME_BASE_DOMAIN",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_TRACES_SAMPLER",
            "OTEL_TRACES_SAMPLER_ARG",
            "OTEL_SERVICE_NAME",
            "OTEL_SDK_DISABLED",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Starts `cmd` with its stdout and stderr read line by line.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = lines_of(child.stderr.take().unwrap());
        let stdout = lines_of(child.stdout.take().unwrap());
        Self { child, stderr, stdout }
    }

    /// `cirrus args…` in `dir`, started.
    pub fn cirrus(dir: &std::path::Path, args: &[&str]) -> Self {
        Self::start(Self::command(dir, args))
    }

    /// `cirrus api` in `dir` on a free port of 127.0.0.1, on `store`, with
    /// `flags`; started, with its URL once it listens.
    pub fn api(dir: &std::path::Path, store: &str, flags: &[&str]) -> (Self, String) {
        let mut args = vec!["api", "--listen", "127.0.0.1:0", "--store", store];
        args.extend_from_slice(flags);
        let api = Self::cirrus(dir, &args);
        let url = format!("http://{}", logged(&api.stderr, "listening on http://"));
        (api, url)
    }

    /// The stdout lines up to and including the first holding `marker`.
    pub fn stdout_until(&self, marker: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(wait) {
                Ok(line) => {
                    let done = line.contains(marker);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(_) => {
                    let errors: Vec<String> = self.stderr.try_iter().collect();
                    panic!("no stdout line with {marker:?}; stdout: {seen:#?}\nstderr: {errors:#?}");
                }
            }
        }
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code.
    pub fn terminate(&mut self, within: Duration) -> i32 {
        let pid = self.child.id().to_string();
        // The shell's builtin: no procps needed.
        let sent = Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let status = until("the process to exit after SIGTERM", within, || {
            self.child.try_wait().unwrap()
        });
        status.code().unwrap_or(-1)
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of a child's output stream, as they come.
pub fn lines_of(out: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The text after `label` on the first of `lines` that has it, up to the
/// next space.
pub fn field<'a>(lines: &'a [String], label: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.split(label).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} in {lines:#?}"))
}

pub use cirrus_test_support::until;

/// One raw GET that may fail (the server may not be up yet).
pub fn try_get(addr: &str, path: &str, host: &str) -> Option<String> {
    try_get_with(addr, path, host, "")
}

/// [`try_get`] with `extra` header lines (each ending in CRLF).
pub fn try_get_with(addr: &str, path: &str, host: &str, extra: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The root of the chains `pebble` issues (from its management interface).
pub fn pebble_root(rt: &tokio::runtime::Runtime, pebble: &cirrus_test_support::Pebble) -> reqwest::Certificate {
    let pebble_https = reqwest::Certificate::from_pem(&std::fs::read(&pebble.tls_cert).unwrap()).unwrap();
    let management = reqwest::Client::builder()
        .tls_certs_only([pebble_https])
        .build()
        .unwrap();
    let root = rt.block_on(async {
        let url = format!("{}/roots/0", pebble.management);
        management.get(url).send().await.unwrap().text().await.unwrap()
    });
    reqwest::Certificate::from_pem(root.as_bytes()).unwrap()
}

/// The body of `https://domain/` fetched from `at`, trusting only `root`
/// (None until it verifies and answers).
pub fn https_body(
    rt: &tokio::runtime::Runtime,
    root: &reqwest::Certificate,
    domain: &str,
    at: SocketAddr,
) -> Option<String> {
    let client = reqwest::Client::builder()
        .tls_certs_only([root.clone()])
        .resolve(domain, at)
        .build()
        .unwrap();
    let url = format!("https://{domain}:{}/", at.port());
    rt.block_on(async { client.get(&url).send().await.ok()?.text().await.ok() })
}

/// A configuration file for `cirrus up` with every listener on a free
/// port of 127.0.0.1 and no node health checker: `top` (top-level keys)
/// first, `worker` (keys of the `[worker]` table) last.
pub fn up_on_free_ports(top: &str, worker: &str) -> String {
    format!(
        r#"{top}
[api]
listen = "127.0.0.1:0"
[edge]
listen = "127.0.0.1:0"
tls_listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
[dns]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
no_health_check = true
[worker]
metrics_listen = "127.0.0.1:0"
{worker}
"#
    )
}

/// Kills a helper process (an origin, a tool's server) when the test
/// ends, however it ends.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
