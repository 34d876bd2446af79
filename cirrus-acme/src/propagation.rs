//! Waiting until a challenge's TXT value is visible at the authoritative
//! servers of its record name, asked directly over UDP (no resolver cache
//! in between), before the CA is told to look.

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Waits until every server in `servers` answers `value` among the TXT
/// records of `name`, polling every 100 ms for at most `within`.
pub(crate) async fn wait_visible(
    servers: &[SocketAddr],
    name: &str,
    value: &str,
    within: Duration,
) -> Result<(), String> {
    let name = Name::from_str(name).map_err(|e| format!("bad record name {name}: {e}"))?;
    let deadline = Instant::now() + within;
    for server in servers {
        loop {
            if txt(*server, &name).await.iter().any(|v| v == value) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the TXT value is not visible at {server} for {name} after {within:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// The TXT values `server` answers for `name` (none on any failure).
async fn txt(server: SocketAddr, name: &Name) -> Vec<String> {
    let mut query = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    query.add_query(Query::query(name.clone(), RecordType::TXT));
    let Ok(bytes) = query.to_vec() else {
        return Vec::new();
    };
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let Ok(socket) = tokio::net::UdpSocket::bind(bind).await else {
        return Vec::new();
    };
    if socket.send_to(&bytes, server).await.is_err() {
        return Vec::new();
    }
    let mut buf = vec![0u8; 4096];
    let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await else {
        return Vec::new();
    };
    let Ok(answer) = Message::from_vec(&buf[..n]) else {
        return Vec::new();
    };
    answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|d| String::from_utf8_lossy(d))
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect()
}

fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos & 0xffff) as u16
}
