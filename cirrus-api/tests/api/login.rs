//! Logins are bounded before authentication: attempts per client address
//! and per user name, and password checks at once.

use crate::{Backend, Harness};
use cirrus_api::{LoginLimits, RateLimit};
use serde_json::json;

/// One login attempt for `user` from the loopback address `from`; the
/// status, the `Retry-After` header and the message.
async fn attempt(h: &Harness, from: [u8; 4], user: &str) -> (u16, Option<String>, String) {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(from))
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/api/v1/auth/login", h.url))
        .json(&json!({"username": user, "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body: serde_json::Value = res.json().await.unwrap();
    (
        status,
        retry,
        body["error"]["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_limited_per_address_and_per_user_name() {
    let slow = Some(RateLimit::new(0.01, 3));
    let h = Harness::start_with(Backend::Embedded, |b| b.login_limits(LoginLimits::new(2, slow, None))).await;
    for user in ["a", "b", "c"] {
        assert_eq!(attempt(&h, [127, 0, 0, 1], user).await.0, 401);
    }
    let (status, retry, message) = attempt(&h, [127, 0, 0, 1], "d").await;
    assert_eq!(status, 429, "a fourth name from the same address");
    assert!(retry.is_some_and(|r| r.parse::<u64>().unwrap() >= 1));
    assert!(message.contains("login attempts"), "{message}");
    assert_eq!(
        attempt(&h, [127, 0, 0, 2], "d").await.0,
        401,
        "another address has its own budget"
    );

    let h = Harness::start_with(Backend::Embedded, |b| b.login_limits(LoginLimits::new(2, None, slow))).await;
    for last in 1..=3 {
        assert_eq!(attempt(&h, [127, 0, 0, last], "admin").await.0, 401);
    }
    assert_eq!(
        attempt(&h, [127, 0, 0, 4], "admin").await.0,
        429,
        "a fourth address guessing the same name"
    );
    assert_eq!(attempt(&h, [127, 0, 0, 4], "other").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_checks_at_once_are_bounded() {
    let h = Harness::start_with(Backend::Embedded, |b| b.login_limits(LoginLimits::new(1, None, None))).await;
    let answers = futures_util::future::join_all(
        (0..16).map(|i| attempt(&h, [127, 0, 0, 1], if i % 2 == 0 { "x" } else { "y" })),
    )
    .await;
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    let checked = answers.iter().filter(|a| a.0 == 401).count();
    assert!(!busy.is_empty() && checked >= 1, "{answers:?}");
    assert_eq!(busy.len() + checked, 16, "{answers:?}");
    assert!(
        busy.iter()
            .all(|a| a.1.as_deref() == Some("1") && a.2.contains("in progress")),
        "{busy:?}"
    );
}
