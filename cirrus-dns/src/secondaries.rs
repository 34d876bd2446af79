//! What the secondaries serve: the zone's SOA serial asked of each
//! secondary the master notifies, every few seconds, as
//! `cirrus_dns_secondary_serial{secondary}` (0 while one does not answer),
//! so an alert can compare it with the master's `cirrus_dns_zone_serial`.

use crate::metrics::DnsMetrics;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a secondary has to answer one SOA query.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Asks every secondary in `secondaries` for `origin`'s SOA serial every
/// `every`, until `shutdown`.
pub(crate) async fn watch(
    secondaries: Vec<SocketAddr>,
    origin: Name,
    every: Duration,
    metrics: DnsMetrics,
    shutdown: impl Future<Output = ()>,
) {
    if secondaries.is_empty() {
        return;
    }
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let asks = secondaries
            .iter()
            .map(|s| async { (*s, soa_serial(*s, &origin).await) });
        for (secondary, serial) in futures_util::future::join_all(asks).await {
            if serial.is_none() {
                tracing::debug!(%secondary, "dns: secondary did not answer its SOA serial");
            }
            metrics
                .secondary_serial
                .with_label_values(&[secondary.to_string().as_str()])
                .set(i64::from(serial.unwrap_or(0)));
        }
    }
}

/// The SOA serial `server` answers for `origin` over UDP, if it does.
pub(crate) async fn soa_serial(server: SocketAddr, origin: &Name) -> Option<u32> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(bind).await.ok()?;
    let id: u16 = rand::random();
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(origin.clone(), RecordType::SOA));
    socket.send_to(&query.to_vec().ok()?, server).await.ok()?;
    let answer = async {
        let mut buf = [0u8; 1232];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.ok()?;
            let Ok(answer) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if from == server && answer.metadata.id == id && answer.metadata.message_type == MessageType::Response {
                return Some(answer);
            }
        }
    };
    let answer = tokio::time::timeout(ANSWER_WITHIN, answer).await.ok()??;
    if answer.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    answer.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}
