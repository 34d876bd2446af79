//! Asking a resolver whether a customer's CNAME is in place: one CNAME
//! query over UDP (TCP when the answer is truncated), bounded in time
//! ([`query`], which the DNS role also uses to ask its secondaries).
//! The API shows the result to the domain's owner; the ACME worker places
//! no order for a domain whose challenge delegation is not in place.

use crate::model::{Delegation, DelegationCheck};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one check may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Checks `delegation` through `resolver`.
pub async fn check(resolver: SocketAddr, delegation: &Delegation) -> DelegationCheck {
    let mut check = DelegationCheck {
        name: delegation.name.clone(),
        target: delegation.target.clone(),
        found: Vec::new(),
        ok: false,
        error: None,
    };
    match cname(resolver, &delegation.name).await {
        Err(e) => check.error = Some(e),
        Ok(found) => {
            check.ok = found.iter().any(|f| f.eq_ignore_ascii_case(&delegation.target));
            if found.is_empty() {
                check.error = Some(format!("{} {NO_CNAME}", delegation.name));
            }
            check.found = found;
        }
    }
    check
}

const NO_CNAME: &str = "has no CNAME record";
const NXDOMAIN: &str = "does not exist (NXDOMAIN)";

/// True when `check` is an answer about the name (a CNAME, another one,
/// none, or NXDOMAIN), false when the resolver could not tell (no answer
/// in time, SERVFAIL, unreachable): a reason to keep what was known.
pub fn is_conclusive(check: &DelegationCheck) -> bool {
    check.ok
        || check
            .error
            .as_deref()
            .is_none_or(|e| e.ends_with(NO_CNAME) || e.ends_with(NXDOMAIN))
}

/// Asks `server` (a resolver, or an authoritative server) one question,
/// `name` `rtype` (recursion desired when `recursive`), over UDP, again
/// over TCP when the answer is truncated, within 2 s: the answer whatever
/// its response code, or why there is none.
pub async fn query(server: SocketAddr, name: &Name, rtype: RecordType, recursive: bool) -> Result<Message, String> {
    let exchange = async {
        let id: u16 = rand_id();
        let mut query = Message::new(id, MessageType::Query, OpCode::Query);
        query.metadata.recursion_desired = recursive;
        query.add_query(Query::query(name.clone(), rtype));
        let bytes = query.to_vec().map_err(|e| e.to_string())?;
        let answer = udp(server, &bytes, id).await?;
        if answer.metadata.truncation {
            return tcp(server, &bytes).await;
        }
        Ok(answer)
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer from {server} in {TIMEOUT:?}"))?
}

/// The CNAME targets of `name` (without trailing dots), or why there are
/// none.
async fn cname(resolver: SocketAddr, name: &str) -> Result<Vec<String>, String> {
    let qname = Name::from_ascii(format!("{name}.")).map_err(|e| format!("{name}: {e}"))?;
    let answer = query(resolver, &qname, RecordType::CNAME, true).await?;
    match answer.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Err(format!("{name} {NXDOMAIN}")),
        other => return Err(format!("the resolver {resolver} answered {other}")),
    }
    Ok(answer
        .answers
        .iter()
        .filter(|r| r.name == qname)
        .filter_map(|r| match &r.data {
            RData::CNAME(target) => Some(target.0.to_ascii().trim_end_matches('.').to_string()),
            _ => None,
        })
        .collect())
}

async fn udp(resolver: SocketAddr, bytes: &[u8], id: u16) -> Result<Message, String> {
    let local: SocketAddr = if resolver.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
    sock.connect(resolver)
        .await
        .map_err(|e| format!("resolver {resolver}: {e}"))?;
    sock.send(bytes)
        .await
        .map_err(|e| format!("resolver {resolver}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|e| format!("resolver {resolver}: {e}"))?;
        // Anything that is not the answer to this query is ignored.
        if let Ok(m) = Message::from_vec(&buf[..n])
            && m.metadata.id == id
            && m.metadata.message_type == MessageType::Response
        {
            return Ok(m);
        }
    }
}

async fn tcp(resolver: SocketAddr, bytes: &[u8]) -> Result<Message, String> {
    let fail = |e: std::io::Error| format!("resolver {resolver} over TCP: {e}");
    let mut s = tokio::net::TcpStream::connect(resolver).await.map_err(fail)?;
    let len = u16::try_from(bytes.len()).map_err(|_| "query too long".to_string())?;
    s.write_all(&len.to_be_bytes()).await.map_err(fail)?;
    s.write_all(bytes).await.map_err(fail)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.map_err(fail)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).await.map_err(fail)?;
    Message::from_vec(&buf).map_err(|e| format!("resolver {resolver}: {e}"))
}

fn rand_id() -> u16 {
    let bytes = crate::auth::random_hex(2);
    u16::from_str_radix(&bytes, 16).unwrap_or(0x4242)
}

/// The first `nameserver` of `/etc/resolv.conf`, else 127.0.0.53:53.
pub fn system_resolver() -> SocketAddr {
    std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .and_then(|text| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("nameserver"))
                .find_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        })
        .map_or_else(|| ([127, 0, 0, 53], 53).into(), |ip| (ip, 53).into())
}
