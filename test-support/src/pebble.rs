//! A real Pebble (Debian's `pebble`) on free ports, and a stand-in for a
//! domain owner's resolver that follows `_acme-challenge.<domain>` into the
//! CDN's zone, as the owner's CNAME makes any resolver do.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A Pebble process, stopped on drop.
#[derive(Debug)]
pub struct Pebble {
    child: Child,
    /// The ACME directory URL.
    pub directory: String,
    /// The management interface (`/roots/0` is the root of issued chains).
    pub management: String,
    /// The certificate of Pebble's own HTTPS (its own root), as a PEM file.
    pub tls_cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pebble {
    /// Pebble on free loopback ports, validating DNS-01 through `dns`,
    /// without its random validation delay.
    pub fn start(dns: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
        let (acme, mgmt) = (crate::free_port(), crate::free_port());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": cert_path, "privateKey": key_path,
            "httpPort": crate::free_port(), "tlsPort": crate::free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let bin = if std::path::Path::new("/usr/bin/pebble").exists() {
            "/usr/bin/pebble"
        } else {
            "pebble"
        };
        let child = Command::new(bin)
            .arg("-config")
            .arg(&config_path)
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble runs (scripts/test installs Debian's pebble)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", acme)).is_err() {
            assert!(Instant::now() < deadline, "pebble did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            directory: format!("https://127.0.0.1:{acme}/dir"),
            management: format!("https://127.0.0.1:{mgmt}"),
            tls_cert: cert_path,
            _dir: dir,
        }
    }
}

/// The owner's resolver: `_acme-challenge.<domain>` TXT is answered with
/// what the CDN's DNS serves at `_acme-challenge.<target>` (the target
/// named by `target_of`), and its CNAME with that target, as the owner's
/// one CNAME makes a resolver do (an empty target: no delegation); every
/// other question gets an empty NOERROR (CAA included: no restriction). The CDN's DNS can be named after start.
#[derive(Debug, Clone)]
pub struct OwnerResolver {
    /// Where the resolver listens (UDP).
    pub addr: SocketAddr,
    upstream: Arc<Mutex<Option<SocketAddr>>>,
}

impl OwnerResolver {
    /// Starts it; `target_of(domain)` is the challenge target to follow.
    pub async fn start(target_of: impl Fn(&str) -> String + Send + 'static) -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let upstream: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let cdn = upstream.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else { continue };
                let mut answer = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
                answer.metadata.recursion_available = true;
                answer.metadata.response_code = ResponseCode::NoError;
                let server = *cdn.lock().unwrap();
                for query in &q.queries {
                    answer.add_query(query.clone());
                    let name = query.name().to_ascii().to_ascii_lowercase();
                    let Some(domain) = name.trim_end_matches('.').strip_prefix("_acme-challenge.") else {
                        continue;
                    };
                    let target = target_of(domain);
                    if target.is_empty() {
                        continue;
                    }
                    if query.query_type() == RecordType::CNAME {
                        let target = Name::from_ascii(format!("{target}.")).unwrap();
                        answer.add_answer(Record::from_rdata(query.name().clone(), 1, RData::CNAME(CNAME(target))));
                        continue;
                    }
                    let (Some(server), RecordType::TXT) = (server, query.query_type()) else {
                        continue;
                    };
                    for value in txt_at(server, &target).await {
                        let rdata = RData::TXT(TXT::new(vec![value]));
                        answer.add_answer(Record::from_rdata(query.name().clone(), 1, rdata));
                    }
                }
                let _ = socket.send_to(&answer.to_vec().unwrap(), peer).await;
            }
        });
        Self { addr, upstream }
    }

    /// The CDN's DNS server to follow challenges into.
    pub fn follow(&self, cdn_dns: SocketAddr) {
        *self.upstream.lock().unwrap() = Some(cdn_dns);
    }
}

/// The TXT values `server` answers for `name`.
pub async fn txt_at(server: SocketAddr, name: &str) -> Vec<String> {
    let mut q = Message::new(7, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::TXT));
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await else {
        return Vec::new();
    };
    let Ok(m) = Message::from_vec(&buf[..n]) else {
        return Vec::new();
    };
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.txt_data.iter().map(|d| String::from_utf8_lossy(d)).collect()),
            _ => None,
        })
        .collect()
}
