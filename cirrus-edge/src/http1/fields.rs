//! Header fields as the HTTP/1 codec reads and writes them: `Connection`
//! tokens, `Content-Length` digits, one field line, where a head may end,
//! and the checks that refuse a request whose framing another hop could
//! read two ways (request smuggling, RFC 9112 §6.3 and §11.2).

use crate::head::{Fields, Known, decimal};
use http::Method;

/// Whether one of a list field's `values` (comma-separated tokens) is
/// `token` (case-insensitive).
pub(crate) fn lists<'a>(mut values: impl Iterator<Item = &'a [u8]>, token: &[u8]) -> bool {
    values.any(|v| {
        // Most values are one token (`keep-alive`, `close`): no split.
        if !v.contains(&b',') {
            return v.trim_ascii().eq_ignore_ascii_case(token);
        }
        v.split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    })
}

/// A `Content-Length` value: 1 to 19 ASCII digits, nothing else.
pub(crate) fn decimal_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Appends `n` in decimal to `buf` (without the formatting machinery:
/// every answer with a length writes one).
pub(crate) fn put_decimal(buf: &mut Vec<u8>, n: u64) {
    buf.extend_from_slice(decimal(n, &mut [0; 20]));
}

/// Appends one `name: value` line of a message head to `buf`.
pub(crate) fn put_field(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    buf.extend_from_slice(name);
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
}

/// Whether the bytes read since the last attempt (`scanned` of `buf`
/// were there then; `None`: no attempt yet) may complete a message head:
/// they hold an empty line (CRLF CRLF, or the bare LF forms the parsers
/// refuse). Parsing only then keeps a peer that sends its head a byte at
/// a time from costing a parse per read; the first attempt always parses.
pub(crate) fn may_end_a_head(buf: &[u8], scanned: Option<usize>) -> bool {
    let Some(scanned) = scanned else { return true };
    let mut rest = &buf[scanned.saturating_sub(2).min(buf.len())..];
    while let Some(lf) = rest.iter().position(|b| *b == b'\n') {
        rest = &rest[lf + 1..];
        if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
            return true;
        }
    }
    false
}

/// Why a request's framing is refused.
pub(crate) fn framing_problem(method: &Method, fields: &Fields) -> Option<&'static str> {
    let te = fields.get_all(Known::TransferEncoding).count();
    let mut lengths = fields.get_all(Known::ContentLength);
    let (length, more) = (lengths.next(), lengths.next().is_some());
    if te > 0 && length.is_some() {
        return Some("both Content-Length and Transfer-Encoding");
    }
    if more {
        return Some("more than one Content-Length");
    }
    if length.is_some_and(|v| v.is_empty() || !v.iter().all(u8::is_ascii_digit)) {
        return Some("malformed Content-Length");
    }
    if te > 1
        || fields
            .get(Known::TransferEncoding)
            .is_some_and(|v| !v.eq_ignore_ascii_case(b"chunked"))
    {
        return Some("unsupported Transfer-Encoding");
    }
    if fields.contains(Known::Upgrade) || *method == Method::CONNECT {
        return Some("protocol upgrades are not supported");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_may_end_only_where_an_empty_line_arrived() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(may_end_a_head(b"", None), "the first attempt always parses");
        // Every split of the head between two reads: found once the end is in.
        for split in 1..head.len() {
            assert!(!may_end_a_head(&head[..split], Some(0)), "{split}");
            assert!(may_end_a_head(head, Some(split)), "{split}");
        }
        assert!(may_end_a_head(b"HTTP/1.1 200 OK\n\n", Some(3)), "bare LF forms too");
        assert!(!may_end_a_head(b"HTTP/1.1 200 OK\r\nA: b\r\n", Some(0)));
    }

    #[test]
    fn list_tokens_are_found_in_one_token_values_and_in_lists() {
        let has = |values: &[&str], token: &[u8]| lists(values.iter().map(|v| v.as_bytes()), token);
        assert!(has(&[" Close "], b"close"));
        assert!(has(&["keep-alive", "upgrade, CLOSE"], b"close"));
        assert!(!has(&["keep-alive"], b"close"));
        assert!(!has(&["closed", "x-close, "], b"close"));
        assert!(!has(&[], b"close"));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let f = crate::head::fields;
        let get = &Method::GET;
        assert!(framing_problem(get, &f(&[("content-length", "5"), ("transfer-encoding", "chunked")])).is_some());
        assert!(framing_problem(get, &f(&[("content-length", "5"), ("content-length", "5")])).is_some());
        assert!(framing_problem(get, &f(&[("content-length", "+5")])).is_some());
        assert!(framing_problem(get, &f(&[("transfer-encoding", "gzip, chunked")])).is_some());
        assert!(framing_problem(get, &f(&[("upgrade", "websocket")])).is_some());
        assert!(framing_problem(&Method::CONNECT, &f(&[])).is_some());
        assert_eq!(framing_problem(get, &f(&[("content-length", "5")])), None);
        assert_eq!(framing_problem(get, &f(&[("transfer-encoding", "Chunked")])), None);
    }
}
