//! The admin portal in a real browser: Debian's Chromium, driven through
//! chromedriver (both installed by ./scripts/test), against a real
//! `cirrus api` and a `cirrus edge` on a private redis-server. Screenshots
//! of each screen, at a desktop's and a phone's width, go to
//! `<target>/tmp/portal-screenshots/`.

mod browser;
mod operations;

use crate::harness::{Running, logged};
use browser::{
    axe_source, browser, chromedriver, click, fill, focused, heading, log_in, shot, snap, text_of, urlencode,
};
use fantoccini::Locator;
use fantoccini::key::Key;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

const MASTER: &str = "portal-test-master-token-0123";

#[test]
fn the_portal_logs_in_and_walks_domains_purge_nodes_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    // Redis, so that a separate `cirrus edge` shares the store and
    // acknowledges purges.
    let redis = cirrus_test_support::RedisServer::start();
    let store = redis.url();
    let (api, base) = Running::api(
        dir.path(),
        &store,
        &[
            "--master-token",
            MASTER,
            "--admin-user",
            "admin",
            "--admin-password",
            "correct-horse-battery",
            "--zone",
            "cdn.example.net",
            "--resolver",
            "127.0.0.1:9",
        ],
    );
    let edge = Running::cirrus(
        dir.path(),
        &[
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--node-id",
            "edge-1",
            "--store",
            &store,
            "--no-access-log",
        ],
    );
    logged(&edge.stderr, "registered as a node");
    let driver = chromedriver();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for name in ["example.com", "shop.example.com"] {
            let res = http
                .put(format!("{base}/api/v1/domains/{name}"))
                .bearer_auth(MASTER)
                .json(&serde_json::json!({"origins": [{"host": "192.0.2.10"}]}))
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success());
        }
        let portal = Portal {
            c: browser(&driver).await,
            base,
            http,
            axe: axe_source(),
            store,
        };
        // Any failure, an assertion's too, leaves a screenshot.
        let walked = AssertUnwindSafe(async {
            domains_and_purge(&portal).await;
            operations::walk(&portal).await;
            let Portal { c, base, .. } = &portal;
            // The API gone: the page says so.
            drop(api);
            c.goto(&format!("{base}/#/nodes")).await.unwrap();
            heading(c, "The API does not answer").await;
            text_of(c, "main", "cannot be reached").await;
        })
        .catch_unwind()
        .await;
        if let Err(panic) = walked {
            shot(&portal.c, "failure").await;
            std::panic::resume_unwind(panic);
        }
        portal.c.close().await.unwrap();
    });
}

/// The browser and what the walk needs of the running API.
pub struct Portal {
    pub c: fantoccini::Client,
    pub base: String,
    pub http: reqwest::Client,
    pub axe: String,
    /// The Redis URL the API and the edge share.
    pub store: String,
}

/// Login, domains (list, search, form, page, certificate) and a purge
/// acknowledged by the edge.
async fn domains_and_purge(portal: &Portal) {
    let Portal { c, base, http, axe, .. } = portal;
    // Without a session every page is the login page.
    c.goto(&format!("{base}/#/domains")).await.unwrap();
    text_of(c, "main", "Log in to see that page.").await;
    snap(c, axe, "login").await;
    log_in(c, "wrong password, surely").await;
    text_of(c, "main [role=alert]", "Wrong user name or password.").await;

    // The right one with the keyboard alone: the page focuses the user
    // name, Tab reaches the password, Enter submits.
    c.goto(&format!("{base}/#/login")).await.unwrap();
    heading(c, "Log in").await;
    let user = focused(c, "user").await;
    user.send_keys("admin").await.unwrap();
    user.send_keys(&Key::Tab.to_string()).await.unwrap();
    let pass = focused(c, "password").await;
    pass.send_keys(&format!("correct-horse-battery{}", Key::Enter))
        .await
        .unwrap();
    heading(c, "Overview").await;
    text_of(c, ".cards", "2\ndomains").await;
    assert_eq!(text_of(c, "#me", "admin").await, "user admin");
    // The cards follow the event stream: a domain created and deleted
    // behind the page is counted and uncounted without a reload.
    let live_domain = format!("{base}/api/v1/domains/live.example.com");
    let put = http.put(&live_domain).bearer_auth(MASTER);
    let put = put.json(&serde_json::json!({"origins": [{"host": "192.0.2.10"}]}));
    assert!(put.send().await.unwrap().status().is_success());
    text_of(c, ".cards", "3\ndomains").await;
    let gone = http.delete(&live_domain).bearer_auth(MASTER).send().await.unwrap();
    assert_eq!(gone.status(), 204);
    text_of(c, ".cards", "2\ndomains").await;
    // What the first load costs (measured, printed, not asserted).
    let load = c
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0];
             const res = performance.getEntriesByType('resource');
             const bytes = res.reduce((n, r) => n + r.transferSize, nav.transferSize);
             return { bytes, files: res.filter((r) => r.initiatorType !== 'fetch').length + 1,
                      interactive_ms: nav.domInteractive, loaded_ms: nav.loadEventEnd };",
            vec![],
        )
        .await
        .unwrap();
    eprintln!("portal first load (login page, then the overview's API calls): {load}");
    snap(c, axe, "overview").await;
    // Tab from the page's heading reaches its first link, visibly
    // focused, and Enter follows it.
    let page = c.active_element().await.unwrap();
    assert_eq!(
        page.attr("id").await.unwrap().as_deref(),
        Some("main"),
        "a new screen takes the focus"
    );
    page.send_keys(&Key::Tab.to_string()).await.unwrap();
    let link = c.active_element().await.unwrap();
    assert_eq!(link.text().await.unwrap(), "domains");
    let outline = c
        .execute("return getComputedStyle(document.activeElement).outlineStyle;", vec![])
        .await
        .unwrap();
    assert_eq!(outline, "solid", "focus is visible");
    link.send_keys(&Key::Enter.to_string()).await.unwrap();
    heading(c, "Domains").await;

    c.goto(&format!("{base}/#/domains")).await.unwrap();
    let list = text_of(c, "main table", "shop.example.com").await;
    assert!(
        list.contains("example.com") && list.contains("http://192.0.2.10"),
        "{list}"
    );
    snap(c, axe, "domains").await;
    // The search form: names starting with what is typed.
    fill(c, "#q", "shop").await;
    click(c, Locator::Css("form[role=search] button")).await;
    let url = cirrus_test_support::eventually("the search followed", std::time::Duration::from_secs(10), || async {
        c.current_url()
            .await
            .ok()
            .filter(|u| u.as_str().ends_with("#/domains?q=shop"))
    })
    .await;
    assert!(url.as_str().ends_with("q=shop"), "{url}");
    heading(c, "Domains").await;
    let filtered = text_of(c, "main table", "shop.example.com").await;
    assert!(!filtered.contains("\nexample.com"), "{filtered}");

    // Hostile text from the address bar is shown as text, never run.
    let hostile = "<img src=x onerror=document.title='owned'>";
    c.goto(&format!("{base}/#/domains?q={}", urlencode(hostile)))
        .await
        .unwrap();
    text_of(c, "main", "No domain starts with").await;
    assert!(
        c.find(Locator::Css("main img")).await.is_err(),
        "no element made from the text"
    );
    assert_ne!(c.title().await.unwrap(), "owned");

    // A new domain: the API's field error beside its field, then fixed.
    c.goto(&format!("{base}/#/domains")).await.unwrap();
    // The list rendered anew (the search page before it has the link too).
    text_of(c, "main table", "shop.example.com").await;
    click(c, Locator::LinkText("New domain")).await;
    heading(c, "New domain").await;
    fill(c, "#f-domain", "new.example.com").await;
    fill(c, "#f-origin-0", "http://192.0.2.20:8080").await;
    let weight = c.find(Locator::Css("#f-weight-0")).await.unwrap();
    weight.clear().await.unwrap();
    weight.send_keys("0").await.unwrap();
    click(c, Locator::Css("form.domain-form > button[type=submit]")).await;
    text_of(c, "#f-weight-0-error", "1-1000").await;
    snap(c, axe, "domain-form-error").await;
    weight.clear().await.unwrap();
    weight.send_keys("3").await.unwrap();
    click(c, Locator::Css("form.domain-form > button[type=submit]")).await;
    heading(c, "new.example.com").await;

    // Edit keeps what the form does not show; the change is saved.
    click(c, Locator::LinkText("Edit this domain")).await;
    heading(c, "Edit new.example.com").await;
    fill(c, "#f-ttl", "120").await;
    // Shielding by named nodes: a bad id refused beside its field, then fixed.
    let shield = c.find(Locator::Css("#f-shield")).await.unwrap();
    shield.select_by_value("nodes").await.unwrap();
    fill(c, "#f-shield-nodes", "Edge One").await;
    click(c, Locator::Css("form.domain-form > button[type=submit]")).await;
    text_of(c, "#f-shield-nodes-error", "node id").await;
    snap(c, axe, "domain-form-shield").await;
    let nodes = c.find(Locator::Css("#f-shield-nodes")).await.unwrap();
    nodes.clear().await.unwrap();
    nodes.send_keys("edge-2, edge-1").await.unwrap();
    click(c, Locator::Css("form.domain-form > button[type=submit]")).await;
    heading(c, "new.example.com").await;
    let stored: serde_json::Value = http
        .get(format!("{base}/api/v1/domains/new.example.com"))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["cache"]["default_ttl"], 120, "{stored}");
    assert_eq!(
        stored["shield"],
        serde_json::json!({"mode": "nodes", "nodes": ["edge-1", "edge-2"]}),
        "{stored}"
    );
    assert_eq!(
        (
            stored["origins"][0]["port"].as_u64(),
            stored["origins"][0]["weight"].as_u64()
        ),
        (Some(8080), Some(3))
    );

    // Delete, after a confirmation on the page.
    click(c, Locator::Css("#delete")).await;
    click(c, Locator::Css("#delete-confirm button")).await;
    heading(c, "Domains").await;
    let gone = http
        .get(format!("{base}/api/v1/domains/new.example.com"))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);

    // A domain's page: the records to set (with their targets), its
    // readiness (not ready: nobody set the CNAME), its certificate.
    c.goto(&format!("{base}/#/domains")).await.unwrap();
    text_of(c, "main table", "shop.example.com").await;
    click(c, Locator::LinkText("shop.example.com")).await;
    let target = cirrus::core::model::DomainDns::for_domain("shop.example.com", "cdn.example.net")
        .cname
        .target;
    let page = text_of(c, "main", "is not ready").await;
    assert!(
        page.contains(&target) && page.contains("_acme-challenge.shop.example.com"),
        "{page}"
    );
    // The page follows the domain: disabled and enabled again behind it.
    let shop = format!("{base}/api/v1/domains/shop.example.com");
    for (enabled, shown) in [(false, "Serving: no"), (true, "Serving: yes")] {
        let patch = http
            .patch(&shop)
            .bearer_auth(MASTER)
            .json(&serde_json::json!({ "enabled": enabled }));
        assert!(patch.send().await.unwrap().status().is_success());
        text_of(c, "#summary", shown).await;
    }
    text_of(c, "#live-note", "Updated live").await;
    snap(c, axe, "domain-live").await;
    assert!(page.contains("none stored"), "{page}");
    // The certificate: a request queued, a bad upload refused with its
    // reason, then an upload that takes.
    click(c, Locator::Css("#cert-issue")).await;
    text_of(c, "#cert-result", "Requested: queued").await;
    click(c, Locator::Css("details summary")).await;
    fill(c, "#cert-chain", "not a certificate").await;
    fill(c, "#cert-key", "not a key").await;
    click(c, Locator::Css("details form button")).await;
    text_of(c, "#cert-result", "Certificate:").await;
    let issued = rcgen::generate_simple_self_signed(vec!["shop.example.com".to_string()]).unwrap();
    let chain = c.find(Locator::Css("#cert-chain")).await.unwrap();
    chain.clear().await.unwrap();
    chain.send_keys(&issued.cert.pem()).await.unwrap();
    let key = c.find(Locator::Css("#cert-key")).await.unwrap();
    key.clear().await.unwrap();
    key.send_keys(&issued.signing_key.serialize_pem()).await.unwrap();
    click(c, Locator::Css("details form button")).await;
    text_of(c, "#cert-result", "Uploaded: issued").await;
    assert_eq!(
        key.prop("value").await.unwrap().as_deref(),
        Some(""),
        "the key is not kept on the page"
    );
    snap(c, axe, "domain").await;

    // Purge by tag, then the edge's acknowledgement as it arrives.
    click(c, Locator::LinkText("Purge this domain's cache")).await;
    heading(c, "Purge").await;
    click(c, Locator::Css("#kind option[value=tags]")).await;
    fill(c, "#what", "product-1").await;
    click(c, Locator::Css("main form button")).await;
    text_of(c, "#purge-state", "applied by every reporting edge").await;
    let acks = text_of(c, "main table", "edge-1").await;
    assert!(acks.contains("applied"), "{acks}");
    snap(c, axe, "purge").await;
}
