//! Running jobs from the durable queue: a [`JobRunner`] claims jobs, hands
//! each to the [`JobHandler`] registered for its kind, acknowledges it when
//! it is done (or has failed `max_attempts` times), and tells its
//! [`JobObserver`]s how long it took and how it ended. A job whose handler
//! fails earlier is given back to the queue to wait out an exponential
//! backoff (doubling from the first delay up to a cap, and never shorter
//! than the wait the handler's error asks for, e.g. a CA's `Retry-After`);
//! a worker that dies mid-job loses nothing: its job comes back after the
//! visibility timeout.

use crate::Result;
use crate::model::{AcmeState, AcmeStatus, Job, NewJob};
use crate::store::{CertStore, JobQueue};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument as _;

/// The kind of the job that issues (or renews) a domain's certificate.
pub const ISSUE_CERT: &str = "issue_cert";

/// Queues an [`ISSUE_CERT`] job for `domain` unless one is already queued
/// or running, and marks the domain `queued`; returns its ACME state.
/// Callers hold `Lock::AcmeTask(domain)`, so that the check and the
/// enqueue are one step across processes (the API, renewal scans).
pub async fn queue_issuance<S: JobQueue + CertStore + ?Sized>(store: &S, domain: &str) -> Result<AcmeState> {
    let mut acme = store.get_acme_state(domain).await?.unwrap_or_default();
    let pending = matches!(acme.status, AcmeStatus::Queued | AcmeStatus::Running) && acme.job_id.is_some();
    if !pending {
        let job_id = store.enqueue(&NewJob::new(ISSUE_CERT).for_domain(domain)).await?;
        acme.status = AcmeStatus::Queued;
        acme.job_id = Some(job_id);
        acme.last_error = None;
        acme.updated_at = crate::model::now_ms() / 1000;
        store.put_acme_state(domain, &acme).await?;
    }
    Ok(acme)
}

/// Does the work of one kind of job (e.g. `issue_cert`).
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs `job`; an error is logged and the job retried later.
    async fn run(&self, job: &Job) -> std::result::Result<(), JobError>;
}

/// Why a job run failed, and how long the next attempt must wait at least.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    message: String,
    retry_after: Option<Duration>,
    elsewhere: bool,
}

impl JobError {
    /// A failure described by `message`; the next attempt waits the backoff.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry_after: None,
            elsewhere: false,
        }
    }

    /// The job's work is in progress elsewhere (another worker holds its
    /// lock, e.g. after this claim took over a slow worker's job): it is
    /// not given back but stays claimed, so the worker doing it
    /// acknowledges it, or, if that worker died, it comes back after the
    /// visibility timeout.
    pub fn elsewhere(message: impl Into<String>) -> Self {
        Self {
            elsewhere: true,
            ..Self::new(message)
        }
    }

    /// The next attempt waits at least `wait` (a server's `Retry-After`,
    /// a rate limit's reset), even when that is longer than the backoff.
    #[must_use]
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The wait asked for, if any.
    pub fn wait(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JobError {}

impl From<String> for JobError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for JobError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// How a job run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobOutcome {
    /// Done and acknowledged.
    Succeeded,
    /// Failed; given back to the queue, to be retried after its backoff.
    Retrying,
    /// Failed its last allowed attempt; acknowledged and dropped.
    Failed,
    /// No handler for its kind; acknowledged and dropped.
    Unhandled,
}

impl JobOutcome {
    /// Lowercase name, e.g. for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Retrying => "retrying",
            JobOutcome::Failed => "failed",
            JobOutcome::Unhandled => "unhandled",
        }
    }
}

/// Told about every job run, e.g. to export durations as metrics.
pub trait JobObserver: Send + Sync + 'static {
    /// A job of `kind` ran for `elapsed` and ended with `outcome`.
    fn observe(&self, kind: &str, outcome: JobOutcome, elapsed: Duration);
}

/// Claims and runs jobs. Build with [`JobRunner::builder`].
#[derive(Clone)]
pub struct JobRunner {
    store: Arc<dyn JobQueue>,
    consumer: String,
    visibility: Duration,
    poll_interval: Duration,
    max_attempts: u32,
    first_retry: Duration,
    max_retry: Duration,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    observers: Vec<Arc<dyn JobObserver>>,
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRunner")
            .field("consumer", &self.consumer)
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .field("visibility", &self.visibility)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &(self.first_retry, self.max_retry))
            .finish_non_exhaustive()
    }
}

/// Settings of a [`JobRunner`].
#[derive(Debug)]
#[must_use]
pub struct JobRunnerBuilder {
    runner: JobRunner,
}

impl JobRunnerBuilder {
    /// Runs jobs of `kind` with `handler`.
    pub fn handler(mut self, kind: impl Into<String>, handler: impl JobHandler) -> Self {
        self.runner.handlers.insert(kind.into(), Arc::new(handler));
        self
    }

    /// Adds an observer of job runs.
    pub fn observer(mut self, observer: Arc<dyn JobObserver>) -> Self {
        self.runner.observers.push(observer);
        self
    }

    /// How long a claimed job stays invisible to other workers (default
    /// 10 minutes): longer than the slowest run.
    pub fn visibility(mut self, visibility: Duration) -> Self {
        self.runner.visibility = visibility;
        self
    }

    /// How long [`JobRunner::run`] waits when the queue is empty (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.runner.poll_interval = interval;
        self
    }

    /// Attempts before a failing job is dropped (default 5, at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.runner.max_attempts = attempts.max(1);
        self
    }

    /// The wait before a failed job's first retry (default 30 s), doubled
    /// for each further one up to `cap` (default an hour).
    pub fn backoff(mut self, first: Duration, cap: Duration) -> Self {
        self.runner.first_retry = first;
        self.runner.max_retry = cap.max(first);
        self
    }

    /// The runner.
    pub fn build(self) -> JobRunner {
        self.runner
    }
}

impl JobRunner {
    /// A runner claiming jobs from `store` as `consumer` (unique per worker).
    pub fn builder(store: Arc<dyn JobQueue>, consumer: impl Into<String>) -> JobRunnerBuilder {
        JobRunnerBuilder {
            runner: JobRunner {
                store,
                consumer: consumer.into(),
                visibility: Duration::from_secs(600),
                poll_interval: Duration::from_secs(1),
                max_attempts: 5,
                first_retry: Duration::from_secs(30),
                max_retry: Duration::from_secs(3600),
                handlers: HashMap::new(),
                observers: Vec::new(),
            },
        }
    }

    /// How long a job that failed its `attempt`-th run waits before the
    /// next one: the backoff, or the wait its error asks for if longer.
    pub fn retry_delay(&self, attempt: u32, error: &JobError) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let backoff = self.first_retry.saturating_mul(1 << doublings).min(self.max_retry);
        error.wait().map_or(backoff, |wait| wait.max(backoff))
    }

    /// Claims and runs one job; `None` when none was available.
    pub async fn run_once(&self) -> Result<Option<(Job, JobOutcome)>> {
        let Some(job) = self.store.claim(&self.consumer, self.visibility).await? else {
            return Ok(None);
        };
        let started = Instant::now();
        let outcome = match self.handlers.get(&job.job.kind) {
            None => {
                tracing::warn!(job = %job.id, kind = %job.job.kind, "no handler for this job kind; dropping it");
                JobOutcome::Unhandled
            }
            // A span per job run: traced (with its ACME steps) when the
            // process traces.
            Some(handler) => match handler
                .run(&job)
                .instrument(tracing::info_span!("job", job = %job.id, kind = %job.job.kind, attempt = job.attempts))
                .await
            {
                Ok(()) => JobOutcome::Succeeded,
                Err(e) if e.elsewhere => {
                    tracing::info!(job = %job.id, kind = %job.job.kind, error = %e, "job in progress elsewhere; left claimed");
                    JobOutcome::Retrying
                }
                Err(e) if job.attempts >= self.max_attempts => {
                    tracing::error!(job = %job.id, kind = %job.job.kind, attempts = job.attempts, error = %e, "job failed for good");
                    JobOutcome::Failed
                }
                Err(e) => {
                    let delay = self.retry_delay(job.attempts, &e);
                    tracing::warn!(job = %job.id, kind = %job.job.kind, attempts = job.attempts, error = %e, retry_in_ms = delay.as_millis(), "job failed; will retry");
                    if let Err(e) = self.store.retry_later(&job, delay).await {
                        // Still claimed: it comes back after the visibility timeout.
                        tracing::warn!(job = %job.id, error = %e, "could not delay the retry");
                    }
                    JobOutcome::Retrying
                }
            },
        };
        let elapsed = started.elapsed();
        if outcome != JobOutcome::Retrying {
            self.store.ack(&job.id).await?;
        }
        for o in &self.observers {
            o.observe(&job.job.kind, outcome, elapsed);
        }
        Ok(Some((job, outcome)))
    }

    /// Runs jobs until `shutdown` completes (a job in progress finishes
    /// first). Store errors are logged and retried after the poll interval.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let idle = match self.run_once().await {
                Ok(Some(_)) => false,
                Ok(None) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "job queue unavailable");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(self.poll_interval) => {}
                }
            } else if futures_util::FutureExt::now_or_never(&mut shutdown).is_some() {
                return;
            }
        }
    }
}
