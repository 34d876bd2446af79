//! Compression of stored responses: which encoding a request accepts
//! (`br` before `gzip`), which responses are worth compressing (text-like
//! types the origin did not compress, 256 bytes or more, no
//! `no-transform`), and the compressed variant of a stored response,
//! stored under its own key beside the identity one.

use super::entry::CachedResponse;
use super::key::CacheKey;
use crate::head::{Fields, Known};
use bytes::Bytes;
use http::StatusCode;
use std::io::Write;

/// Smaller bodies are not worth the bytes of the header.
pub(crate) const MIN_LEN: usize = 256;

/// An encoding the edge produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }
}

/// The encoding a request with `headers` accepts, best first: `br`, then
/// `gzip` (or `x-gzip`, or `*`); `None` when it accepts neither.
pub(crate) fn negotiate(headers: &Fields) -> Option<Encoding> {
    let (mut br, mut gzip, mut any) = (None, None, None);
    for value in headers.get_all(Known::AcceptEncoding) {
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let accepted = q > 0.0;
            match coding.as_str() {
                "br" => br = Some(accepted),
                "gzip" | "x-gzip" => gzip = Some(accepted),
                "*" => any = Some(accepted),
                _ => {}
            }
        }
    }
    if br.unwrap_or(false) {
        Some(Encoding::Brotli)
    } else if gzip.or(any).unwrap_or(false) {
        Some(Encoding::Gzip)
    } else {
        None
    }
}

/// True for media types that compress well (text, JSON, XML, JavaScript,
/// SVG, WebAssembly, fonts without their own compression). No allocation:
/// it runs for every answer on the cacheable path.
fn compressible_type(content_type: &[u8]) -> bool {
    const EXACT: [&[u8]; 11] = [
        b"application/json",
        b"application/javascript",
        b"application/x-javascript",
        b"application/ecmascript",
        b"application/xml",
        b"application/wasm",
        b"application/vnd.ms-fontobject",
        b"image/svg+xml",
        b"image/x-icon",
        b"font/ttf",
        b"font/otf",
    ];
    let essence = content_type
        .iter()
        .position(|&b| b == b';')
        .map_or(content_type, |at| &content_type[..at])
        .trim_ascii();
    if !essence.is_ascii() {
        return false;
    }
    let ends_with = |suffix: &[u8]| {
        essence
            .len()
            .checked_sub(suffix.len())
            .is_some_and(|at| essence[at..].eq_ignore_ascii_case(suffix))
    };
    essence.get(..5).is_some_and(|p| p.eq_ignore_ascii_case(b"text/"))
        || ends_with(b"+json")
        || ends_with(b"+xml")
        || EXACT.iter().any(|t| t.eq_ignore_ascii_case(essence))
}

/// True when a response with `status`, `headers` and a body of `len`
/// bytes is compressed for clients that accept it.
pub(crate) fn compressible(status: StatusCode, headers: &Fields, len: usize) -> bool {
    status == StatusCode::OK
        && len >= MIN_LEN
        && headers
            .get(Known::ContentEncoding)
            .is_none_or(|e| e.eq_ignore_ascii_case(b"identity"))
        && headers.get(Known::ContentType).is_some_and(compressible_type)
        && !no_transform(headers)
}

/// `Cache-Control: no-transform` (RFC 9111 §5.2.2.6): intermediaries do
/// not change the content, encoding included.
fn no_transform(headers: &Fields) -> bool {
    headers
        .get_list(Known::CacheControl)
        .any(|d| d.eq_ignore_ascii_case(b"no-transform"))
}

/// True for a response that the edge may serve compressed to another
/// client: a text-like type, not compressed by the origin, no
/// `no-transform` (its `Vary` must then name `Accept-Encoding`).
pub(crate) fn may_be_encoded(headers: &Fields) -> bool {
    !headers.contains(Known::ContentEncoding)
        && headers.get(Known::ContentType).is_some_and(compressible_type)
        && !no_transform(headers)
}

/// Adds `Accept-Encoding` to `Vary` unless it is there.
pub(crate) fn vary_on_encoding(headers: &mut Fields) {
    let listed = headers
        .get_list(Known::Vary)
        .any(|n| n == b"*" || n.eq_ignore_ascii_case(b"accept-encoding"));
    if !listed {
        headers.append_own(Known::Vary, b"Accept-Encoding");
    }
}

/// The key of the `encoding` variant of the response stored under `key`.
pub(crate) fn encoded_key(key: &CacheKey, encoding: Encoding) -> CacheKey {
    CacheKey::from_text(format!("{}\nencoding:{}", key.text(), encoding.token()))
}

/// `body` compressed (gzip level 6, brotli quality 5: fast enough to do
/// on a first HIT, within a few percent of the best ratios for text).
fn compress(body: &[u8], encoding: Encoding) -> std::io::Result<Vec<u8>> {
    match encoding {
        Encoding::Gzip => {
            let mut out =
                flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 3), flate2::Compression::new(6));
            out.write_all(body)?;
            out.finish()
        }
        Encoding::Brotli => {
            let mut out = Vec::with_capacity(body.len() / 3);
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                w.write_all(body)?;
            }
            Ok(out)
        }
    }
}

/// The `encoding` variant of `identity`: same freshness, tags and soft
/// purge mark; `Content-Encoding` and length set, a strong `ETag` made
/// weak (another representation), `Vary: Accept-Encoding`. When the
/// compressed body is not smaller, the variant is the identity response
/// (so the work is not done again).
pub(crate) fn variant(identity: &CachedResponse, encoding: Encoding) -> CachedResponse {
    let mut headers = identity.headers.clone();
    vary_on_encoding(&mut headers);
    let body = match compress(&identity.body, encoding) {
        Ok(out) if out.len() < identity.body.len() => {
            let _ = headers.insert(Known::ContentEncoding, encoding.token());
            headers.insert_number(Known::ContentLength, out.len() as u64);
            if let Some(etag) = headers.get(Known::Etag).filter(|e| !e.starts_with(b"W/")) {
                let weak = [b"W/", etag].concat();
                let _ = headers.insert(Known::Etag, weak);
            }
            Bytes::from(out)
        }
        _ => identity.body.clone(),
    };
    // One buffer of its own, as every stored head.
    let headers = headers.detached();
    let mut out = CachedResponse::new(
        identity.status,
        headers,
        body,
        identity.stored_at,
        identity.ttl,
        identity.initial_age,
    )
    .revalidated_when_stale(identity.revalidate)
    .with_tags(identity.tags.clone());
    // Looked up like the identity response: by its own Vary, not by the
    // request's exact Accept-Encoding (the key already names the encoding).
    out.vary = identity.vary.clone();
    if let Some(at) = identity.stale_since() {
        out.mark_stale(at);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read;

    use crate::head::fields as h;

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        let ae = |v: &str| negotiate(&crate::head::fields(&[("accept-encoding", v)]));
        assert_eq!(ae("gzip, deflate, br"), Some(Encoding::Brotli));
        assert_eq!(ae("gzip"), Some(Encoding::Gzip));
        assert_eq!(ae("br;q=0, gzip;q=0.5"), Some(Encoding::Gzip));
        assert_eq!(ae("*"), Some(Encoding::Gzip));
        assert_eq!(ae("gzip;q=0, *"), None);
        assert_eq!(ae("identity"), None);
        assert_eq!(ae("deflate"), None);
        assert_eq!(negotiate(&crate::head::Fields::new()), None);
    }

    #[test]
    fn what_is_compressed() {
        let ok = |pairs: &[(&str, &str)], len| compressible(StatusCode::OK, &h(pairs), len);
        assert!(ok(&[("content-type", "text/html; charset=utf-8")], 1000));
        assert!(ok(&[("content-type", "application/ld+json")], 1000));
        assert!(ok(&[("content-type", "Text/CSS")], 1000));
        assert!(ok(&[("content-type", "Application/JSON; charset=utf-8")], 1000));
        assert!(!ok(&[("content-type", "application/octet-stream")], 1000));
        assert!(!ok(&[("content-type", "tex")], 1000));
        assert!(!ok(&[("content-type", "text/html")], 100), "too small");
        assert!(!ok(&[("content-type", "image/png")], 1000));
        assert!(!ok(&[("content-type", "text/css"), ("content-encoding", "gzip")], 1000));
        assert!(!ok(
            &[
                ("content-type", "text/css"),
                ("cache-control", "max-age=9, no-transform")
            ],
            1000
        ));
        assert!(!ok(&[], 1000), "no type, no guess");
        assert!(!compressible(
            StatusCode::NOT_FOUND,
            &h(&[("content-type", "text/html")]),
            1000
        ));
    }

    #[test]
    fn variants_decode_to_the_identity_body() {
        let body = Bytes::from("hello compressible world ".repeat(100));
        let headers = h(&[("content-type", "text/plain"), ("etag", "\"e1\"")]);
        let identity = CachedResponse::new(
            StatusCode::OK,
            headers,
            body.clone(),
            std::time::SystemTime::now(),
            60,
            0,
        );
        let gz = variant(&identity, Encoding::Gzip);
        assert_eq!(gz.headers.get_str(Known::ContentEncoding), Some("gzip"));
        assert_eq!(gz.headers.get_str(Known::Etag), Some("W/\"e1\""));
        assert_eq!(gz.headers.get_str(Known::Vary), Some("Accept-Encoding"));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz.body[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        let br = variant(&identity, Encoding::Brotli);
        let mut out = Vec::new();
        brotli::Decompressor::new(&br.body[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(br.body.len() < body.len() / 10);
        let mut x: u64 = 7;
        let noise: Vec<u8> = (0..400)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (x >> 56) as u8
            })
            .collect();
        let random = CachedResponse::new(
            StatusCode::OK,
            Fields::new(),
            noise.into(),
            std::time::SystemTime::now(),
            60,
            0,
        );
        assert!(
            variant(&random, Encoding::Gzip)
                .headers
                .get("content-encoding")
                .is_none(),
            "not smaller: kept as is"
        );
    }
}
