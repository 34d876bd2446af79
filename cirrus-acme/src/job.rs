//! The `issue_cert` job (queued by `POST /api/v1/domains/{d}/certificate`):
//! a [`JobHandler`] for `cirrus_core::jobs::JobRunner` that holds the
//! domain's issuance lock (`cdn:acme:lock:{domain}`) for the whole flow,
//! so two workers never issue for one domain at once (the lock is short
//! and renewed while the flow runs, so a worker that died frees the
//! domain within one lock lifetime), and records each
//! step in the domain's ACME state (`cdn:acme:{domain}`): running, then
//! issued with `not_after`, or failed with the CA's words.

use crate::issuer::Issuer;
use cirrus_core::jobs::{JobError, JobHandler};
use cirrus_core::model::{AcmeStatus, CertBundle, EventType, Job, NewEvent};
use cirrus_core::{CertStore, DomainStore, EventLog, Lock, LockStore, Store};
use std::sync::Arc;
use std::time::Duration;

/// The job kind the API queues (`cirrus_core::jobs::ISSUE_CERT`).
pub const ISSUE_JOB: &str = cirrus_core::jobs::ISSUE_CERT;

/// How long a domain's issuance lock lives unless renewed (by default):
/// a worker that died releases it by expiry.
const LOCK_TTL: Duration = Duration::from_secs(60);

/// Runs `issue_cert` jobs with an [`Issuer`].
pub struct IssueJobs<S: ?Sized = dyn Store> {
    store: Arc<S>,
    issuer: Arc<Issuer<S>>,
    lock_ttl: Duration,
    max_attempts: u32,
}

impl<S: ?Sized> Clone for IssueJobs<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            issuer: self.issuer.clone(),
            lock_ttl: self.lock_ttl,
            max_attempts: self.max_attempts,
        }
    }
}

impl<S: ?Sized> std::fmt::Debug for IssueJobs<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssueJobs")
            .field("issuer", &self.issuer)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

impl<S: DomainStore + CertStore + LockStore + EventLog + ?Sized> IssueJobs<S> {
    /// Jobs run with `issuer`, their state kept in `store`.
    pub fn new(store: Arc<S>, issuer: Arc<Issuer<S>>) -> Self {
        Self {
            store,
            issuer,
            lock_ttl: LOCK_TTL,
            max_attempts: 5,
        }
    }

    /// The attempts the job runner allows (its `max_attempts`; default 5,
    /// the runner's default): a failure at the last one writes
    /// `certificate.failed`.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// How long the issuance lock lives unless renewed (default 60 s; it
    /// is renewed every third of that while the flow runs).
    #[must_use]
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Duration::from_millis(300));
        self
    }

    /// Issues for `domain` while renewing `lock` every third of its ttl.
    async fn issue_holding(&self, domain: &str, lock: &Lock, owner: &str) -> crate::Result<CertBundle> {
        let heartbeat = async {
            let mut tick = tokio::time::interval(self.lock_ttl / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                match self.store.extend_lock(lock, owner, self.lock_ttl).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(domain, "the issuance lock was lost"),
                    Err(e) => tracing::warn!(domain, error = %e, "could not renew the issuance lock"),
                }
            }
        };
        tokio::select! {
            result = self.issuer.issue(domain) => result,
            never = heartbeat => never,
        }
    }

    /// Writes `certificate.issued` (or `.renewed`) once the certificate is
    /// stored; one that cannot be written is logged, the certificate kept.
    async fn announce(&self, domain: &str, job: &str, renewal: bool, not_after: Option<u64>) {
        let kind = if renewal {
            EventType::CertificateRenewed
        } else {
            EventType::CertificateIssued
        };
        let event = NewEvent::new(kind, domain)
            .domain(domain)
            .data(serde_json::json!({ "job": job, "not_after": not_after }));
        if let Err(e) = self.store.append_event(&event).await {
            tracing::warn!(domain, job, error = %e, "the {kind} event was not written");
        }
    }

    async fn record(&self, domain: &str, job: &str, status: AcmeStatus, error: Option<String>, not_after: Option<u64>) {
        let now = cirrus_core::model::now_ms() / 1000;
        let result = async {
            let mut state = self.store.get_acme_state(domain).await?.unwrap_or_default();
            state.status = status;
            state.last_error = error;
            state.updated_at = now;
            state.job_id = Some(job.to_string());
            if not_after.is_some() {
                state.not_after = not_after;
            }
            self.store.put_acme_state(domain, &state).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(domain, job, error = %e, "could not record the ACME state");
        }
    }
}

#[async_trait::async_trait]
impl<S: DomainStore + CertStore + LockStore + EventLog + ?Sized> JobHandler for IssueJobs<S> {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let Some(domain) = job.job.domain.as_deref() else {
            return Err(JobError::new("an issue_cert job names no domain"));
        };
        let lock = Lock::AcmeIssue(domain.to_string());
        match self.store.try_lock(&lock, &job.id, self.lock_ttl).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(event = "acme_skip_locked", domain, job = %job.id, "another worker is issuing");
                return Err(JobError::elsewhere(format!(
                    "{domain} is being issued by another worker"
                )));
            }
            Err(e) => return Err(JobError::new(format!("store: {e}"))),
        }
        tracing::info!(event = "acme_issue_start", domain, job = %job.id, attempt = job.attempts, "issuing");
        self.record(domain, &job.id, AcmeStatus::Running, None, None).await;
        let renewal = matches!(self.store.get_cert(domain).await, Ok(Some(_)));
        let result = self.issue_holding(domain, &lock, &job.id).await;
        let outcome = match &result {
            Ok(bundle) => {
                tracing::info!(event = "acme_issued", domain, job = %job.id, not_after = ?bundle.not_after, "issued");
                self.record(domain, &job.id, AcmeStatus::Issued, None, bundle.not_after)
                    .await;
                self.announce(domain, &job.id, renewal, bundle.not_after).await;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(event = "acme_fail", domain, job = %job.id, error = %e, "issuance failed");
                self.record(domain, &job.id, AcmeStatus::Failed, Some(e.to_string()), None)
                    .await;
                if job.attempts >= self.max_attempts {
                    let event = NewEvent::new(EventType::CertificateFailed, domain)
                        .domain(domain)
                        .data(serde_json::json!({ "job": job.id, "attempts": job.attempts, "error": e.to_string() }));
                    if let Err(e) = self.store.append_event(&event).await {
                        tracing::warn!(domain, error = %e, "the certificate.failed event was not written");
                    }
                }
                let error = JobError::new(e.to_string());
                Err(match e.retry_after() {
                    Some(wait) => error.retry_after(wait),
                    None => error,
                })
            }
        };
        if let Err(e) = self.store.unlock(&lock, &job.id).await {
            tracing::warn!(domain, error = %e, "could not release the issuance lock; it expires by itself");
        }
        outcome
    }
}
