//! A watch on the bytes of an HTTP/1 connection before hyper parses them,
//! for the two ambiguities hyper resolves instead of refusing: a bare LF as
//! a line ending in a request head, and a head with both `Content-Length`
//! and `Transfer-Encoding` (hyper drops the former). Either is a request
//! smuggling vector when another hop reads the bytes differently.
//!
//! The guard follows the framing of each request (heads, `Content-Length`
//! bodies, chunked bodies) so it knows where every head starts. When a head
//! is ambiguous, hyper is handed the bytes before the offending line, then a
//! NUL (which no request head may contain) and the end of the stream, so
//! hyper answers 400 and closes the connection; nothing after it is read.
//! Whatever the guard cannot follow (a framing hyper refuses anyway) turns
//! it off for the rest of the connection rather than risk a wrong verdict.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes of a header line kept to read its name and value; a longer
/// `Content-Length` or `Transfer-Encoding` line turns the guard off.
const LINE_KEEP: usize = 128;
const POISON: &[u8] = b"\0\r\n\r\n";

#[derive(Debug)]
pub(crate) struct Guarded<I> {
    io: I,
    scan: Scanner,
    /// Set once a bad head was cut: the poison is owed, then EOF.
    cut: Option<usize>,
}

impl<I> Guarded<I> {
    pub(crate) fn new(io: I) -> Self {
        Self {
            io,
            scan: Scanner::default(),
            cut: None,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Guarded<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(sent) = this.cut {
            // The rest of the poison, then the end of the stream.
            this.cut = Some(sent + poison(buf, sent));
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Some(bad) = this.scan.feed(&buf.filled()[before..]) {
                    // Never an empty read here: hyper would take it for EOF.
                    buf.set_filled(before + bad);
                    this.cut = Some(poison(buf, 0));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// Puts what fits of the poison from `sent` on; returns how much.
fn poison(buf: &mut ReadBuf<'_>, sent: usize) -> usize {
    let rest = &POISON[sent..];
    let n = rest.len().min(buf.remaining());
    buf.put_slice(&rest[..n]);
    n
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Guarded<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Where the scanner is in the request stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data: bytes still to skip.
    ChunkEnd(u8),
    Trailers,
    /// Framing the guard does not follow: hyper decides alone.
    Off,
}

#[derive(Debug)]
struct Scanner {
    state: State,
    /// The current line (first [`LINE_KEEP`] bytes), CR excluded.
    line: Vec<u8>,
    line_len: usize,
    cr: bool,
    request_line_seen: bool,
    content_length: Option<u64>,
    content_length_bad: bool,
    transfer_encoding: bool,
    chunked: bool,
    chunk_size: Option<u64>,
    in_extension: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Self {
            state: State::Head,
            line: Vec::with_capacity(LINE_KEEP),
            line_len: 0,
            cr: false,
            request_line_seen: false,
            content_length: None,
            content_length_bad: false,
            transfer_encoding: false,
            chunked: false,
            chunk_size: Some(0),
            in_extension: false,
        }
    }
}

impl Scanner {
    /// Follows `bytes`; returns the offset of the start of the offending
    /// line when a head is ambiguous.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Off => return None,
                State::Body(n) | State::ChunkData(n) => {
                    let take = n.min((bytes.len() - i) as u64);
                    i += take as usize;
                    let left = n - take;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => self.next_head(),
                        (State::Body(_), _) => State::Body(left),
                        (_, 0) => State::ChunkEnd(2),
                        _ => State::ChunkData(left),
                    };
                }
                State::ChunkEnd(n) => {
                    i += 1;
                    self.state = if n > 1 {
                        State::ChunkEnd(n - 1)
                    } else {
                        State::ChunkSize
                    };
                }
                State::ChunkSize => {
                    let b = bytes[i];
                    i += 1;
                    match b {
                        b'\n' => {
                            self.in_extension = false;
                            self.state = match self.chunk_size.take() {
                                Some(0) => State::Trailers,
                                Some(n) => State::ChunkData(n),
                                None => State::Off,
                            };
                            self.chunk_size = Some(0);
                        }
                        b'\r' => {}
                        b';' => self.in_extension = true,
                        _ if self.in_extension => {}
                        _ => {
                            let digit = (b as char).to_digit(16).map(u64::from);
                            self.chunk_size = match (self.chunk_size, digit) {
                                (Some(size), Some(d)) => size.checked_mul(16).and_then(|s| s.checked_add(d)),
                                _ => None,
                            };
                        }
                    }
                }
                State::Head | State::Trailers => {
                    // Where the current line began, as far as this read goes.
                    let line_start = i.saturating_sub(self.line_len + usize::from(self.cr));
                    if self.head_byte(bytes[i]) {
                        return Some(line_start);
                    }
                    i += 1;
                }
            }
        }
        None
    }

    /// One byte of a head or trailer section; true when the head is
    /// ambiguous (the line it is on is the offending one).
    fn head_byte(&mut self, b: u8) -> bool {
        if b != b'\n' {
            if self.cr {
                // A CR not before LF: hyper refuses it.
                self.state = State::Off;
                return false;
            }
            if b == b'\r' {
                self.cr = true;
            } else {
                if self.line.len() < LINE_KEEP {
                    self.line.push(b);
                }
                self.line_len += 1;
            }
            return false;
        }
        if !self.cr {
            return true;
        }
        self.cr = false;
        let ambiguous = self.end_line();
        self.line.clear();
        self.line_len = 0;
        ambiguous
    }

    /// A complete line; true when it makes the head ambiguous.
    fn end_line(&mut self) -> bool {
        if self.state == State::Trailers {
            if self.line_len == 0 {
                self.state = self.next_head();
            }
            return false;
        }
        if !self.request_line_seen {
            // Empty lines before a request line are skipped (RFC 9112 §2.2).
            self.request_line_seen = self.line_len > 0;
            return false;
        }
        if self.line_len == 0 {
            self.state = if self.transfer_encoding && self.content_length.is_some() {
                return true;
            } else if self.transfer_encoding {
                if self.chunked { State::ChunkSize } else { State::Off }
            } else if self.content_length_bad {
                State::Off
            } else {
                match self.content_length {
                    Some(n) if n > 0 => State::Body(n),
                    _ => self.next_head(),
                }
            };
            return false;
        }
        let Some(colon) = self.line.iter().position(|&c| c == b':') else {
            return false;
        };
        let (name, value) = self.line.split_at(colon);
        let value = value[1..].trim_ascii();
        let complete = self.line_len <= LINE_KEEP;
        if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = std::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok());
            match (parsed, self.content_length, complete) {
                (Some(n), None, true) => self.content_length = Some(n),
                _ => self.content_length_bad = true,
            }
            if self.transfer_encoding {
                return true;
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.transfer_encoding = true;
            self.chunked = complete && value.len() >= 7 && value[value.len() - 7..].eq_ignore_ascii_case(b"chunked");
            if self.content_length.is_some() || self.content_length_bad {
                return true;
            }
        }
        false
    }

    /// Resets the per-request facts; the next bytes are a head.
    fn next_head(&mut self) -> State {
        self.request_line_seen = false;
        self.content_length = None;
        self.content_length_bad = false;
        self.transfer_encoding = false;
        self.chunked = false;
        State::Head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; returns the absolute cut.
    fn cut(input: &[u8], step: usize) -> Option<usize> {
        let mut s = Scanner::default();
        let mut at = 0;
        for piece in input.chunks(step) {
            if let Some(bad) = s.feed(piece) {
                return Some(at + bad);
            }
            at += piece.len();
        }
        None
    }

    /// The cut when `input` arrives in one read. Split across reads, the
    /// cut may come later (what an earlier read handed over stays handed
    /// over), but always within the offending line, so hyper never sees it whole.
    fn every_split(input: &[u8]) -> Option<usize> {
        let whole = cut(input, input.len().max(1));
        for step in 1..input.len() {
            let split = cut(input, step);
            match (whole, split) {
                (None, None) => {}
                (Some(w), Some(c)) => {
                    let line_end = w + input[w..].iter().position(|&b| b == b'\n').expect("line end");
                    assert!(
                        (w..=line_end).contains(&c),
                        "split every {step} bytes: cut at {c}, line {w}..{line_end}"
                    );
                }
                _ => panic!("split every {step} bytes: {split:?} instead of {whole:?}"),
            }
        }
        whole
    }

    #[test]
    fn well_framed_requests_pass() {
        let stream = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab\ncdPOST /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\na\nb\r\n0\r\nX-Trailer: 1\r\n\r\nGET /z HTTP/1.1\r\n\r\n";
        assert_eq!(every_split(stream), None);
    }

    #[test]
    fn a_bare_lf_cuts_at_its_line() {
        let stream = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n";
        let at = every_split(stream).expect("cut");
        assert_eq!(&stream[at..at + 7], b"Host: a");
        let body_lf = b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\na\nbGET / HTTP/1.1\n\n";
        let at = every_split(body_lf).expect("cut after the body");
        assert_eq!(&body_lf[at..at + 5], b"GET /");
    }

    #[test]
    fn content_length_with_transfer_encoding_cuts() {
        for head in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            let at = every_split(head).expect("cut");
            let second = head.windows(2).filter(|w| w == b"\r\n").count() >= 3;
            assert!(
                second && head[..at].ends_with(b"\r\n") && at > 17,
                "cut at the second framing header"
            );
        }
    }

    #[test]
    fn unfollowable_framing_turns_the_guard_off() {
        // hyper refuses these itself; the guard does not guess past them.
        assert_eq!(
            cut(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET / HTTP/1.1\n\n",
                64
            ),
            None
        );
        assert_eq!(
            cut(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\n\n", 64),
            None
        );
    }
}
