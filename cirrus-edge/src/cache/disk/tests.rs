use super::*;
use crate::head::Fields;
use bytes::Bytes;
use cirrus_core::model::CacheKeyOptions;
use http::StatusCode;

fn key(pq: &str) -> CacheKey {
    CacheKey::new("a.com", pq, &Fields::new(), &CacheKeyOptions::default())
}

fn response(body: Vec<u8>, headers: &[(&'static str, &'static str)]) -> CachedResponse {
    let h = crate::head::fields(headers);
    let tags = h
        .get_all("cache-tag")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    CachedResponse::new(StatusCode::OK, h, Bytes::from(body), SystemTime::now(), 60, 3)
        .revalidated_when_stale(true)
        .with_tags(tags)
}

#[tokio::test]
async fn round_trip_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = DiskCache::open(dir.path(), 1 << 30).await.expect("open");
    let none = Fields::new();
    let r = response(vec![7; 5000], &[("content-type", "image/png"), ("cache-tag", "t1")]);
    cache.insert(&key("/a.png?x=1"), &none, &r).await.expect("insert");
    let got = cache.get(&key("/a.png?x=1"), &none).await.expect("hit");
    assert_eq!(
        (got.status, got.body.len(), got.ttl, got.initial_age, got.revalidate),
        (StatusCode::OK, 5000, 60, 3, true)
    );
    assert_eq!(got.headers.get_str("content-type"), Some("image/png"));
    assert!(cache.get(&key("/a.png"), &none).await.is_none());
    drop(cache);

    let reopened = DiskCache::open(dir.path(), 1 << 30).await.expect("reopen");
    assert_eq!(reopened.len(), 1);
    let got = reopened
        .get(&key("/a.png?x=1"), &none)
        .await
        .expect("still there after a restart");
    assert_eq!(got.body, vec![7u8; 5000]);
    assert_eq!(got.tags, ["t1"]);
    // Files are named by the key's hash, never by the URL.
    let names: Vec<String> = walk(dir.path());
    assert!(names.iter().all(|n| n.len() == 64 && !n.contains("png")), "{names:?}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(dir.join("objects")).expect("objects").flatten() {
        for f in std::fs::read_dir(shard.path()).expect("shard").flatten() {
            out.push(f.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[tokio::test]
async fn variants_purges_and_damaged_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = DiskCache::open(dir.path(), 1 << 30).await.expect("open");
    let lang = |v: &'static str| crate::head::fields(&[("accept-language", v)]);
    cache
        .insert(
            &key("/v"),
            &lang("fr"),
            &response(b"fr".to_vec(), &[("vary", "accept-language")]),
        )
        .await
        .expect("insert");
    cache
        .insert(
            &key("/v"),
            &lang("de"),
            &response(b"de".to_vec(), &[("vary", "accept-language")]),
        )
        .await
        .expect("insert");
    cache
        .insert(&key("/img/1"), &lang("fr"), &response(b"1".to_vec(), &[]))
        .await
        .expect("insert");
    drop(cache);
    let cache = DiskCache::open(dir.path(), 1 << 30).await.expect("reopen");
    assert_eq!(cache.get(&key("/v"), &lang("de")).await.expect("variant").body, "de");
    assert_eq!(cache.get(&key("/v"), &lang("fr")).await.expect("variant").body, "fr");
    assert_eq!(cache.purge(&PurgeRequest::prefixes("a.com", ["/img/"])).await, 1);
    assert_eq!(cache.purge(&PurgeRequest::all("b.com")).await, 0);
    assert_eq!(cache.purge(&PurgeRequest::all("a.com")).await, 2);
    assert!(cache.is_empty());
    assert!(walk(dir.path()).is_empty(), "purged files are deleted");

    // A damaged file is dropped at open, not served.
    cache
        .insert(&key("/x"), &Fields::new(), &response(b"x".to_vec(), &[]))
        .await
        .expect("insert");
    let path = DiskCache::path_of(dir.path(), &key("/x").hex());
    std::fs::write(&path, b"garbage").expect("damage");
    std::fs::write(dir.path().join("objects").join("stray"), b"?").ok();
    drop(cache);
    let cache = DiskCache::open(dir.path(), 1 << 30).await.expect("reopen");
    assert!(cache.is_empty());
    assert!(cache.get(&key("/x"), &Fields::new()).await.is_none());
}

#[tokio::test]
async fn evicts_the_least_recently_used_within_capacity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = DiskCache::open(dir.path(), 100_000).await.expect("open");
    let none = Fields::new();
    for i in 0..5 {
        cache
            .insert(&key(&format!("/{i}")), &none, &response(vec![0; 15_000], &[]))
            .await
            .expect("insert");
    }
    // Touch /0 so it is the most recently used.
    assert!(cache.get(&key("/0"), &none).await.is_some());
    for i in 5..10 {
        cache
            .insert(&key(&format!("/{i}")), &none, &response(vec![0; 15_000], &[]))
            .await
            .expect("insert");
    }
    assert!(cache.bytes() <= 100_000, "{}", cache.bytes());
    assert!(cache.evictions() > 0);
    assert!(cache.get(&key("/0"), &none).await.is_some(), "recently used survives");
    assert!(
        cache.get(&key("/1"), &none).await.is_none(),
        "least recently used goes first"
    );
}

#[tokio::test]
async fn a_soft_purge_marks_files_stale_in_place_and_the_mark_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = DiskCache::open(dir.path(), 1 << 30).await.expect("open");
    let none = Fields::new();
    for p in ["/a", "/b"] {
        cache
            .insert(&key(p), &none, &response(vec![1; 100], &[("cache-tag", "t")]))
            .await
            .expect("insert");
    }
    let soft = PurgeRequest::urls("a.com", ["/a"]).soft();
    assert_eq!(cache.purge(&soft).await, 1);
    assert_eq!(cache.len(), 2, "a soft purge keeps the object");
    let now = SystemTime::now();
    let a = cache.get(&key("/a"), &none).await.expect("kept");
    assert!(a.stale_since().is_some() && !a.is_fresh(now), "marked stale");
    assert_eq!(a.body.len(), 100, "the body is intact behind the mark");
    assert!(cache.get(&key("/b"), &none).await.expect("kept").is_fresh(now));
    drop(cache);
    let reopened = DiskCache::open(dir.path(), 1 << 30).await.expect("reopen");
    let a = reopened.get(&key("/a"), &none).await.expect("still there");
    assert!(!a.is_fresh(SystemTime::now()), "the mark is on disk");
}
