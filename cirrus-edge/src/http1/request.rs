//! Request heads: a client's, parsed in place (httparse) and framed
//! strictly (RFC 9112 §6): whatever another hop could read two ways (a
//! bare LF, both `Content-Length` and `Transfer-Encoding`, two lengths, a
//! coding other than `chunked`, a folded line) is refused, since that is
//! how requests are smuggled past a proxy; and an origin's, written into a
//! reused buffer with its own framing.

use super::Framing;
use super::fields::{decimal_length, lists, put_decimal, put_field};
use crate::head::{Fields, HeadError, Known, RequestHead};
use bytes::BytesMut;
use http::{Method, StatusCode, Version};

/// Why a head was refused: the status to answer with, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) why: &'static str,
}

const fn bad(why: &'static str) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        why,
    }
}

/// A parsed request head and what the connection needs to know of it.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) request: RequestHead,
    /// How the body that follows is framed (never close-delimited).
    pub(crate) body: Framing,
    /// The client asked to keep the connection open after the answer.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue` with a body: the client waits for a go-ahead.
    pub(crate) expects_continue: bool,
}

/// The limits a head is parsed under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_bytes: usize,
    pub(crate) max_headers: usize,
}

/// Parses the head at the start of `buf`, consuming it when complete;
/// `Ok(None)` when more bytes are needed.
pub(crate) fn parse(buf: &mut BytesMut, limits: Limits) -> Result<Option<Head>, Refusal> {
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    let skip = buf.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    if skip > 0 {
        let _ = buf.split_to(skip);
    }
    let request = match RequestHead::parse_at_most(buf, limits.max_headers) {
        Ok(Some(request)) => request,
        Ok(None) if buf.len() >= limits.max_bytes => return Err(too_large()),
        Ok(None) => return Ok(None),
        Err(HeadError::TooManyFields) => {
            return Err(Refusal {
                status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                why: "too many header fields",
            });
        }
        Err(HeadError::Malformed("version")) => {
            return Err(Refusal {
                status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                why: "HTTP version not supported",
            });
        }
        Err(HeadError::Malformed("method")) => return Err(bad("malformed method")),
        Err(HeadError::Malformed("target")) => return Err(bad("malformed request target")),
        Err(_) => return Err(bad("malformed request head")),
    };
    // The head's bytes, as parsed (the fields are spans over them).
    let raw = request.fields.source();
    if raw.len() > limits.max_bytes {
        return Err(too_large());
    }
    if bare_lf(raw) {
        return Err(bad("bare LF in the request head"));
    }
    head(request)
}

fn too_large() -> Refusal {
    Refusal {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        why: "request head too large",
    }
}

/// A line feed without the carriage return before it.
fn bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

fn head(request: RequestHead) -> Result<Option<Head>, Refusal> {
    let (version, fields) = (request.version, &request.fields);
    let hosts = fields.get_all(Known::Host).count();
    if hosts > 1 || (hosts == 0 && version == Version::HTTP_11) {
        // RFC 9112 §3.2: exactly one Host in HTTP/1.1.
        return Err(bad("a request needs exactly one Host field"));
    }
    let body = framing(version, fields)?;
    let connection = || fields.get_all(Known::Connection);
    let keep_alive =
        !lists(connection(), b"close") && (version == Version::HTTP_11 || lists(connection(), b"keep-alive"));
    let expects_continue = version == Version::HTTP_11
        && body != Framing::Empty
        && fields
            .get(Known::Expect)
            .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    Ok(Some(Head {
        request,
        body,
        keep_alive,
        expects_continue,
    }))
}

/// RFC 9112 §6.3 for requests, with no leniency: one `Content-Length` of
/// digits only, or `Transfer-Encoding: chunked` alone (HTTP/1.1 only),
/// never both.
fn framing(version: Version, fields: &Fields) -> Result<Framing, Refusal> {
    let mut lengths = fields.get_all(Known::ContentLength);
    let mut codings = fields.get_all(Known::TransferEncoding);
    match (lengths.next(), codings.next()) {
        (None, None) => Ok(Framing::Empty),
        (Some(_), Some(_)) => Err(bad("both Content-Length and Transfer-Encoding")),
        (Some(length), None) => {
            if lengths.next().is_some() {
                return Err(bad("more than one Content-Length"));
            }
            let n = decimal_length(length).ok_or(bad("malformed Content-Length"))?;
            Ok(if n == 0 { Framing::Empty } else { Framing::Length(n) })
        }
        (None, Some(coding)) => {
            if version == Version::HTTP_10 {
                return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
            }
            if codings.next().is_some() || !coding.eq_ignore_ascii_case(b"chunked") {
                return Err(bad("unsupported Transfer-Encoding"));
            }
            Ok(Framing::Chunked)
        }
    }
}

/// How a request's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestBody {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Writes the request head into `buf` (cleared first): `head`'s method,
/// origin-form target and fields, with `host` as `Host` and the body's own
/// framing (the client's `Content-Length` and `Transfer-Encoding` describe
/// the client's message, not this one).
pub(crate) fn write_head(buf: &mut Vec<u8>, head: &RequestHead, host: &[u8], body: RequestBody) {
    buf.clear();
    buf.extend_from_slice(head.method.as_str().as_bytes());
    buf.push(b' ');
    let target = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
    buf.extend_from_slice(if target.is_empty() { b"/" } else { target.as_bytes() });
    buf.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    buf.extend_from_slice(host);
    buf.extend_from_slice(b"\r\n");
    for (name, value) in head.fields.iter() {
        if [&b"host"[..], b"content-length", b"transfer-encoding"]
            .iter()
            .any(|framing| name.eq_ignore_ascii_case(framing))
        {
            continue;
        }
        put_field(buf, name, value);
    }
    match body {
        RequestBody::Length(n) => {
            buf.extend_from_slice(b"content-length: ");
            put_decimal(buf, n);
            buf.extend_from_slice(b"\r\n");
        }
        RequestBody::Chunked => buf.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        // Methods whose requests have content say it has none.
        RequestBody::None if matches!(head.method, Method::POST | Method::PUT | Method::PATCH) => {
            buf.extend_from_slice(b"content-length: 0\r\n");
        }
        RequestBody::None => {}
    }
    buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_bytes: 1024,
        max_headers: 8,
    };

    fn parse_all(raw: &[u8]) -> Result<Option<Head>, Refusal> {
        parse(&mut BytesMut::from(raw), LIMITS)
    }

    #[test]
    fn heads_are_parsed_and_framed() {
        let mut buf = BytesMut::from(&b"\r\nPOST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET"[..]);
        let head = parse(&mut buf, LIMITS).unwrap().unwrap();
        assert_eq!(head.request.method, Method::POST);
        assert_eq!(head.request.uri, "/a?b");
        assert_eq!(head.request.fields.get("host"), Some(&b"x"[..]));
        assert_eq!(head.body, Framing::Length(3));
        assert!(head.keep_alive && !head.expects_continue);
        assert_eq!(&buf[..], b"abcGET", "the body and what follows stay buffered");

        let head = parse_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(head.keep_alive);
        assert_eq!(head.request.version, Version::HTTP_10);
        let head = parse_all(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive, "HTTP/1.0 closes unless asked not to");
        let head =
            parse_all(b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nExpect: 100-continue\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(head.body, Framing::Chunked);
        assert!(head.expects_continue);
        assert!(
            parse_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none(),
            "partial"
        );
    }

    #[test]
    fn ambiguous_or_oversized_heads_are_refused() {
        let cases: [(&[u8], u16); 12] = [
            (b"GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\n\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            (
                b"GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\ng: 1\r\nh: 1\r\ni: 1\r\n\r\n",
                431,
            ),
        ];
        for (raw, status) in cases {
            let refused = parse_all(raw).unwrap_err();
            assert_eq!(refused.status.as_u16(), status, "{}", String::from_utf8_lossy(raw));
        }
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(2000));
        assert_eq!(parse_all(long.as_bytes()).unwrap_err().status, 431);
    }

    #[test]
    fn request_heads_carry_their_own_framing() {
        let req = http::Request::builder()
            .method("POST")
            .uri("/a?b=1")
            .header("content-length", "99")
            .header("transfer-encoding", "chunked")
            .header("host", "client.test")
            .header("x-a", "1")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let mut req = RequestHead::from(req);
        let mut buf = Vec::new();
        write_head(&mut buf, &req, b"o.test", RequestBody::Length(3));
        assert_eq!(
            String::from_utf8(buf.clone()).unwrap(),
            "POST /a?b=1 HTTP/1.1\r\nhost: o.test\r\nx-a: 1\r\ncontent-length: 3\r\n\r\n"
        );
        write_head(&mut buf, &req, b"o.test", RequestBody::None);
        assert!(String::from_utf8_lossy(&buf).ends_with("x-a: 1\r\ncontent-length: 0\r\n\r\n"));
        req.method = Method::GET;
        write_head(&mut buf, &req, b"o.test", RequestBody::None);
        assert!(String::from_utf8_lossy(&buf).ends_with("x-a: 1\r\n\r\n"));
    }
}
