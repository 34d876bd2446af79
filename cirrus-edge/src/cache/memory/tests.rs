use super::*;
use crate::head::Fields;
use bytes::Bytes;
use cirrus_core::model::CacheKeyOptions;
use http::StatusCode;
use std::time::{Duration, SystemTime};

fn key(host: &str, pq: &str) -> CacheKey {
    CacheKey::new(host, pq, &Fields::new(), &CacheKeyOptions::default())
}

fn response(body: &'static str, headers: &[(&'static str, &'static str)]) -> CachedResponse {
    let h = crate::head::fields(headers);
    let (tags, _) = crate::cache::tags::extract(&h, &["cache-tag"]);
    CachedResponse::new(
        StatusCode::OK,
        h,
        Bytes::from_static(body.as_bytes()),
        SystemTime::now(),
        60,
        0,
    )
    .with_tags(tags)
}

#[test]
fn hit_returns_the_same_bytes_without_copying() {
    let c = MemoryCache::new(1 << 20);
    let body = Bytes::from(vec![7u8; 4096]);
    let r = CachedResponse::new(StatusCode::OK, Fields::new(), body.clone(), SystemTime::now(), 60, 0);
    c.insert(key("a.com", "/x"), &Fields::new(), r);
    let hit = c.get(&key("a.com", "/x"), &Fields::new()).expect("hit");
    assert_eq!(hit.body.as_ptr(), body.as_ptr(), "a HIT shares the stored buffer");
    assert!(c.get(&key("a.com", "/y"), &Fields::new()).is_none());
    assert_eq!(c.len(), 1);
}

#[test]
fn variants_follow_vary() {
    let c = MemoryCache::new(1 << 20);
    let lang = |v: &'static str| {
        let mut h = Fields::new();
        h.insert("accept-language", v).expect("valid");
        h
    };
    c.insert(
        key("a.com", "/"),
        &lang("fr"),
        response("bonjour", &[("vary", "Accept-Language")]),
    );
    c.insert(
        key("a.com", "/"),
        &lang("de"),
        response("hallo", &[("vary", "accept-language")]),
    );
    assert_eq!(
        c.get(&key("a.com", "/"), &lang("fr")).expect("test value").body,
        "bonjour"
    );
    assert_eq!(
        c.get(&key("a.com", "/"), &lang("de")).expect("test value").body,
        "hallo"
    );
    assert!(
        c.get(&key("a.com", "/"), &lang("en")).is_none(),
        "no variant for en yet"
    );
}

#[test]
fn purges_by_url_prefix_tag_and_domain() {
    let c = MemoryCache::new(1 << 20);
    let none = Fields::new();
    c.insert(key("a.com", "/index.html"), &none, response("1", &[]));
    c.insert(key("a.com", "/img/1.png?v=2"), &none, response("2", &[]));
    c.insert(key("a.com", "/img/2.png"), &none, response("3", &[]));
    c.insert(
        key("a.com", "/p/42"),
        &none,
        response("4", &[("cache-tag", "product-42 catalog")]),
    );
    c.insert(key("b.com", "/index.html"), &none, response("5", &[]));
    assert_eq!(c.purge(&PurgeRequest::urls("a.com", ["/index.html"])), 1);
    assert!(
        c.get(&key("b.com", "/index.html"), &none).is_some(),
        "other domains are untouched"
    );
    assert_eq!(c.purge(&PurgeRequest::prefixes("a.com", ["/img/"])), 2);
    let tags = PurgeRequest::tags("a.com", ["product-42"]);
    assert_eq!(c.purge(&tags), 1);
    c.insert(key("a.com", "/again"), &none, response("6", &[]));
    assert_eq!(c.purge(&PurgeRequest::all("a.com")), 1);
    assert_eq!(c.len(), 1);
}

#[test]
fn stays_within_its_byte_budget_and_counts_evictions() {
    let c = MemoryCache::new(256 * 1024);
    for i in 0..200 {
        let r = CachedResponse::new(
            StatusCode::OK,
            Fields::new(),
            Bytes::from(vec![0u8; 8192]),
            SystemTime::now(),
            60,
            0,
        );
        c.insert(key("a.com", &format!("/{i}")), &Fields::new(), r);
    }
    assert!(c.bytes() <= 256 * 1024, "{} bytes", c.bytes());
    assert!(c.evictions() > 0);
    assert!(c.len() < 200);
}

#[test]
fn freshness_counts_the_age_it_arrived_with() {
    let stored = SystemTime::now();
    let r = CachedResponse::new(StatusCode::OK, Fields::new(), Bytes::new(), stored, 60, 50);
    assert_eq!(r.age(stored + Duration::from_secs(5)), 55);
    assert!(r.is_fresh(stored + Duration::from_secs(9)));
    assert!(!r.is_fresh(stored + Duration::from_secs(10)));
}

#[test]
fn a_soft_purge_marks_stale_and_keeps_the_object() {
    let cache = MemoryCache::new(1 << 20);
    let none = Fields::new();
    cache.insert(key("a.com", "/x"), &none, response("x", &[]));
    cache.insert(key("a.com", "/y"), &none, response("y", &[]));
    let held = cache.get(&key("a.com", "/x"), &none).expect("stored");
    assert_eq!(cache.purge(&PurgeRequest::urls("a.com", ["/x"]).soft()), 1);
    assert_eq!(cache.len(), 2);
    let now = std::time::SystemTime::now();
    assert!(!held.is_fresh(now), "readers holding the object see the mark");
    assert_eq!(held.lifetime(), 0, "stale windows count from the purge");
    assert!(cache.get(&key("a.com", "/y"), &none).expect("kept").is_fresh(now));
}

#[test]
fn a_purge_of_many_tags_against_objects_of_many_tags_costs_no_product() {
    // 100 objects with 10,000 tags each, a purge naming 1,000 tags of which
    // one matches: compared pairwise this is 10^9 string comparisons.
    let c = MemoryCache::new(64 << 20);
    let none = Fields::new();
    let many: Vec<String> = (0..10_000).map(|i| format!("t{i}")).collect();
    for i in 0..100 {
        let entry = response("x", &[]).with_tags(many.clone());
        c.insert(key("a.com", &format!("/{i}")), &none, entry);
    }
    let mut tags: Vec<String> = (0..999).map(|i| format!("other{i}")).collect();
    tags.push("t9999".into());
    let purge = PurgeRequest::tags("a.com", tags);
    let started = std::time::Instant::now();
    assert_eq!(c.purge(&purge), 100);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}
