//! Client connections: the accept loop with its connection limit and
//! graceful drain, HTTP/1.1 (the edge's own connection) and HTTP/2, and the
//! edge as a service an embedder mounts in a server of their own.

pub(crate) mod h1;
mod linger;
mod tls;

use crate::body::{Body, RequestBody};
use crate::connections::Idle;
use crate::edge::{Edge, Inner};
use crate::error::{Error, Result};
use crate::head::RequestHead;
use crate::hooks::EdgeHooks;
use crate::proxy::handle;
use crate::session::Conn;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub(crate) use tls::serve_tls_connection;

/// Where a listener is in its life; every connection watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drain {
    /// Serving.
    Running,
    /// No new requests: HTTP/1 connections close once idle, HTTP/2 ones
    /// get GOAWAY; requests in flight finish.
    Draining,
    /// The deadline passed: connections are dropped.
    Closing,
}

impl<H: EdgeHooks> Edge<H> {
    /// Serves HTTP/1.1 on `listener` until `shutdown` completes, then
    /// drains: no new connection is accepted, requests in flight may
    /// finish for [`crate::EdgeSettings::drain_timeout`], then whatever is
    /// left is closed.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<()> {
        accept_loop(
            &self.inner,
            listener,
            shutdown,
            |inner, stream, peer, drain, idle| async move {
                serve_http1(&inner, stream, Conn { peer, tls: false }, drain, idle).await;
            },
        )
        .await
    }

    /// Serves HTTPS on `listener` until `shutdown` completes, then drains
    /// as [`Edge::serve`] does: the certificate is chosen by SNI from the
    /// edge's [`crate::Certificates`], and ALPN picks HTTP/2 or HTTP/1.1.
    /// Fails at once when the edge was built without certificates.
    pub async fn serve_tls(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<()> {
        if self.inner.tls.is_none() {
            return Err(Error::Config("serve_tls needs an edge built with certificates".into()));
        }
        accept_loop(
            &self.inner,
            listener,
            shutdown,
            |inner, stream, peer, drain, idle| async move {
                serve_tls_connection(&inner, stream, peer, drain, idle).await;
            },
        )
        .await
    }

    /// The edge as a hyper service for a server of the embedder's own, for
    /// requests arriving from `peer` (over TLS when `tls`). The framing
    /// guard, connection limits, timeouts and drain are then the
    /// embedder's server's business; everything from routing on is the
    /// edge's.
    pub fn service(
        &self,
        peer: SocketAddr,
        tls: bool,
    ) -> impl Service<Request<Incoming>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static {
        service(&self.inner, Conn { peer, tls })
    }
}

/// Accepts connections and runs `each` on its own task per connection,
/// within the edge's connection budget ([`budget`]: past it, idle
/// connections are reclaimed or the newcomer waits); on `shutdown`, drains.
async fn accept_loop<H, F, Fut>(
    inner: &Arc<Inner<H>>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    each: F,
) -> Result<()>
where
    H: EdgeHooks,
    F: Fn(Arc<Inner<H>>, TcpStream, SocketAddr, watch::Receiver<Drain>, Arc<Idle>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    // This listener's connections, each holding a permit: all permits
    // back means all closed, for the drain.
    let max = inner.connections.limit();
    let slots = Arc::new(tokio::sync::Semaphore::new(max));
    let (drain, watching) = watch::channel(Drain::Running);
    let metrics = inner.metrics();
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &metrics.accept_errors) => accepted,
        };
        let Some(held) = inner.connections.hold(peer.ip()) else {
            metrics.refused_per_ip.inc();
            drop(stream);
            continue;
        };
        let member = tokio::select! {
            () = &mut shutdown => break,
            member = inner.connections.admit() => member,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Within the budget, so within this listener's share of it.
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = each(inner.clone(), stream, peer, watching.clone(), member.idle());
        let reclaimed = metrics.reclaimed.clone();
        tokio::spawn(async move {
            let _held = (slot, held);
            tokio::select! {
                () = connection => {}
                () = member.reclaimed() => reclaimed.inc(),
            }
        });
    }
    drop(listener);
    let _ = drain.send(Drain::Draining);
    // Every connection holds a slot: all slots back means all closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(inner.settings.drain_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed; closing the connections left");
        let _ = drain.send(Drain::Closing);
        let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(all)).await;
    }
    Ok(())
}

/// The next connection; accept errors (out of descriptors and the like) are
/// counted, logged and retried after a pause instead of spinning.
pub(crate) async fn accept(listener: &TcpListener, errors: &prometheus::IntCounter) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                errors.inc();
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The edge's request handler for one connection, over HTTP/1.1 or HTTP/2.
fn service<H: EdgeHooks>(
    inner: &Arc<Inner<H>>,
    conn: Conn,
) -> impl Service<Request<Incoming>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ 'static {
    let inner = inner.clone();
    hyper::service::service_fn(move |req| {
        let inner = inner.clone();
        async move {
            let (parts, body) = req.into_parts();
            let reply = handle(&inner, RequestHead::from(parts), RequestBody::Hyper(body), conn).await;
            Ok::<_, Infallible>(reply.into_response())
        }
    })
}

/// Runs `connection` to its end, shutting it down gracefully when the
/// listener drains and dropping it when the drain deadline passes.
async fn drive<C>(connection: C, mut drain: watch::Receiver<Drain>, peer: SocketAddr)
where
    C: GracefulConnection<Error: std::fmt::Display>,
{
    tokio::pin!(connection);
    let mut asked = false;
    loop {
        if !asked && *drain.borrow() == Drain::Draining {
            connection.as_mut().graceful_shutdown();
            asked = true;
        }
        if *drain.borrow() == Drain::Closing {
            return;
        }
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            changed = drain.changed() => if changed.is_err() {
                // The listener is gone without draining (dropped): finish as usual.
                let _ = connection.as_mut().await;
                return;
            },
        }
    }
}

/// HTTP/1.1 over `io`, on the edge's own connection ([`h1`]).
async fn serve_http1<H, I>(inner: &Arc<Inner<H>>, io: I, conn: Conn, drain: watch::Receiver<Drain>, idle: Arc<Idle>)
where
    H: EdgeHooks,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    h1::serve(inner, io, conn, drain, &idle).await;
}

/// HTTP/2 over `io`: reclaimable until its first request (hyper keeps
/// the streams; its keep-alive pings close a dead connection).
async fn serve_http2<H, I>(inner: &Arc<Inner<H>>, io: I, conn: Conn, drain: watch::Receiver<Drain>, idle: Arc<Idle>)
where
    H: EdgeHooks,
    I: Read + Write + Unpin + Send + 'static,
{
    let s = &inner.settings;
    let mut http = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http.timer(TokioTimer::new())
        .max_concurrent_streams(s.h2_max_concurrent_streams)
        // Rapid reset (CVE-2023-44487) and its cousins: streams the client
        // resets before we answer, and streams we reset for its errors.
        .max_pending_accept_reset_streams(Some(32))
        .max_local_error_reset_streams(Some(256))
        .max_header_list_size(u32::try_from(s.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let edge = service(inner, conn);
    let service = hyper::service::service_fn(move |req| {
        idle.busy();
        edge.call(req)
    });
    drive(http.serve_connection(io, service), drain, conn.peer).await;
}
