//! The master's UDP side, run by threads of its own rather than by
//! hickory-server: each waits for a datagram, takes the others already
//! queued (up to [`BATCH`]), answers each (the fast path of pre-encoded
//! answers, else the same [`Handler`] as TCP: over UDP every answer is one
//! message, so the handler's future completes at its first poll), and sends
//! the answers with one `sendmmsg` on Linux. Measured in docs/dns.md: the
//! per-datagram task, wake-up and buffer of hickory-server's UDP path cost
//! more than the answer itself.

use super::handler::Handler;
use futures_util::FutureExt as _;
use hickory_proto::op::{Header, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Datagrams answered per `sendmmsg`.
const BATCH: usize = 32;
/// Largest datagram read; longer ones are cut (and fail to parse).
const MAX_DATAGRAM: usize = 4096;
/// How often a waiting thread looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Where a datagram's answer is written.
#[derive(Clone, Default)]
struct Answer(Arc<Mutex<Vec<u8>>>);

#[async_trait::async_trait]
impl ResponseHandler for Answer {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let id = response.metadata().id;
        // RFC 1035 §4.2.1: 512 bytes without EDNS; the answer's EDNS size
        // with it (records that do not fit are left out and TC set).
        let max = response.edns().map_or(512, |e| e.max_payload().max(512));
        let mut out = self.0.lock().unwrap_or_else(|p| p.into_inner());
        out.clear();
        let mut encoder = BinEncoder::new(&mut out);
        encoder.set_max_size(max);
        match response.destructive_emit(&mut encoder) {
            Ok(info) => Ok(info),
            Err(e) => {
                tracing::debug!(error = %e, "dns: an answer could not be encoded; SERVFAIL");
                out.clear();
                let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
                metadata.response_code = ResponseCode::ServFail;
                let header = Header {
                    metadata,
                    counts: Default::default(),
                };
                let mut encoder = BinEncoder::new(&mut out);
                header.emit(&mut encoder).map_err(|e| NetError::from(e.to_string()))?;
                Ok(ResponseInfo::from(header))
            }
        }
    }
}

/// Answers `datagram` from `src` into `answer`; false when nothing is to
/// be sent (a packet whose header cannot be read, as hickory-server does).
fn respond(handler: &Handler, datagram: &[u8], src: SocketAddr, answer: &Answer) -> bool {
    // Nothing of the previous datagram's answer may go out with this one.
    answer.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let request = match Request::from_bytes(datagram.to_vec(), src, Protocol::Udp) {
        Ok(r) => r,
        Err(_) => return formerr(datagram, answer),
    };
    let done = handler
        .handle_request::<Answer, TokioTime>(&request, answer.clone())
        .now_or_never();
    done.is_some() && !answer.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
}

/// FORMERR for a packet whose header (12 bytes) reads but the rest does
/// not; nothing for a shorter one or for a response.
fn formerr(datagram: &[u8], answer: &Answer) -> bool {
    let Some(header) = datagram.get(..12) else {
        return false;
    };
    if header[2] & 0x80 != 0 {
        return false;
    }
    let mut out = answer.0.lock().unwrap_or_else(|p| p.into_inner());
    out.clear();
    // The id and opcode kept; QR set; RCODE 1; no records.
    out.extend_from_slice(&[header[0], header[1], 0x80 | (header[2] & 0x78), 0x01]);
    out.extend_from_slice(&[0; 8]);
    true
}

/// The query counters of the fast path, found once per type and code.
#[derive(Default)]
struct Counters(Vec<(RecordType, ResponseCode, prometheus::IntCounter)>);

impl Counters {
    fn get(&mut self, metrics: &crate::DnsMetrics, qtype: RecordType, rcode: ResponseCode) -> &prometheus::IntCounter {
        let at = match self.0.iter().position(|(t, r, _)| *t == qtype && *r == rcode) {
            Some(at) => at,
            None => {
                let labels = [crate::metrics::type_label(qtype), crate::metrics::rcode_label(rcode)];
                self.0.push((qtype, rcode, metrics.queries.with_label_values(&labels)));
                self.0.len() - 1
            }
        };
        &self.0[at].2
    }
}

/// Starts `threads` threads answering on `socket` until `stop` is set.
pub(super) fn spawn(
    handler: Arc<Handler>,
    socket: UdpSocket,
    threads: usize,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(STOP_CHECK))?;
    let mut handles = Vec::with_capacity(threads);
    for i in 0..threads.max(1) {
        let (socket, handler, stop) = (socket.try_clone()?, handler.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name(format!("cirrus-dns-udp-{i}"))
            .spawn(move || serve(&handler, &socket, &stop))?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Answers one datagram into `out`; false when nothing is to be sent.
fn answer_into(
    handler: &Handler,
    zone: &crate::Zone,
    datagram: &[u8],
    src: SocketAddr,
    out: &mut Vec<u8>,
    general: &Answer,
    counters: &mut Counters,
) -> bool {
    // Port 0 cannot be answered (hickory-server drops it too).
    if src.port() == 0 {
        return false;
    }
    if let Some(index) = zone.wire()
        && let Some((qtype, rcode)) = super::fast::answer(index, datagram, out)
    {
        if let Some(m) = &handler.master.metrics {
            counters.get(m, qtype, rcode).inc();
        }
        return true;
    }
    if !respond(handler, datagram, src, general) {
        return false;
    }
    out.clear();
    out.extend_from_slice(&general.0.lock().unwrap_or_else(|p| p.into_inner()));
    true
}

/// Takes up to [`BATCH`] datagrams (waiting for the first only), answers
/// them, and sends the answers with one `sendmmsg`.
#[cfg(target_os = "linux")]
fn serve(handler: &Handler, socket: &UdpSocket, stop: &AtomicBool) {
    use rustix::net::{RecvFlags, SendFlags, SocketAddrAny};
    let general = Answer::default();
    let mut counters = Counters::default();
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0; MAX_DATAGRAM]).collect();
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(512)).collect();
    let mut to: Vec<SocketAddrAny> = Vec::with_capacity(BATCH);
    let mut ready: Vec<usize> = Vec::with_capacity(BATCH);
    while !stop.load(Ordering::Relaxed) {
        to.clear();
        ready.clear();
        // The zone at the batch's start: one lock and reference count per
        // batch, not per datagram (a rebuild is seen by the next batch).
        let mut zone = None;
        for (i, buf) in bufs.iter_mut().enumerate() {
            let flags = if i == 0 {
                RecvFlags::empty()
            } else {
                RecvFlags::DONTWAIT
            };
            let (len, from) = match rustix::net::recvfrom(socket, &mut buf[..], flags) {
                Ok((_, len, Some(from))) => (len.min(MAX_DATAGRAM), from),
                Ok((_, _, None)) => continue,
                // Nothing more now (or the wait for the first timed out);
                // ICMP errors from earlier sends surface here too.
                Err(_) => break,
            };
            let Ok(src) = SocketAddr::try_from(from.clone()) else {
                continue;
            };
            let zone = zone.get_or_insert_with(|| handler.master.zone.get());
            if answer_into(handler, zone, &buf[..len], src, &mut outs[i], &general, &mut counters) {
                ready.push(i);
                to.push(from);
            }
        }
        send_all(socket, &outs, &ready, &to);
    }

    fn send_all(socket: &UdpSocket, outs: &[Vec<u8>], ready: &[usize], to: &[SocketAddrAny]) {
        use rustix::net::{MMsgHdr, SendAncillaryBuffer};
        if ready.is_empty() {
            return;
        }
        let slices: Vec<[std::io::IoSlice<'_>; 1]> = ready.iter().map(|&i| [std::io::IoSlice::new(&outs[i])]).collect();
        let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
            ready.iter().map(|_| SendAncillaryBuffer::default()).collect();
        let mut msgs: Vec<MMsgHdr<'_>> = slices
            .iter()
            .zip(to)
            .zip(controls.iter_mut())
            .map(|((iov, addr), control)| MMsgHdr::new_with_addr(addr, iov, control))
            .collect();
        let mut sent = 0;
        while sent < msgs.len() {
            match rustix::net::sendmmsg(socket, &mut msgs[sent..], SendFlags::empty()) {
                Ok(0) => return,
                Ok(n) => sent += n,
                Err(e) => {
                    tracing::debug!(error = %e, "dns: UDP send failed");
                    // Skip the datagram that failed; send the rest.
                    sent += 1;
                }
            }
        }
    }
}

/// One datagram per system call where `sendmmsg` is not available.
#[cfg(not(target_os = "linux"))]
fn serve(handler: &Handler, socket: &UdpSocket, stop: &AtomicBool) {
    let general = Answer::default();
    let mut counters = Counters::default();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut out = Vec::with_capacity(512);
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, src)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let zone = handler.master.zone.get();
        if answer_into(handler, &zone, &buf[..len], src, &mut out, &general, &mut counters)
            && let Err(e) = socket.send_to(&out, src)
        {
            tracing::debug!(%src, error = %e, "dns: UDP send failed");
        }
    }
}
