//! Head parse + build: `cargo bench -p cirrus-edge --bench head`.
//!
//! What the edge does with every head on the way through, on realistic
//! heads (a browser's request of 20 fields, about 1 KiB; an origin's
//! response of 20 fields): parse the bytes, edit (the request: drop the
//! hop-by-hop `connection`, set `host`, add `x-forwarded-for`; the
//! response: drop `connection`, add `age`), read a few fields, and write the
//! head out. Two ways: the edge's own [`RequestHead`] / [`ResponseHead`],
//! and the baseline `httparse` + `http::HeaderMap` (a `HeaderName` and a
//! shared `HeaderValue` per field, as the edge built its heads before).
//! Each side runs for `CIRRUS_BENCH_MS` (300) ms, alternating, 5 times;
//! prints the median ns per head and the ratio (baseline / ours: above 1
//! is faster).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use cirrus_edge::head::{RequestHead, ResponseHead};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::hint::black_box;
use std::time::{Duration, Instant};

const REQUEST: &str = "GET /static/app/main.3f9a1c.js?v=20261206 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Accept: */*\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en;q=0.9,fr;q=0.8\r\n\
Connection: keep-alive\r\n\
Referer: https://www.example.com/products/shoes?colour=blue&size=42\r\n\
Cookie: session=4f6c1d2e9a8b7c6d5e4f3a2b1c0d9e8f; consent=yes; theme=dark; ab=variant-b\r\n\
Sec-Fetch-Dest: script\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Ch-Ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n\
Sec-Ch-Ua-Mobile: ?0\r\n\
Sec-Ch-Ua-Platform: \"Linux\"\r\n\
If-None-Match: \"5e1c-6a2b3c4d5e6f\"\r\n\
If-Modified-Since: Sat, 05 Dec 2026 10:00:00 GMT\r\n\
Cache-Control: max-age=0\r\n\
DNT: 1\r\n\
X-Requested-With: XMLHttpRequest\r\n\
Priority: u=1\r\n\r\n";

const RESPONSE: &str = "HTTP/1.1 200 OK\r\n\
Server: nginx/1.22.1\r\n\
Date: Sun, 06 Dec 2026 19:00:00 GMT\r\n\
Content-Type: application/javascript; charset=utf-8\r\n\
Content-Length: 48213\r\n\
Last-Modified: Sat, 05 Dec 2026 10:00:00 GMT\r\n\
Connection: keep-alive\r\n\
ETag: \"5e1c-6a2b3c4d5e6f\"\r\n\
Cache-Control: public, max-age=31536000, immutable\r\n\
Vary: Accept-Encoding\r\n\
Accept-Ranges: bytes\r\n\
Expires: Mon, 06 Dec 2027 19:00:00 GMT\r\n\
X-Content-Type-Options: nosniff\r\n\
X-Frame-Options: SAMEORIGIN\r\n\
Strict-Transport-Security: max-age=63072000; includeSubDomains\r\n\
Access-Control-Allow-Origin: *\r\n\
Timing-Allow-Origin: *\r\n\
X-Backend: app-7\r\n\
X-Request-Id: 9c1b7a52-7f0e-4d7b-a1c6-2b8f0e4d3c21\r\n\
Content-Security-Policy: default-src 'self'\r\n\
Cross-Origin-Resource-Policy: same-site\r\n\r\n";

fn ours_request(wire: &Bytes, out: &mut Vec<u8>) {
    let mut buf = BytesMut::from(&wire[..]);
    let mut head = RequestHead::parse(&mut buf).unwrap().unwrap();
    black_box(head.fields.get("cache-control"));
    black_box(head.fields.get("if-none-match"));
    head.fields.remove("connection");
    head.fields.insert("host", "origin.example.net").unwrap();
    head.fields.append("x-forwarded-for", "192.0.2.10").unwrap();
    out.clear();
    head.write_to(out);
}

fn ours_response(wire: &Bytes, out: &mut Vec<u8>) {
    let mut buf = BytesMut::from(&wire[..]);
    let mut head = ResponseHead::parse(&mut buf).unwrap().unwrap();
    black_box(head.fields.get("cache-control"));
    black_box(head.fields.get("vary"));
    head.fields.remove("connection");
    head.fields.append("age", "0").unwrap();
    out.clear();
    head.write_to(out);
}

/// Each field's checked name and where its value lies in the head.
fn spans(base: &[u8], found: &[httparse::Header<'_>]) -> Vec<(HeaderName, usize, usize)> {
    let base = base.as_ptr() as usize;
    found
        .iter()
        .map(|h| {
            let start = h.value.as_ptr() as usize - base;
            (
                HeaderName::from_bytes(h.name.as_bytes()).unwrap(),
                start,
                start + h.value.len(),
            )
        })
        .collect()
}

/// A `HeaderMap` of shared slices of the head's bytes.
fn header_map(bytes: &Bytes, spans: Vec<(HeaderName, usize, usize)>) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(spans.len());
    for (name, start, end) in spans {
        map.append(name, HeaderValue::from_maybe_shared(bytes.slice(start..end)).unwrap());
    }
    map
}

fn write_map(map: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in map {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn baseline_request(wire: &Bytes, out: &mut Vec<u8>) {
    let mut buf = BytesMut::from(&wire[..]);
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; 128];
    let mut req = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, &buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!("{other:?}"),
    };
    let method = http::Method::from_bytes(req.method.unwrap().as_bytes()).unwrap();
    let target = req.path.unwrap();
    let target = target.as_ptr() as usize - buf.as_ptr() as usize
        ..target.as_ptr() as usize - buf.as_ptr() as usize + target.len();
    let spans = spans(&buf, req.headers);
    let bytes = buf.split_to(len).freeze();
    let uri = http::Uri::from_maybe_shared(bytes.slice(target)).unwrap();
    let mut map = header_map(&bytes, spans);
    black_box(map.get(http::header::CACHE_CONTROL));
    black_box(map.get(http::header::IF_NONE_MATCH));
    map.remove(http::header::CONNECTION);
    map.insert(http::header::HOST, HeaderValue::from_static("origin.example.net"));
    map.append("x-forwarded-for", HeaderValue::from_static("192.0.2.10"));
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(uri.path_and_query().unwrap().as_str().as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_map(&map, out);
}

fn baseline_response(wire: &Bytes, out: &mut Vec<u8>) {
    let mut buf = BytesMut::from(&wire[..]);
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; 128];
    let mut res = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut res, &buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!("{other:?}"),
    };
    let status = http::StatusCode::from_u16(res.code.unwrap()).unwrap();
    let spans = spans(&buf, res.headers);
    let bytes = buf.split_to(len).freeze();
    let mut map = header_map(&bytes, spans);
    black_box(map.get(http::header::CACHE_CONTROL));
    black_box(map.get(http::header::VARY));
    map.remove(http::header::CONNECTION);
    map.append(http::header::AGE, HeaderValue::from_static("0"));
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b" OK\r\n");
    write_map(&map, out);
}

/// A head's lines, lowercase and sorted: two heads with the same fields in
/// another order (a header map reorders on removal) compare equal.
fn lines(head: &[u8]) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = head.split(|c| *c == b'\n').map(<[u8]>::to_ascii_lowercase).collect();
    all.sort();
    all
}

/// ns per call of `f` over `budget`.
fn time(f: fn(&Bytes, &mut Vec<u8>), wire: &Bytes, budget: Duration) -> f64 {
    let mut out = Vec::with_capacity(4096);
    let (start, mut n) = (Instant::now(), 0u64);
    while start.elapsed() < budget {
        for _ in 0..256 {
            f(black_box(wire), &mut out);
        }
        n += 256;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let ms = std::env::var("CIRRUS_BENCH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let budget = Duration::from_millis(ms);
    type Case = (
        &'static str,
        &'static str,
        fn(&Bytes, &mut Vec<u8>),
        fn(&Bytes, &mut Vec<u8>),
    );
    let cases: [Case; 2] = [
        ("request head", REQUEST, ours_request, baseline_request),
        ("response head", RESPONSE, ours_response, baseline_response),
    ];
    println!(
        "{:<16} {:>6} {:>7} {:>14} {:>14} {:>7}",
        "case", "fields", "bytes", "ours ns", "baseline ns", "ratio"
    );
    for (name, wire, ours, baseline) in cases {
        let wire = Bytes::from_static(wire.as_bytes());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        // Both must produce the same head (names' case aside).
        let (mut x, mut y) = (Vec::new(), Vec::new());
        ours(&wire, &mut x);
        baseline(&wire, &mut y);
        assert_eq!(lines(&x), lines(&y), "{name}: different heads");
        for _ in 0..5 {
            a.push(time(ours, &wire, budget));
            b.push(time(baseline, &wire, budget));
        }
        let fields = wire.split(|c| *c == b'\n').count() - 3;
        let (a, b) = (median(a), median(b));
        println!(
            "{name:<16} {fields:>6} {:>7} {a:>14.0} {b:>14.0} {:>7.2}",
            wire.len(),
            b / a
        );
    }
}
