//! A client's request body over HTTP/1.1: the connection decodes it from
//! the socket (the same strict decoder the origin side uses) and hands it
//! to the request's [`RequestBody`] through a one-slot channel, so a slow
//! origin slows the client down instead of filling memory. With `Expect:
//! 100-continue`, the go-ahead is sent only once the handler first asks for
//! the body: a request refused before that never makes the client send it.

use super::Framing;
use super::decode::{Decoder, Step};
use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

type Item = Result<Frame<Bytes>, &'static str>;

/// The request's side: frames as the connection decodes them.
#[derive(Debug)]
pub(crate) struct H1Body {
    rx: mpsc::Receiver<Item>,
    /// Fired on the first poll, for `Expect: 100-continue`.
    want: Option<oneshot::Sender<()>>,
    /// Bytes still to come, when length-framed.
    left: Option<u64>,
}

/// The connection's side: decodes and sends.
#[derive(Debug)]
pub(crate) struct Feed {
    /// Dropped at the end of the body, which ends the request's side.
    tx: Option<mpsc::Sender<Item>>,
    want: Option<oneshot::Receiver<()>>,
    decoder: Decoder,
}

/// A body framed by `framing` (a request's: never close-delimited).
pub(crate) fn channel(framing: Framing, expects_continue: bool) -> (H1Body, Feed) {
    let (tx, rx) = mpsc::channel(1);
    let (want_tx, want_rx) = if expects_continue {
        let (t, r) = oneshot::channel();
        (Some(t), Some(r))
    } else {
        (None, None)
    };
    let left = match framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    let body = H1Body {
        rx,
        want: want_tx,
        left,
    };
    let feed = Feed {
        tx: Some(tx),
        want: want_rx,
        decoder: Decoder::new(framing),
    };
    (body, feed)
}

impl Feed {
    /// The whole body was read off the connection: the next request's
    /// head comes next.
    pub(crate) fn complete(&self) -> bool {
        self.decoder == Decoder::Done
    }

    /// Reads the body from `buf` and then `io` into the channel, until it
    /// is complete, broken, or no longer wanted. Cancel-safe: whatever was
    /// read stays in `buf` or was sent.
    pub(crate) async fn run<I: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut I, buf: &mut BytesMut) {
        if let Some(want) = self.want.take() {
            if want.await.is_err() {
                return; // The body was dropped unread.
            }
            if io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err() || io.flush().await.is_err() {
                return;
            }
        }
        while let Some(tx) = &self.tx {
            let item = match self.decoder.step(buf) {
                Ok(Step::Data(data)) => Ok(Frame::data(data)),
                Ok(Step::Trailers(trailers)) => Ok(Frame::trailers(trailers)),
                Ok(Step::Done) => {
                    self.tx = None;
                    return;
                }
                Ok(Step::More) => match io.read_buf(buf).await {
                    Ok(0) | Err(_) => Err("the client closed the connection mid-body"),
                    Ok(_) => continue,
                },
                Err(why) => Err(why),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                // Unwanted, or broken: the decoder stops short of `Done`,
                // so the connection closes after the answer.
                self.tx = None;
            }
        }
    }
}

impl http_body::Body for H1Body {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        if let Some(want) = self.want.take() {
            let _ = want.send(());
        }
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let (Some(left), Some(data)) = (self.left, frame.data_ref())
        {
            self.left = Some(left.saturating_sub(data.len() as u64));
        }
        polled
    }

    fn size_hint(&self) -> SizeHint {
        self.left.map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
