//! A response on the wire: the head written into the connection's reused
//! buffer with the framing the edge decides (RFC 9112 §6), then the body,
//! head and first data in one vectored write.

use crate::body::content_length;
use crate::head::{Known, RequestHead};
use crate::http1::{Refusal, lists, put_decimal, put_field};
use crate::reply::Reply;
use bytes::Bytes;
use futures_util::FutureExt;
use http::{Method, StatusCode, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use std::cell::RefCell;
use std::io::{self, IoSlice, Write};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// How the body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// No body: HEAD, 1xx, 204, 304.
    None,
    /// This many bytes.
    Length(u64),
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client, length unknown).
    Close,
}

/// What the request said that the answer depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked {
    pub(crate) version: Version,
    pub(crate) head: bool,
    /// The connection may stay open after this answer.
    pub(crate) keep_alive: bool,
}

impl Asked {
    pub(crate) fn of(request: &RequestHead, keep_alive: bool) -> Self {
        Self {
            version: request.version,
            head: request.method == Method::HEAD,
            keep_alive,
        }
    }
}

/// Writes `res` to `io`; returns whether the connection stays open.
pub(crate) async fn write<I: AsyncWrite + Unpin>(
    io: &mut I,
    out: &mut Vec<u8>,
    res: Reply,
    asked: Asked,
) -> io::Result<bool> {
    let Reply { head, mut body } = res;
    let (status, fields) = (head.status, &head.fields);
    let mut keep = asked.keep_alive && !lists(fields.get_all(Known::Connection), b"close");
    let declared = content_length(fields);
    let framing = if asked.head || status.is_informational() || matches!(status.as_u16(), 204 | 304) {
        Out::None
    } else if let Some(n) = declared.or_else(|| body.size_hint().exact()) {
        Out::Length(n)
    } else if asked.version == Version::HTTP_11 {
        Out::Chunked
    } else {
        keep = false;
        Out::Close
    };
    out.clear();
    status_line(out, status);
    // The length the edge frames with is written once, by the edge; a HEAD
    // or 304 keeps the length of the body it stands for.
    let keep_length = framing == Out::None && !status.is_informational() && status != StatusCode::NO_CONTENT;
    // The framing names are interned: written lowercase whatever case
    // they were given in.
    for (name, value) in fields.iter() {
        if name == b"connection" || name == b"transfer-encoding" || (name == b"content-length" && !keep_length) {
            continue;
        }
        put_field(out, name, value);
    }
    if !fields.contains(Known::Date) {
        DATE_NOW.with_borrow_mut(|d| put_field(out, b"date", d.get()));
    }
    match framing {
        Out::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            put_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Out::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        _ => {}
    }
    if !keep {
        out.extend_from_slice(b"connection: close\r\n");
    } else if asked.version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if framing == Out::None {
        drop(body);
        io.write_all(out).await?;
        io.flush().await?;
        return Ok(keep);
    }
    let mut head = Some(&out[..]);
    let mut sent = 0u64;
    let complete = loop {
        // A body that is not ready at once: the head goes out first.
        let frame = match body.frame().now_or_never() {
            Some(frame) => frame,
            None => {
                if let Some(h) = head.take() {
                    io.write_all(h).await?;
                    io.flush().await?;
                }
                body.frame().await
            }
        };
        let data = match frame {
            None => break true,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "response body failed; closing the connection");
                break false;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue, // Trailers are not forwarded over HTTP/1.1.
            },
        };
        let (data, overlong) = match framing {
            Out::Length(n) if sent + data.len() as u64 > n => {
                tracing::debug!("response body longer than its length; closing the connection");
                let fits = usize::try_from(n - sent).unwrap_or(usize::MAX);
                (data.slice(..fits), true)
            }
            _ => (data, false),
        };
        if !data.is_empty() {
            sent += data.len() as u64;
            send(io, head.take(), &data, framing == Out::Chunked).await?;
        }
        if overlong {
            break false;
        }
    };
    let complete = complete && !matches!(framing, Out::Length(n) if sent != n);
    let mut tail: &[u8] = b"";
    if complete && framing == Out::Chunked {
        tail = b"0\r\n\r\n";
    }
    match head {
        Some(h) => write_all_vectored(io, &mut [IoSlice::new(h), IoSlice::new(tail)]).await?,
        None if !tail.is_empty() => io.write_all(tail).await?,
        None => {}
    }
    io.flush().await?;
    Ok(keep && complete)
}

/// One piece of body, after the head when it has not gone yet.
async fn send<I: AsyncWrite + Unpin>(io: &mut I, head: Option<&[u8]>, data: &Bytes, chunked: bool) -> io::Result<()> {
    let mut size = [0u8; 20];
    let size_line: &[u8] = if chunked {
        let mut w = &mut size[..];
        let _ = write!(w, "{:x}\r\n", data.len());
        let left = w.len();
        &size[..20 - left]
    } else {
        b""
    };
    let end: &[u8] = if chunked { b"\r\n" } else { b"" };
    let mut slices = [
        IoSlice::new(head.unwrap_or_default()),
        IoSlice::new(size_line),
        IoSlice::new(data),
        IoSlice::new(end),
    ];
    write_all_vectored(io, &mut slices).await
}

async fn write_all_vectored<I: AsyncWrite + Unpin>(io: &mut I, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        let n = io.write_vectored(slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// The answer to a head that was refused, after which the connection closes.
pub(crate) async fn refuse<I: AsyncWrite + Unpin>(io: &mut I, out: &mut Vec<u8>, refusal: Refusal) -> io::Result<()> {
    out.clear();
    status_line(out, refusal.status);
    DATE_NOW.with_borrow_mut(|d| put_field(out, b"date", d.get()));
    let _ = write!(
        out,
        "content-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}\n",
        refusal.why.len() + 1,
        refusal.why
    );
    io.write_all(out).await?;
    io.flush().await
}

fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `Date`, formatted once a second per thread.
struct DateNow {
    second: u64,
    text: String,
}

impl DateNow {
    fn get(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        self.text.as_bytes()
    }
}

thread_local! {
    static DATE_NOW: RefCell<DateNow> = const { RefCell::new(DateNow { second: 0, text: String::new() }) };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::body::Body;
    use http::Response;
    use http_body_util::StreamBody;
    use tokio::io::AsyncReadExt;

    /// What `write` puts on the wire for `res`, and whether it keeps the connection.
    async fn wire(res: Response<Body>, version: Version, head: bool) -> (String, bool) {
        let (mut ours, mut theirs) = tokio::io::duplex(1 << 16);
        let asked = Asked {
            version,
            head,
            keep_alive: true,
        };
        let keep = write(&mut ours, &mut Vec::new(), Reply::from(res), asked)
            .await
            .unwrap();
        drop(ours);
        let mut out = String::new();
        theirs.read_to_string(&mut out).await.unwrap();
        (out, keep)
    }

    fn streamed(parts: &'static [&'static str]) -> Body {
        let frames = parts
            .iter()
            .map(|p| Ok::<_, BoxErr>(http_body::Frame::data(Bytes::from_static(p.as_bytes()))));
        Body::wrap(StreamBody::new(futures_util::stream::iter(frames)))
    }
    type BoxErr = Box<dyn std::error::Error + Send + Sync>;

    fn response(status: u16, headers: &[(&'static str, &'static str)], body: Body) -> Response<Body> {
        let mut res = Response::new(body);
        *res.status_mut() = StatusCode::from_u16(status).unwrap();
        for (k, v) in headers {
            res.headers_mut().append(*k, http::HeaderValue::from_static(v));
        }
        res
    }

    #[tokio::test]
    async fn answers_are_framed_by_the_edge() {
        let (out, keep) = wire(response(200, &[], Body::full("hello")), Version::HTTP_11, false).await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("content-length: 5\r\n") && out.contains("date: "), "{out}");
        assert!(out.ends_with("\r\n\r\nhello") && keep, "{out}");

        let (out, keep) = wire(response(200, &[], streamed(&["ab", "cde"])), Version::HTTP_11, false).await;
        assert!(out.contains("transfer-encoding: chunked\r\n"), "{out}");
        assert!(
            out.ends_with("\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n") && keep,
            "{out}"
        );

        // HTTP/1.0 knows no chunks: the end of the body is the end of the connection.
        let (out, keep) = wire(response(200, &[], streamed(&["ab", "cde"])), Version::HTTP_10, false).await;
        assert!(
            out.contains("connection: close\r\n") && out.ends_with("\r\n\r\nabcde") && !keep,
            "{out}"
        );

        // HEAD and 304 keep the length they stand for and send no body; 204 has neither.
        let (out, _) = wire(
            response(200, &[("content-length", "5")], Body::empty()),
            Version::HTTP_11,
            true,
        )
        .await;
        assert!(
            out.contains("content-length: 5\r\n") && out.ends_with("\r\n\r\n"),
            "{out}"
        );
        let (out, _) = wire(
            response(204, &[("content-length", "5")], Body::full("x")),
            Version::HTTP_11,
            false,
        )
        .await;
        assert!(!out.contains("content-length") && out.ends_with("\r\n\r\n"), "{out}");

        // One length on the wire, the edge's, whatever the fields said.
        let (out, _) = wire(
            response(200, &[("content-length", "5, 5")], Body::full("hello")),
            Version::HTTP_11,
            false,
        )
        .await;
        assert_eq!(out.matches("content-length").count(), 1, "{out}");
    }

    #[tokio::test]
    async fn a_body_that_breaks_its_length_ends_the_connection() {
        let (out, keep) = wire(
            response(200, &[("content-length", "3")], Body::full("hello")),
            Version::HTTP_11,
            false,
        )
        .await;
        assert!(out.ends_with("\r\n\r\nhel") && !keep, "{out}");
        let (out, keep) = wire(
            response(200, &[("content-length", "9")], Body::full("hello")),
            Version::HTTP_11,
            false,
        )
        .await;
        assert!(out.ends_with("\r\n\r\nhello") && !keep, "{out}");
        let (_, keep) = wire(
            response(200, &[("connection", "close")], Body::full("x")),
            Version::HTTP_11,
            false,
        )
        .await;
        assert!(!keep);
    }
}
