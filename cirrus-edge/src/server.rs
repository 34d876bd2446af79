//! Client connections: the accept loop with its connection limit, plain
//! HTTP/1.1, and TLS with ALPN choosing HTTP/1.1 or HTTP/2.

use crate::error::{Error, Result};
use crate::guard::Guarded;
use crate::proxy::{Body, Edge, Inner, handle};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::server::Acceptor;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::LazyConfigAcceptor;

/// What a request handler knows of its connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conn {
    pub(crate) peer: SocketAddr,
    pub(crate) tls: bool,
}

/// Phases of a failed TLS handshake, the `phase` label of
/// `nginx_ssl_handshake_errors_total`.
pub(crate) mod phase {
    /// The first bytes were not a TLS ClientHello rustls accepts.
    pub(crate) const CLIENT_HELLO: &str = "client_hello";
    /// The served domain's stored certificate could not be read or used
    /// (the fallback certificate was presented instead).
    pub(crate) const CERTIFICATE: &str = "certificate";
    /// The handshake failed after the ClientHello (no common parameters,
    /// the client refused the certificate, the connection dropped).
    pub(crate) const HANDSHAKE: &str = "handshake";
    /// The handshake took longer than the header timeout.
    pub(crate) const TIMEOUT: &str = "timeout";
}

impl Edge {
    /// Serves HTTP/1.1 on `listener` until `shutdown` completes.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<()> {
        accept_loop(&self.inner, listener, shutdown, |inner, stream, peer| async move {
            serve_http1(&inner, stream, Conn { peer, tls: false }).await;
        })
        .await
    }

    /// Serves HTTPS on `listener` until `shutdown` completes: the
    /// certificate is chosen by SNI from the edge's
    /// [`crate::Certificates`], and ALPN picks HTTP/2 or HTTP/1.1. Fails
    /// at once when the edge was built without certificates.
    pub async fn serve_tls(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<()> {
        if self.inner.tls.is_none() {
            return Err(Error::Config("serve_tls needs an edge built with certificates".into()));
        }
        accept_loop(&self.inner, listener, shutdown, |inner, stream, peer| async move {
            serve_tls_connection(&inner, stream, peer).await;
        })
        .await
    }
}

/// Accepts while a connection slot is free (past the limit, clients wait
/// in the backlog) and runs `each` on its own task per connection.
async fn accept_loop<F, Fut>(
    inner: &Arc<Inner>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    each: F,
) -> Result<()>
where
    F: Fn(Arc<Inner>, TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    let slots = Arc::new(tokio::sync::Semaphore::new(inner.settings.max_connections.max(1)));
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => return Ok(()),
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => return Ok(()),
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = accept(&listener) => accepted,
        };
        let _ = stream.set_nodelay(true);
        let connection = each(inner.clone(), stream, peer);
        tokio::spawn(async move {
            let _slot = slot;
            connection.await;
        });
    }
}

/// The next connection; accept errors (out of descriptors and the like) are
/// logged and retried after a pause instead of spinning.
pub(crate) async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The edge's request handler for one connection, over HTTP/1.1 or HTTP/2.
fn service(
    inner: &Arc<Inner>,
    conn: Conn,
) -> impl Service<Request<Incoming>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ 'static {
    let inner = inner.clone();
    hyper::service::service_fn(move |req| {
        let inner = inner.clone();
        async move { Ok::<_, Infallible>(handle(&inner, req, conn).await) }
    })
}

/// HTTP/1.1 over `io`, behind the [`Guarded`] watch for ambiguous heads.
async fn serve_http1<I>(inner: &Arc<Inner>, io: I, conn: Conn)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(Guarded::new(io));
    let s = &inner.settings;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(s.header_timeout)
        .max_buf_size(s.max_header_bytes.max(8192))
        .max_headers(s.max_headers);
    if let Err(e) = http.serve_connection(io, service(inner, conn)).await {
        tracing::debug!(error = %e, peer = %conn.peer, "connection ended with an error");
    }
}

async fn serve_http2<I>(inner: &Arc<Inner>, io: I, conn: Conn)
where
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
    if let Err(e) = http.serve_connection(io, service(inner, conn)).await {
        tracing::debug!(error = %e, peer = %conn.peer, "h2 connection ended with an error");
    }
}

/// One step of a TLS handshake within `deadline`; a failure is counted
/// under `phase` (or `timeout`) and ends the connection.
async fn step<T>(
    deadline: tokio::time::Instant,
    errors: &prometheus::IntCounterVec,
    peer: SocketAddr,
    phase: &'static str,
    work: impl Future<Output = std::io::Result<T>>,
) -> Option<T> {
    match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(done)) => Some(done),
        Ok(Err(e)) => {
            errors.with_label_values(&[phase]).inc();
            tracing::debug!(%peer, error = %e, phase, "tls: handshake failed");
            None
        }
        Err(_) => {
            errors.with_label_values(&[phase::TIMEOUT]).inc();
            None
        }
    }
}

async fn serve_tls_connection(inner: &Arc<Inner>, stream: TcpStream, peer: SocketAddr) {
    let Some(tls) = &inner.tls else { return };
    let errors = &inner.metrics.handshake_errors;
    let deadline = tokio::time::Instant::now() + inner.settings.header_timeout;
    let Some(start) = step(
        deadline,
        errors,
        peer,
        phase::CLIENT_HELLO,
        LazyConfigAcceptor::new(Acceptor::default(), stream),
    )
    .await
    else {
        return;
    };
    // Only served domains cost a store read; any other name gets the fallback.
    if let Some(name) = start.client_hello().server_name()
        && inner.domains.get(name).is_some()
        && let Err(e) = tls.certs.prepare(name).await
    {
        errors.with_label_values(&[phase::CERTIFICATE]).inc();
        tracing::warn!(server_name = name, error = %e, "tls: certificate unavailable; presenting the fallback");
    }
    let Some(stream) = step(
        deadline,
        errors,
        peer,
        phase::HANDSHAKE,
        start.into_stream(tls.config.clone()),
    )
    .await
    else {
        return;
    };
    let (_, session) = stream.get_ref();
    let resumed = matches!(session.handshake_kind(), Some(rustls::HandshakeKind::Resumed));
    inner
        .metrics
        .handshakes
        .with_label_values(&[if resumed { "true" } else { "false" }])
        .inc();
    let h2 = session.alpn_protocol() == Some(b"h2");
    let conn = Conn { peer, tls: true };
    if h2 {
        serve_http2(inner, TokioIo::new(stream), conn).await;
    } else {
        serve_http1(inner, stream, conn).await;
    }
}
