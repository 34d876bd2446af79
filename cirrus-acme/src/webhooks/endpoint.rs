//! Delivery to one endpoint: hold its lock, post replays first, then the
//! events after its cursor that it wants, one at a time, recording each
//! attempt with where delivery stands after it.

use super::WebhookSettings;
use super::post::{Attempt, Poster};
use crate::metrics::WorkerMetrics;
use cirrus_core::model::{
    Delivery, DeliveryOutcome, EventId, EventRecord, Webhook, WebhookProgress, WebhookSecrets, now_ms,
};
use cirrus_core::{Lock, Store};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Events read from the stream at a time.
const BATCH: usize = 100;
/// Events counted for the backlog gauge in one step, at most.
const SCAN: usize = 10_000;

/// What every endpoint's task shares.
#[derive(Debug)]
pub(super) struct Context {
    pub(super) store: Arc<dyn Store>,
    pub(super) owner: String,
    pub(super) settings: WebhookSettings,
    pub(super) poster: Poster,
    pub(super) metrics: WorkerMetrics,
}

/// What to do after a step.
enum Next {
    /// More to do now.
    Again,
    /// Caught up: wait for a new event.
    Idle,
    /// A retry is due at this Unix ms.
    Until(u64),
    /// Deleted or disabled: stop.
    Stop,
}

/// The events after the cursor the endpoint wants, counted once each as
/// the stream grows.
#[derive(Debug, Default)]
struct Backlog {
    scanned: Option<EventId>,
    pending: i64,
}

pub(super) struct Endpoint {
    ctx: Arc<Context>,
    id: String,
    newest: watch::Receiver<Option<EventId>>,
    stop: watch::Receiver<bool>,
    backlog: Backlog,
    filter: Option<Webhook>,
}

impl Endpoint {
    pub(super) fn new(
        ctx: Arc<Context>,
        id: String,
        newest: watch::Receiver<Option<EventId>>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            ctx,
            id,
            newest,
            stop,
            backlog: Backlog::default(),
            filter: None,
        }
    }

    pub(super) async fn run(mut self) {
        let lock = Lock::Webhook(self.id.clone());
        let ttl = self.ctx.settings.lock_ttl;
        let mut held = false;
        while !*self.stop.borrow() {
            let store = &self.ctx.store;
            let locked = if held {
                store.extend_lock(&lock, &self.ctx.owner, ttl).await
            } else {
                store.try_lock(&lock, &self.ctx.owner, ttl).await
            };
            held = matches!(locked, Ok(true));
            if !held {
                // Another worker delivers (or the store is down): look again later.
                self.pause(ttl / 3, None).await;
                continue;
            }
            match self.step().await {
                Ok(Next::Again) => {}
                Ok(Next::Idle) => self.pause(ttl / 3, None).await,
                Ok(Next::Until(at)) => self.pause(ttl / 3, Some(at)).await,
                Ok(Next::Stop) => break,
                Err(e) => {
                    tracing::warn!(webhook = %self.id, error = %e, "webhook delivery paused; retrying");
                    self.pause(Duration::from_secs(1), None).await;
                }
            }
        }
        if held {
            let _ = self.ctx.store.unlock(&lock, &self.ctx.owner).await;
        }
        let _ = self
            .ctx
            .metrics
            .webhook_backlog
            .remove_label_values(&[self.id.as_str()]);
    }

    /// Waits at most `most`, until a new event (unless `until` names the
    /// Unix ms of a retry, which is waited for instead), or the stop.
    async fn pause(&mut self, most: Duration, until: Option<u64>) {
        let wait = match until {
            Some(at) => most.min(Duration::from_millis(at.saturating_sub(now_ms()))),
            None => most,
        };
        let newest = &mut self.newest;
        let woken = async {
            if until.is_none() {
                let _ = newest.changed().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = woken => {}
            _ = self.stop.changed() => {}
        }
    }

    async fn step(&mut self) -> cirrus_core::Result<Next> {
        let store = self.ctx.store.clone();
        let id = self.id.clone();
        let id = id.as_str();
        let Some(hook) = store.get_webhook(id).await?.filter(|h| h.enabled) else {
            return Ok(Next::Stop);
        };
        let mut progress = store.webhook_progress(id).await?.unwrap_or_default();
        if let Some(replay) = store.replays(id).await?.into_iter().next() {
            let Some(secrets) = store.webhook_secrets(id).await? else {
                return Ok(Next::Stop);
            };
            let (attempt, _) = self.attempt(&hook, &secrets, &replay.event).await;
            let outcome = attempt.outcome;
            let mut logged = delivery(&replay.event, replay.attempt, attempt, None);
            logged.id = replay.id.clone();
            logged.replay = true;
            self.observe(&logged);
            store.record_delivery(id, &logged, &progress).await?;
            store.remove_replay(id, &replay.id).await?;
            return self.after(hook, outcome).await;
        }
        let now = now_ms();
        if progress.next_attempt_at > now {
            return Ok(Next::Until(progress.next_attempt_at));
        }
        let cursor = progress.cursor.as_deref().and_then(|c| c.parse::<EventId>().ok());
        self.count(&hook, cursor).await?;
        let batch = store.events_after(cursor, BATCH).await?;
        if batch.is_empty() {
            return Ok(Next::Idle);
        }
        // Read after the batch: a rotation made before an event was
        // appended signs that event with both secrets.
        let Some(secrets) = store.webhook_secrets(id).await? else {
            return Ok(Next::Stop);
        };
        let busy_until = Instant::now() + self.ctx.settings.lock_ttl / 3;
        let mut moved = false;
        for event in batch {
            if !hook.wants(&event) {
                progress.cursor = Some(event.id);
                moved = true;
                continue;
            }
            let (attempt, now) = self.attempt(&hook, &secrets, &event).await;
            let outcome = attempt.outcome;
            let number = progress.attempts + 1;
            let failing_since = if progress.attempts == 0 {
                now
            } else {
                progress.failing_since
            };
            let given_up = outcome == DeliveryOutcome::Failed
                && u128::from(now.saturating_sub(failing_since)) >= self.ctx.settings.retry_for.as_millis();
            let (logged, next) = match outcome {
                DeliveryOutcome::Failed if !given_up => {
                    let at = now + self.backoff(number);
                    progress.attempts = number;
                    progress.failing_since = failing_since;
                    progress.next_attempt_at = at;
                    (delivery(&event, number, attempt, Some(at)), Next::Until(at))
                }
                DeliveryOutcome::Gone => (delivery(&event, number, attempt, None), Next::Stop),
                _ => {
                    let mut logged = delivery(&event, number, attempt, None);
                    if given_up {
                        logged.outcome = DeliveryOutcome::Dead;
                    }
                    progress = WebhookProgress {
                        cursor: Some(event.id.clone()),
                        ..WebhookProgress::default()
                    };
                    self.backlog.pending -= 1;
                    (logged, Next::Again)
                }
            };
            if logged.outcome == DeliveryOutcome::Dead {
                tracing::warn!(webhook = %id, event = %event.id, "webhook event given up on: in the dead letters");
            }
            self.observe(&logged);
            store.record_delivery(id, &logged, &progress).await?;
            self.show_backlog();
            if !matches!(next, Next::Again) {
                return match outcome {
                    DeliveryOutcome::Gone => self.after(hook, outcome).await,
                    _ => Ok(next),
                };
            }
            moved = false;
            if Instant::now() > busy_until {
                break;
            }
        }
        if moved {
            store.put_webhook_progress(id, &progress).await?;
        }
        Ok(Next::Again)
    }

    /// Posts `event`; answers the attempt with its start (Unix ms).
    async fn attempt(&self, hook: &Webhook, secrets: &WebhookSecrets, event: &EventRecord) -> (Attempt, u64) {
        let started = now_ms();
        let attempt = self.ctx.poster.post(hook, secrets, event, started / 1000).await;
        (attempt, started)
    }

    /// Counts an attempt by its outcome, and a delivery's lag.
    fn observe(&self, logged: &Delivery) {
        let metrics = &self.ctx.metrics;
        metrics
            .webhook_attempts
            .with_label_values(&[logged.outcome.as_str()])
            .observe(logged.duration_ms as f64 / 1000.0);
        if logged.outcome == DeliveryOutcome::Delivered {
            let lag = (logged.at + logged.duration_ms).saturating_sub(logged.event.at);
            metrics.webhook_lag.observe(lag as f64 / 1000.0);
        }
    }

    /// After a `410 Gone`, disables the endpoint.
    async fn after(&self, mut hook: Webhook, outcome: DeliveryOutcome) -> cirrus_core::Result<Next> {
        if outcome != DeliveryOutcome::Gone {
            return Ok(Next::Again);
        }
        tracing::warn!(webhook = %hook.id, url = %hook.url, "the receiver answered 410 Gone: webhook disabled");
        hook.enabled = false;
        hook.disabled_reason = Some("the receiver answered 410 Gone".into());
        self.ctx.store.update_webhook(&hook).await?;
        Ok(Next::Stop)
    }

    /// The wait before attempt `number + 1`, in ms: the first retry's wait
    /// doubled per earlier failure up to the most, then half to all of it.
    fn backoff(&self, number: u32) -> u64 {
        let s = &self.ctx.settings;
        let doubled = s.retry_first.saturating_mul(1 << number.saturating_sub(1).min(20));
        let full = u64::try_from(doubled.min(s.retry_max).as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        rand::thread_rng().gen_range(full / 2..=full)
    }

    /// Counts the wanted events written since the last count (from the
    /// cursor when the count fell behind it or the filter changed).
    async fn count(&mut self, hook: &Webhook, cursor: Option<EventId>) -> cirrus_core::Result<()> {
        let same = self
            .filter
            .as_ref()
            .is_some_and(|f| f.types == hook.types && f.domains == hook.domains);
        if !same || self.backlog.scanned < cursor {
            self.backlog = Backlog {
                scanned: cursor,
                pending: 0,
            };
            self.filter = Some(hook.clone());
        }
        let mut read = 0;
        while read < SCAN {
            let page = self.ctx.store.events_after(self.backlog.scanned, 1000).await?;
            let Some(last) = page.last() else { break };
            self.backlog.scanned = last.id.parse().ok();
            read += page.len();
            self.backlog.pending += page.iter().filter(|e| hook.wants(e)).count() as i64;
        }
        self.show_backlog();
        Ok(())
    }

    fn show_backlog(&self) {
        self.ctx
            .metrics
            .webhook_backlog
            .with_label_values(&[self.id.as_str()])
            .set(self.backlog.pending.max(0));
    }
}

/// The log's record of `attempt` number `number` at `event`.
fn delivery(event: &EventRecord, number: u32, attempt: Attempt, next_attempt_at: Option<u64>) -> Delivery {
    Delivery {
        id: format!("dlv_{}", cirrus_core::auth::random_hex(8)),
        event: event.clone(),
        attempt: number,
        replay: false,
        at: now_ms().saturating_sub(u64::try_from(attempt.took.as_millis()).unwrap_or(0)),
        duration_ms: u64::try_from(attempt.took.as_millis()).unwrap_or(u64::MAX),
        outcome: attempt.outcome,
        status: attempt.status,
        error: attempt.error,
        next_attempt_at,
    }
}
