//! The `cirrus edge` role as one call: follow the source, serve every
//! listener, drain them all together.

use crate::edge::Edge;
use crate::hooks::EdgeHooks;
use cirrus_core::lifecycle::{Shutdown, keep_running};
use cirrus_core::model::AllowList;
use tokio::net::TcpListener;

/// The sockets an edge serves in [`Edge::run`]: HTTP, and optionally HTTPS
/// and the admin listener (`/healthz`, `/readyz`, `/metrics`).
#[derive(Debug)]
#[must_use]
pub struct EdgeListeners {
    http: TcpListener,
    https: Option<TcpListener>,
    admin: Option<(TcpListener, AllowList)>,
    workers: usize,
}

impl EdgeListeners {
    /// Plain HTTP on `http`.
    pub fn new(http: TcpListener) -> Self {
        Self {
            http,
            https: None,
            admin: None,
            workers: 0,
        }
    }

    /// HTTPS (HTTP/2 or HTTP/1.1 by ALPN) on `listener`.
    pub fn https(mut self, listener: TcpListener) -> Self {
        self.https = Some(listener);
        self
    }

    /// Serves HTTP and HTTPS on `n` threads of their own, each with a
    /// single-threaded runtime and its own listener on the same addresses
    /// (`SO_REUSEPORT`: the kernel spreads new connections over them); the
    /// caller's runtime keeps the sync and the admin listener. The
    /// listeners must have been bound with [`crate::bind_shared`]. `0`
    /// (the default) serves everything on the caller's runtime.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// `/healthz` and `/readyz` for everyone and `/metrics` for the
    /// addresses in `allow`, on `listener`.
    pub fn admin(mut self, listener: TcpListener, allow: AllowList) -> Self {
        self.admin = Some((listener, allow));
        self
    }
}

impl<H: EdgeHooks> Edge<H> {
    /// Runs the edge until `shutdown` triggers: follows the source with
    /// [`Edge::sync`] (a source that is down at start, or whose change
    /// stream fails or ends, is followed again after a backoff while the
    /// edge serves what it has), and serves every
    /// listener. On shutdown all listeners drain at once, as
    /// [`Edge::serve`] describes. A listener that fails triggers `shutdown`
    /// (the other parts of the process stop too) and its error is returned.
    pub async fn run(&self, listeners: EdgeListeners, shutdown: &Shutdown) -> crate::Result<()> {
        // Peers ask this edge as a shield on its HTTP listener, at the
        // node's address: the reports say on which port.
        if let (Some(reporter), Ok(addr)) = (&self.inner.reporter, listeners.http.local_addr()) {
            reporter.set_shield_port(addr.port());
        }
        let failed = |r: crate::Result<()>| {
            if r.is_err() {
                shutdown.trigger();
            }
            r
        };
        let sync = keep_running("following the store", shutdown, || self.sync(shutdown.wait()));
        let admin = async {
            match listeners.admin {
                Some((l, allow)) => failed(self.serve_admin(l, allow, shutdown.wait()).await),
                None => Ok(()),
            }
        };
        let traffic = async {
            if listeners.workers > 0 {
                return failed(
                    crate::workers::serve(self, listeners.http, listeners.https, listeners.workers, shutdown).await,
                );
            }
            let https = async {
                match listeners.https {
                    Some(l) => failed(self.serve_tls(l, shutdown.wait()).await),
                    None => Ok(()),
                }
            };
            let http = async { failed(self.serve(listeners.http, shutdown.wait()).await) };
            let (http, https) = tokio::join!(http, https);
            http.and(https)
        };
        let ((), admin, traffic) = tokio::join!(sync, admin, traffic);
        traffic.and(admin)
    }
}
