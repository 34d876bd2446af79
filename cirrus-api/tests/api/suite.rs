//! Every endpoint, good and bad input, events, observability.

use crate::{Backend, Harness, domain, self_signed};
use cirrus_core::model::{AcmeStatus, NodeHealth, PurgeSelection};
use cirrus_core::{Event, Node, SubscribeOptions};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

battery!(
    domains_crud_and_idempotent_put,
    domain_pages,
    bad_input_is_refused_and_changes_nothing,
    changes_and_purges_reach_subscribers,
    certificates,
    nodes,
    audit_and_request_ids,
    health_metrics_and_docs,
    unknown_routes_and_methods,
);

pub async fn domains_crud_and_idempotent_put(backend: Backend) {
    let h = Harness::start(backend).await;
    let conf = domain("example.com");
    let first = h.master.put_domain(&conf).await.unwrap();
    assert!(first.created);
    let rev = h.store.revision().await.unwrap();
    let again = h.master.put_domain(&conf).await.unwrap();
    assert!(!again.created, "second PUT of the same body is 200");
    assert_eq!(again.item, first.item, "same payload, same result");
    assert_eq!(
        h.store.revision().await.unwrap(),
        rev,
        "an identical PUT changes nothing"
    );

    // PUT without `domain` in the body takes it from the path; names are normalized.
    let res = h
        .raw(Method::PUT, "/api/v1/domains/WWW.Example.com")
        .json(&json!({"origins": [{"host": "origin.example.net"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        h.master.get_domain("www.example.com").await.unwrap().conf.domain,
        "www.example.com"
    );

    // Conditional writes: the ETag of a GET as If-Match, If-None-Match: *.
    let res = h.raw(Method::GET, "/api/v1/domains/example.com").send().await.unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let body = json!({"origins": [{"host": "origin.example.net"}], "replicas": 2});
    let conditional = |header: &'static str, value: &str| {
        h.raw(Method::PUT, "/api/v1/domains/example.com")
            .header(header, value)
            .json(&body)
    };
    let res = conditional("if-none-match", "*").send().await.unwrap();
    assert_eq!(error_of(res).await.0, 412, "If-None-Match: * on an existing domain");
    let res = conditional("if-match", "\"0000000000000000\"").send().await.unwrap();
    assert_eq!(error_of(res).await.1, "precondition_failed");
    let res = conditional("if-match", &etag).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let new_etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(new_etag, etag, "a changed domain has a new ETag");
    let res = conditional("if-match", &etag).send().await.unwrap();
    assert_eq!(error_of(res).await.0, 412, "the old ETag no longer matches");
    let res = h
        .raw(Method::PATCH, "/api/v1/domains/example.com")
        .header("if-match", &etag)
        .json(&json!({"replicas": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, 412, "PATCH honours If-Match too");
    h.master.put_domain(&conf).await.unwrap();

    // An internationalised name is kept in its one canonical form (A-label).
    let res = h
        .raw(Method::PUT, "/api/v1/domains/b%C3%BCcher.test")
        .json(&json!({"origins": [{"host": "origin.example.net"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let view = h.master.get_domain("xn--bcher-kva.test").await.unwrap();
    assert_eq!(view.conf.domain, "xn--bcher-kva.test");
    h.master.delete_domain("xn--bcher-kva.test").await.unwrap();

    let patched = h
        .master
        .patch_domain("example.com", &json!({"enabled": false, "replicas": 3}))
        .await
        .unwrap();
    assert!(!patched.conf.enabled);
    assert_eq!(patched.conf.replicas, Some(3));
    assert_eq!(h.store.get_domain("example.com").await.unwrap().unwrap(), patched.conf);
    let patched = h
        .master
        .patch_domain("example.com", &json!({"replicas": null}))
        .await
        .unwrap();
    assert_eq!(patched.conf.replicas, None, "null removes a field");

    h.master.delete_domain("example.com").await.unwrap();
    let e = h.master.get_domain("example.com").await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("not_found")));
    let e = h.master.delete_domain("example.com").await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    let e = h.master.patch_domain("example.com", &json!({})).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
}

pub async fn domain_pages(backend: Backend) {
    let h = Harness::start(backend).await;
    for i in 0..5 {
        h.master
            .put_domain(&domain(&format!("d{i}.example.com")))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = h.master.list_domains(Some(2), cursor.as_deref()).await.unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|d| d.domain));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..5).map(|i| format!("d{i}.example.com")).collect();
    assert_eq!(seen, expected);
    assert_eq!(h.master.all_domains().await.unwrap().len(), 5);
    for bad in ["limit=0", "limit=100000", "limit=abc", "colour=red"] {
        let res = h
            .raw(Method::GET, &format!("/api/v1/domains?{bad}"))
            .send()
            .await
            .unwrap();
        assert!(matches!(res.status().as_u16(), 400 | 422), "{bad}: {}", res.status());
    }
}

async fn error_of(res: reqwest::Response) -> (u16, String, Vec<String>) {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    let e = &body["error"];
    let fields = e["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect();
    (status, e["code"].as_str().unwrap().to_string(), fields)
}

pub async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let h = Harness::start_with(backend, |b| b.body_limit(16 * 1024)).await;
    let rev = h.store.revision().await.unwrap();
    let put = |path: &str| h.raw(Method::PUT, path);

    let res = put("/api/v1/domains/a.com")
        .header("content-type", "application/json")
        .body("{\"origins\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await, (400, "invalid_json".into(), vec![]));

    let res = put("/api/v1/domains/a.com")
        .json(&json!({"origins": [{"host": "o.com", "port": "eighty"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res).await,
        (422, "invalid_input".into(), vec!["origins[0].port".into()])
    );

    let res = put("/api/v1/domains/a.com")
        .json(&json!({"origins": [{"host": "o.com"}], "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.2, ["colour"]);

    let res = put("/api/v1/domains/not_a_domain!")
        .json(&json!({"origins": [{"host": "o.com"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res).await,
        (422, "invalid_input".into(), vec!["domain".into()])
    );

    // A zero-width space is not dropped silently: the name is refused.
    let res = put("/api/v1/domains/a%E2%80%8Bb.test")
        .json(&json!({"origins": [{"host": "o.com"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res).await,
        (422, "invalid_input".into(), vec!["domain".into()])
    );

    // Globs are bounded: more than 16 wildcards is refused.
    let res = put("/api/v1/domains/a.com")
        .json(&json!({"origins": [{"host": "o.com"}], "cache": {"rules": [{"match": {"glob": "/**".repeat(17)}}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res).await,
        (422, "invalid_input".into(), vec!["cache.rules[0].match.glob".into()])
    );

    let res = put("/api/v1/domains/a.com")
        .json(&json!({"domain": "b.com", "origins": [{"host": "o.com"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.2, ["domain"]);

    // Validation reports every field at once.
    let res = put("/api/v1/domains/a.com")
        .json(&json!({"origins": [{"host": "o.com", "weight": 0}], "replicas": 99}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.2, ["origins[0].weight", "replicas"]);

    let res = put("/api/v1/domains/a.com")
        .json(&json!({"origins": [{"host": "o.com"}], "pad": "x".repeat(32 * 1024)}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, 413);

    let res = put("/api/v1/domains/a.com")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, 415);

    let res = put("/api/v1/domains/a.com").json(&json!([1, 2])).send().await.unwrap();
    assert_eq!(error_of(res).await.0, 422);

    let res = h
        .raw(Method::PATCH, "/api/v1/domains/a.com")
        .json(&json!({"enabled": "yes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, 404, "patching an unknown domain");

    let res = h
        .raw(Method::PUT, "/api/v1/nodes/edge-1")
        .json(&json!({"ipv4": "300.1.1.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.2, ["ipv4"]);

    assert_eq!(
        h.store.revision().await.unwrap(),
        rev,
        "no refused input reached the store"
    );
    assert!(h.store.domain_names().await.unwrap().is_empty());
    assert!(h.store.nodes().await.unwrap().is_empty());

    // A PATCH that would make the domain invalid leaves it as it was.
    h.master.put_domain(&domain("a.com")).await.unwrap();
    let before = h.store.get_domain("a.com").await.unwrap();
    let e = h
        .master
        .patch_domain("a.com", &json!({"origins": [], "tls": {"mode": "bogus"}}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert!(!e.details().is_empty());
    assert_eq!(h.store.get_domain("a.com").await.unwrap(), before);
}

async fn next_event(sub: &mut cirrus_core::Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("event within 5 s")
        .expect("subscription open")
}

pub async fn changes_and_purges_reach_subscribers(backend: Backend) {
    let h = Harness::start(backend).await;
    let mut sub = h.store.subscribe(SubscribeOptions::default()).await.unwrap();
    h.master.put_domain(&domain("a.com")).await.unwrap();
    let mut kinds = Vec::new();
    for _ in 0..2 {
        match next_event(&mut sub).await {
            Event::Changed { .. } => kinds.push("changed"),
            Event::CnameDirty { .. } => kinds.push("cname"),
            other => panic!("unexpected {other:?}"),
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["changed", "cname"]);

    let sel = PurgeSelection {
        prefixes: vec!["/img/".into()],
        tags: vec!["product-1".into()],
        ..Default::default()
    };
    let accepted = h.master.purge("a.com", &sel).await.unwrap();
    match next_event(&mut sub).await {
        Event::Purge { revision, request } => {
            assert_eq!(revision, Some(accepted.revision));
            assert_eq!(request.id.as_deref(), Some(accepted.id.as_str()));
            assert_eq!(request.selection, sel);
        }
        other => panic!("unexpected {other:?}"),
    }
    let all = PurgeSelection {
        all: true,
        ..Default::default()
    };
    h.master.purge("a.com", &all).await.unwrap();
    assert!(matches!(next_event(&mut sub).await, Event::Purge { request, .. } if request.selection.all));

    let e = h.master.purge("unknown.com", &all).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    let e = h.master.purge("a.com", &PurgeSelection::default()).await.unwrap_err();
    assert_eq!(e.status(), Some(422), "a purge must select something");
    let bad = PurgeSelection {
        urls: vec!["no-slash".into()],
        ..Default::default()
    };
    let e = h.master.purge("a.com", &bad).await.unwrap_err();
    assert_eq!(e.details()[0].field, "urls[0]");
}

pub async fn certificates(backend: Backend) {
    let h = Harness::start(backend).await;
    h.master.put_domain(&domain("shop.example.com")).await.unwrap();
    let status = h.master.certificate_status("shop.example.com").await.unwrap();
    assert_eq!((status.status, status.has_certificate), (AcmeStatus::None, false));

    let first = h.master.issue_certificate("shop.example.com").await.unwrap();
    assert_eq!(first.status, AcmeStatus::Queued);
    let job = first.job_id.clone().expect("job id");
    // Concurrent duplicates all get the one queued job.
    let dupes = futures_util::future::join_all((0..4).map(|_| h.master.issue_certificate("shop.example.com"))).await;
    for d in dupes {
        assert_eq!(d.unwrap().job_id.as_deref(), Some(job.as_str()));
    }
    assert_eq!(h.store.queue_depth().await.unwrap(), 1);
    let claimed = h
        .store
        .claim("test-worker", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, job);
    assert_eq!(claimed.job.kind, "issue_cert");
    assert_eq!(claimed.job.domain.as_deref(), Some("shop.example.com"));
    let e = h.master.issue_certificate("nope.example.com").await.unwrap_err();
    assert_eq!(e.status(), Some(404));

    // Upload: valid, wrong key, wrong name, garbage.
    let (cert, key) = self_signed(&["shop.example.com"]);
    let (_, other_key) = self_signed(&["shop.example.com"]);
    let (other_cert, other_cert_key) = self_signed(&["elsewhere.example.org"]);
    let (wild, wild_key) = self_signed(&["*.example.com"]);
    let upload = |fullchain: &str, key: &str| cirrus_core::model::CertificateUpload {
        fullchain: fullchain.into(),
        key: key.into(),
    };
    let e = h
        .master
        .upload_certificate("shop.example.com", &upload(&cert, &other_key))
        .await
        .unwrap_err();
    assert_eq!(
        e.details().iter().map(|d| d.field.as_str()).collect::<Vec<_>>(),
        ["key"]
    );
    let e = h
        .master
        .upload_certificate("shop.example.com", &upload(&other_cert, &other_cert_key))
        .await
        .unwrap_err();
    assert_eq!(e.details()[0].field, "fullchain");
    assert!(e.details()[0].reason.contains("does not cover"), "{e}");
    let e = h
        .master
        .upload_certificate("shop.example.com", &upload("garbage", "garbage"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert_eq!(e.details().len(), 2);
    assert!(
        h.store.get_cert("shop.example.com").await.unwrap().is_none(),
        "refused uploads store nothing"
    );

    let ok = h
        .master
        .upload_certificate("shop.example.com", &upload(&cert, &key))
        .await
        .unwrap();
    assert_eq!((ok.status, ok.has_certificate), (AcmeStatus::Issued, true));
    let not_after = ok.not_after.expect("not_after");
    assert!(not_after > 1_700_000_000);
    assert_eq!(
        h.store.get_cert("shop.example.com").await.unwrap().unwrap().not_after,
        Some(not_after)
    );
    let tls = h.master.get_domain("shop.example.com").await.unwrap().conf.tls.mode;
    assert_eq!(
        tls,
        cirrus_core::model::TlsMode::Manual,
        "served over HTTPS, the domain says so"
    );
    let ok = h
        .master
        .upload_certificate("shop.example.com", &upload(&wild, &wild_key))
        .await
        .unwrap();
    assert!(ok.has_certificate, "a one-label wildcard covers the domain");

    // The list, soonest end first; the ones ending within 14 days.
    h.master.put_domain(&domain("soon.example.com")).await.unwrap();
    let soon = cirrus_core::model::now_ms() / 1000 + 3 * 86_400;
    let bundle = cirrus_core::model::CertBundle::new("C", "K", Some(soon));
    h.store.put_cert("soon.example.com", &bundle).await.unwrap();
    let all = h.master.list_certificates(None, None).await.unwrap().items;
    let listed: Vec<_> = all.iter().map(|c| (c.domain.as_str(), c.has_certificate)).collect();
    assert_eq!(listed, [("soon.example.com", true), ("shop.example.com", true)]);
    let expiring = h.master.list_certificates(Some(14), None).await.unwrap().items;
    assert_eq!(
        expiring
            .iter()
            .map(|c| (c.domain.as_str(), c.not_after))
            .collect::<Vec<_>>(),
        [("soon.example.com", Some(soon))]
    );
    let e = h.master.list_certificates(Some(4000), None).await.unwrap_err();
    assert_eq!(e.details()[0].field, "expiring_within_days");
}

pub async fn nodes(backend: Backend) {
    let h = Harness::start(backend).await;
    let node = Node::new("edge-1")
        .with_ipv4("192.0.2.1".parse().unwrap())
        .with_weight(3);
    let w = h.master.put_node(&node).await.unwrap();
    assert!(w.created);
    assert!(!h.master.put_node(&node).await.unwrap().created);
    h.master
        .put_node(&Node::new("edge-2").with_ipv6("2001:db8::2".parse().unwrap()))
        .await
        .unwrap();
    let ids: Vec<String> = h
        .master
        .nodes()
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(ids, ["edge-1", "edge-2"]);

    let health = NodeHealth {
        consecutive_failures: 2,
        last_error: Some("timeout".into()),
        ..Default::default()
    };
    h.store
        .record_node_health("edge-1", &health, true, Some(5))
        .await
        .unwrap();
    let got = h.master.get_node("edge-1").await.unwrap();
    assert_eq!((got.health.consecutive_failures, got.weight), (2, 3), "health is shown");

    let disabled = h.master.disable_node("edge-1").await.unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.health.consecutive_failures, 2, "quarantine keeps health");
    assert!(!h.store.get_node("edge-1").await.unwrap().unwrap().enabled);
    assert!(h.master.enable_node("edge-1").await.unwrap().enabled);

    // Server-owned fields are read-only: what a caller sends is ignored.
    let res = h
        .raw(Method::PUT, "/api/v1/nodes/edge-3")
        .json(&json!({"ipv4": "192.0.2.3", "active": false, "last_seen": 9,
            "health": {"consecutive_failures": 99, "last_error": "forged"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let forged = h.store.get_node("edge-3").await.unwrap().unwrap();
    assert!(forged.active, "a new node starts active whatever the body says");
    assert_eq!((forged.health.consecutive_failures, forged.last_seen), (0, None));
    let mut resent = h.master.get_node("edge-1").await.unwrap();
    resent.active = true;
    resent.health = NodeHealth::default();
    h.master.put_node(&resent).await.unwrap();
    let kept = h.master.get_node("edge-1").await.unwrap();
    assert_eq!(kept.health.consecutive_failures, 2, "the checker's counters stay");
    h.master.delete_node("edge-3").await.unwrap();

    h.master.delete_node("edge-2").await.unwrap();
    assert_eq!(h.master.get_node("edge-2").await.unwrap_err().status(), Some(404));
    assert_eq!(h.master.enable_node("edge-2").await.unwrap_err().status(), Some(404));
    assert_eq!(h.master.delete_node("edge-2").await.unwrap_err().status(), Some(404));
}

pub async fn audit_and_request_ids(backend: Backend) {
    let h = Harness::start(backend).await;
    let res = h
        .raw(Method::PUT, "/api/v1/domains/a.com")
        .header("x-request-id", "req-123")
        .json(&json!({"origins": [{"host": "o.com"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["x-request-id"],
        "req-123",
        "a sane request id is passed through"
    );
    let res = h
        .raw(Method::GET, "/api/v1/domains/a.com")
        .header("x-request-id", "bad id\twith spaces")
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 32, "an insane one is replaced");
    let res = h.raw(Method::GET, "/nope").send().await.unwrap();
    assert!(res.headers().contains_key("x-request-id"), "errors carry one too");

    h.master.delete_domain("a.com").await.unwrap();
    let records = h.master.audit(Some(10)).await.unwrap().items;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].action.as_str(), records[1].action.as_str()),
        ("domain.delete", "domain.put")
    );
    assert_eq!(records[1].actor, "master");
    assert_eq!(records[1].resource, "a.com");
    assert_eq!(records[1].request_id.as_deref(), Some("req-123"));
    assert!(records[0].request_id.is_some());
}

pub async fn health_metrics_and_docs(backend: Backend) {
    let h = Harness::start(backend).await;
    let health = h.anonymous().health().await.unwrap();
    assert_eq!(health.status, "ok");
    h.master.put_domain(&domain("a.com")).await.unwrap();
    h.master.put_domain(&domain("a.com")).await.unwrap();
    h.master.issue_certificate("a.com").await.unwrap();
    let text = h.anonymous().metrics().await.unwrap();
    assert!(
        text.contains(r#"cirrus_api_requests_total{method="PUT",route="/api/v1/domains/{domain}",status="201"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"cirrus_api_requests_total{method="PUT",route="/api/v1/domains/{domain}",status="200"} 1"#)
    );
    assert!(text.contains("cirrus_api_request_duration_seconds_bucket"));
    assert!(text.contains("cirrus_jobs_queue_depth 1"), "{text}");
    for gauge in ["cirrus_ready 1", "cirrus_store_up 1", "cirrus_purges_unacknowledged 0"] {
        assert!(text.contains(&format!("\n{gauge}\n")), "{gauge}: {text}");
    }
    let revision = h.store.revision().await.unwrap();
    assert!(
        text.contains(&format!("\ncirrus_store_revision {revision}\n")),
        "{text}"
    );
    let ready = reqwest::get(format!("{}/readyz", h.url)).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        (&body["status"], &body["revision"], &body["checks"]["store"]["state"]),
        (&"ok".into(), &revision.into(), &"up".into())
    );

    // A job runner reporting to this API shows up with kind and outcome.
    struct Issue;
    #[async_trait::async_trait]
    impl cirrus_core::jobs::JobHandler for Issue {
        async fn run(&self, _: &cirrus_core::model::Job) -> Result<(), cirrus_core::jobs::JobError> {
            Ok(())
        }
    }
    let runner = cirrus_core::jobs::JobRunner::builder(h.store.clone(), "worker-1")
        .handler("issue_cert", Issue)
        .observer(h.api.job_observer())
        .build();
    assert!(runner.run_once().await.unwrap().is_some());
    let text = h.anonymous().metrics().await.unwrap();
    assert!(
        text.contains(r#"cirrus_job_duration_seconds_count{kind="issue_cert",outcome="succeeded"} 1"#),
        "{text}"
    );
    assert!(text.contains("cirrus_jobs_queue_depth 0"), "{text}");

    let doc = h.anonymous().openapi().await.unwrap();
    assert!(doc["paths"]["/api/v1/domains/{domain}"]["put"].is_object());
    let res = reqwest::get(format!("{}/docs/", h.url)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("swagger"), "Swagger UI is served");
}

pub async fn unknown_routes_and_methods(backend: Backend) {
    let h = Harness::start(backend).await;
    let res = h.raw(Method::GET, "/api/v1/nothing-here").send().await.unwrap();
    assert_eq!(error_of(res).await, (404, "not_found".into(), vec![]));
    let res = h.raw(Method::POST, "/api/v1/domains").send().await.unwrap();
    assert_eq!(error_of(res).await.0, 405);
}
