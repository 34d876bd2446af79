//! What every role shares about its life: one [`Shutdown`] signal for all
//! its parts, store calls retried with backoff until they work or the role
//! stops ([`retry`]), long-running parts restarted when they end
//! ([`keep_running`]), and an edge registering itself as a node
//! ([`register_node`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use cirrus_core::lifecycle::Shutdown;
//!
//! let shutdown = Shutdown::new();
//! let task = tokio::spawn(shutdown.wait());
//! shutdown.trigger();
//! task.await.unwrap();
//! assert!(shutdown.is_triggered());
//! # }
//! ```

use crate::model::Node;
use std::fmt::Display;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

/// True when a request head announces a body: a `Content-Length` other
/// than `0`, or any `Transfer-Encoding` (the admin listeners refuse both).
///
/// ```
/// use cirrus_core::lifecycle::declares_body;
/// assert!(!declares_body(None, false));
/// assert!(!declares_body(Some(b"0"), false));
/// assert!(declares_body(Some(b"99999999999"), false));
/// assert!(declares_body(None, true));
/// ```
pub fn declares_body(content_length: Option<&[u8]>, transfer_encoding: bool) -> bool {
    transfer_encoding || content_length.is_some_and(|v| v != b"0")
}

/// A stop signal shared by the parts of one or several roles: every
/// [`Shutdown::wait`] future completes once [`Shutdown::trigger`] is called.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal not triggered yet.
    pub fn new() -> Self {
        Self(Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Triggers the signal (idempotent).
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the signal is triggered (at once if it was). The
    /// future owns what it needs, so it can be handed to a spawned task.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}

/// First and largest delays of [`Backoff`].
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Waits between attempts of something that failed: 1 s, 2 s, 4 s … up to
/// 30 s, cut short by a shutdown. For loops [`retry`] cannot express (an
/// attempt borrowing mutable state).
#[derive(Debug)]
pub struct Backoff {
    delay: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// Starts at 1 s.
    pub fn new() -> Self {
        Self { delay: FIRST_DELAY }
    }

    /// Logs `error` as a warning about `what`, then waits the next delay.
    /// Returns false when `shutdown` triggered instead (stop retrying).
    pub async fn wait(&mut self, what: &str, error: &(dyn Display + Sync), shutdown: &Shutdown) -> bool {
        let delay = self.delay;
        tracing::warn!(error = %error, "{what} failed; retrying in {delay:?}");
        self.delay = (delay * 2).min(MAX_DELAY);
        tokio::select! {
            () = shutdown.wait() => false,
            () = tokio::time::sleep(delay) => !shutdown.is_triggered(),
        }
    }
}

/// Runs `attempt` until it succeeds, waiting as [`Backoff`] does between
/// failures (each logged about `what`). Returns `None` when `shutdown`
/// triggers first.
pub async fn retry<T, E, F, Fut>(what: &str, shutdown: &Shutdown, mut attempt: F) -> Option<T>
where
    E: Display + Sync,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new();
    loop {
        let result = tokio::select! {
            biased;
            () = shutdown.wait() => return None,
            result = attempt() => result,
        };
        match result {
            Ok(value) => return Some(value),
            Err(e) => {
                if !backoff.wait(what, &e, shutdown).await {
                    return None;
                }
            }
        }
    }
}

/// Keeps a long-running part of a role running until `shutdown`: runs
/// `attempt` again, after a [`Backoff`], whenever it fails or returns
/// before the shutdown (a change stream that ended, say). The backoff
/// starts over after an attempt that ran for a minute.
pub async fn keep_running<E, F, Fut>(what: &str, shutdown: &Shutdown, mut attempt: F)
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut backoff = Backoff::new();
    while !shutdown.is_triggered() {
        let started = tokio::time::Instant::now();
        let failure = match attempt().await {
            Ok(()) if shutdown.is_triggered() => return,
            Ok(()) => "it stopped by itself".to_string(),
            Err(e) => e.to_string(),
        };
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Backoff::new();
        }
        if !backoff.wait(what, &failure, shutdown).await {
            return;
        }
    }
}

/// How long a health check waits for the store: a probe that hangs is
/// worse than one that says the store is slow.
pub const STORE_CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// The `store` check of a health answer, asked now: a revision round trip
/// within [`STORE_CHECK_TIMEOUT`]; with the revision when it answered.
pub async fn check_store<S: crate::ChangeFeed + ?Sized>(store: &S) -> (crate::model::HealthCheck, Option<u64>) {
    use crate::model::HealthCheck;
    match tokio::time::timeout(STORE_CHECK_TIMEOUT, store.revision()).await {
        Ok(Ok(revision)) => (HealthCheck::up(0), Some(revision)),
        Ok(Err(e)) => (HealthCheck::down(0, Some(e.to_string())), None),
        Err(_) => {
            let late = format!("no answer within {} ms", STORE_CHECK_TIMEOUT.as_millis());
            (HealthCheck::down(0, Some(late)), None)
        }
    }
}

/// The health of a role that serves only while its store answers (the API,
/// the worker): `ok` with the revision, else `unavailable`.
pub async fn store_health<S: crate::ChangeFeed + ?Sized>(store: &S) -> crate::model::Health {
    let (check, revision) = check_store(store).await;
    if let Some(error) = &check.error {
        tracing::warn!(error, "health check: the store does not answer");
    }
    let status = if revision.is_some() { "ok" } else { "unavailable" };
    crate::model::Health::new(status)
        .check("store", check)
        .revision(revision)
}

/// Adds the node `id` with these addresses, or updates the addresses of
/// the node already stored under `id`; what operators and the health
/// checker set (weight, enabled, active, health) is kept. At least one
/// address is required: a node without one is never published in DNS.
pub async fn register_node(
    store: &dyn crate::NodeStore,
    id: &str,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
) -> crate::Result<Node> {
    let mut node = store.get_node(id).await?.unwrap_or_else(|| Node::new(id));
    node.ipv4 = ipv4;
    node.ipv6 = ipv6;
    if ipv4.is_none() && ipv6.is_none() {
        let mut errors = crate::model::ValidationErrors::default();
        errors.push("ipv4", "a registering node needs an IPv4 or IPv6 address");
        return Err(errors.into());
    }
    let node = node.validated()?;
    store.put_node(&node).await?;
    Ok(node)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Shutdown, retry};
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retry_backs_off_until_success() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let got = retry("test", &Shutdown::new(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err("down")
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(got, Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(started.elapsed().as_secs(), 1 + 2 + 4);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_stops_on_shutdown() {
        let shutdown = Shutdown::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            trigger.trigger();
        });
        let got: Option<()> = retry("test", &shutdown, || async { Err("down") }).await;
        assert_eq!(got, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_part_that_ends_or_fails_is_started_again_until_shutdown() {
        let shutdown = Shutdown::new();
        let runs = AtomicU32::new(0);
        super::keep_running("test", &shutdown, || async {
            let n = runs.fetch_add(1, Ordering::SeqCst);
            match n {
                0 => Err("down"),
                1 => Ok(()), // ended by itself: started again
                _ => {
                    shutdown.trigger();
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[cfg(feature = "embedded")]
    #[tokio::test]
    async fn registration_keeps_what_operators_set() {
        use crate::{EmbeddedStore, Node, NodeStore};
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let mut node = Node::new("edge-1");
        node.ipv4 = Some([192, 0, 2, 1].into());
        node.weight = 5;
        node.enabled = false;
        store.put_node(&node).await.unwrap();
        let registered = super::register_node(&store, "edge-1", Some([192, 0, 2, 9].into()), None)
            .await
            .unwrap();
        assert_eq!(registered.ipv4, Some([192, 0, 2, 9].into()));
        assert_eq!(
            (registered.weight, registered.enabled),
            (5, false),
            "the operator's weight and quarantine"
        );
        assert_eq!(store.get_node("edge-1").await.unwrap(), Some(registered));
        let refused = super::register_node(&store, "edge-2", None, None).await.unwrap_err();
        assert!(matches!(refused, crate::Error::Invalid(_)), "{refused}");
        assert_eq!(store.get_node("edge-2").await.unwrap(), None);
    }
}
