//! Bodies: what the edge answers with ([`Body`]: stored bytes or a stream
//! from the origin), the client's body on its way to the origin (counted,
//! capped, and its failures told apart from the origin's), and reading an
//! origin body whole for the cache.

use crate::head::{Fields, Known};
use crate::http1::H1Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a response the edge sends: bytes from the cache or an
/// embedder, or a stream from the origin.
#[derive(Debug)]
pub struct Body(BoxBody<Bytes, BoxError>);

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self(http_body_util::Empty::new().map_err(|never| match never {}).boxed())
    }

    /// A body of `bytes` (a stored body: the bytes are shared, not copied).
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self(
            http_body_util::Full::new(bytes.into())
                .map_err(|never| match never {})
                .boxed(),
        )
    }

    /// Any other body (a stream, say).
    pub fn wrap<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        Self(body.map_err(Into::into).boxed())
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// A body whose data bytes are added to a counter as they pass.
#[derive(Debug)]
pub(crate) struct Counted<B> {
    inner: B,
    bytes: prometheus::IntCounter,
}

impl<B> Counted<B> {
    pub(crate) fn new(inner: B, bytes: prometheus::IntCounter) -> Self {
        Self { inner, bytes }
    }
}

impl<B: http_body::Body<Data = Bytes> + Unpin> http_body::Body for Counted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.bytes.inc_by(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body fed by a task through a bounded channel (slices fetched one
/// after another): `len` bytes in all; an error ends it early. Dropping it
/// (the client went away) makes the task's next send fail, so it stops.
#[derive(Debug)]
pub(crate) struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, BoxError>>,
    left: u64,
}

impl ChannelBody {
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<Result<Bytes, BoxError>>, len: u64) -> Self {
        Self { rx, left: len }
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                self.left = self.left.saturating_sub(bytes.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) if self.left > 0 => Poll::Ready(Some(Err("the body ended early".into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// A plain-text response.
pub(crate) fn text(status: http::StatusCode, message: &str) -> http::Response<Body> {
    let mut res = http::Response::new(Body::full(Bytes::copy_from_slice(message.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// The declared `Content-Length`, when it is a number.
pub(crate) fn content_length(headers: &Fields) -> Option<u64> {
    headers.get(Known::ContentLength).and_then(crate::http1::decimal_length)
}

/// A client's request body as a connection delivers it: none, hyper's
/// (HTTP/2, and [`crate::Edge::service`]), or the edge's own HTTP/1.1.
#[derive(Debug)]
pub(crate) enum RequestBody {
    Empty,
    Hyper(Incoming),
    H1(H1Body),
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Self::H1(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Hyper(b) => b.is_end_stream(),
            Self::H1(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Hyper(b) => b.size_hint(),
            Self::H1(b) => b.size_hint(),
        }
    }
}

/// The client's request body on its way to the origin: at most `limit`
/// bytes, and when it fails (too large, malformed chunking, the client
/// gone), the failure is kept so the answer is the client's 4xx rather
/// than an origin 502.
pub(crate) struct ClientBody {
    inner: RequestBody,
    left: u64,
    failure: Arc<Mutex<Option<BodyFailure>>>,
}

/// How the client's body failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// Past the limit.
    TooLarge,
    /// Malformed framing, or the client went away mid-body.
    Broken,
}

/// Where [`ClientBody`] leaves its failure, read after the origin exchange.
#[derive(Clone, Default)]
pub(crate) struct ClientBodyFailure(Arc<Mutex<Option<BodyFailure>>>);

impl ClientBodyFailure {
    /// How the client's body failed, if it did.
    pub(crate) fn get(&self) -> Option<BodyFailure> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ClientBody {
    pub(crate) fn new(inner: RequestBody, limit: u64) -> (Self, ClientBodyFailure) {
        let failure = ClientBodyFailure::default();
        let body = Self {
            inner,
            left: limit,
            failure: failure.0.clone(),
        };
        (body, failure)
    }

    fn fail(&self, kind: BodyFailure) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(kind);
    }
}

impl http_body::Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > self.left {
                    self.fail(BodyFailure::TooLarge);
                    return Poll::Ready(Some(Err("request body too large".into())));
                }
                self.left -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.fail(BodyFailure::Broken);
                Poll::Ready(Some(Err(e)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why an origin body could not be read whole.
pub(crate) enum Overflow {
    /// It grew past the limit: what was read, followed by the rest.
    Body(Body),
    /// The origin failed or was too slow.
    Failed,
}

/// Reads `body` whole if it is at most `max` bytes and arrives within
/// `timeout`; a longer one comes back as a body that replays what was read.
/// A body that came in one piece is copied out of the buffer it was read
/// into: kept in a cache, a slice would hold that whole buffer (8 KiB or
/// more, shared with the response head) for as long as the entry lives.
pub(crate) async fn read_up_to<B>(body: B, max: u64, timeout: Duration) -> Result<Bytes, Overflow>
where
    B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    use futures_util::StreamExt;
    let expected = body.size_hint().exact().filter(|n| *n <= max);
    let mut stream = body.into_data_stream();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut first: Option<Bytes> = None;
    let mut buf = bytes::BytesMut::new();
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(next) => next,
            Err(_) => return Err(Overflow::Failed),
        };
        let chunk = match next {
            None => {
                return Ok(if buf.is_empty() {
                    first.map(|b| Bytes::copy_from_slice(&b)).unwrap_or_default()
                } else {
                    buf.freeze()
                });
            }
            Some(Err(_)) => return Err(Overflow::Failed),
            Some(Ok(chunk)) => chunk,
        };
        if buf.is_empty() && first.is_none() {
            first = Some(chunk);
        } else {
            if let Some(first) = first.take() {
                let size = expected.map_or(first.len() + chunk.len(), |n| n as usize);
                buf.reserve(size);
                buf.extend_from_slice(&first);
            }
            buf.extend_from_slice(&chunk);
        }
        let read = first.as_ref().map_or(buf.len(), Bytes::len) as u64;
        if read > max {
            let read = first.take().unwrap_or_else(|| buf.split().freeze());
            let read = futures_util::stream::once(async move { Ok::<_, BoxError>(read) });
            let rest = stream.map(|r| r.map_err(Into::into));
            let frames = read.chain(rest).map(|r| r.map(Frame::data));
            return Err(Overflow::Body(Body::wrap(http_body_util::StreamBody::new(frames))));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_read_in_one_piece_is_copied_out_of_its_buffer() {
        let read = Bytes::from(vec![b'y'; 8192]);
        let range = read.as_ptr() as usize..read.as_ptr() as usize + read.len();
        let body = http_body_util::Full::new(read.slice(100..2148));
        let Ok(got) = read_up_to(body, 4096, Duration::from_secs(1)).await else {
            panic!("read whole");
        };
        assert_eq!(got.len(), 2048);
        assert!(
            !range.contains(&(got.as_ptr() as usize)),
            "not a slice of the read buffer"
        );
    }
}
