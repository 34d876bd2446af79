//! A real Knot DNS (Debian's `knot`) as secondary of a hidden master,
//! with a TSIG key for its transfers and the master's NOTIFYs.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// A `knotd` process on a free loopback port, secondary of one zone;
/// killed on drop.
#[derive(Debug)]
pub struct Knot {
    child: Child,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Knot {
    /// A Knot on a free port, secondary of `master` (on 127.0.0.1) for
    /// `zone`: transfers (IXFR first, as Knot does) signed with `key`
    /// (`NAME:ALGORITHM:BASE64SECRET`), NOTIFYs taken only when signed
    /// with it; the zone's changes kept in its journal.
    pub fn start(zone: &str, master: SocketAddr, key: &str) -> Self {
        let (name, algorithm, secret) = crate::split_key(key);
        let dir = tempfile::tempdir().unwrap();
        let port = crate::free_port();
        let d = dir.path().display();
        let conf = format!(
            r#"server:
    listen: 127.0.0.1@{port}
    rundir: "{d}"
    pidfile: "{d}/knot.pid"
database:
    storage: "{d}"
control:
    listen: "{d}/knot.sock"
log:
  - target: "{d}/knot.log"
    any: info
key:
  - id: {name}
    algorithm: {algorithm}
    secret: {secret}
remote:
  - id: master
    address: 127.0.0.1@{mport}
    key: {name}
acl:
  - id: notify-from-master
    address: 127.0.0.1
    key: {name}
    action: notify
template:
  - id: default
    storage: "{d}"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
zone:
  - domain: {zone}
    master: master
    acl: notify-from-master
"#,
            mport = master.port()
        );
        let path = dir.path().join("knot.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(knotd_binary())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("knotd runs (scripts/test installs Debian's knot)");
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        }
    }

    /// Knot's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
    }
}

fn knotd_binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/knotd").exists() {
        "/usr/sbin/knotd"
    } else {
        "knotd"
    }
}
