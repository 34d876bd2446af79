//! Invalidation after unsafe methods (RFC 9111 §4.4): a non-error answer
//! to a request that may change the resource drops what is stored for its
//! target, and for same-host `Location` and `Content-Location`.

use super::front::Cache;
use super::key::CacheKey;
use crate::head::{Fields, Known};
use cirrus_core::DomainConf;
use http::{Method, StatusCode};

/// Methods that cannot change a resource (RFC 9110 §9.2.1).
fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

impl Cache {
    /// Drops what an unsafe request's answer (`status`, `response`
    /// headers) to `target` made stale; returns how many.
    pub(crate) async fn after_unsafe(
        &self,
        conf: &DomainConf,
        method: &Method,
        target: &str,
        status: StatusCode,
        response: &Fields,
    ) -> usize {
        if safe(method) || !(status.is_success() || status.is_redirection()) {
            return 0;
        }
        let related = [Known::Location, Known::ContentLocation]
            .into_iter()
            .filter_map(|name| response.get_str(name))
            .filter_map(|uri| same_host_target(uri, &conf.domain));
        let mut dropped = 0;
        for target in std::iter::once(target.to_string()).chain(related) {
            // Keyed headers do not matter: every variant of the target goes.
            let key = CacheKey::new(&conf.domain, &target, &Fields::new(), &conf.cache.key);
            dropped += self.invalidate(&key).await;
        }
        dropped
    }
}

/// The path and query of `uri` when it names a resource of `domain`: an
/// absolute path, or an absolute URI whose host is the domain.
fn same_host_target(uri: &str, domain: &str) -> Option<String> {
    if uri.starts_with('/') && !uri.starts_with("//") {
        return Some(uri.to_string());
    }
    let parsed: http::Uri = uri.parse().ok()?;
    let host = parsed.host()?.trim_end_matches('.');
    host.eq_ignore_ascii_case(domain)
        .then(|| parsed.path_and_query().map_or("/", |p| p.as_str()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_host_locations_are_targets() {
        assert_eq!(same_host_target("/a?b=1", "a.test").as_deref(), Some("/a?b=1"));
        assert_eq!(same_host_target("https://A.test/x", "a.test").as_deref(), Some("/x"));
        assert_eq!(same_host_target("http://a.test:8080", "a.test").as_deref(), Some("/"));
        assert_eq!(same_host_target("https://evil.test/x", "a.test"), None);
        assert_eq!(same_host_target("//evil.test/x", "a.test"), None);
        assert_eq!(same_host_target("relative", "a.test"), None);
    }

    use std::time::Duration;

    #[tokio::test]
    async fn unsafe_methods_with_non_error_answers_invalidate() {
        use crate::cache::{CacheLocks, CachedResponse, MemoryCache, Tiers};
        let tiers = std::sync::Arc::new(Tiers::new(MemoryCache::new(1 << 20), None));
        let cache = Cache::new(tiers.clone(), CacheLocks::new(Duration::ZERO, Duration::ZERO));
        let conf = DomainConf::new("a.test", "http://192.0.2.1".parse().expect("origin"));
        let none = Fields::new();
        let store = |path: &str| {
            let key = CacheKey::new("a.test", path, &none, &conf.cache.key);
            let entry = CachedResponse::new(
                StatusCode::OK,
                Fields::new(),
                bytes::Bytes::from_static(b"x"),
                std::time::SystemTime::now(),
                60,
                0,
            );
            tiers.store(&key, &none, entry);
        };
        for p in ["/a", "/b", "/c", "/d"] {
            store(p);
        }
        let located = crate::head::fields(&[("location", "/b"), ("content-location", "http://a.test/c")]);
        let post = Method::POST;
        assert_eq!(
            cache
                .after_unsafe(&conf, &Method::GET, "/a", StatusCode::OK, &Fields::new())
                .await,
            0
        );
        let failed = StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(
            cache.after_unsafe(&conf, &post, "/a", failed, &Fields::new()).await,
            0,
            "errors invalidate nothing"
        );
        let weird = Method::from_bytes(b"PURGEIT").expect("method");
        assert_eq!(
            cache
                .after_unsafe(&conf, &weird, "/d", StatusCode::OK, &Fields::new())
                .await,
            1,
            "unknown methods are unsafe"
        );
        assert_eq!(
            cache
                .after_unsafe(&conf, &post, "/a", StatusCode::CREATED, &located)
                .await,
            3
        );
        assert!(tiers.memory.is_empty());
    }
}
