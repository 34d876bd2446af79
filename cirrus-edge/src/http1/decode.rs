//! Decoding a message body from a connection's read buffer (an origin's
//! response, a client's request):
//! by length, chunked (RFC 9112 §7.1, strictly: hex sizes only, CRLF
//! everywhere, bounded lines and trailers), or until the origin closes.

use super::Framing;
use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Longest chunk-size line (size and extensions).
const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section.
const MAX_TRAILERS: usize = 16 * 1024;

/// What decoding the buffered bytes gave.
#[derive(Debug)]
pub(crate) enum Step {
    /// Body bytes.
    Data(Bytes),
    /// The trailer fields of a chunked body (then the end).
    Trailers(HeaderMap),
    /// More bytes must be read first.
    More,
    /// The body is complete.
    Done,
}

/// Where a body's decoding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// This many bytes left.
    Length(u64),
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk: this many bytes left.
    Chunk(u64),
    /// After a chunk's data: its CRLF.
    ChunkEnd,
    /// After the last chunk: trailer fields, then an empty line.
    Trailers,
    /// Until the connection closes.
    Close,
    /// Complete.
    Done,
}

impl Decoder {
    pub(crate) fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty | Framing::Length(0) => Self::Done,
            Framing::Length(n) => Self::Length(n),
            Framing::Chunked => Self::Size,
            Framing::Close => Self::Close,
        }
    }

    /// Decodes what `buf` holds; consumes it.
    pub(crate) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, &'static str> {
        loop {
            match *self {
                Self::Done => return Ok(Step::Done),
                Self::Length(_) | Self::Chunk(_) | Self::Close if buf.is_empty() => return Ok(Step::More),
                Self::Length(left) => {
                    let (data, left) = take(buf, left);
                    *self = if left == 0 { Self::Done } else { Self::Length(left) };
                    return Ok(Step::Data(data));
                }
                Self::Close => return Ok(Step::Data(buf.split().freeze())),
                Self::Size => {
                    let Some(line) = size_line(buf)? else {
                        return Ok(Step::More);
                    };
                    let size = chunk_size(&buf[..line])?;
                    buf.advance(line + 2);
                    *self = if size == 0 { Self::Trailers } else { Self::Chunk(size) };
                }
                Self::Chunk(left) => {
                    let (data, left) = take(buf, left);
                    *self = if left == 0 { Self::ChunkEnd } else { Self::Chunk(left) };
                    return Ok(Step::Data(data));
                }
                Self::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err("chunk data longer than its size");
                    }
                    buf.advance(2);
                    *self = Self::Size;
                }
                Self::Trailers => return trailers(buf).map(|t| t.map_or(Step::More, |t| self.finish(t))),
            }
        }
    }

    fn finish(&mut self, trailers: HeaderMap) -> Step {
        *self = Self::Done;
        if trailers.is_empty() {
            Step::Done
        } else {
            Step::Trailers(trailers)
        }
    }

    /// The body ends where the connection does (close-delimited).
    pub(crate) fn ends_at_close(self) -> bool {
        self == Self::Close
    }

    /// Bytes left, when known.
    pub(crate) fn remaining(self) -> Option<u64> {
        match self {
            Self::Length(n) => Some(n),
            Self::Done => Some(0),
            _ => None,
        }
    }
}

/// Up to `left` bytes off the front of `buf`, and how many are left then.
fn take(buf: &mut BytesMut, left: u64) -> (Bytes, u64) {
    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
    (buf.split_to(n).freeze(), left - n as u64)
}

/// The length of the chunk-size line at the start of `buf` (without its
/// CRLF), when it is all there; a bare LF or an overlong line is malformed.
fn size_line(buf: &[u8]) -> Result<Option<usize>, &'static str> {
    match buf.iter().take(MAX_CHUNK_LINE).position(|b| *b == b'\n') {
        Some(0) => Err("bare LF in chunked framing"),
        Some(lf) if buf[lf - 1] != b'\r' => Err("bare LF in chunked framing"),
        Some(lf) => Ok(Some(lf - 1)),
        None if buf.len() >= MAX_CHUNK_LINE => Err("chunk size line too long"),
        None => Ok(None),
    }
}

/// `1*HEXDIG [ BWS ";" chunk-ext ]`: the size of a chunk.
fn chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err("malformed chunk size");
    }
    let mut size: u64 = 0;
    for d in &line[..digits] {
        let v = char::from(*d).to_digit(16).map_or(0, u64::from);
        size = size.checked_mul(16).ok_or("chunk size overflows")? | v;
    }
    let rest = line[digits..].trim_ascii_start();
    match rest.first() {
        None | Some(b';')
            if rest
                .iter()
                .all(|b| *b == b'\t' || (b' '..=b'~').contains(b) || *b >= 0x80) =>
        {
            Ok(size)
        }
        _ => Err("malformed chunk size"),
    }
}

/// The trailer section at the start of `buf` (fields, then an empty
/// line), when it is all there.
fn trailers(buf: &mut BytesMut) -> Result<Option<HeaderMap>, &'static str> {
    if buf.starts_with(b"\r\n") {
        buf.advance(2);
        return Ok(Some(HeaderMap::new()));
    }
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let (len, parsed) = match httparse::parse_headers(buf, &mut fields) {
        Ok(httparse::Status::Complete((len, _))) if len > MAX_TRAILERS => return Err("trailers too large"),
        Ok(httparse::Status::Complete(done)) => done,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_TRAILERS => return Err("trailers too large"),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("malformed trailers"),
    };
    let mut map = HeaderMap::with_capacity(parsed.len());
    for field in parsed {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| "malformed trailers")?;
        let value = HeaderValue::from_bytes(field.value).map_err(|_| "malformed trailers")?;
        map.append(name, value);
    }
    buf.advance(len);
    Ok(Some(map))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Decodes `raw` fed in pieces of `piece` bytes: the body, the trailers.
    fn decode(raw: &[u8], piece: usize) -> Result<(Vec<u8>, HeaderMap, Vec<u8>), &'static str> {
        let mut d = Decoder::new(Framing::Chunked);
        let (mut body, mut trailers, mut buf) = (Vec::new(), HeaderMap::new(), BytesMut::new());
        let mut input = raw.chunks(piece);
        loop {
            match d.step(&mut buf)? {
                Step::Data(b) => body.extend_from_slice(&b),
                Step::Trailers(t) => trailers = t,
                Step::More => match input.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => return Err("incomplete"),
                },
                Step::Done => {
                    let rest = buf.iter().chain(input.flatten()).copied().collect();
                    return Ok((body, trailers, rest));
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_in_any_split() {
        let raw = b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 9\r\n\r\nNEXT";
        for piece in [1, 2, 3, 7, raw.len()] {
            let (body, trailers, rest) = decode(raw, piece).unwrap();
            assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
            assert_eq!(trailers["x-sum"], "9");
            assert_eq!(rest, b"NEXT", "bytes after the body stay for the connection to judge");
        }
        assert_eq!(decode(b"000\r\n\r\n", 1).unwrap().0, b"");
    }

    #[test]
    fn malformed_chunking_is_refused() {
        for raw in [
            &b"x\r\n"[..],
            b"-1\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhelloEXTRA\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
            b"0\r\nBad Field: 1\r\n\r\n",
        ] {
            assert!(decode(raw, 1).is_err(), "{:?} is refused", String::from_utf8_lossy(raw));
        }
        let long = format!("5;{}\r\n", "e".repeat(MAX_CHUNK_LINE));
        assert_eq!(decode(long.as_bytes(), 64), Err("chunk size line too long"));
        let trailer = format!("0\r\nX: {}\r\n\r\n", "t".repeat(MAX_TRAILERS));
        assert!(decode(trailer.as_bytes(), 1024) == Err("trailers too large"));
    }

    #[test]
    fn lengths_stop_at_their_end() {
        let mut d = Decoder::new(Framing::Length(3));
        let mut buf = BytesMut::from(&b"abcdef"[..]);
        assert!(matches!(d.step(&mut buf), Ok(Step::Data(b)) if b == "abc"));
        assert!(matches!(d.step(&mut buf), Ok(Step::Done)));
        assert_eq!(&buf[..], b"def");
    }
}
