//! Onboarding: the CNAMEs a domain's owner sets, shown with the domain,
//! and the status check that asks a resolver whether they are in place.

use crate::{Backend, Harness, MASTER, domain};
use cirrus_core::model::DomainDns;
use cirrus_test_support::FakeResolver;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_show_their_cnames_and_status_checks_them() {
    let resolver = FakeResolver::start().await;
    let addr = resolver.addr();
    let h = Harness::start_with(Backend::Embedded, |b| b.zone("CDN.Example.NET.").resolver(addr)).await;
    let expected = DomainDns::for_domain("www.shop.test", "cdn.example.net");

    let put = h.master.put_domain(&domain("www.shop.test")).await.unwrap();
    assert_eq!(
        put.item.dns.as_ref(),
        Some(&expected),
        "PUT answers with the records too"
    );
    let got = h.master.get_domain("www.shop.test").await.unwrap();
    assert_eq!(got.dns, Some(expected.clone()));
    assert!(expected.cname.target.ends_with(".cdn.example.net"), "{expected:?}");

    // A GET's JSON can be sent back as it is: `dns` is read-only.
    let body: Value = h
        .raw(Method::GET, "/api/v1/domains/www.shop.test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["dns"]["cname"]["name"], "www.shop.test");
    assert_eq!(body["dns"]["acme_challenge"]["name"], "_acme-challenge.www.shop.test");
    let res = h
        .raw(Method::PUT, "/api/v1/domains/www.shop.test")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Nothing set yet: not ready, and the resolver's NXDOMAIN is reported.
    let status = h.master.domain_status("www.shop.test").await.unwrap();
    assert!(!status.ready && status.enabled);
    assert!(!status.cname.ok && status.cname.found.is_empty());
    assert!(
        status.cname.error.as_deref().unwrap_or_default().contains("NXDOMAIN"),
        "{status:?}"
    );
    assert_eq!(status.cname.target, expected.cname.target);
    assert!(!status.certificate.has_certificate);

    // A CNAME to somewhere else is seen, and still not ready.
    resolver.cname("www.shop.test", "elsewhere.example.org");
    let status = h.master.domain_status("www.shop.test").await.unwrap();
    assert!(!status.ready);
    assert_eq!(status.cname.found, vec!["elsewhere.example.org".to_string()]);

    // The right CNAMEs (the resolver's case does not matter): ready.
    resolver.cname("www.shop.test", &expected.cname.target.to_uppercase());
    resolver.cname("_acme-challenge.www.shop.test", &expected.acme_challenge.target);
    let status = h.master.domain_status("www.shop.test").await.unwrap();
    assert!(
        status.ready && status.cname.ok && status.acme_challenge.ok,
        "{status:?}"
    );
    assert_eq!(status.cname.error, None);

    // Once the acme-dns solver has registered the domain, the challenge
    // delegation to check is the registration's name.
    let mut acme = h
        .store
        .get_acme_state("www.shop.test")
        .await
        .unwrap()
        .unwrap_or_default();
    acme.acme_dns = Some(cirrus_core::model::AcmeDnsCredentials {
        username: "user".into(),
        password: "secret".into(),
        subdomain: "d420c923".into(),
        fulldomain: "d420c923.auth.acme-dns.test.".into(),
    });
    h.store.put_acme_state("www.shop.test", &acme).await.unwrap();
    let status = h.master.domain_status("www.shop.test").await.unwrap();
    assert_eq!(status.acme_challenge.target, "d420c923.auth.acme-dns.test");
    assert!(
        !status.acme_challenge.ok,
        "the CNAME still points at the built-in target"
    );
    resolver.cname("_acme-challenge.www.shop.test", "d420c923.auth.acme-dns.test");
    let status = h.master.domain_status("www.shop.test").await.unwrap();
    assert!(status.acme_challenge.ok, "{status:?}");
    let body = h
        .raw(Method::GET, "/api/v1/domains/www.shop.test/status")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains("secret"), "the acme-dns key is never shown");

    // Disabled: its records are in place, but it is not ready.
    h.master
        .patch_domain("www.shop.test", &json!({"enabled": false}))
        .await
        .unwrap();
    let status = h.master.domain_status("www.shop.test").await.unwrap();
    assert!(!status.ready && !status.enabled && status.cname.ok);

    let e = h.master.domain_status("unknown.test").await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    let e = h.master.domain_status("bad..name").await.unwrap_err();
    assert_eq!(
        e.status(),
        Some(422),
        "a malformed name in the path, as for the other routes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_that_does_not_answer_is_reported_not_waited_for() {
    // A UDP socket nobody reads: the check gives up after its bound.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let h = Harness::start_with(Backend::Embedded, |b| b.zone("cdn.example.net").resolver(addr)).await;
    h.master.put_domain(&domain("a.test")).await.unwrap();
    let started = std::time::Instant::now();
    let status = h.master.domain_status("a.test").await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(!status.ready);
    assert!(
        status.cname.error.as_deref().unwrap_or_default().contains("no answer"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_zone_there_are_no_targets_and_status_says_why() {
    let h = Harness::start(Backend::Embedded).await;
    h.master.put_domain(&domain("a.test")).await.unwrap();
    assert_eq!(h.master.get_domain("a.test").await.unwrap().dns, None);
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/domains/a.test/status", h.url))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("zone"), "{body}");
}

/// The `(type, subject, reason)` of the readiness events so far.
async fn readiness_events(h: &Harness) -> Vec<(String, String, Option<String>)> {
    let query = cirrus_client::EventQuery {
        types: vec![
            cirrus_core::model::EventType::DomainReady,
            cirrus_core::model::EventType::DomainNotReady,
        ],
        ..Default::default()
    };
    h.master
        .events(&query)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| {
            let reason = e.data["reason"].as_str().map(str::to_string);
            (e.kind.to_string(), e.subject, reason)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_changes_are_events_once_and_the_sweep_finds_them_unasked() {
    let resolver = FakeResolver::start().await;
    let addr = resolver.addr();
    let h = Harness::start_with(Backend::Redis, |b| {
        b.zone("cdn.example.net")
            .resolver(addr)
            .onboarding_sweep(Some((std::time::Duration::from_millis(50), 1)))
    })
    .await;
    let target = |d: &str| DomainDns::for_domain(d, "cdn.example.net").cname.target;
    h.master.put_domain(&domain("a.test")).await.unwrap();

    // Never ready: no event. Ready: one, however often it is checked.
    assert!(!h.master.domain_status("a.test").await.unwrap().ready);
    assert!(readiness_events(&h).await.is_empty());
    resolver.cname("a.test", &target("a.test"));
    for _ in 0..3 {
        assert!(h.master.domain_status("a.test").await.unwrap().ready);
    }
    let ready = ("domain.ready".to_string(), "a.test".to_string(), None);
    assert_eq!(readiness_events(&h).await, [ready]);

    // The CNAME goes: not ready, with the reason, once.
    resolver.remove("a.test");
    h.master.domain_status("a.test").await.unwrap();
    h.master.domain_status("a.test").await.unwrap();
    let events = readiness_events(&h).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].0, "domain.not_ready");
    assert!(
        events[1].2.as_deref().unwrap_or_default().contains("NXDOMAIN"),
        "{events:?}"
    );

    // The sweep checks domains nobody asks about: b.test becomes ready,
    // then a.test again.
    h.master.put_domain(&domain("b.test")).await.unwrap();
    resolver.cname("b.test", &target("b.test"));
    resolver.cname("a.test", &target("a.test"));
    let api = h.api.clone();
    let sweep = tokio::spawn(async move { api.watch_onboarding(std::future::pending()).await });
    let all = cirrus_test_support::eventually("the sweep's events", std::time::Duration::from_secs(10), || async {
        let events = readiness_events(&h).await;
        (events.len() == 4).then_some(events)
    })
    .await;
    let mut last_two: Vec<&str> = all[2..].iter().map(|e| e.1.as_str()).collect();
    last_two.sort_unstable();
    assert_eq!(last_two, ["a.test", "b.test"]);
    assert!(all[2..].iter().all(|e| e.0 == "domain.ready"), "{all:?}");
    sweep.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_that_cannot_tell_changes_no_readiness() {
    let resolver = FakeResolver::start().await;
    let h = Harness::start_with(Backend::Embedded, |b| {
        b.zone("cdn.example.net").resolver(resolver.addr())
    })
    .await;
    h.master.put_domain(&domain("a.test")).await.unwrap();
    resolver.cname(
        "a.test",
        &DomainDns::for_domain("a.test", "cdn.example.net").cname.target,
    );
    assert!(h.master.domain_status("a.test").await.unwrap().ready);
    // The same API, asking a resolver that does not answer: still ready as far as the store knows.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let deaf = Harness::start_with(Backend::Embedded, |b| {
        b.zone("cdn.example.net").resolver(silent.local_addr().unwrap())
    })
    .await;
    deaf.master.put_domain(&domain("a.test")).await.unwrap();
    deaf.store.record_readiness("a.test", true).await.unwrap();
    assert!(!deaf.master.domain_status("a.test").await.unwrap().ready);
    assert!(
        readiness_events(&deaf).await.is_empty(),
        "no domain.not_ready for a resolver that did not answer"
    );
    assert_eq!(
        deaf.store.record_readiness("a.test", true).await.unwrap(),
        Some(true),
        "kept"
    );
    assert_eq!(readiness_events(&h).await.len(), 1);
}
