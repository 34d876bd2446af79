//! The portal's operations screens in the browser: nodes, tokens, the
//! audit log, the overview's watch list, what each screen costs, and a
//! lost CSRF token.

use super::Portal;
use super::browser::{click, fill, heading, log_in, screen_cost, snap, text_of};
use cirrus::core::{CertStore, ChangeFeed, NodeStore, PurgeLog};
use cirrus_test_support::eventually;
use fantoccini::Locator;
use std::time::Duration;

const MASTER: &str = super::MASTER;

pub async fn walk(portal: &Portal) {
    let Portal {
        c,
        base,
        http,
        axe,
        store,
    } = portal;
    // Nodes: the edge with its revision; quarantine and release it.
    c.goto(&format!("{base}/#/nodes")).await.unwrap();
    text_of(c, "main table", "edge-1").await;
    click(c, Locator::Css("main table button")).await;
    text_of(c, "main table", "Enable edge-1").await;
    snap(c, axe, "nodes").await;
    click(c, Locator::Css("main table button")).await;
    text_of(c, "main table", "Disable edge-1").await;

    // Tokens: one created with a hostile name, its secret shown once,
    // the name shown as text in the list, then revoked.
    c.goto(&format!("{base}/#/tokens")).await.unwrap();
    heading(c, "Service tokens").await;
    let hostile_name = "<img src=x onerror=document.title='owned'>";
    fill(c, "#t-name", hostile_name).await;
    click(c, Locator::Css("#t-read")).await;
    fill(c, "#t-domains", "shop.example.com").await;
    click(c, Locator::Css("form.domain-form > button[type=submit]")).await;
    let secret = text_of(c, "#t-secret", "cirrus_").await;
    snap(c, axe, "token-created").await;
    click(c, Locator::LinkText("Done: back to the list")).await;
    let listed = text_of(c, "main table", "shop.example.com").await;
    assert!(listed.contains(hostile_name), "the name as text: {listed}");
    assert!(
        !c.source().await.unwrap().contains(&secret),
        "the secret is gone from the page"
    );
    assert!(c.find(Locator::Css("main img")).await.is_err());
    assert_ne!(c.title().await.unwrap(), "owned");
    snap(c, axe, "tokens").await;
    click(c, Locator::Css("main table button")).await;
    text_of(c, "main", "No service tokens.").await;

    // The audit log has it all, filtered by actor.
    c.goto(&format!("{base}/#/audit?actor=user%3Aadmin")).await.unwrap();
    let log = text_of(c, "main table", "node.enable").await;
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
    snap(c, axe, "audit").await;

    // The overview's watch list: an edge that does not apply a purge
    // and a certificate ending in three days.
    let store = cirrus::core::RedisStore::connect(store).unwrap();
    let stuck = cirrus::core::Node::new("edge-stuck").with_ipv4([192, 0, 2, 99].into());
    store.put_node(&stuck).await.unwrap();
    let now_ms = cirrus::core::model::now_ms();
    let report = cirrus::core::model::EdgeReport::new(store.revision().await.unwrap(), now_ms, now_ms);
    assert!(store.report_edge("edge-stuck", &report).await.unwrap());
    let pending: serde_json::Value = http
        .post(format!("{base}/api/v1/domains/example.com/purge"))
        .bearer_auth(MASTER)
        .json(&serde_json::json!({"all": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ends = now_ms / 1000 + 3 * 86_400 + 3600;
    let cert = cirrus::core::model::CertBundle::new("C", "K", Some(ends));
    store.put_cert("example.com", &cert).await.unwrap();
    c.goto(&format!("{base}/#/")).await.unwrap();
    text_of(c, ".cards", "1\ncertificates ending within 14 days").await;
    // This one and the tag purge above: edge-stuck applied neither.
    text_of(c, ".cards", "2\npurges pending").await;
    click(c, Locator::LinkText("purges pending")).await;
    heading(c, "Pending purges").await;
    let row = text_of(c, "main table", pending["id"].as_str().unwrap()).await;
    assert!(row.contains("edge-stuck") && row.contains("example.com"), "{row}");
    snap(c, axe, "purges").await;
    click(c, Locator::LinkText(pending["id"].as_str().unwrap())).await;
    text_of(c, "#purge-state", "waiting for edges").await;
    text_of(c, "main table", "edge-stuck pending").await;

    // Live: the pending list drops a purge once edge-stuck applies it
    // (the API writes purge.completed; the page follows the event stream),
    // without a reload.
    c.back().await.unwrap();
    heading(c, "Pending purges").await;
    let id = pending["id"].as_str().unwrap();
    text_of(c, "main table", id).await;
    let published = store.purge_record(id).await.unwrap().unwrap().published_ms;
    assert!(store.ack_purge(id, "edge-stuck", published + 7).await.unwrap());
    let what = format!("{id} gone from the pending purges, live");
    eventually(&what, Duration::from_secs(10), || async move {
        let table = c.find(Locator::Css("main table")).await.ok()?;
        let text = table.text().await.ok()?;
        (!text.contains(id)).then_some(())
    })
    .await;
    heading(c, "Pending purges").await;
    c.goto(&format!("{base}/#/")).await.unwrap();
    heading(c, "Overview").await;
    click(c, Locator::LinkText("certificates ending within 14 days")).await;
    heading(c, "Certificates ending within 14 days").await;
    let row = text_of(c, "main table", "example.com").await;
    assert!(row.contains("3 days") && !row.contains("shop.example.com"), "{row}");
    snap(c, axe, "certificates").await;

    // What each screen costs once the portal is loaded: its API calls
    // (bytes from the browser's resource timing) and the time from the
    // link to the screen drawn and usable (measured, printed).
    for (hash, title) in [
        ("#/", "Overview"),
        ("#/domains", "Domains"),
        ("#/domain?name=shop.example.com", "shop.example.com"),
        ("#/edit?name=shop.example.com", "Edit shop.example.com"),
        ("#/purge", "Purge"),
        ("#/purges", "Recent purges"),
        ("#/certificates", "Certificates"),
        ("#/nodes", "Nodes"),
        ("#/tokens", "Service tokens"),
        ("#/audit", "Audit log"),
    ] {
        let cost = screen_cost(c, hash, title).await;
        eprintln!("portal screen {hash}: {cost}");
    }

    // The audit log in pages of 50: 60 writes by the master token.
    for _ in 0..60 {
        let res = http
            .put(format!("{base}/api/v1/nodes/edge-stuck"))
            .bearer_auth(MASTER)
            .json(&serde_json::json!({"ipv4": "192.0.2.99"}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }
    // The filter form, then the pages.
    c.goto(&format!("{base}/#/audit")).await.unwrap();
    heading(c, "Audit log").await;
    fill(c, "#actor", "master").await;
    fill(c, "#resource", "edge-stuck").await;
    click(c, Locator::Css("form[role=search] button")).await;
    text_of(c, "main nav", "Page 1 of 2 (60 records)").await;
    click(c, Locator::LinkText("Older")).await;
    text_of(c, "main nav", "Page 2 of 2").await;
    assert_eq!(c.find_all(Locator::Css("main tbody tr")).await.unwrap().len(), 10);

    // A write without the session's CSRF token: refused, and said so.
    c.execute("localStorage.removeItem('cirrus.csrf');", vec![])
        .await
        .unwrap();
    c.goto(&format!("{base}/#/nodes")).await.unwrap();
    text_of(c, "main table", "Disable edge-1").await;
    click(c, Locator::Css("main table button")).await;
    text_of(c, "main [role=alert]", "log in again").await;
    // Logging out cannot end the session without it either: said so,
    // not pretended; logging in again gives the page a new one.
    click(c, Locator::Css("#logout")).await;
    heading(c, "Still logged in").await;
    click(c, Locator::LinkText("Log in again")).await;
    heading(c, "Log in").await;
    log_in(c, "correct-horse-battery").await;
    heading(c, "Overview").await;

    // A domain deleted elsewhere: a message, not a blank page.
    c.goto(&format!("{base}/#/domain?name=gone.example.com")).await.unwrap();
    heading(c, "No such domain").await;
    text_of(c, "main", "deleted elsewhere").await;

    click(c, Locator::Css("#logout")).await;
    heading(c, "Log in").await;
    c.goto(&format!("{base}/#/")).await.unwrap();
    heading(c, "Log in").await;
}
