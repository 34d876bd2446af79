//! A response head, parsed in place (httparse), and the framing of the
//! body that follows, decided strictly (RFC 9112 §6.3): a head that could
//! be read two ways is refused, since that is where a proxy and an origin
//! disagree about where one response ends and the next begins.

use super::Framing;
use super::fields::{decimal_length, lists};
use crate::head::{Fields, HeadError, Known, ResponseHead};
use bytes::BytesMut;
use http::{StatusCode, Version};

/// Largest origin response head, interim (1xx) heads included.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Most interim (1xx) responses before the final one.
const MAX_INTERIM: usize = 16;

/// A final response head, parsed, and how its body is framed.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) head: ResponseHead,
    pub(crate) framing: Framing,
    /// The connection may carry another request after this response.
    pub(crate) keep_alive: bool,
}

/// Reading the head of a response from a buffer.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// More bytes are needed.
    Partial,
    /// The final head (its bytes are gone from the buffer).
    Head(Received),
}

/// Parses the response head at the start of `buf`, skipping interim (1xx)
/// responses; consumes what it parsed. `head_request`: the request was a
/// HEAD, so no body follows whatever the fields say. An error names what
/// is malformed; the connection cannot be used further.
pub(crate) fn parse_head(buf: &mut BytesMut, head_request: bool, interim: &mut usize) -> Result<Parsed, &'static str> {
    loop {
        // Fields stay in the head's bytes, not copied.
        let head = match ResponseHead::parse(buf) {
            Ok(Some(head)) => head,
            Ok(None) if buf.len() >= MAX_HEAD => return Err("response head too large"),
            Ok(None) => return Ok(Parsed::Partial),
            Err(HeadError::TooManyFields) => return Err("too many response header fields"),
            Err(_) => return Err("malformed response head"),
        };
        if head.status.is_informational() {
            if head.status == StatusCode::SWITCHING_PROTOCOLS {
                return Err("unrequested protocol switch");
            }
            *interim += 1;
            if *interim > MAX_INTERIM {
                return Err("too many interim responses");
            }
            continue;
        }
        let (framing, reusable) = framing(head.status, head.version, head_request, &head.fields)?;
        let keep_alive = reusable && persistent(head.version, &head.fields);
        return Ok(Parsed::Head(Received {
            head,
            framing,
            keep_alive,
        }));
    }
}

/// The framing of a final response's body, and whether the connection
/// can be trusted with another request after it.
fn framing(
    status: StatusCode,
    version: Version,
    head_request: bool,
    fields: &Fields,
) -> Result<(Framing, bool), &'static str> {
    let length = content_length(fields)?;
    let mut codings = fields.get_all(Known::TransferEncoding);
    let chunked = match codings.next() {
        None => false,
        Some(_) if length.is_some() => return Err("both Transfer-Encoding and Content-Length"),
        Some(_) if version == Version::HTTP_10 => return Err("Transfer-Encoding in an HTTP/1.0 response"),
        Some(only) if codings.next().is_none() && only.trim_ascii().eq_ignore_ascii_case(b"chunked") => true,
        Some(_) => return Err("unsupported Transfer-Encoding"),
    };
    if head_request || status == StatusCode::NOT_MODIFIED {
        return Ok((Framing::Empty, true));
    }
    if status == StatusCode::NO_CONTENT {
        // A 204 that announces a body may be followed by one: whatever
        // comes next on this connection cannot be trusted.
        return Ok((Framing::Empty, !chunked && length.unwrap_or(0) == 0));
    }
    Ok(match (chunked, length) {
        (true, _) => (Framing::Chunked, true),
        (false, Some(n)) => (Framing::Length(n), true),
        (false, None) => (Framing::Close, false),
    })
}

/// The `Content-Length`: absent, or one number however often repeated
/// (RFC 9110 §8.6 lets a recipient fold identical copies); anything else
/// is malformed.
fn content_length(fields: &Fields) -> Result<Option<u64>, &'static str> {
    let mut length = None;
    for value in fields.get_all(Known::ContentLength) {
        for item in value.split(|b| *b == b',') {
            let n = decimal_length(item.trim_ascii()).ok_or("malformed Content-Length")?;
            if length.is_some_and(|prior| prior != n) {
                return Err("conflicting Content-Length values");
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// Whether the origin keeps the connection open after this response.
fn persistent(version: Version, fields: &Fields) -> bool {
    let connection = || fields.get_all(Known::Connection);
    if lists(connection(), b"close") {
        return false;
    }
    version == Version::HTTP_11 || lists(connection(), b"keep-alive")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(raw: &str, head_request: bool) -> Result<Received, &'static str> {
        let mut buf = BytesMut::from(raw);
        match parse_head(&mut buf, head_request, &mut 0)? {
            Parsed::Head(head) => Ok(head),
            Parsed::Partial => Err("partial"),
        }
    }

    fn framed(raw: &str) -> Result<(Framing, bool), &'static str> {
        parse(raw, false).map(|h| (h.framing, h.keep_alive))
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(
            framed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
            Ok((Framing::Length(5), true))
        );
        assert_eq!(
            framed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5, 5\r\n\r\n"),
            Ok((Framing::Length(5), true))
        );
        assert_eq!(
            framed("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"),
            Ok((Framing::Chunked, true))
        );
        assert_eq!(framed("HTTP/1.1 200 OK\r\n\r\n"), Ok((Framing::Close, false)));
        assert_eq!(
            framed("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"),
            Ok((Framing::Empty, true))
        );
        assert_eq!(framed("HTTP/1.1 204 No Content\r\n\r\n"), Ok((Framing::Empty, true)));
        assert_eq!(
            framed("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"),
            Ok((Framing::Empty, false))
        );
        assert_eq!(
            framed("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"),
            Ok((Framing::Length(1), false))
        );
        assert_eq!(
            framed("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n"),
            Ok((Framing::Length(1), true))
        );
        assert_eq!(
            framed("HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 1\r\n\r\n"),
            Ok((Framing::Length(1), false))
        );
        let head = parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true).unwrap();
        assert_eq!(head.framing, Framing::Empty);
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for raw in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            "HTTP/2 200\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(framed(raw).is_err(), "{raw:?} is refused");
        }
    }

    #[test]
    fn interim_responses_are_skipped_and_the_rest_stays_buffered() {
        let mut buf = BytesMut::from(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
        let Parsed::Head(head) = parse_head(&mut buf, false, &mut 0).unwrap() else {
            panic!("complete")
        };
        assert_eq!(head.head.status, 200);
        assert_eq!(&buf[..], b"ok");
        let many = "HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM + 1);
        assert!(parse_head(&mut BytesMut::from(many.as_str()), false, &mut 0).is_err());
        let mut partial = BytesMut::from("HTTP/1.1 200 OK\r\nContent-");
        assert!(matches!(parse_head(&mut partial, false, &mut 0), Ok(Parsed::Partial)));
        let huge = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD));
        assert!(parse_head(&mut BytesMut::from(huge.as_str()), false, &mut 0).is_err());
    }
}
