//! The body of an origin's response, decoded from its connection's read
//! buffer as the client reads it; the connection goes back to its pool
//! (its [`Home`]) when the body ended exactly where its framing said.

use super::conn::{Connection, MAX_READ, READ_SIZE};
use crate::body::BoxError;
use crate::http1::{Decoder, Received, Step};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

/// Where a connection goes once the response it carried is done.
pub(crate) trait Home: Send + Sync + std::fmt::Debug {
    /// Takes `conn` back, its response done.
    fn put(self: Arc<Self>, conn: Connection);
}

/// The body of an origin response, and the counter its data bytes go to
/// when they are counted (shielded domains).
#[derive(Debug)]
pub(crate) struct OriginBody(State, Option<prometheus::IntCounter>);

#[derive(Debug)]
enum State {
    /// Read whole with the head.
    Full(Option<Bytes>),
    /// Read from the connection as it is polled.
    Stream(Box<Streaming>),
    Done,
}

#[derive(Debug)]
struct Streaming {
    conn: Connection,
    decoder: Decoder,
    keep_alive: bool,
    home: Arc<dyn Home>,
}

impl OriginBody {
    /// The body of the response whose head `conn` just read, handing the
    /// connection to `home` once it is done, if `keep_alive` allows.
    pub(crate) fn new(mut conn: Connection, head: &Received, home: Arc<dyn Home>) -> Self {
        let decoder = Decoder::new(head.framing);
        // A small body that came with its head is taken whole, and the
        // connection goes back at once.
        if let Some(n) = decoder.remaining().and_then(|n| usize::try_from(n).ok())
            && n <= conn.read.len()
        {
            let bytes = conn.read.split_to(n).freeze();
            if head.keep_alive && conn.read.is_empty() {
                home.put(conn);
            }
            return OriginBody(State::Full(Some(bytes).filter(|b| !b.is_empty())), None);
        }
        OriginBody(
            State::Stream(Box::new(Streaming {
                conn,
                decoder,
                keep_alive: head.keep_alive,
                home,
            })),
            None,
        )
    }

    /// Adds the body's data bytes to `bytes` as they are read.
    pub(crate) fn counted(mut self, bytes: prometheus::IntCounter) -> Self {
        self.1 = Some(bytes);
        self
    }

    fn count(&self, data: &Bytes) {
        if let Some(c) = &self.1 {
            c.inc_by(data.len() as u64);
        }
    }

    /// Ends the stream: the connection goes home if the body ended exactly
    /// where its framing said and the origin keeps it open.
    fn finish(&mut self) {
        if let State::Stream(s) = std::mem::replace(&mut self.0, State::Done) {
            let Streaming {
                mut conn,
                keep_alive,
                home,
                ..
            } = *s;
            if keep_alive && conn.read.is_empty() {
                // A streamed body may have taken long: idle from now.
                conn.sent_at = std::time::Instant::now();
                home.put(conn);
            }
        }
    }
}

impl http_body::Body for OriginBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let s = match &mut this.0 {
                State::Full(bytes) => {
                    let bytes = bytes.take();
                    this.0 = State::Done;
                    if let Some(b) = &bytes {
                        this.count(b);
                    }
                    return Poll::Ready(bytes.map(|b| Ok(Frame::data(b))));
                }
                State::Done => return Poll::Ready(None),
                State::Stream(s) => s,
            };
            match s.decoder.step(&mut s.conn.read) {
                Ok(Step::Data(b)) => {
                    this.count(&b);
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Ok(Step::Trailers(t)) => {
                    this.finish();
                    return Poll::Ready(Some(Ok(Frame::trailers(t))));
                }
                Ok(Step::Done) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Step::More) => {}
                Err(why) => {
                    this.0 = State::Done;
                    return Poll::Ready(Some(Err(why.into())));
                }
            }
            let want = s
                .decoder
                .remaining()
                .map_or(READ_SIZE, |n| usize::try_from(n).unwrap_or(MAX_READ));
            match ready!(s.conn.fill(cx, want)) {
                Ok(0) if s.decoder.ends_at_close() => {
                    this.0 = State::Done;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.0 = State::Done;
                    return Poll::Ready(Some(Err("origin closed the connection inside the body".into())));
                }
                Ok(_) => {}
                Err(e) => {
                    this.0 = State::Done;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0, State::Done | State::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            State::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            State::Done => SizeHint::with_exact(0),
            State::Stream(s) => s.decoder.remaining().map_or_else(SizeHint::new, SizeHint::with_exact),
        }
    }
}
