//! Slice caching (`slice_size`): a range fetches only the slices that hold
//! it, a full GET is assembled from slices, and a slice of another version
//! of the object is detected; concurrent misses of a slice are coalesced.

use crate::{EdgeUnderTest, Origin, conf_for};
use bytes::Bytes;
use std::sync::OnceLock;

const SLICE: u64 = 64 * 1024;
const TOTAL: usize = 1 << 20;

/// The 1 MiB object the origin serves.
pub fn object() -> Bytes {
    static OBJECT: OnceLock<Bytes> = OnceLock::new();
    OBJECT
        .get_or_init(|| (0..TOTAL).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into())
        .clone()
}

async fn sliced_edge(origin: &Origin) -> EdgeUnderTest {
    let mut conf = conf_for(origin);
    conf.slice_size = Some(SLICE);
    EdgeUnderTest::start(conf).await
}

/// Status, Content-Range, X-Cache and body of a GET with `range`.
async fn get(e: &EdgeUnderTest, path: &str, range: Option<&str>) -> (u16, String, String, Bytes) {
    let mut req = e.http.get(e.url(path));
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let res = req.send().await.unwrap();
    let header = |n: &str| {
        res.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (status, cr, xc) = (res.status().as_u16(), header("content-range"), header("x-cache"));
    (status, cr, xc, res.bytes().await.unwrap())
}

#[tokio::test]
async fn a_range_at_the_end_fetches_one_slice_and_a_full_get_is_assembled_from_slices() {
    let origin = Origin::start().await;
    let e = sliced_edge(&origin).await;
    let whole = object();
    let tail = get(&e, "/sliced", Some("bytes=1048000-1048575")).await;
    assert_eq!(
        (tail.0, tail.1.as_str(), tail.2.as_str()),
        (206, "bytes 1048000-1048575/1048576", "MISS")
    );
    assert_eq!(tail.3, whole.slice(1_048_000..));
    assert_eq!(
        (origin.hits("/sliced"), origin.sent("/sliced")),
        (1, SLICE),
        "one slice from the origin"
    );
    let again = get(&e, "/sliced", Some("bytes=1048500-")).await;
    assert_eq!((again.0, again.2.as_str()), (206, "HIT"));
    assert_eq!(again.3, whole.slice(1_048_500..));
    assert_eq!(origin.hits("/sliced"), 1);

    // Across a slice boundary: two slices, one of them new.
    let across = get(&e, "/sliced", Some("bytes=65530-65545")).await;
    assert_eq!((across.0, across.3.clone()), (206, whole.slice(65_530..65_546)));
    assert_eq!(origin.sent("/sliced"), 3 * SLICE);

    // The whole object, from every slice, each fetched once.
    let full = get(&e, "/sliced", None).await;
    assert_eq!((full.0, full.1.as_str()), (200, ""));
    assert_eq!(full.3, whole, "assembled in order");
    assert_eq!(origin.sent("/sliced"), TOTAL as u64, "each slice fetched once");
    assert_eq!(get(&e, "/sliced", None).await.2, "HIT");
    assert_eq!(origin.sent("/sliced"), TOTAL as u64);
    let head = e.http.head(e.url("/sliced")).send().await.unwrap();
    assert_eq!(head.headers()["content-length"], "1048576");
    // Suffix ranges, once the length is known; and past the end.
    let suffix = get(&e, "/sliced", Some("bytes=-10")).await;
    assert_eq!((suffix.0, suffix.3), (206, whole.slice(TOTAL - 10..)));
    assert_eq!(get(&e, "/sliced", Some("bytes=2000000-")).await.0, 416);
    let conditional = e
        .http
        .get(e.url("/sliced"))
        .header("if-none-match", "\"s1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(conditional.status(), 304);
    assert_eq!(origin.sent("/sliced"), TOTAL as u64, "all from the slices");
}

#[tokio::test]
async fn a_slice_of_another_version_is_detected_and_the_stale_slices_dropped() {
    let origin = Origin::start().await;
    let e = sliced_edge(&origin).await;
    // Slice 0 stored at version s1; then the object changes at the origin.
    assert_eq!(get(&e, "/sliced-flip", Some("bytes=0-9")).await.0, 206);
    let res = e.http.get(e.url("/sliced-flip")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the head went out with slice 0");
    assert!(
        res.bytes().await.is_err(),
        "slice 1 is of another version: the answer is cut short"
    );
    // The stale slice was dropped: the next answer is whole, of version s2.
    let full = get(&e, "/sliced-flip", None).await;
    assert_eq!((full.0, full.3.len()), (200, TOTAL));
    assert_eq!(full.3, object());
    let res = e
        .http
        .get(e.url("/sliced-flip"))
        .header("range", "bytes=0-0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["etag"], "\"s2\"");
}

#[tokio::test]
async fn concurrent_misses_of_one_slice_make_one_origin_fetch() {
    let origin = Origin::start().await;
    let e = sliced_edge(&origin).await;
    let answers =
        futures_util::future::join_all((0..20).map(|_| get(&e, "/sliced-slow", Some("bytes=70000-70009")))).await;
    assert!(
        answers
            .iter()
            .all(|a| a.0 == 206 && a.3 == object().slice(70_000..70_010))
    );
    assert_eq!((origin.hits("/sliced-slow"), origin.sent("/sliced-slow")), (1, SLICE));
}
