//! Byte ranges from the cache: 206 with `Content-Range`, 416 past the end,
//! `If-Range`, and an origin's 206 passed through, never stored.

use crate::{EdgeUnderTest, Origin, conf_for};

/// GET `path` with `headers`: status, `Content-Range`, body.
async fn get(e: &EdgeUnderTest, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut req = e.http.get(e.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let range = res
        .headers()
        .get("content-range")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, range, res.text().await.unwrap())
}

#[tokio::test]
async fn one_range_of_a_stored_response_is_a_206() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    // On the miss that stores it, and on hits after.
    let first = get(&e, "/etag", &[("range", "bytes=0-3")]).await;
    assert_eq!(first, (206, "bytes 0-3/9".into(), "with".into()));
    let last = get(&e, "/etag", &[("range", "bytes=-4")]).await;
    assert_eq!(last, (206, "bytes 5-8/9".into(), "etag".into()));
    let past = get(&e, "/etag", &[("range", "bytes=100-")]).await;
    assert_eq!(past, (416, "bytes */9".into(), String::new()));
    let several = get(&e, "/etag", &[("range", "bytes=0-1,3-4")]).await;
    assert_eq!(
        several,
        (200, String::new(), "with etag".into()),
        "several ranges: the whole"
    );
    let same = get(&e, "/etag", &[("range", "bytes=5-"), ("if-range", "\"e1\"")]).await;
    assert_eq!(same.0, 206);
    let changed = get(&e, "/etag", &[("range", "bytes=5-"), ("if-range", "\"e0\"")]).await;
    assert_eq!(
        changed,
        (200, String::new(), "with etag".into()),
        "If-Range mismatch: the whole"
    );
    let whole = e.http.get(e.url("/etag")).send().await.unwrap();
    assert_eq!(
        whole.headers()["accept-ranges"],
        "bytes",
        "a stored 200 says it takes ranges"
    );
    assert_eq!(origin.hits("/etag"), 1, "every range came from the one stored response");
}

#[tokio::test]
async fn an_origins_206_is_passed_through_and_never_stored() {
    let origin = Origin::start().await;
    let e = EdgeUnderTest::start(conf_for(&origin)).await;
    for _ in 0..2 {
        let res = get(&e, "/partial", &[]).await;
        assert_eq!(res, (206, "bytes 0-3/10".into(), "part".into()));
    }
    assert_eq!(origin.hits("/partial"), 2);
}
