//! What the benchmarks that run `cirrus` processes share: starting one,
//! reading its log lines, summarising latencies.
#![allow(dead_code)] // each bench uses its own part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A child process, killed on drop.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines `out` gives, as they come.
pub(crate) fn lines(out: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end even when nobody listens: a closed pipe would
        // fail the process's next log line.
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// `cirrus`, with `LD_PRELOAD` set to `SOAK_PRELOAD` when that is set (an
/// allocator to compare, such as Debian's libjemalloc).
pub(crate) fn cirrus_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cirrus"));
    if let Ok(preload) = std::env::var("SOAK_PRELOAD") {
        cmd.env("LD_PRELOAD", preload);
    }
    cmd
}

/// Starts `cirrus args…`; returns it, its stderr and stdout.
pub(crate) fn cirrus(args: &[&str]) -> (Proc, Receiver<String>, Receiver<String>) {
    let mut child = cirrus_command()
        .args(args)
        .env_remove("CIRRUS_MASTER_TOKEN")
        .env_remove("CIRRUS_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cirrus runs");
    let err = lines(child.stderr.take().unwrap());
    let out = lines(child.stdout.take().unwrap());
    (Proc(child), err, out)
}

/// What follows `marker` in the first log line holding it.
pub(crate) fn logged(lines: &Receiver<String>, marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no log line with {marker:?}"));
        if let Some(i) = line.find(marker) {
            return line[i + marker.len()..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
        }
    }
}

/// `cirrus api` on `store` with its rate limit off and `extra` flags:
/// the process, its URL and the master token it printed.
pub(crate) fn api(store: &str, extra: &[&str]) -> (Proc, String, String) {
    let mut args = vec!["api", "--listen", "127.0.0.1:0", "--store", store, "--rate-limit", "0"];
    args.extend_from_slice(extra);
    let (proc, err, out) = cirrus(&args);
    let url = format!("http://{}", logged(&err, "listening on http://"));
    let token = out
        .recv_timeout(Duration::from_secs(5))
        .ok()
        .and_then(|l| l.rsplit(' ').next().map(str::to_string))
        .expect("a master token");
    (proc, url, token)
}

/// Milliseconds of `d`.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints p50, p99 and max of `v` (ms) under `what`; returns the p99.
pub(crate) fn summary(what: &str, mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    let (p50, p99) = (at(0.50), at(0.99));
    println!(
        "{what:<40} n={:<4} p50 {p50:>7.2} ms   p99 {p99:>7.2} ms   max {:>7.2} ms",
        v.len(),
        v[v.len() - 1]
    );
    p99
}
