//! The soak's load: client traffic at a steady rate over every edge (HITs,
//! MISSes of `no-store` answers, ranges of a large object, whole large
//! objects, a slow origin, HTTP/2 over TLS, conditional requests), DNS
//! queries, and the operator's changes: a purge every second, a
//! configuration change every 5 s, a certificate upload every minute, a
//! node disabled and enabled in turn every 10 s.

use crate::layout::Layout;
use cirrus_client::Client;
use cirrus_core::DomainConf;
use cirrus_core::model::{CertificateUpload, PurgeSelection, TlsMode};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The domain every request and change is for.
pub(crate) const DOMAIN: &str = "www.soak.test";

/// Counters the sampler reads and resets.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) cached_ok: AtomicU64,
    /// Non-2xx (other than 304) or no answer, on cacheable paths.
    pub(crate) cached_bad: AtomicU64,
    pub(crate) uncached_ok: AtomicU64,
    pub(crate) uncached_bad: AtomicU64,
    pub(crate) h2: AtomicU64,
    pub(crate) latencies_ms: Mutex<Vec<f32>>,
    pub(crate) dns_ok: AtomicU64,
    pub(crate) dns_bad: AtomicU64,
    /// Purges sent and not yet seen acknowledged, with when they were sent.
    pub(crate) purges_pending: Mutex<VecDeque<(String, Instant)>>,
    pub(crate) purges_acked: AtomicU64,
    pub(crate) control_errors: AtomicU64,
    pub(crate) config_changes: AtomicU64,
    pub(crate) cert_uploads: AtomicU64,
    pub(crate) node_flaps: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Stats {
    /// Purges sent: those acknowledged and those still pending.
    pub(crate) fn purges_sent(&self) -> u64 {
        self.purges_acked.load(Ordering::Relaxed) + self.purges_pending.lock().unwrap().len() as u64
    }

    fn failed(&self, counter: &AtomicU64, what: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap() = Some(what);
    }
}

/// A private CA whose leaves the TLS clients trust.
pub(crate) struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub(crate) pem: String,
}

impl Ca {
    pub(crate) fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            issuer: rcgen::Issuer::new(params, key),
            pem,
        }
    }

    /// A new leaf for [`DOMAIN`] with a new key, as an upload.
    pub(crate) fn leaf(&self) -> CertificateUpload {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![DOMAIN.to_string()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        CertificateUpload {
            fullchain: format!("{}{}", cert.pem(), self.pem),
            key: key.serialize_pem(),
        }
    }
}

/// The domain as the soak configures it; `n` varies the replicas.
pub(crate) fn domain(origin: std::net::SocketAddr, n: u64) -> DomainConf {
    let mut conf = DomainConf::new(DOMAIN, format!("http://{origin}").parse().unwrap());
    conf.tls.mode = TlsMode::Manual;
    conf.replicas = Some(1 + (n % 2) as u16);
    conf
}

/// Client traffic until `until`, at about `rps` requests a second over
/// `tasks` tasks.
pub(crate) async fn traffic(layout: &Layout, ca: &Ca, stats: &'static Stats, rps: u64, until: Instant) {
    let root = reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap();
    let mut clients = Vec::new();
    for edge in &layout.edges {
        let h1 = reqwest::Client::builder()
            .resolve(DOMAIN, edge.http)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let h2 = reqwest::Client::builder()
            .resolve(DOMAIN, edge.https)
            .tls_certs_only([root.clone()])
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        clients.push((h1, h2));
    }
    let tasks = 8u64;
    let every = Duration::from_micros(1_000_000 * tasks / rps.max(1));
    let mut running = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let clients = clients.clone();
        running.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut i = t;
            while Instant::now() < until {
                tick.tick().await;
                let (h1, h2) = &clients[(i as usize / 20) % clients.len()];
                one(h1, h2, i, stats).await;
                i += tasks;
            }
        });
    }
    while running.join_next().await.is_some() {}
}

/// Request number `i` of the mix.
async fn one(h1: &reqwest::Client, h2: &reqwest::Client, i: u64, stats: &Stats) {
    let n = i % 400;
    let (request, cached) = match i % 20 {
        0..=9 => (h1.get(format!("http://{DOMAIN}/c/{n}")), true),
        10 | 11 => (h1.get(format!("http://{DOMAIN}/ns/{i}")), false),
        12 | 13 => {
            let from = (i * 4099) % (1 << 20);
            let range = format!("bytes={from}-{}", from + 8191);
            (
                h1.get(format!("http://{DOMAIN}/big/{}", n % 8)).header("range", range),
                true,
            )
        }
        14 => (h1.get(format!("http://{DOMAIN}/big/{}", n % 8)), true),
        15 => (h1.get(format!("http://{DOMAIN}/slow/{}", n % 10)), true),
        16..=18 => (h2.get(format!("https://{DOMAIN}/c/{n}")), true),
        _ => (
            h1.get(format!("http://{DOMAIN}/c/{n}"))
                .header("if-none-match", format!("\"v{n}\"")),
            true,
        ),
    };
    let started = Instant::now();
    let answer = match request.send().await {
        Ok(res) => {
            let (status, version) = (res.status(), res.version());
            match res.bytes().await {
                Ok(_) => Ok((status, version)),
                Err(e) => Err(format!("body: {e}")),
            }
        }
        Err(e) => Err(format!("{e:?}")),
    };
    stats
        .latencies_ms
        .lock()
        .unwrap()
        .push(started.elapsed().as_secs_f32() * 1000.0);
    let (ok, bad) = if cached {
        (&stats.cached_ok, &stats.cached_bad)
    } else {
        (&stats.uncached_ok, &stats.uncached_bad)
    };
    match answer {
        Ok((status, version)) if status.is_success() || status == 304 => {
            ok.fetch_add(1, Ordering::Relaxed);
            if version == reqwest::Version::HTTP_2 {
                stats.h2.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok((status, _)) => stats.failed(bad, format!("request {i}: status {status}")),
        Err(e) => stats.failed(bad, format!("request {i}: {e}")),
    }
}

/// DNS queries for the domain's target in the zone, 20 a second.
pub(crate) async fn dns(layout: &Layout, stats: &'static Stats, until: Instant) {
    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::{Name, RecordType};
    let target = cirrus_core::model::DomainDns::for_domain(DOMAIN, layout.zone)
        .cname
        .target;
    let name = Name::from_ascii(format!("{target}.")).unwrap();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut id = 0u16;
    let mut buf = vec![0u8; 4096];
    let mut answered = false;
    while Instant::now() < until {
        tick.tick().await;
        id = id.wrapping_add(1);
        let mut query = Message::new(id, MessageType::Query, OpCode::Query);
        query.add_query(Query::query(name.clone(), RecordType::A));
        let bytes = query.to_vec().unwrap();
        let _ = socket.send_to(&bytes, layout.dns).await;
        let answer = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await;
        match answer
            .ok()
            .and_then(Result::ok)
            .and_then(|n| Message::from_vec(&buf[..n]).ok())
        {
            Some(m) if m.metadata.id == id && m.metadata.response_code == ResponseCode::NoError => {
                answered = true;
                stats.dns_ok.fetch_add(1, Ordering::Relaxed);
            }
            // Until the zone first holds the domain, a miss is not a failure.
            _ if !answered => {}
            other => stats.failed(&stats.dns_bad, format!("dns: {other:?}")),
        }
    }
}

/// The operator's changes, on their schedules, until `until`.
pub(crate) async fn control(
    api: &Client,
    ca: &Ca,
    origin: std::net::SocketAddr,
    stats: &'static Stats,
    until: Instant,
) {
    let flapped = api
        .nodes()
        .await
        .ok()
        .and_then(|l| l.items.first().map(|n| n.id.clone()));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut second = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        second += 1;
        let urls = vec![format!("/c/{}", second % 2000)];
        match api
            .purge(
                DOMAIN,
                &PurgeSelection {
                    urls,
                    ..PurgeSelection::default()
                },
            )
            .await
        {
            Ok(accepted) => {
                stats
                    .purges_pending
                    .lock()
                    .unwrap()
                    .push_back((accepted.id, Instant::now()));
            }
            Err(e) => stats.failed(&stats.control_errors, format!("purge: {e}")),
        }
        if second.is_multiple_of(5) {
            match api.put_domain(&domain(origin, second / 5)).await {
                Ok(_) => stats.config_changes.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    stats.failed(&stats.control_errors, format!("domain put: {e}"));
                    0
                }
            };
        }
        if second.is_multiple_of(60) {
            match api.upload_certificate(DOMAIN, &ca.leaf()).await {
                Ok(_) => stats.cert_uploads.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    stats.failed(&stats.control_errors, format!("certificate: {e}"));
                    0
                }
            };
        }
        if let Some(node) = flapped.as_deref()
            && second.is_multiple_of(10)
        {
            let flip = if second.is_multiple_of(20) {
                api.enable_node(node).await
            } else {
                api.disable_node(node).await
            };
            match flip {
                Ok(_) => stats.node_flaps.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    stats.failed(&stats.control_errors, format!("node flap: {e}"));
                    0
                }
            };
        }
    }
    if let Some(node) = flapped.as_deref() {
        let _ = api.enable_node(node).await;
    }
}

/// Follows the purges as they are sent: every second, asks the status of
/// those sent at least 2 s ago, oldest first, until one is still
/// pending (records are kept by count, so each is checked while it is
/// kept, not only at the end).
pub(crate) async fn follow_purges(api: &Client, stats: &Stats, until: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < until {
        tick.tick().await;
        settle_purges(api, stats, Duration::from_secs(2)).await;
    }
}

/// Counts the pending purges at least `age` old that are complete, oldest
/// first, stopping at the first that is not.
async fn settle_purges(api: &Client, stats: &Stats, age: Duration) {
    loop {
        let Some((id, sent)) = stats.purges_pending.lock().unwrap().front().cloned() else {
            return;
        };
        if sent.elapsed() < age || !api.purge_status(&id).await.is_ok_and(|s| s.complete) {
            return;
        }
        stats.purges_pending.lock().unwrap().pop_front();
        stats.purges_acked.fetch_add(1, Ordering::Relaxed);
    }
}

/// The purges every live edge acknowledged, after waiting up to 30 s for
/// the last ones: `(acknowledged, sent)`.
pub(crate) async fn purges_acknowledged(api: &Client, stats: &Stats) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stats.purges_pending.lock().unwrap().is_empty() && Instant::now() < deadline {
        settle_purges(api, stats, Duration::ZERO).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (stats.purges_acked.load(Ordering::Relaxed), stats.purges_sent())
}
