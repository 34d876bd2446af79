//! One HTTP/1.1 connection to an origin, driven by the request's own task
//! (no connection task, no channel between them): the request written from
//! a reused buffer and the response head parsed from the connection's read
//! buffer; the body is decoded from the same buffer as the client reads it
//! ([`super::body`]), and the connection is handed back to its pool when
//! the body is done — or dropped whenever anything about it is in doubt.

use super::key::Key;
use crate::body::Body;
use crate::deadline::Deadline;
use crate::error::{ErrorKind, ProxyError};
use crate::head::RequestHead;
use crate::http1::{MAX_HEAD, Parsed, Received, RequestBody, may_end_a_head, parse_response, write_head};
use bytes::BytesMut;
use http_body::Body as _;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::io::poll_read_buf;

/// Read buffer size; a body with a known length reads up to `MAX_READ` at once.
pub(super) const READ_SIZE: usize = 8 * 1024;
pub(super) const MAX_READ: usize = 64 * 1024;
/// Request body chunks at most this long are copied next to their framing
/// and written in one call; longer ones are written as they are.
const COPY_CHUNK: usize = 16 * 1024;

/// The transport of an origin connection.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A failed exchange: why, and whether any byte of the answer had come
/// (after one, the request cannot be sent again).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: ProxyError,
    pub(crate) answered: bool,
}

/// An HTTP/1.1 connection to one origin.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: Stream,
    pub(super) read: BytesMut,
    write: Vec<u8>,
    /// The pool key this connection was made for.
    pub(crate) key: Arc<Key>,
    /// The timer of its answers' timeout, kept across requests.
    pub(super) timer: Deadline,
    /// When its last request was sent: back in the pool with a body that
    /// came with its head, it counts as idle from then (a little early,
    /// never late), so that return reads no clock; a streamed body sets
    /// it when it ends.
    pub(crate) sent_at: std::time::Instant,
}

impl Connection {
    pub(crate) fn new(stream: Stream, key: Arc<Key>, sent_at: std::time::Instant) -> Self {
        Self {
            stream,
            read: BytesMut::with_capacity(READ_SIZE),
            write: Vec::with_capacity(1024),
            timer: Deadline::default(),
            key,
            sent_at,
        }
    }

    /// Whether an idle connection can take a request: not closed by the
    /// origin, and nothing unasked-for waiting on it. Never blocks.
    pub(crate) fn is_usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        // TLS may hold decrypted bytes the socket no longer shows: always
        // ask it (a read that finds nothing new on the socket is cheap).
        if let Stream::Plain(tcp) = &self.stream {
            match tcp.poll_read_ready(&mut cx) {
                Poll::Pending => return true,
                Poll::Ready(Err(_)) => return false,
                Poll::Ready(Ok(())) => {}
            }
        }
        // A close, stray bytes, or (TLS) a session ticket the read consumes.
        matches!(self.fill(&mut cx, READ_SIZE), Poll::Pending) && self.read.is_empty()
    }

    /// Reads what is available into the read buffer; `Ok(0)` at the end.
    pub(super) fn fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < want.min(READ_SIZE) {
            self.read.reserve(want.clamp(READ_SIZE, MAX_READ));
        }
        poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.read)
    }

    /// Sends the request (`head` with `host` as its `Host`, then `body`)
    /// and reads up to the final response head.
    pub(crate) async fn exchange(
        &mut self,
        head: &RequestHead,
        host: &[u8],
        body: Option<Body>,
    ) -> Result<Received, Failure> {
        let framing = match &body {
            None => RequestBody::None,
            Some(b) => b.size_hint().exact().map_or(RequestBody::Chunked, RequestBody::Length),
        };
        write_head(&mut self.write, head, host, framing);
        let written = match body {
            None => self.stream.write_all(&self.write).await.map_err(io_failure),
            Some(body) => self.send_body(body, framing).await,
        };
        let written = match written {
            Err(f) if f.error.kind() == ErrorKind::ClientBody => return Err(f),
            other => other,
        };
        // An origin may answer and close before reading the whole body: a
        // failed write still leaves its answer to read.
        let head_request = head.method == http::Method::HEAD;
        let mut interim = 0;
        let mut scanned = None;
        loop {
            if self.read.len() >= MAX_HEAD || may_end_a_head(&self.read, scanned) {
                match parse_response(&mut self.read, head_request, &mut interim) {
                    Ok(Parsed::Head(mut head)) => {
                        head.keep_alive &= written.is_ok();
                        return Ok(head);
                    }
                    Ok(Parsed::Partial) => {}
                    Err(why) => return Err(protocol(why)),
                }
            }
            if !self.read.is_empty() {
                scanned = Some(self.read.len());
            }
            let answered = interim > 0 || !self.read.is_empty();
            match std::future::poll_fn(|cx| self.fill(cx, READ_SIZE)).await {
                Ok(0) if answered => return Err(protocol("origin closed the connection inside the response head")),
                Ok(0) => {
                    written?;
                    return Err(closed());
                }
                Ok(_) => {}
                Err(e) if answered => {
                    tracing::debug!(error = %e, "origin: read failed inside the response head");
                    return Err(protocol("origin connection failed inside the response head"));
                }
                Err(e) => {
                    written?;
                    return Err(io_failure(e));
                }
            }
        }
    }

    /// Writes the head and `body` with `framing`.
    async fn send_body(&mut self, mut body: Body, framing: RequestBody) -> Result<(), Failure> {
        let chunked = framing == RequestBody::Chunked;
        let mut sent = 0u64;
        let mut pending = std::mem::take(&mut self.write);
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let frame = frame.map_err(|e| {
                tracing::debug!(error = %e, "origin: request body failed");
                Failure {
                    error: ProxyError::new(ErrorKind::ClientBody, "request body failed"),
                    answered: false,
                }
            })?;
            let Ok(data) = frame.into_data() else { continue };
            if data.is_empty() {
                continue;
            }
            sent += data.len() as u64;
            if chunked {
                // Writing to a Vec cannot fail.
                let _ = write!(pending, "{:x}\r\n", data.len());
            }
            if data.len() <= COPY_CHUNK {
                pending.extend_from_slice(&data);
            } else {
                self.stream.write_all(&pending).await.map_err(io_failure)?;
                pending.clear();
                self.stream.write_all(&data).await.map_err(io_failure)?;
            }
            if chunked {
                pending.extend_from_slice(b"\r\n");
            }
            self.stream.write_all(&pending).await.map_err(io_failure)?;
            pending.clear();
        }
        if chunked {
            pending.extend_from_slice(b"0\r\n\r\n");
        }
        if !pending.is_empty() {
            self.stream.write_all(&pending).await.map_err(io_failure)?;
        }
        pending.clear();
        self.write = pending;
        match framing {
            RequestBody::Length(n) if n != sent => Err(Failure {
                error: ProxyError::new(ErrorKind::ClientBody, "request body shorter than its length"),
                answered: false,
            }),
            _ => Ok(()),
        }
    }
}

/// A connection that died before any byte of the answer.
fn closed() -> Failure {
    Failure {
        error: ProxyError::new(ErrorKind::OriginClosed, "origin closed the connection"),
        answered: false,
    }
}

fn protocol(why: &'static str) -> Failure {
    Failure {
        error: ProxyError::new(ErrorKind::OriginProtocol, why),
        answered: true,
    }
}

/// An I/O error before any byte of the answer: a reset or a close is the
/// keep-alive race; anything else is a broken exchange.
fn io_failure(e: io::Error) -> Failure {
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    if matches!(
        e.kind(),
        BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
    ) {
        return Failure {
            error: ProxyError::new(ErrorKind::OriginClosed, "origin reset the connection"),
            answered: false,
        };
    }
    tracing::debug!(error = %e, "origin: exchange failed");
    Failure {
        error: ProxyError::new(ErrorKind::OriginProtocol, "origin connection failed"),
        answered: false,
    }
}
