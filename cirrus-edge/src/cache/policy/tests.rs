use super::*;
use crate::head::fields as headers;
use cirrus_core::model::PathMatch;
use std::time::{Duration, UNIX_EPOCH};

fn decide(policy: &CachePolicy, path: &str, status: u16, req: &[(&str, &str)], res: &[(&str, &str)]) -> Storability {
    let (request, response) = (crate::head::fields(req), headers(res));
    let x = Exchange {
        method: &Method::GET,
        path,
        request: &request,
        status: StatusCode::from_u16(status).expect("test value"),
        response: &response,
    };
    storability(policy, &x, UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

fn store(ttl: u64) -> Storability {
    Storability::Store {
        ttl,
        age: 0,
        revalidate: false,
    }
}

fn no(why: NotStored) -> Storability {
    Storability::DoNotStore(why)
}

fn rule(matcher: PathMatch, ttl: Option<u64>, bypass: bool) -> CacheRule {
    serde_json::from_value(serde_json::json!({"match": matcher, "ttl": ttl, "bypass": bypass})).expect("test value")
}

#[test]
fn freshness_comes_from_s_maxage_then_max_age_then_expires() {
    let p = CachePolicy::default();
    assert_eq!(decide(&p, "/", 200, &[], &[("cache-control", "max-age=60")]), store(60));
    assert_eq!(
        decide(&p, "/", 200, &[], &[("cache-control", "max-age=60, s-maxage=5")]),
        store(5)
    );
    let dated = [
        ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("expires", "Tue, 14 Nov 2023 22:15:20 GMT"),
    ];
    assert_eq!(decide(&p, "/", 200, &[], &dated), store(120));
    assert_eq!(
        decide(&p, "/", 200, &[], &[("expires", "0")]),
        store(0),
        "invalid Expires: already stale"
    );
    let aged = decide(&p, "/", 200, &[], &[("cache-control", "max-age=60"), ("age", "15")]);
    assert_eq!(
        aged,
        Storability::Store {
            ttl: 60,
            age: 15,
            revalidate: false
        }
    );
}

#[test]
fn no_freshness_means_no_caching_unless_the_domain_sets_a_default() {
    let mut p = CachePolicy::default();
    assert_eq!(decide(&p, "/a", 200, &[], &[]), no(NotStored::NoFreshness));
    p.default_ttl = Some(30);
    assert_eq!(decide(&p, "/a", 200, &[], &[]), store(30));
    assert_eq!(
        decide(&p, "/a", 302, &[], &[]),
        no(NotStored::NoFreshness),
        "temporary redirects need explicit freshness"
    );
}

#[test]
fn any_final_status_with_explicit_freshness_is_stored_and_none_for_its_status_alone() {
    let mut p = CachePolicy {
        default_ttl: Some(30),
        ..Default::default()
    };
    for status in [404, 410, 500, 503, 302, 307, 299] {
        assert_eq!(
            decide(&p, "/x", status, &[], &[("cache-control", "max-age=600")]),
            store(600),
            "{status} with max-age"
        );
        assert_eq!(
            decide(&p, "/x", status, &[], &[]),
            no(if status >= 400 {
                NotStored::Status
            } else {
                NotStored::NoFreshness
            }),
            "{status} without freshness: the domain default does not apply"
        );
    }
    let dated = [
        ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("expires", "Tue, 14 Nov 2023 22:14:20 GMT"),
    ];
    assert_eq!(decide(&p, "/x", 404, &[], &dated), store(60), "Expires is explicit too");
    p.rules.push(rule(PathMatch::Prefix("/x".into()), Some(10), false));
    assert_eq!(decide(&p, "/x", 404, &[], &[]), store(10), "a rule's TTL is explicit");
    for status in [206, 304] {
        assert_eq!(
            decide(&p, "/x", status, &[], &[("cache-control", "max-age=60")]),
            no(NotStored::Status),
            "{status} is not a whole response"
        );
    }
}

#[test]
fn cdn_cache_control_and_the_domains_own_field_take_precedence() {
    let mut p = CachePolicy::default();
    let both = [("cache-control", "no-store"), ("cdn-cache-control", "max-age=300")];
    assert_eq!(decide(&p, "/", 200, &[], &both), store(300));
    let reverse = [("cache-control", "max-age=300"), ("cdn-cache-control", "no-store")];
    assert_eq!(decide(&p, "/", 200, &[], &reverse), no(NotStored::NoStore));
    let dated = [
        ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("expires", "Tue, 14 Nov 2023 22:15:20 GMT"),
        ("cdn-cache-control", "must-revalidate"),
    ];
    assert_eq!(
        decide(&p, "/", 200, &[], &dated),
        no(NotStored::NoFreshness),
        "a targeted field makes Expires ignored"
    );
    p.targeted_field = Some("Example-CDN-Cache-Control".into());
    let three = [
        ("cache-control", "max-age=1"),
        ("cdn-cache-control", "max-age=2"),
        ("example-cdn-cache-control", "max-age=3"),
    ];
    assert_eq!(decide(&p, "/", 200, &[], &three), store(3));
    assert_eq!(decide(&p, "/", 200, &[], &three[..2]), store(2));
}

#[test]
fn privacy_beats_rules() {
    let mut p = CachePolicy::default();
    p.rules.push(rule(PathMatch::Prefix("/".into()), Some(3600), false));
    assert_eq!(
        decide(&p, "/", 200, &[], &[("cache-control", "no-store")]),
        no(NotStored::NoStore)
    );
    assert_eq!(
        decide(&p, "/", 200, &[], &[("cache-control", "private, max-age=60")]),
        no(NotStored::Private)
    );
    assert_eq!(
        decide(&p, "/", 200, &[], &[("set-cookie", "s=1")]),
        no(NotStored::SetCookie)
    );
    assert_eq!(
        decide(&p, "/", 200, &[], &[("vary", "accept, *")]),
        no(NotStored::VaryAll)
    );
    assert_eq!(
        decide(&p, "/", 200, &[], &[]),
        store(3600),
        "the rule sets the TTL otherwise"
    );
}

#[test]
fn authorized_requests_need_explicit_permission() {
    let p = CachePolicy::default();
    let auth = [("authorization", "Bearer x")];
    assert_eq!(
        decide(&p, "/", 200, &auth, &[("cache-control", "max-age=60")]),
        no(NotStored::Authorization)
    );
    assert_eq!(
        decide(&p, "/", 200, &auth, &[("cache-control", "public, max-age=60")]),
        store(60)
    );
    assert_eq!(
        decide(&p, "/", 200, &auth, &[("cache-control", "s-maxage=9")]),
        store(9)
    );
}

#[test]
fn no_cache_is_stored_only_with_a_validator_and_always_revalidated() {
    let p = CachePolicy::default();
    let cc = ("cache-control", "no-cache, max-age=60");
    assert_eq!(decide(&p, "/", 200, &[], &[cc]), no(NotStored::NoCacheWithoutValidator));
    let stored = decide(&p, "/", 200, &[], &[cc, ("etag", "\"v1\"")]);
    assert_eq!(
        stored,
        Storability::Store {
            ttl: 0,
            age: 0,
            revalidate: true
        }
    );
}

#[test]
fn a_css_looking_url_is_not_a_reason_to_cache() {
    // Web cache deception: /account/settings.css answered by a dynamic page.
    let p = CachePolicy::default();
    assert_eq!(
        decide(&p, "/account/settings.css", 200, &[], &[]),
        no(NotStored::NoFreshness)
    );
}

#[test]
fn rules_match_by_prefix_glob_and_extension_first_wins() {
    let mut p = CachePolicy::default();
    p.rules.push(rule(PathMatch::Prefix("/api/".into()), None, true));
    p.rules
        .push(rule(PathMatch::Glob("/img/*/thumb-*.png".into()), Some(7), false));
    p.rules.push(rule(PathMatch::Glob("/static/**".into()), Some(8), false));
    p.rules.push(rule(PathMatch::Extension("JS".into()), Some(9), false));
    assert!(bypasses(&p, "/api/users"));
    assert_eq!(
        decide(&p, "/api/users", 200, &[], &[("cache-control", "max-age=60")]),
        no(NotStored::Bypass)
    );
    assert_eq!(decide(&p, "/img/a/thumb-1.png", 200, &[], &[]), store(7));
    assert_eq!(
        decide(&p, "/img/a/b/thumb-1.png", 200, &[], &[]),
        no(NotStored::NoFreshness),
        "* stays in a segment"
    );
    assert_eq!(decide(&p, "/static/a/b/c.txt", 200, &[], &[]), store(8));
    assert_eq!(decide(&p, "/app.min.js", 200, &[], &[]), store(9));
    assert_eq!(decide(&p, "/js/app", 200, &[], &[]), no(NotStored::NoFreshness));
    p.enabled = false;
    assert!(bypasses(&p, "/anything"));
}

#[test]
fn only_get_is_stored() {
    let p = CachePolicy::default();
    let (req, res) = (crate::head::Fields::new(), headers(&[("cache-control", "max-age=60")]));
    let x = Exchange {
        method: &Method::POST,
        path: "/",
        request: &req,
        status: StatusCode::OK,
        response: &res,
    };
    assert_eq!(storability(&p, &x, SystemTime::now()), no(NotStored::Method));
}
