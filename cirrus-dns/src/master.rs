//! The hidden master: answers for the zone over UDP and TCP, transfers it
//! (AXFR) to an allow list of secondaries, and refuses everything else.

use crate::error::Result;
use crate::metrics::{DnsMetrics, rcode_label, type_label};
use crate::zone::{Lookup, Zone};
use cirrus_core::model::AllowList;
use hickory_proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, LowerName, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Records per message of a zone transfer (each message stays far below
/// the 64 KiB TCP limit).
const AXFR_CHUNK: usize = 500;
/// Largest UDP answer offered to EDNS clients (the DNS Flag Day 2020 size).
const MAX_UDP_PAYLOAD: u16 = 1232;

/// The zone being served. A rebuild swaps in a whole new zone: a query
/// sees the old zone or the new one, never a mix.
#[derive(Debug, Clone)]
pub struct SharedZone(Arc<RwLock<Arc<Zone>>>);

impl SharedZone {
    /// Serves `zone` until replaced.
    pub fn new(zone: Zone) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(zone))))
    }

    /// The zone served now.
    pub fn get(&self) -> Arc<Zone> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Serves `zone` until replaced.
    pub fn from_arc(zone: Arc<Zone>) -> Self {
        Self(Arc::new(RwLock::new(zone)))
    }

    /// Serves `zone` from now on.
    pub fn replace(&self, zone: Zone) {
        self.replace_arc(Arc::new(zone));
    }

    /// Serves `zone` from now on.
    pub fn replace_arc(&self, zone: Arc<Zone>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = zone;
    }
}

/// The authoritative server of a [`SharedZone`]; build with
/// [`HiddenMaster::builder`], run with [`HiddenMaster::serve`].
///
/// - Queries in the zone get authoritative answers, NODATA or NXDOMAIN
///   (with the SOA for negative caching); names outside it get REFUSED.
/// - Zone transfers (AXFR; IXFR is answered with the full zone) and queries
///   of type SOA are answered only to addresses in the transfer allow list,
///   and transfers only over TCP; others get REFUSED.
/// - UDP answers larger than the client's buffer (512 bytes without EDNS)
///   are truncated with TC set, so the client retries over TCP.
/// - Malformed packets get FORMERR when their header can be read and are
///   dropped otherwise (hickory-server).
#[derive(Debug, Clone)]
pub struct HiddenMaster {
    zone: SharedZone,
    allow_transfer: AllowList,
    tcp_timeout: Duration,
    metrics: Option<DnsMetrics>,
}

/// Builds a [`HiddenMaster`].
#[derive(Debug, Clone)]
pub struct HiddenMasterBuilder {
    master: HiddenMaster,
}

impl HiddenMasterBuilder {
    /// Addresses allowed to transfer the zone and ask for its SOA (default: loopback).
    pub fn allow_transfer(mut self, allow: AllowList) -> Self {
        self.master.allow_transfer = allow;
        self
    }

    /// Counts queries (by type and rcode) and transfers in `metrics`.
    pub fn metrics(mut self, metrics: DnsMetrics) -> Self {
        self.master.metrics = Some(metrics);
        self
    }

    /// Idle time after which a TCP connection is closed (default 10 s).
    pub fn tcp_timeout(mut self, timeout: Duration) -> Self {
        self.master.tcp_timeout = timeout;
        self
    }

    /// The server.
    pub fn build(self) -> HiddenMaster {
        self.master
    }
}

impl HiddenMaster {
    /// A server for `zone`.
    pub fn builder(zone: SharedZone) -> HiddenMasterBuilder {
        HiddenMasterBuilder {
            master: HiddenMaster {
                zone,
                allow_transfer: AllowList::default(),
                tcp_timeout: Duration::from_secs(10),
                metrics: None,
            },
        }
    }

    /// The zone served.
    pub fn zone(&self) -> &SharedZone {
        &self.zone
    }

    /// Answers on `udp` and `tcp` until `shutdown` completes.
    pub async fn serve(
        self,
        udp: tokio::net::UdpSocket,
        tcp: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let timeout = self.tcp_timeout;
        let mut server = hickory_server::Server::new(Handler { master: self });
        server.register_socket(udp);
        server.register_listener(tcp, timeout, 64 * 1024);
        shutdown.await;
        server.shutdown_gracefully().await.map_err(std::io::Error::other)?;
        Ok(())
    }
}

/// Binds UDP and TCP on `addr`, the same port for both; port 0 picks a
/// port free for both. The UDP socket gets 4 MiB buffers so a burst of
/// queries waits in the kernel instead of being dropped.
pub async fn bind(addr: SocketAddr) -> Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    if addr.port() != 0 {
        let tcp = tokio::net::TcpListener::bind(addr).await?;
        let udp = udp_socket(addr)?;
        return Ok((udp, tcp));
    }
    let mut last = None;
    for _ in 0..20 {
        let tcp = tokio::net::TcpListener::bind(addr).await?;
        match udp_socket(tcp.local_addr()?) {
            Ok(udp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port")).into())
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(SockProtocol::UDP))?;
    // Best effort: the kernel caps the size (net.core.rmem_max).
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

struct Handler {
    master: HiddenMaster,
}

/// What a request gets.
enum Reply<'r> {
    /// No records, this response code.
    Refuse(ResponseCode),
    /// The whole zone (AXFR).
    Transfer,
    /// The zone's answer for this name and type.
    Answer(&'r LowerName, RecordType),
}

impl Handler {
    /// The reply to `request` for `zone`, and the query's `type` label.
    fn decide<'r>(&self, request: &'r Request, zone: &Zone) -> (Reply<'r>, &'static str) {
        if request.metadata.op_code != OpCode::Query {
            return (Reply::Refuse(ResponseCode::NotImp), "other");
        }
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return (Reply::Refuse(ResponseCode::BADVERS), "other");
        }
        let Ok(info) = request.request_info() else {
            return (Reply::Refuse(ResponseCode::FormErr), "other");
        };
        let query = info.query;
        let qtype = query.query_type();
        let label = type_label(qtype);
        let allowed = self.master.allow_transfer.allows(request.src().ip());
        if query.query_class() != DNSClass::IN && query.query_class() != DNSClass::ANY {
            return (Reply::Refuse(ResponseCode::Refused), label);
        }
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            let ok = allowed && request.protocol() == Protocol::Tcp && query.name() == zone.origin();
            if let Some(m) = &self.master.metrics {
                m.transfers
                    .with_label_values(&[if ok { "served" } else { "refused" }])
                    .inc();
            }
            if !ok {
                tracing::info!(src = %request.src(), "dns: zone transfer refused");
                return (Reply::Refuse(ResponseCode::Refused), label);
            }
            return (Reply::Transfer, label);
        }
        if qtype == RecordType::SOA && !allowed {
            return (Reply::Refuse(ResponseCode::Refused), label);
        }
        (Reply::Answer(query.name(), qtype), label)
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response: R) -> ResponseInfo {
        let zone = self.master.zone.get();
        let (reply, qtype) = self.decide(request, &zone);
        let edns = response_edns(request);
        let builder = || {
            let mut b = MessageResponseBuilder::from_message_request(request);
            if let Some(e) = &edns {
                b.edns(e);
            }
            b
        };
        let sent = match reply {
            Reply::Refuse(code) => {
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = code;
                response.send_response(builder().build_no_records(metadata)).await
            }
            Reply::Transfer => transfer_zone(&zone, request, &mut response, builder).await,
            Reply::Answer(name, rtype) => answer(&zone, request, &mut response, builder(), name, rtype).await,
        };
        if let Some(m) = &self.master.metrics {
            let rcode = match &sent {
                Ok(info) => rcode_label(info.response_code),
                Err(_) => "unsent",
            };
            m.queries.with_label_values(&[qtype, rcode]).inc();
        }
        sent.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "dns: could not send a response");
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(hickory_proto::op::Header {
                metadata,
                counts: Default::default(),
            })
        })
    }
}

/// The EDNS of the answer when the query had one.
fn response_edns(request: &Request) -> Option<Edns> {
    let asked = request.edns.as_ref()?;
    let mut edns = Edns::new();
    edns.set_max_payload(asked.max_payload().clamp(512, MAX_UDP_PAYLOAD));
    edns.set_version(0);
    Some(edns)
}

async fn answer<R: ResponseHandler>(
    zone: &Zone,
    request: &Request,
    response: &mut R,
    builder: MessageResponseBuilder<'_>,
    name: &LowerName,
    qtype: RecordType,
) -> std::result::Result<ResponseInfo, hickory_server::net::NetError> {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    let no_records: &[Record] = &[];
    let soa = std::slice::from_ref(zone.soa());
    let (answers, authority) = match zone.lookup(name, qtype) {
        Lookup::NotInZone => {
            metadata.response_code = ResponseCode::Refused;
            return response.send_response(builder.build_no_records(metadata)).await;
        }
        Lookup::Found(records) => (records, no_records),
        Lookup::NoData => (no_records, soa),
        Lookup::NxDomain => {
            metadata.response_code = ResponseCode::NXDomain;
            (no_records, soa)
        }
    };
    metadata.authoritative = true;
    response
        .send_response(builder.build(
            metadata,
            answers.iter(),
            no_records.iter(),
            authority.iter(),
            no_records.iter(),
        ))
        .await
}

/// AXFR (RFC 5936): the SOA, every other record, the SOA again, in
/// messages of [`AXFR_CHUNK`] records.
async fn transfer_zone<'q, R: ResponseHandler>(
    zone: &Zone,
    request: &'q Request,
    response: &mut R,
    builder: impl Fn() -> MessageResponseBuilder<'q>,
) -> std::result::Result<ResponseInfo, hickory_server::net::NetError> {
    let mut records = zone.records();
    records.push(zone.soa());
    let no_records: &[Record] = &[];
    let mut last = None;
    for chunk in records.chunks(AXFR_CHUNK) {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let info = response
            .send_response(builder().build(
                metadata,
                chunk.iter().copied(),
                no_records.iter(),
                no_records.iter(),
                no_records.iter(),
            ))
            .await?;
        last = Some(info);
    }
    tracing::info!(src = %request.src(), serial = zone.serial(), records = zone.len(), "dns: zone transferred");
    last.ok_or_else(|| std::io::Error::other("empty transfer").into())
}

#[cfg(test)]
#[path = "master_fuzz.rs"]
mod fuzz;
