//! The hidden master: answers for the zone over UDP and TCP, transfers it
//! (AXFR, IXFR) to an allow list of secondaries, signed when TSIG keys are
//! set, and refuses everything else.

use crate::error::Result;
use crate::metrics::DnsMetrics;
use crate::tsig::{Keyring, TsigKey};
use crate::zone::Zone;
use cirrus_core::model::AllowList;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

mod fast;
mod gate;
mod handler;
mod transfer;
mod udp;

use gate::Gate;
use handler::Handler;

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
/// - Zone transfers and queries of type SOA are answered only to
///   addresses in the transfer allow list; others get REFUSED. AXFR runs
///   over TCP only; IXFR (RFC 1995) sends the changes since the client's
///   serial when the zone's history has them, else the whole zone, over
///   TCP or UDP (a UDP answer that does not fit is the SOA alone with TC).
///   At most two transfers run at once per address.
/// - With TSIG keys ([`HiddenMasterBuilder::tsig_keys`]), transfers must
///   also be signed with one (NOTAUTH otherwise); any signed request is
///   checked (BADKEY, BADSIG, BADTIME, BADTRUNC answered with NOTAUTH, RFC
///   8945 §5.2) and its answer signed, every message of a transfer
///   chained to the one before.
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
    keys: Keyring,
    gate: Gate,
    udp_threads: usize,
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

    /// TSIG keys (RFC 8945) a transfer must be signed with; signed
    /// requests are checked against them and answered signed. Default:
    /// none (transfers are authorised by address only).
    pub fn tsig_keys(mut self, keys: &[TsigKey]) -> Self {
        self.master.keys = Keyring::new(keys);
        self
    }

    /// Threads answering UDP (default: the CPUs this process may use, at
    /// most 4); `0` leaves UDP to hickory-server's own path (a task per
    /// datagram, no pre-encoded answers: slower, see docs/dns.md).
    pub fn udp_threads(mut self, threads: usize) -> Self {
        self.master.udp_threads = threads;
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
                keys: Keyring::default(),
                gate: Gate::default(),
                udp_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            },
        }
    }

    /// The zone served.
    pub fn zone(&self) -> &SharedZone {
        &self.zone
    }

    /// Answers on `udp` and `tcp` until `shutdown` completes: TCP on
    /// hickory-server, UDP on threads of its own (see
    /// [`HiddenMasterBuilder::udp_threads`]).
    pub async fn serve(
        self,
        udp: tokio::net::UdpSocket,
        tcp: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let timeout = self.tcp_timeout;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut hickory_udp = None;
        if self.udp_threads == 0 {
            hickory_udp = Some(udp);
        } else {
            let udp_handler = Arc::new(Handler { master: self.clone() });
            threads = udp::spawn(udp_handler, udp.into_std()?, self.udp_threads, stop.clone())?;
        }
        let mut server = hickory_server::Server::new(Handler { master: self });
        if let Some(udp) = hickory_udp {
            server.register_socket(udp);
        }
        server.register_listener(tcp, timeout, 64 * 1024);
        shutdown.await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        server.shutdown_gracefully().await.map_err(std::io::Error::other)?;
        // Each thread sees the flag within its receive timeout.
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        joined.await.map_err(std::io::Error::other)?;
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

#[cfg(test)]
mod fuzz;
