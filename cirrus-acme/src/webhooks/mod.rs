//! Webhook delivery, run by the worker role: every enabled endpoint gets
//! the events it asked for, in the stream's order, at least once.
//!
//! Each endpoint is delivered to by one worker at a time (it holds the
//! endpoint's lock, `cdn:lock:webhook:{id}`, renewed as it goes) from a
//! cursor kept in the store, so a worker that dies mid-delivery loses
//! nothing: the next one resumes at the cursor and posts the event again,
//! with the same `webhook-id`. A failed attempt is retried after an
//! exponential backoff with jitter (5 s doubling to an hour, by default)
//! while the endpoint waits, until it has failed for the retry period (a
//! day): the event then goes to the dead letters and delivery moves on.
//! `410 Gone` disables the endpoint. Endpoints never wait on each other.

mod endpoint;
mod post;

use crate::metrics::WorkerMetrics;
use crate::{Error, Result};
use cirrus_core::Store;
use cirrus_core::model::EventId;
use endpoint::Endpoint;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How the worker delivers webhooks.
#[derive(Debug, Clone)]
#[must_use]
pub struct WebhookSettings {
    pub(crate) timeout: Duration,
    pub(crate) retry_first: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) retry_for: Duration,
    pub(crate) allow_private: bool,
    pub(crate) poll: Duration,
    pub(crate) lock_ttl: Duration,
    pub(crate) body_limit: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retry_first: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            retry_for: Duration::from_secs(86_400),
            allow_private: false,
            poll: Duration::from_millis(20),
            lock_ttl: Duration::from_secs(30),
            body_limit: 64 * 1024,
        }
    }
}

impl WebhookSettings {
    /// Default settings: 10 s an attempt, retries from 5 s doubling to an
    /// hour for a day, public addresses only.
    pub fn new() -> Self {
        Self::default()
    }

    /// The longest an attempt may take, answer included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// The first retry waits about `first` (default 5 s), each further one
    /// twice as long up to `max` (default an hour), each with jitter (half
    /// to all of it); an event failing for `retry_for` (default a day) goes
    /// to the dead letters.
    pub fn retry(mut self, first: Duration, max: Duration, retry_for: Duration) -> Self {
        self.retry_first = first.max(Duration::from_millis(1));
        self.retry_max = max.max(self.retry_first);
        self.retry_for = retry_for;
        self
    }

    /// Posts to private, loopback and link-local addresses too (default:
    /// never; the API's switch of the same name should agree).
    pub fn allow_private(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// How often the stream is checked for new events (default 20 ms).
    pub fn poll(mut self, every: Duration) -> Self {
        self.poll = every.max(Duration::from_millis(1));
        self
    }

    /// How long an endpoint's lock outlives a worker that died (default
    /// 30 s; at least the attempt timeout and a second): another worker
    /// resumes after it.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// Most bytes of a receiver's answer read (default 64 KiB); the rest
    /// is dropped with the connection.
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }
}

/// Delivers webhooks from `store` as the worker named `owner`.
#[derive(Debug)]
pub struct WebhookDeliverer {
    store: Arc<dyn Store>,
    owner: String,
    settings: WebhookSettings,
    metrics: WorkerMetrics,
}

impl WebhookDeliverer {
    /// A deliverer named `owner` (unique per process) on `store`.
    pub fn new(store: Arc<dyn Store>, owner: impl Into<String>, settings: WebhookSettings) -> Self {
        Self {
            store,
            owner: owner.into(),
            settings,
            metrics: WorkerMetrics::new(),
        }
    }

    /// Counts attempts, lag and backlog in `metrics` (default: its own).
    pub fn metrics(mut self, metrics: WorkerMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Delivers until `shutdown` resolves; a store that is down is waited
    /// for. Fails only when the HTTP client cannot be built.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let mut settings = self.settings;
        settings.lock_ttl = settings.lock_ttl.max(settings.timeout + Duration::from_secs(1));
        let poster = post::Poster::new(settings.timeout, settings.allow_private, settings.body_limit).map_err(|e| {
            Error::Local {
                what: "the webhook HTTP client".into(),
                source: Box::new(e),
            }
        })?;
        let ctx = Arc::new(endpoint::Context {
            store: self.store,
            owner: self.owner,
            settings,
            poster,
            metrics: self.metrics,
        });
        let (newest_tx, newest) = watch::channel(None::<EventId>);
        let (stop_tx, stop) = watch::channel(false);
        // Dropped with this future (a worker stopped or killed), the set
        // aborts every endpoint's task with it.
        let mut tasks = tokio::task::JoinSet::new();
        let mut running: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
        let mut poll = tokio::time::interval(ctx.settings.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut list = tokio::time::interval(Duration::from_secs(1));
        list.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                // The stream is watched only while an endpoint is delivered
                // to: a CDN without webhooks costs its store nothing here.
                _ = poll.tick(), if !running.is_empty() => {
                    if let Ok(n) = ctx.store.newest_event().await {
                        newest_tx.send_if_modified(|seen| std::mem::replace(seen, n) != n);
                    }
                }
                _ = list.tick() => {
                    let hooks = match ctx.store.webhooks().await {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::debug!(error = %e, "webhooks not listed; the next tick retries");
                            continue;
                        }
                    };
                    while tasks.try_join_next().is_some() {}
                    running.retain(|_, task| !task.is_finished());
                    for hook in hooks.into_iter().filter(|h| h.enabled) {
                        running.entry(hook.id.clone()).or_insert_with(|| {
                            let endpoint = Endpoint::new(ctx.clone(), hook.id, newest.clone(), stop.clone());
                            tasks.spawn(endpoint.run())
                        });
                    }
                }
            }
        }
        // Each endpoint finishes its attempt and lets its lock go.
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(ctx.settings.timeout + Duration::from_secs(1), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        Ok(())
    }
}
