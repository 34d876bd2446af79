//! A real NSD (Debian's `nsd`) as secondary of a hidden master, and a
//! one-shot A query to compare what servers answer.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An `nsd` process on a free loopback port, secondary of one zone;
/// killed on drop.
#[derive(Debug)]
pub struct Nsd {
    child: Child,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nsd {
    /// An NSD on a free port, secondary of `master` (on 127.0.0.1) for
    /// `zone` by AXFR, taking its NOTIFYs.
    pub fn start(zone: &str, master: SocketAddr) -> Self {
        Self::secondary(zone, master, None)
    }

    /// An NSD on a free port, secondary of `master` for `zone`: with
    /// `key` (`NAME:ALGORITHM:BASE64SECRET`) it asks IXFR first (AXFR when
    /// refused), signs its transfers with the key and takes only NOTIFYs
    /// signed with it; without, as [`Nsd::start`].
    pub fn secondary(zone: &str, master: SocketAddr, key: Option<&str>) -> Self {
        let (key_block, request, notify) = match key {
            Some(spec) => {
                let (name, algorithm, secret) = crate::split_key(spec);
                (
                    format!("key:\n    name: \"{name}\"\n    algorithm: {algorithm}\n    secret: \"{secret}\"\n"),
                    format!("127.0.0.1@{} {name}", master.port()),
                    format!("127.0.0.1 {name}"),
                )
            }
            None => (
                String::new(),
                format!("AXFR 127.0.0.1@{} NOKEY", master.port()),
                "127.0.0.1 NOKEY".to_string(),
            ),
        };
        let dir = tempfile::tempdir().unwrap();
        let port = crate::free_port();
        let d = dir.path().display();
        let conf = format!(
            r#"server:
    ip-address: 127.0.0.1
    port: {port}
    username: ""
    chroot: ""
    zonesdir: "{d}"
    zonelistfile: "{d}/zone.list"
    database: ""
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    server-count: 1
    verbosity: 2
    xfrd-reload-timeout: 0
remote-control:
    control-enable: no
{key_block}zone:
    name: "{zone}"
    zonefile: "{zone}.zone"
    request-xfr: {request}
    allow-notify: {notify}
"#
        );
        let path = dir.path().join("nsd.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(nsd_binary())
            .arg("-d")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd runs (scripts/test installs Debian's nsd)");
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        }
    }

    /// NSD's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default()
    }
}

fn nsd_binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/nsd").exists() {
        "/usr/sbin/nsd"
    } else {
        "nsd"
    }
}

/// The A records `addr` answers for `name`, sorted; `None` when it does
/// not answer in 300 ms or answers an error.
pub async fn a_records(addr: SocketAddr, name: &str) -> Option<Vec<Ipv4Addr>> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let mut q = Message::new(0x5151, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(Name::from_ascii(name).ok()?, RecordType::A));
    sock.send_to(&q.to_vec().ok()?, addr).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_millis(300), sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    let m = Message::from_vec(&buf[..n]).ok()?;
    if m.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    let mut ips: Vec<Ipv4Addr> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    ips.sort();
    Some(ips)
}

/// What a resolver reads of a DNS message, as text to compare two
/// servers' answers: the header, each section's records (lowercase,
/// sorted) and the EDNS payload, version and DO flag.
pub fn dns_summary(m: &Message) -> String {
    let section = |records: &[hickory_proto::rr::Record]| {
        let mut text: Vec<String> = records.iter().map(|r| r.to_string().to_lowercase()).collect();
        text.sort();
        text
    };
    let edns = m
        .edns
        .as_ref()
        .map(|e| (e.max_payload(), e.version(), e.flags().dnssec_ok));
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        m.metadata,
        m.queries
            .iter()
            .map(|q| q.to_string().to_lowercase())
            .collect::<Vec<_>>(),
        section(&m.answers),
        section(&m.authorities),
        section(&m.additionals),
        edns,
        m.signature.is_some()
    )
}
