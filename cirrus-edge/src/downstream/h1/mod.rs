//! HTTP/1.1 to clients, on the edge's own connection: heads parsed and
//! bodies decoded by the codec the origin side uses ([`crate::http1`]),
//! answers written with the edge's own framing ([`response`]). The edge's listeners serve HTTP/1.1 with it;
//! [`crate::Edge::service`] stays a hyper service for embedders.
//!
//! A connection is one loop: wait for a head (within the header timeout,
//! which also bounds an idle keep-alive connection), answer it, and go on
//! while both sides keep the connection open. Pipelined requests are read
//! from what is already buffered, one at a time.

mod response;

use super::Drain;
use super::linger::Linger;
use crate::body::RequestBody;
use crate::connections::Idle;
use crate::deadline::Deadline;
use crate::edge::Inner;
use crate::hooks::EdgeHooks;
use crate::http1::{self, Framing, Head, Limits, Refusal, may_end_a_head};
use crate::proxy::handle;
use crate::session::Conn;
use bytes::BytesMut;
use response::Asked;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;

/// Read buffer to start with; it grows up to the head limit.
const READ_BUFFER: usize = 8 * 1024;

/// Serves HTTP/1.1 on `io` until either side closes, the header timeout
/// passes, or the listener drains.
pub(crate) async fn serve<H, I>(
    inner: &Arc<Inner<H>>,
    io: I,
    conn: Conn,
    mut drain: watch::Receiver<Drain>,
    idle: &Idle,
) where
    H: EdgeHooks,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let draining = AtomicBool::new(false);
    let mut connection = Connection {
        io,
        buf: BytesMut::with_capacity(READ_BUFFER),
        out: Vec::with_capacity(1024),
        timer: Deadline::default(),
        limits: Limits {
            max_bytes: inner.settings.max_header_bytes.max(1024),
            max_headers: inner.settings.max_headers.max(1),
        },
        header_timeout: inner.settings.header_timeout,
        draining: &draining,
        idle,
    };
    // The drain is watched from this task: after its first poll (which
    // registers the task's waker) it is polled again only when the
    // listener's state changed, one atomic load per wake-up where a poll
    // of the watch would take its lock twice a request. Before the
    // connection, so the drain flag is set before the connection looks.
    let linger = {
        let mut seen = drain.clone();
        let mut watched = pin!(watch_drain(&mut drain, &draining));
        let mut run = pin!(connection.run(inner, conn));
        let mut first = true;
        poll_fn(|cx| {
            if std::mem::take(&mut first) || seen.has_changed().unwrap_or(true) {
                seen.mark_unchanged();
                if watched.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
            }
            run.as_mut().poll(cx)
        })
        .await
    };
    if linger {
        drop(Linger::new(connection.io));
    }
}

/// Sets `draining` when the listener drains; returns when it closes.
async fn watch_drain(drain: &mut watch::Receiver<Drain>, draining: &AtomicBool) {
    loop {
        match *drain.borrow_and_update() {
            Drain::Running => {}
            Drain::Draining => draining.store(true, Ordering::Relaxed),
            Drain::Closing => return,
        }
        if drain.changed().await.is_err() {
            // The listener is gone without draining: connections finish as usual.
            return std::future::pending().await;
        }
    }
}

struct Connection<'a, I> {
    io: I,
    buf: BytesMut,
    out: Vec<u8>,
    /// The header timeout's timer, kept across requests.
    timer: Deadline,
    limits: Limits,
    header_timeout: Duration,
    draining: &'a AtomicBool,
    /// Busy while a request is served, else reclaimable ([`super::budget`]).
    idle: &'a Idle,
}

/// What waiting for a head gave.
// Returned once per request and taken apart at once: boxing the head
// would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Wait {
    Head(Head),
    Refused(Refusal),
    /// The client closed, went silent, or the listener drains.
    End,
}

impl<I: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection<'_, I> {
    /// Answers requests until the connection ends; returns whether it
    /// should be lingered over (the edge closed it, bytes may be unread).
    async fn run<H: EdgeHooks>(&mut self, inner: &Arc<Inner<H>>, conn: Conn) -> bool {
        loop {
            let head = match self.next_head().await {
                Wait::Head(head) => head,
                Wait::Refused(refusal) => {
                    tracing::info!(peer = %conn.peer, why = refusal.why, "refused request head");
                    let _ = response::refuse(&mut self.io, &mut self.out, refusal).await;
                    return true;
                }
                Wait::End => return !self.buf.is_empty(),
            };
            self.idle.busy();
            let exchanged = self.exchange(inner, conn, head).await;
            self.idle.waiting();
            match exchanged {
                Ok(true) => {}
                Ok(false) => return true,
                Err(e) => {
                    tracing::debug!(error = %e, peer = %conn.peer, "client connection failed");
                    return false;
                }
            }
        }
    }

    /// One request and its answer; whether the connection stays open.
    async fn exchange<H: EdgeHooks>(&mut self, inner: &Arc<Inner<H>>, conn: Conn, head: Head) -> std::io::Result<bool> {
        let Head {
            request,
            body,
            keep_alive,
            expects_continue,
        } = head;
        let mut asked = Asked::of(&request, keep_alive);
        let (res, complete) = if body == Framing::Empty {
            (handle(inner, request, RequestBody::Empty, conn).await, true)
        } else {
            let (body, mut feed) = http1::channel(body, expects_continue);
            let handler = handle(inner, request, RequestBody::H1(body), conn);
            tokio::pin!(handler);
            let res = {
                let fed = feed.run(&mut self.io, &mut self.buf);
                tokio::pin!(fed);
                let mut fed_done = false;
                poll_fn(|cx| {
                    if !fed_done && fed.as_mut().poll(cx).is_ready() {
                        fed_done = true;
                    }
                    handler.as_mut().poll(cx)
                })
                .await
            };
            (res, feed.complete())
        };
        asked.keep_alive &= complete && !self.draining.load(Ordering::Relaxed);
        response::write(&mut self.io, &mut self.out, res, asked).await
    }

    /// The next request head, read within the header timeout.
    async fn next_head(&mut self) -> Wait {
        let deadline = Instant::now() + self.header_timeout;
        // Parsed only once the end of a head may be there, so a client
        // sending a byte at a time costs linear work, not quadratic.
        let mut scanned = None;
        loop {
            if !self.buf.is_empty() && (self.buf.len() >= self.limits.max_bytes || may_end_a_head(&self.buf, scanned)) {
                match http1::parse_request(&mut self.buf, self.limits) {
                    Ok(Some(head)) => return Wait::Head(head),
                    Ok(None) => {}
                    Err(refusal) => return Wait::Refused(refusal),
                }
            }
            if !self.buf.is_empty() {
                scanned = Some(self.buf.len());
            }
            let read = poll_fn(|cx| {
                if self.buf.is_empty() && self.draining.load(Ordering::Relaxed) {
                    return Poll::Ready(None);
                }
                if self.buf.capacity() - self.buf.len() < 1024 {
                    self.buf.reserve(READ_BUFFER);
                }
                if let Poll::Ready(read) = tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf) {
                    return Poll::Ready(Some(read));
                }
                if self.timer.poll_passed(cx, deadline) {
                    return Poll::Ready(Some(Err(std::io::ErrorKind::TimedOut.into())));
                }
                Poll::Pending
            })
            .await;
            match read {
                Some(Ok(n)) if n > 0 => {}
                Some(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut && !self.buf.is_empty() => {
                    return Wait::Refused(Refusal {
                        status: http::StatusCode::REQUEST_TIMEOUT,
                        why: "request head timed out",
                    });
                }
                _ => return Wait::End,
            }
        }
    }
}
