//! NOTIFY (RFC 1996) to the secondaries after a rebuild, signed when a
//! TSIG key is set, retried until each acknowledges.

use crate::metrics::DnsMetrics;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType, TSigner};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

/// Sends NOTIFY for `serial` to `target` until it answers, backing off
/// from 1 s to 30 s; gives up when a newer serial is being announced.
pub(crate) async fn notify_until_acked(
    target: SocketAddr,
    origin: Name,
    serial: u32,
    mut latest: watch::Receiver<u32>,
    key: Option<TSigner>,
    metrics: Option<DnsMetrics>,
) {
    let bind: SocketAddr = if target.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = match tokio::net::UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "dns: cannot open a socket for NOTIFY");
            return;
        }
    };
    let mut wait = Duration::from_secs(1);
    let mut attempt = 0u32;
    loop {
        if *latest.borrow_and_update() != serial {
            return;
        }
        attempt += 1;
        let id: u16 = rand::random();
        let mut message = Message::new(id, MessageType::Query, OpCode::Notify);
        message.metadata.authoritative = true;
        message.add_query(Query::query(origin.clone(), RecordType::SOA));
        let mut verifier = None;
        if let Some(key) = &key {
            match message.finalize(key, cirrus_core::model::now_ms() / 1000) {
                Ok(v) => verifier = v,
                Err(e) => {
                    tracing::warn!(error = %e, "dns: cannot sign a NOTIFY");
                    return;
                }
            }
        }
        let Ok(bytes) = message.to_vec() else { return };
        match socket.send_to(&bytes, target).await {
            Ok(_) => {
                if let Some(m) = &metrics {
                    m.notifies.with_label_values(&["sent"]).inc();
                }
            }
            Err(e) => tracing::debug!(%target, error = %e, "dns: NOTIFY not sent"),
        }
        // Wait up to `wait` for the answer (a socket error waits out the
        // window too), unless a newer serial takes over.
        let answer = async {
            let mut buf = [0u8; 512];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return std::future::pending().await;
                };
                let Ok(answer) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if from != target || answer.metadata.id != id {
                    continue;
                }
                if let Some(v) = verifier.as_mut()
                    && v.verify(&buf[..n]).is_err()
                {
                    tracing::debug!(%target, "dns: a NOTIFY answer whose TSIG does not verify, ignored");
                    continue;
                }
                if from == target && answer.metadata.id == id && answer.metadata.message_type == MessageType::Response {
                    return answer.metadata.response_code == ResponseCode::NoError;
                }
            }
        };
        let acked = tokio::select! {
            _ = latest.changed() => return,
            acked = tokio::time::timeout(wait, answer) => acked,
        };
        if matches!(acked, Ok(true)) {
            if let Some(m) = &metrics {
                m.notifies.with_label_values(&["acked"]).inc();
            }
            tracing::info!(%target, serial, attempt, "dns: NOTIFY acknowledged");
            return;
        }
        tracing::debug!(%target, serial, attempt, "dns: NOTIFY not acknowledged yet");
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}
