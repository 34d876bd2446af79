//! Fuzz targets for the parsers the edge runs on attacker-controlled bytes
//! (driven by `cirrus_test_support::fuzz`; docs/testing.md has the long
//! runs' figures). Each checks more than "no panic": a head parsed in
//! pieces parses as it does whole, a chunked body decodes the same however
//! the bytes arrive, what the edge encodes decodes back, and a range stays
//! inside its object.

use crate::cache::control::ResponseDirectives;
use crate::cache::range::{Ranged, ask};
use crate::http1::{Decoder, Framing, Limits, Parsed, Step, parse_request, parse_response as parse_head};
use bytes::BytesMut;
use cirrus_test_support::fuzz::{choices, fuzz};
use rand::Rng;

const LIMITS: Limits = Limits {
    max_bytes: 8192,
    max_headers: 64,
};

/// The outcome of parsing a request head, comparable across runs.
fn request_outcome(bytes: &[u8]) -> (String, usize) {
    let mut buf = BytesMut::from(bytes);
    let outcome = match parse_request(&mut buf, LIMITS) {
        Ok(Some(head)) => format!("{:?} {:?} {:?}", head.request.method, head.request.uri, head.body),
        Ok(None) => "partial".into(),
        Err(refusal) => format!("refused {}", refusal.status),
    };
    (outcome, buf.len())
}

#[test]
fn request_heads() {
    let seeds: &[&[u8]] = &[
        b"GET /a/b?c=d HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"PUT /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
        b"GET http://a.test/abs HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        b"\r\nOPTIONS * HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    ];
    fuzz("request head", seeds, |input| {
        let (whole, rest) = request_outcome(input);
        assert!(rest <= input.len());
        // A complete head parses the same from a prefix that holds it: a
        // shorter prefix is partial or the same refusal, never another head.
        let cut = choices(input).gen_range(0..=input.len());
        let (prefix, _) = request_outcome(&input[..cut]);
        if prefix != "partial" && !prefix.starts_with("refused") {
            assert_eq!(
                prefix, whole,
                "a head parsed from a prefix differs from the whole: {input:?}"
            );
        }
    });
}

#[test]
fn response_heads() {
    let seeds: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nCache-Control: max-age=60\r\n\r\nhello",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.0 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
        b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/10\r\nContent-Length: 5\r\n\r\n",
    ];
    fuzz("response head", seeds, |input| {
        let head_request = input.first().is_some_and(|b| b & 1 == 1);
        let mut buf = BytesMut::from(input);
        let mut interim = 0;
        if let Ok(Parsed::Head(head)) = parse_head(&mut buf, head_request, &mut interim) {
            assert!(buf.len() < input.len(), "a parsed head consumed its bytes");
            if head_request {
                assert!(matches!(head.framing, Framing::Empty), "no body after a HEAD");
            }
        }
    });
}

/// Decodes `bytes` fed in the pieces `cuts` makes: the body, whether it
/// ended, and the error if any.
fn decode_in_pieces(framing: Framing, bytes: &[u8], cuts: &[usize]) -> (Vec<u8>, bool, Option<&'static str>) {
    let mut decoder = Decoder::new(framing);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain([&bytes.len()]) {
        buf.extend_from_slice(&bytes[start..end.max(start)]);
        start = end.max(start);
        loop {
            match decoder.step(&mut buf) {
                Ok(Step::Data(d)) => body.extend_from_slice(&d),
                Ok(Step::Trailers(_)) => {}
                Ok(Step::More) => break,
                Ok(Step::Done) => return (body, true, None),
                Err(e) => return (body, false, Some(e)),
            }
        }
    }
    (body, false, None)
}

#[test]
fn chunked_bodies_decode_the_same_however_they_arrive() {
    let seeds: &[&[u8]] = &[
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
        b"a\r\n0123456789\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n",
        b"0\r\n\r\n",
        b"FFFFFFFFFFFFFFFFF\r\n",
        b"1\r\nx\r\n1\r\ny\r\n1\r\nz\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
    ];
    // The same decoder reads clients' request bodies and origins' responses.
    fuzz("chunked decode", seeds, |input| {
        let whole = decode_in_pieces(Framing::Chunked, input, &[]);
        let mut rng = choices(input);
        let mut cuts: Vec<usize> = (0..rng.gen_range(1..8))
            .map(|_| rng.gen_range(0..=input.len()))
            .collect();
        cuts.sort_unstable();
        let pieces = decode_in_pieces(Framing::Chunked, input, &cuts);
        assert_eq!(
            whole, pieces,
            "decoding depends on how the bytes arrive: {input:?} cut at {cuts:?}"
        );
        assert!(whole.0.len() <= input.len());
    });
}

#[test]
fn what_the_edge_encodes_decodes_back() {
    fuzz("chunked round trip", &[b"hello world", b""], |body| {
        // Framed as the edge writes chunks: hex size, CRLF, data, CRLF.
        let mut rng = choices(body);
        let mut wire = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let n = rng.gen_range(1..=body.len() - at);
            wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            wire.extend_from_slice(&body[at..at + n]);
            wire.extend_from_slice(b"\r\n");
            at += n;
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let (decoded, done, error) = decode_in_pieces(Framing::Chunked, &wire, &[wire.len() / 2]);
        assert_eq!((decoded.as_slice(), done, error), (body, true, None));
        let (by_length, done, _) = decode_in_pieces(Framing::Length(body.len() as u64), body, &[]);
        assert!(by_length == body && done);
    });
}

fn headers_with(name: &'static str, value: &[u8]) -> Option<crate::head::Fields> {
    let mut h = crate::head::Fields::new();
    h.insert(name, value).ok()?;
    Some(h)
}

#[test]
fn cache_control_fields() {
    let seeds: &[&[u8]] = &[
        b"max-age=60, s-maxage=120, stale-while-revalidate=30",
        b"no-store, private=\"Set-Cookie\", no-cache",
        b"public, max-age=\"10\", must-revalidate, stale-if-error=99999999999999999999",
        b"max-age=-1, max-age=5, ,,, =, x=\"unterminated",
    ];
    fuzz("cache-control", seeds, |input| {
        let Some(h) = headers_with("cache-control", input) else {
            return;
        };
        let d = ResponseDirectives::parse(&h);
        let again = ResponseDirectives::parse(&h);
        assert_eq!(format!("{d:?}"), format!("{again:?}"));
        let _ = ResponseDirectives::for_edge(&h, Some("cache-control"));
    });
}

#[test]
fn ranges_stay_inside_the_object() {
    let seeds: &[&[u8]] = &[
        b"bytes=0-99",
        b"bytes=-500",
        b"bytes=9500-",
        b"bytes=0-0,-1",
        b"bytes=18446744073709551615-18446744073709551616",
    ];
    fuzz("range", seeds, |input| {
        let mut request = crate::head::Fields::new();
        if request.insert("range", input).is_err() {
            return;
        }
        let len = choices(input).gen_range(0..20_000u64);
        if let Ranged::Part(r) = ask(&request, &crate::head::Fields::new(), len) {
            assert!(r.start < r.end && r.end <= len, "{r:?} of {len} from {input:?}");
        }
    });
}
