//! A stand-in for the customer's DNS as a recursive resolver would see it:
//! answers CNAME queries over UDP from a table a test edits while it runs.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A UDP DNS server on 127.0.0.1 answering `name CNAME target` for the
/// names set with [`FakeResolver::cname`], NXDOMAIN for the others.
/// Stops when dropped.
#[derive(Debug)]
pub struct FakeResolver {
    addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeResolver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl FakeResolver {
    /// Binds a free port and answers from an empty table.
    pub async fn start() -> Self {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind a UDP port");
        let addr = sock.local_addr().expect("local address");
        let records: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let table = records.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(q) = query.queries.first().cloned() else {
                    continue;
                };
                let mut answer = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
                answer.metadata.recursion_desired = query.metadata.recursion_desired;
                answer.metadata.recursion_available = true;
                answer.add_query(q.clone());
                let target = table
                    .lock()
                    .map(|t| t.get(&key(&q.name().to_ascii())).cloned())
                    .ok()
                    .flatten();
                match target.and_then(|t| Name::from_ascii(format!("{t}.")).ok()) {
                    Some(t) => {
                        answer.add_answer(Record::from_rdata(q.name().clone(), 60, RData::CNAME(CNAME(t))));
                    }
                    None => answer.metadata.response_code = ResponseCode::NXDomain,
                }
                if let Ok(bytes) = answer.to_vec() {
                    let _ = sock.send_to(&bytes, peer).await;
                }
            }
        });
        Self { addr, records, task }
    }

    /// The address to give as the resolver.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on `name` answers `CNAME target`.
    pub fn cname(&self, name: &str, target: &str) {
        if let Ok(mut t) = self.records.lock() {
            t.insert(key(name), key(target));
        }
    }

    /// From now on `name` has no CNAME again (NXDOMAIN).
    pub fn remove(&self, name: &str) {
        if let Ok(mut t) = self.records.lock() {
            t.remove(&key(name));
        }
    }
}
