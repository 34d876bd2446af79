//! Compression: negotiated per client (brotli before gzip), stored per
//! encoding beside the identity response, `Vary: Accept-Encoding` on every
//! compressible answer; never for ranges, compressed types, what the
//! origin compressed, or `no-transform`.

use crate::{EdgeUnderTest, Origin, conf_for};
use std::io::Read;

/// Status, Content-Encoding, Vary, X-Cache and the raw body of a GET.
async fn get(e: &EdgeUnderTest, path: &str, headers: &[(&str, &str)]) -> (u16, String, String, String, Vec<u8>) {
    let mut req = e.http.get(e.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let h = |n: &str| {
        res.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (status, ce, vary, xc) = (res.status().as_u16(), h("content-encoding"), h("vary"), h("x-cache"));
    (status, ce, vary, xc, res.bytes().await.unwrap().to_vec())
}

fn gunzip(b: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(b).read_to_string(&mut out).unwrap();
    out
}

fn unbrotli(b: &[u8]) -> String {
    let mut out = String::new();
    brotli::Decompressor::new(b, 4096).read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn negotiated_per_client_and_stored_per_encoding() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let text = "<p>compress me</p>\n".repeat(200);
    let br = get(&e, "/text", &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!((br.0, br.1.as_str(), br.3.as_str()), (200, "br", "MISS"));
    assert!(br.2.contains("Accept-Encoding"), "{}", br.2);
    assert!(br.4.len() < text.len() / 10, "{} bytes", br.4.len());
    assert_eq!(unbrotli(&br.4), text);
    let gz = get(&e, "/text", &[("accept-encoding", "gzip")]).await;
    assert_eq!((gz.1.as_str(), gz.3.as_str()), ("gzip", "HIT"));
    assert_eq!(gunzip(&gz.4), text);
    let plain = get(&e, "/text", &[]).await;
    assert_eq!((plain.1.as_str(), plain.3.as_str()), ("", "HIT"));
    assert!(plain.2.contains("Accept-Encoding"), "the identity answer varies too");
    assert_eq!(plain.4, text.as_bytes());
    assert_eq!(origin.hits("/text"), 1, "every encoding from one origin response");
    assert_eq!(e.edge.cache().len(), 3, "identity, br and gzip stored");
    let again = get(&e, "/text", &[("accept-encoding", "br")]).await;
    assert_eq!((again.3.as_str(), again.4.clone()), ("HIT", br.4), "the stored variant");

    // A range is served from the identity body.
    let part = get(&e, "/text", &[("accept-encoding", "br"), ("range", "bytes=0-2")]).await;
    assert_eq!((part.0, part.1.as_str(), part.4), (206, "", b"<p>".to_vec()));
    // The ETag of a compressed variant is weak; a conditional GET still matches.
    let res = e
        .http
        .get(e.url("/text"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["etag"], "W/\"t1\"");
    let res = e
        .http
        .get(e.url("/text"))
        .header("accept-encoding", "gzip")
        .header("if-none-match", "W/\"t1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    // A purge takes every encoding with it.
    e.edge
        .cache()
        .purge(&cirrus_core::PurgeRequest::urls(crate::HOST, ["/text"]));
    assert!(e.edge.cache().is_empty());
}

#[tokio::test]
async fn never_for_compressed_types_origin_encodings_no_transform_or_a_domain_that_says_no() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    let br = [("accept-encoding", "br, gzip")];
    for path in ["/png", "/notransform"] {
        for _ in 0..2 {
            let got = get(&e, path, &br).await;
            assert_eq!((got.0, got.1.as_str()), (200, ""), "{path}");
            assert!(!got.2.contains("Accept-Encoding"), "{path}: {}", got.2);
        }
    }
    let pre = get(&e, "/pregz", &br).await;
    assert_eq!(pre.1, "gzip", "the origin's own encoding, passed on untouched");
    assert_eq!(pre.4, "<p>compress me</p>\n".repeat(200).as_bytes());

    let mut conf = conf_for(&origin);
    conf.cache.compress = false;
    let off = EdgeUnderTest::start(conf).await;
    for _ in 0..2 {
        let got = get(&off, "/text", &br).await;
        assert_eq!((got.1.as_str(), got.2.as_str()), ("", ""));
    }
}
