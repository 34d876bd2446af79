//! The admin portal in a real browser: Debian's Chromium, driven through
//! chromedriver (both installed by ./scripts/test), against a real
//! `cirrus api` and a `cirrus edge` on a private redis-server. Screenshots
//! of each screen go to
//! `<target>/tmp/portal-screenshots/`.

use crate::harness::{Running, logged};
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::time::Duration;

const MASTER: &str = "portal-test-master-token-0123";

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = cirrus_test_support::free_port();
    let child = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver (./scripts/test installs chromium-driver)");
    crate::harness::until("chromedriver listening", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// The text of the element `css` once it contains `wanted` (bounded wait).
async fn text_of(c: &Client, css: &str, wanted: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(wanted) {
            return text;
        }
        if std::time::Instant::now() > deadline {
            shot(c, "failure").await;
            panic!("{css} never showed {wanted:?}; it shows {text:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the page's heading is exactly `title` (a page whose title
/// merely contains it, "Edit x" for "x", does not count).
async fn heading(c: &Client, title: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = match c.find(Locator::Css("main h1")).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == title {
            return;
        }
        if std::time::Instant::now() > deadline {
            shot(c, "failure").await;
            panic!("the heading never became {title:?}; it is {text:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// axe-core (from npm, installed by ./scripts/test into
/// `~/.cache/cirrus/npm`, or `CIRRUS_AXE` naming the file).
fn axe_source() -> String {
    let path = std::env::var("CIRRUS_AXE").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/cirrus/npm/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("axe-core at {} ({e}): ./scripts/test installs it", path.display()))
}

/// Runs axe-core on the page; panics on any critical or serious violation.
async fn accessible(c: &Client, axe: &str, screen: &str) {
    c.execute(&format!("{axe}\nreturn true;"), vec![]).await.unwrap();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document)
               .then((r) => done({
                 rules_passed: r.passes.length,
                 bad: r.violations
                   .filter((v) => v.impact === 'critical' || v.impact === 'serious')
                   .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
               }))
               .catch((e) => done({ rules_passed: 0, bad: [`axe failed: ${e}`] }));",
            vec![],
        )
        .await
        .unwrap();
    let bad: Vec<String> = serde_json::from_value(found["bad"].clone()).unwrap();
    assert!(bad.is_empty(), "{screen}: {bad:#?}");
    assert!(
        found["rules_passed"].as_u64().unwrap_or(0) > 5,
        "{screen}: axe checked nothing: {found}"
    );
}

async fn log_in(c: &Client, password: &str) {
    let user = c.find(Locator::Css("#user")).await.unwrap();
    user.clear().await.unwrap();
    user.send_keys("admin").await.unwrap();
    let pass = c.find(Locator::Css("#password")).await.unwrap();
    pass.clear().await.unwrap();
    pass.send_keys(password).await.unwrap();
    c.find(Locator::Css("form.login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[test]
fn the_portal_logs_in_and_walks_domains_purge_nodes_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    // Redis, so that a separate `cirrus edge` shares the store and
    // acknowledges purges.
    let redis = cirrus_test_support::RedisServer::start();
    let store = redis.url();
    let api = Running::cirrus(
        dir.path(),
        &[
            "api",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &store,
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
    let base = format!("http://{}", logged(&api.stderr, "listening on http://"));
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
        let c = browser(&driver).await;
        let axe = axe_source();

        // Without a session every page is the login page.
        c.goto(&format!("{base}/#/domains")).await.unwrap();
        text_of(&c, "main", "Log in to see that page.").await;
        shot(&c, "login").await;
        accessible(&c, &axe, "login").await;
        log_in(&c, "wrong password, surely").await;
        text_of(&c, "main [role=alert]", "Wrong user name or password.").await;

        log_in(&c, "correct-horse-battery").await;
        heading(&c, "Overview").await;
        text_of(&c, ".cards", "2\ndomains").await;
        assert_eq!(text_of(&c, "#me", "admin").await, "user admin");
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
        shot(&c, "overview").await;
        accessible(&c, &axe, "overview").await;

        c.goto(&format!("{base}/#/domains")).await.unwrap();
        let list = text_of(&c, "main table", "shop.example.com").await;
        assert!(
            list.contains("example.com") && list.contains("http://192.0.2.10"),
            "{list}"
        );
        shot(&c, "domains").await;
        accessible(&c, &axe, "domains").await;
        c.goto(&format!("{base}/#/domains?q=shop")).await.unwrap();
        heading(&c, "Domains").await;
        let filtered = text_of(&c, "main table", "shop.example.com").await;
        assert!(!filtered.contains("\nexample.com"), "{filtered}");

        // Hostile text from the address bar is shown as text, never run.
        let hostile = "<img src=x onerror=document.title='owned'>";
        c.goto(&format!("{base}/#/domains?q={}", urlencode(hostile)))
            .await
            .unwrap();
        text_of(&c, "main", "No domain starts with").await;
        assert!(
            c.find(Locator::Css("main img")).await.is_err(),
            "no element made from the text"
        );
        assert_ne!(c.title().await.unwrap(), "owned");

        // A phone's width: the same page, the wide columns dropped.
        c.set_window_size(390, 844).await.unwrap();
        c.goto(&format!("{base}/#/domains")).await.unwrap();
        text_of(&c, "main table", "shop.example.com").await;
        shot(&c, "domains-phone").await;
        accessible(&c, &axe, "domains-phone").await;
        c.set_window_size(1280, 800).await.unwrap();

        // A new domain: the API's field error beside its field, then fixed.
        c.goto(&format!("{base}/#/domains")).await.unwrap();
        c.find(Locator::LinkText("New domain"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "New domain").await;
        c.find(Locator::Css("#f-domain"))
            .await
            .unwrap()
            .send_keys("new.example.com")
            .await
            .unwrap();
        c.find(Locator::Css("#f-origin-0"))
            .await
            .unwrap()
            .send_keys("http://192.0.2.20:8080")
            .await
            .unwrap();
        let weight = c.find(Locator::Css("#f-weight-0")).await.unwrap();
        weight.clear().await.unwrap();
        weight.send_keys("0").await.unwrap();
        c.find(Locator::Css("form.domain-form > button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        text_of(&c, "#f-weight-0-error", "1-1000").await;
        shot(&c, "domain-form-error").await;
        accessible(&c, &axe, "domain-form-error").await;
        weight.clear().await.unwrap();
        weight.send_keys("3").await.unwrap();
        c.find(Locator::Css("form.domain-form > button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "new.example.com").await;

        // Edit keeps what the form does not show; the change is saved.
        c.find(Locator::LinkText("Edit this domain"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "Edit new.example.com").await;
        c.find(Locator::Css("#f-ttl"))
            .await
            .unwrap()
            .send_keys("120")
            .await
            .unwrap();
        c.find(Locator::Css("form.domain-form > button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "new.example.com").await;
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
            (
                stored["origins"][0]["port"].as_u64(),
                stored["origins"][0]["weight"].as_u64()
            ),
            (Some(8080), Some(3))
        );

        // Delete, after a confirmation on the page.
        c.find(Locator::Css("#delete")).await.unwrap().click().await.unwrap();
        c.find(Locator::Css("#delete-confirm button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "Domains").await;
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
        c.find(Locator::LinkText("shop.example.com"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let target = cirrus::core::model::DomainDns::for_domain("shop.example.com", "cdn.example.net")
            .cname
            .target;
        let page = text_of(&c, "main", "is not ready").await;
        assert!(
            page.contains(&target) && page.contains("_acme-challenge.shop.example.com"),
            "{page}"
        );
        assert!(page.contains("none stored"), "{page}");
        // The certificate: a request queued, a bad upload refused with its
        // reason, then an upload that takes.
        c.find(Locator::Css("#cert-issue"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        text_of(&c, "#cert-result", "Requested: queued").await;
        c.find(Locator::Css("details summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Css("#cert-chain"))
            .await
            .unwrap()
            .send_keys("not a certificate")
            .await
            .unwrap();
        c.find(Locator::Css("#cert-key"))
            .await
            .unwrap()
            .send_keys("not a key")
            .await
            .unwrap();
        c.find(Locator::Css("details form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        text_of(&c, "#cert-result", "Certificate:").await;
        let issued = rcgen::generate_simple_self_signed(vec!["shop.example.com".to_string()]).unwrap();
        let chain = c.find(Locator::Css("#cert-chain")).await.unwrap();
        chain.clear().await.unwrap();
        chain.send_keys(&issued.cert.pem()).await.unwrap();
        let key = c.find(Locator::Css("#cert-key")).await.unwrap();
        key.clear().await.unwrap();
        key.send_keys(&issued.signing_key.serialize_pem()).await.unwrap();
        c.find(Locator::Css("details form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        text_of(&c, "#cert-result", "Uploaded: issued").await;
        assert_eq!(
            key.prop("value").await.unwrap().as_deref(),
            Some(""),
            "the key is not kept on the page"
        );
        shot(&c, "domain").await;
        accessible(&c, &axe, "domain").await;

        // Purge by tag, then the edge's acknowledgement as it arrives.
        c.find(Locator::LinkText("Purge this domain's cache"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        heading(&c, "Purge").await;
        c.find(Locator::Css("#kind option[value=tags]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Css("#what"))
            .await
            .unwrap()
            .send_keys("product-1")
            .await
            .unwrap();
        c.find(Locator::Css("main form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        text_of(&c, "#purge-state", "applied by every reporting edge").await;
        let acks = text_of(&c, "main table", "edge-1").await;
        assert!(acks.contains("applied"), "{acks}");
        shot(&c, "purge").await;
        accessible(&c, &axe, "purge").await;

        // Nodes: the edge with its revision; quarantine and release it.
        c.goto(&format!("{base}/#/nodes")).await.unwrap();
        text_of(&c, "main table", "edge-1").await;
        c.find(Locator::Css("main table button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        text_of(&c, "main table", "Enable edge-1").await;
        shot(&c, "nodes").await;
        accessible(&c, &axe, "nodes").await;
        c.find(Locator::Css("main table button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        text_of(&c, "main table", "Disable edge-1").await;

        // Tokens: one created with a hostile name, its secret shown once,
        // the name shown as text in the list, then revoked.
        c.goto(&format!("{base}/#/tokens")).await.unwrap();
        heading(&c, "Service tokens").await;
        let hostile_name = "<img src=x onerror=document.title='owned'>";
        c.find(Locator::Css("#t-name"))
            .await
            .unwrap()
            .send_keys(hostile_name)
            .await
            .unwrap();
        c.find(Locator::Css("#t-read")).await.unwrap().click().await.unwrap();
        c.find(Locator::Css("#t-domains"))
            .await
            .unwrap()
            .send_keys("shop.example.com")
            .await
            .unwrap();
        c.find(Locator::Css("form.domain-form > button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let secret = text_of(&c, "#t-secret", "cirrus_").await;
        shot(&c, "token-created").await;
        accessible(&c, &axe, "token-created").await;
        c.find(Locator::LinkText("Done: back to the list"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let listed = text_of(&c, "main table", "shop.example.com").await;
        assert!(listed.contains(hostile_name), "the name as text: {listed}");
        assert!(
            !c.source().await.unwrap().contains(&secret),
            "the secret is gone from the page"
        );
        assert!(c.find(Locator::Css("main img")).await.is_err());
        assert_ne!(c.title().await.unwrap(), "owned");
        shot(&c, "tokens").await;
        accessible(&c, &axe, "tokens").await;
        c.find(Locator::Css("main table button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        text_of(&c, "main", "No service tokens.").await;

        // The audit log has it all, filtered by actor.
        c.goto(&format!("{base}/#/audit?actor=user%3Aadmin")).await.unwrap();
        let log = text_of(&c, "main table", "node.enable").await;
        for action in [
            "session.login",
            "domain.purge",
            "node.disable",
            "token.create",
            "token.revoke",
        ] {
            assert!(log.contains(action), "{action} in {log}");
        }
        assert!(!log.contains("master"), "filtered by actor: {log}");
        shot(&c, "audit").await;
        accessible(&c, &axe, "audit").await;

        // A domain deleted elsewhere: a message, not a blank page.
        c.goto(&format!("{base}/#/domain?name=gone.example.com")).await.unwrap();
        heading(&c, "No such domain").await;
        text_of(&c, "main", "deleted elsewhere").await;

        c.find(Locator::Css("#logout")).await.unwrap().click().await.unwrap();
        heading(&c, "Log in").await;
        c.goto(&format!("{base}/#/")).await.unwrap();
        heading(&c, "Log in").await;
        // The API gone: the page says so.
        drop(api);
        c.goto(&format!("{base}/#/nodes")).await.unwrap();
        heading(&c, "The API does not answer").await;
        text_of(&c, "main", "cannot be reached").await;
        c.close().await.unwrap();
    });
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
