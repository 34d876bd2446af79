//! Chromium through chromedriver for the portal's test: a session, waits
//! bounded in time, clicks and typing, screenshots at a desktop's and a
//! phone's width, and the axe-core audit run in the page.

use cirrus_test_support::eventually;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::time::Duration;

/// chromedriver on a free loopback port, killed on drop.
pub struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chromedriver() -> Driver {
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

pub async fn browser(driver: &Driver) -> Client {
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

pub fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// The text of the element `css` once it contains `wanted` (bounded wait;
/// a failure leaves a screenshot, as the walk takes one on any panic).
pub async fn text_of(c: &Client, css: &str, wanted: &str) -> String {
    let what = format!("{css} showing {wanted:?}");
    eventually(&what, Duration::from_secs(10), || async move {
        let text = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.contains(wanted).then_some(text)
    })
    .await
}

/// Waits until the page's heading is exactly `title` (a page whose title
/// merely contains it, "Edit x" for "x", does not count).
pub async fn heading(c: &Client, title: &str) {
    let what = format!("the heading {title:?}");
    eventually(&what, Duration::from_secs(10), || async move {
        match c.find(Locator::Css("main h1")).await {
            Ok(e) => e.text().await.is_ok_and(|t| t == title),
            Err(_) => false,
        }
    })
    .await;
}

/// axe-core (from npm, installed by ./scripts/test into
/// `~/.cache/cirrus/npm`, or `CIRRUS_AXE` naming the file).
pub fn axe_source() -> String {
    let path = std::env::var("CIRRUS_AXE").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/cirrus/npm/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("axe-core at {} ({e}): ./scripts/test installs it", path.display()))
}

/// Runs axe-core on the page; panics on any critical or serious violation.
pub async fn accessible(c: &Client, axe: &str, screen: &str) {
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

/// Clicks the element `what` finds, once it is there (bounded wait: a
/// screen that refreshes may be between two renderings of it).
pub async fn click(c: &Client, what: Locator<'_>) {
    eventually(&format!("{what:?} to click"), Duration::from_secs(10), || async move {
        match c.find(what).await {
            Ok(e) => e.click().await.ok(),
            Err(_) => None,
        }
    })
    .await;
}

/// Types `text` into the input `css` finds.
pub async fn fill(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css)).await.unwrap().send_keys(text).await.unwrap();
}

/// Photographs the screen at a desktop's and at a phone's width (`name`,
/// `name-phone`) and audits it with axe-core at both.
pub async fn snap(c: &Client, axe: &str, name: &str) {
    shot(c, name).await;
    accessible(c, axe, name).await;
    c.set_window_size(390, 844).await.unwrap();
    let phone = format!("{name}-phone");
    shot(c, &phone).await;
    accessible(c, axe, &phone).await;
    c.set_window_size(1280, 800).await.unwrap();
}

pub async fn log_in(c: &Client, password: &str) {
    let user = c.find(Locator::Css("#user")).await.unwrap();
    user.clear().await.unwrap();
    user.send_keys("admin").await.unwrap();
    let pass = c.find(Locator::Css("#password")).await.unwrap();
    pass.clear().await.unwrap();
    pass.send_keys(password).await.unwrap();
    click(c, Locator::Css("form.login button")).await;
}

/// The focused element, once it is the one with id `id` (bounded wait).
pub async fn focused(c: &Client, id: &str) -> fantoccini::elements::Element {
    let what = format!("#{id} focused");
    eventually(&what, Duration::from_secs(10), || async move {
        let active = c.active_element().await.unwrap();
        let is = active.attr("id").await.unwrap().as_deref() == Some(id);
        is.then_some(active)
    })
    .await
}

/// Follows `hash` in the loaded portal and measures, in the page, the
/// bytes its API calls transferred and the time until its heading is
/// `title` (the screen is drawn with its handlers bound).
pub async fn screen_cost(c: &Client, hash: &str, title: &str) -> serde_json::Value {
    let cost = c
        .execute_async(
            "const [hash, title, done] = arguments;
             performance.clearResourceTimings();
             const start = performance.now();
             location.hash = hash;
             const drawn = () => {
               const h1 = document.querySelector('main h1');
               if (location.hash === hash && h1 && h1.textContent === title) {
                 const calls = performance.getEntriesByType('resource');
                 done({ ms: Math.round(performance.now() - start), calls: calls.length,
                        bytes: calls.reduce((n, r) => n + r.transferSize, 0) });
               } else if (performance.now() - start > 10000) {
                 done({ error: `never drawn: ${h1 && h1.textContent}` });
               } else setTimeout(drawn, 5);
             };
             drawn();",
            vec![hash.into(), title.into()],
        )
        .await
        .unwrap();
    assert!(cost.get("error").is_none(), "{hash}: {cost}");
    cost
}

/// `s` percent-encoded for a URL fragment.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
