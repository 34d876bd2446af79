//! The per-core layout: HTTP and HTTPS served on threads of their own,
//! each with a single-threaded runtime and its own listener on the shared
//! addresses (`SO_REUSEPORT`), so that a connection, its origin
//! connections and its timers stay on one thread (see docs/performance.md).

use crate::edge::Edge;
use crate::error::{Error, Result};
use crate::hooks::EdgeHooks;
use cirrus_core::lifecycle::Shutdown;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// Listen backlog of a shared listener.
const BACKLOG: u32 = 4096;

/// A listener on `addr` that more listeners may bind too (`SO_REUSEPORT`),
/// as [`crate::EdgeListeners::workers`] needs. Call it inside a runtime.
pub fn bind_shared(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `http` (and `https`) on `n` worker threads until `shutdown`:
/// the first takes the given listeners, the others bind their own. A
/// worker that fails triggers `shutdown`; the first error is returned.
pub(crate) async fn serve<H: EdgeHooks>(
    edge: &Edge<H>,
    http: TcpListener,
    https: Option<TcpListener>,
    n: usize,
    shutdown: &Shutdown,
) -> Result<()> {
    let addrs = (
        http.local_addr()?,
        https.as_ref().map(TcpListener::local_addr).transpose()?,
    );
    let mut given = Some((http.into_std()?, https.map(TcpListener::into_std).transpose()?));
    let mut done = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (edge, stop, given) = (edge.clone(), shutdown.clone(), given.take());
        let spawned = std::thread::Builder::new()
            .name(format!("cirrus-edge-{i}"))
            .spawn(move || {
                let served = worker(&edge, i, given, addrs, &stop);
                if served.is_err() {
                    stop.trigger();
                }
                let _ = tx.send(served);
            });
        if let Err(e) = spawned {
            shutdown.trigger();
            return Err(e.into());
        }
        done.push(rx);
    }
    let mut result = Ok(());
    for rx in done {
        let served = rx.await.unwrap_or_else(|_| Err(Error::WorkerPanicked));
        result = result.and(served);
    }
    result
}

type StdListeners = (std::net::TcpListener, Option<std::net::TcpListener>);

/// One worker: its runtime, its listeners, until `shutdown`.
fn worker<H: EdgeHooks>(
    edge: &Edge<H>,
    index: usize,
    given: Option<StdListeners>,
    (http_addr, https_addr): (SocketAddr, Option<SocketAddr>),
    shutdown: &Shutdown,
) -> Result<()> {
    // Blocking threads (the disk tier's reads and writes) stay an hour when
    // idle instead of tokio's 10 s, so steady traffic does not start and
    // stop threads, each leaving a stack and allocator caches behind.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(std::time::Duration::from_secs(3600))
        .build()?;
    crate::upstream::set_worker(index + 1);
    runtime.block_on(async {
        let shared = |addr: SocketAddr| bind_shared(addr).map_err(|source| Error::WorkerListener { addr, source });
        let (http, https) = match given {
            Some((http, https)) => (
                TcpListener::from_std(http)?,
                https.map(TcpListener::from_std).transpose()?,
            ),
            None => (shared(http_addr)?, https_addr.map(shared).transpose()?),
        };
        let https = async {
            match https {
                Some(l) => edge.serve_tls(l, shutdown.wait()).await,
                None => Ok(()),
            }
        };
        let (http, https) = tokio::join!(edge.serve(http, shutdown.wait()), https);
        http.and(https)
    })
}
