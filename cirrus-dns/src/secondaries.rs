//! What the secondaries serve: the zone's SOA serial asked of each
//! secondary the master notifies, every few seconds, as
//! `cirrus_dns_secondary_serial{secondary}` (0 while one does not answer),
//! so an alert can compare it with the master's `cirrus_dns_zone_serial`.

use crate::metrics::DnsMetrics;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

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

/// The SOA serial `server` answers for `origin`, if it does.
async fn soa_serial(server: SocketAddr, origin: &Name) -> Option<u32> {
    let answer = cirrus_core::resolve::query(server, origin, RecordType::SOA, false)
        .await
        .ok()?;
    if answer.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    answer.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}
