//! Bounded waits: poll until something holds ([`eventually`], [`within`],
//! [`until`]),
//! or check that something keeps holding ([`stays`]); never a bare sleep.

use std::future::Future;
use std::time::Duration;

/// What a check polled by [`eventually`] answers: `true` or `Some(value)`
/// when the wait is over (`false` or `None` to poll again).
pub trait Ready {
    /// What [`eventually`] returns once ready.
    type Value;
    /// The value, when ready.
    fn ready(self) -> Option<Self::Value>;
}

impl Ready for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Polls `check` every 20 ms until it answers `true` or `Some(value)`, and
/// returns that value; panics with `what` after `timeout`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// let mut n = 0;
/// let got = cirrus_test_support::eventually("the third try", Duration::from_secs(5), || {
///     n += 1;
///     std::future::ready((n >= 3).then_some(n))
/// })
/// .await;
/// assert_eq!(got, 3);
/// # }
/// ```
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, check: F) -> <Fut::Output as Ready>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Ready,
{
    match within(timeout, check).await {
        Some(value) => value,
        None => panic!("timed out after {timeout:?} waiting for: {what}"),
    }
}

/// [`eventually`] that answers `None` after `timeout` instead of
/// panicking, for a test that says more on failure (a peer's log).
pub async fn within<F, Fut>(timeout: Duration, mut check: F) -> Option<<Fut::Output as Ready>::Value>
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Ready,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await.ready() {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`eventually`] for code without a runtime: polls `check` every 20 ms
/// (blocking the thread) until it answers `true` or `Some(value)`.
pub fn until<R: Ready>(what: &str, timeout: Duration, mut check: impl FnMut() -> R) -> R::Value {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().ready() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks, every 20 ms for `period`, that `check` stays true: for a test
/// whose point is that nothing happens ("no second fetch within 300 ms").
/// Panics with `what` the first time it is false.
pub async fn stays<F, Fut>(what: &str, period: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + period;
    loop {
        assert!(check().await, "{what} did not hold for {period:?}");
        if tokio::time::Instant::now() >= end {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
