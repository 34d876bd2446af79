//! TLS connections: the ClientHello read first (so a served domain's
//! certificate can be fetched before the handshake goes on), the
//! handshake within the header timeout with its failures counted by
//! phase, then HTTP/2 or HTTP/1.1 as ALPN chose.

use super::linger::Linger;
use super::{Drain, serve_http1, serve_http2};
use crate::connections::Idle;
use crate::edge::Inner;
use crate::hooks::EdgeHooks;
use crate::observe::phase;
use crate::session::Conn;
use hyper_util::rt::TokioIo;
use rustls::server::Acceptor;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::LazyConfigAcceptor;

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

pub(crate) async fn serve_tls_connection<H: EdgeHooks>(
    inner: &Arc<Inner<H>>,
    stream: TcpStream,
    peer: SocketAddr,
    drain: watch::Receiver<Drain>,
    idle: Arc<Idle>,
) {
    let Some(tls) = &inner.tls else { return };
    let metrics = inner.metrics();
    let errors = &metrics.handshake_errors;
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
    metrics
        .handshakes
        .with_label_values(&[if resumed { "true" } else { "false" }])
        .inc();
    let h2 = session.alpn_protocol() == Some(b"h2");
    let conn = Conn { peer, tls: true };
    if h2 {
        serve_http2(inner, TokioIo::new(Linger::new(stream)), conn, drain, idle).await;
    } else {
        serve_http1(inner, stream, conn, drain, idle).await;
    }
}
