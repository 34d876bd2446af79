//! The `cirrus worker` role as one value: an [`Issuer`] with the solver
//! its settings name, and the job runner that feeds it the queued
//! `issue_cert` jobs, until shutdown.

use crate::acme_dns::AcmeDnsSolver;
use crate::error::{Error, Result};
use crate::issuer::Issuer;
use crate::job::{ISSUE_JOB, IssueJobs};
use crate::metrics::WorkerMetrics;
use crate::renew::RenewalScan;
use crate::solver::{Dns01Solver, StoreSolver};
use crate::webhooks::{WebhookDeliverer, WebhookSettings};
use cirrus_core::Store;
use cirrus_core::jobs::{JobObserver, JobRunner};
use cirrus_core::lifecycle::Shutdown;
use cirrus_core::model::AllowList;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Let's Encrypt's production directory, the default CA.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Where DNS-01 values are published.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SolverChoice {
    /// In the store, served by `cirrus dns` under the CDN's zone.
    BuiltIn {
        /// The CDN's zone (`CNAME_BASE_DOMAIN`).
        zone: String,
    },
    /// Through the acme-dns server at this API URL.
    AcmeDns {
        /// The acme-dns API, e.g. `https://auth.acme-dns.example`.
        api: String,
    },
}

/// Everything `cirrus worker` runs, configured by its methods and started
/// by [`WorkerRole::run`].
#[must_use]
pub struct WorkerRole {
    store: Arc<dyn Store>,
    consumer: String,
    directory: String,
    directory_root: Option<PathBuf>,
    solver: SolverChoice,
    check: Vec<SocketAddr>,
    check_within: Duration,
    resolver: Option<SocketAddr>,
    max_attempts: u32,
    backoff: (Duration, Duration),
    visibility: Duration,
    observers: Vec<Arc<dyn JobObserver>>,
    metrics: WorkerMetrics,
    admin: Option<(tokio::net::TcpListener, AllowList)>,
    renew_within: Duration,
    scan_every: Duration,
    certificates: bool,
    webhooks: WebhookSettings,
}

impl std::fmt::Debug for WorkerRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerRole")
            .field("consumer", &self.consumer)
            .field("directory", &self.directory)
            .field("solver", &self.solver)
            .field("visibility", &self.visibility)
            .finish_non_exhaustive()
    }
}

impl WorkerRole {
    /// A worker named `consumer` (unique per process) on `store`, asking
    /// Let's Encrypt, with `solver`; no visibility wait; 5 attempts a job.
    pub fn new(store: Arc<dyn Store>, consumer: impl Into<String>, solver: SolverChoice) -> Self {
        Self {
            store,
            consumer: consumer.into(),
            directory: LETS_ENCRYPT.into(),
            directory_root: None,
            solver,
            check: Vec::new(),
            check_within: Duration::from_secs(60),
            resolver: None,
            max_attempts: 5,
            backoff: (Duration::from_secs(30), Duration::from_secs(3600)),
            visibility: Duration::from_secs(600),
            observers: Vec::new(),
            metrics: WorkerMetrics::new(),
            admin: None,
            renew_within: Duration::from_secs(30 * 86_400),
            scan_every: Duration::from_secs(3600),
            certificates: true,
            webhooks: WebhookSettings::default(),
        }
    }

    /// Runs certificate jobs and renewals (default); `false`: webhooks
    /// only (a CDN without a CA: queued jobs wait for a worker that has one).
    pub fn certificates(mut self, run: bool) -> Self {
        self.certificates = run;
        self
    }

    /// How webhooks are delivered (default [`WebhookSettings::default`]).
    pub fn webhooks(mut self, settings: WebhookSettings) -> Self {
        self.webhooks = settings;
        self
    }

    /// Renews certificates ending within `window` (default 30 days), or
    /// when the CA's renewal information (RFC 9773) suggests it, scanning
    /// every `every` (default an hour, the first scan at start).
    pub fn renew(mut self, window: Duration, every: Duration) -> Self {
        self.renew_within = window;
        self.scan_every = every.max(Duration::from_secs(1));
        self
    }

    /// The CA's directory URL.
    pub fn directory(mut self, url: impl Into<String>) -> Self {
        self.directory = url.into();
        self
    }

    /// Trusts the CA certificate in this PEM file for the directory's HTTPS.
    pub fn directory_root(mut self, path: impl Into<PathBuf>) -> Self {
        self.directory_root = Some(path.into());
        self
    }

    /// Waits (at most `within`) until these authoritative servers answer a
    /// challenge value before the CA is told to validate.
    pub fn check(mut self, servers: Vec<SocketAddr>, within: Duration) -> Self {
        self.check = servers;
        self.check_within = within;
        self
    }

    /// The resolver asked whether a domain's `_acme-challenge` CNAME is in
    /// place before an order is placed (default: the system's).
    pub fn resolver(mut self, resolver: SocketAddr) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Attempts per job before it is dropped (its failure stays recorded).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// A failed job's first retry waits `first` (default 30 s), each
    /// further one twice as long up to `cap` (default an hour); a CA's
    /// `Retry-After` longer than that is waited out.
    pub fn backoff(mut self, first: Duration, cap: Duration) -> Self {
        self.backoff = (first, cap);
        self
    }

    /// How long a claimed job stays invisible to other workers (default
    /// 10 minutes): a job whose worker died comes back after it, and the
    /// domain's issuance lock (renewed while a flow runs) lives at most
    /// this long (and at most a minute) after its holder died.
    pub fn visibility(mut self, visibility: Duration) -> Self {
        self.visibility = visibility;
        self
    }

    /// Tells `observer` about every job run (e.g. metrics).
    pub fn observer(mut self, observer: Arc<dyn JobObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// `/healthz` and `/readyz` for everyone and `/metrics` for `allow`,
    /// on `listener`.
    pub fn admin(mut self, listener: tokio::net::TcpListener, allow: AllowList) -> Self {
        self.admin = Some((listener, allow));
        self
    }

    /// The role's metrics (job runs, certificate expiry).
    pub fn metrics(&self) -> &WorkerMetrics {
        &self.metrics
    }

    /// The job runner this role would run (for embedders and tests).
    pub fn runner(&self) -> Result<JobRunner> {
        Ok(self.runner_with(self.issuer()?))
    }

    /// The issuer of this role's settings.
    fn issuer(&self) -> Result<Arc<Issuer>> {
        crate::http::check_directory(&self.directory)?;
        let solver: Arc<dyn Dns01Solver> = match &self.solver {
            SolverChoice::BuiltIn { zone } => Arc::new(StoreSolver::new(self.store.clone()).zone(zone.clone())),
            SolverChoice::AcmeDns { api } => Arc::new(AcmeDnsSolver::new(api.clone(), self.store.clone())?),
        };
        let mut issuer = Issuer::new(self.store.clone(), solver, self.directory.clone())
            .wait_for(self.check.clone(), self.check_within);
        if let Some(resolver) = self.resolver {
            issuer = issuer.resolver(resolver);
        }
        if let Some(root) = &self.directory_root {
            if !root.exists() {
                return Err(Error::Ca(format!(
                    "the directory root {} does not exist",
                    root.display()
                )));
            }
            issuer = issuer.directory_root(root.clone());
        }
        Ok(Arc::new(issuer))
    }

    /// The job runner of this role's settings, issuing with `issuer`.
    fn runner_with(&self, issuer: Arc<Issuer>) -> JobRunner {
        let jobs = IssueJobs::new(self.store.clone(), issuer)
            .lock_ttl(self.visibility.min(Duration::from_secs(60)))
            .max_attempts(self.max_attempts);
        let mut runner = JobRunner::builder(self.store.clone(), self.consumer.clone())
            .handler(ISSUE_JOB, jobs)
            .max_attempts(self.max_attempts)
            .backoff(self.backoff.0, self.backoff.1)
            .visibility(self.visibility)
            .observer(Arc::new(self.metrics.clone()));
        for observer in &self.observers {
            runner = runner.observer(observer.clone());
        }
        runner.build()
    }

    /// Runs queued certificate jobs, the renewal scan that queues more and
    /// webhook delivery, until `shutdown` triggers; a store that is down is
    /// waited for, never a crash.
    pub async fn run(mut self, shutdown: &Shutdown) -> Result<()> {
        let served = self.admin.take();
        let deliverer = WebhookDeliverer::new(self.store.clone(), self.consumer.clone(), self.webhooks.clone())
            .metrics(self.metrics.clone());
        let webhooks = deliverer.run(shutdown.wait());
        let certificates = async {
            if !self.certificates {
                tracing::info!(consumer = %self.consumer, "cirrus worker delivering webhooks (no certificate jobs)");
                shutdown.wait().await;
                return Ok(());
            }
            let issuer = self.issuer()?;
            let runner = self.runner_with(issuer.clone());
            tracing::info!(consumer = %self.consumer, directory = %self.directory, "cirrus worker running certificate jobs");
            let scan = RenewalScan::new(self.store.clone(), self.consumer.clone())
                .window(self.renew_within)
                .ari(issuer);
            let every = self.scan_every;
            let scans = async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let now = cirrus_core::model::now_ms() / 1000;
                    if let Err(e) = scan.scan(now).await {
                        tracing::warn!(error = %e, "renewal scan failed; the next one retries");
                    }
                }
            };
            tokio::select! {
                () = runner.run(shutdown.wait()) => {}
                () = scans => {}
            }
            Ok::<(), Error>(())
        };
        let admin = async {
            if let Some((listener, allow)) = served {
                let probe = Arc::new(crate::metrics::Probe {
                    metrics: self.metrics.clone(),
                    store: self.store.clone(),
                });
                cirrus_core::admin::serve(listener, allow, probe, std::future::pending()).await;
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            r = async { tokio::try_join!(certificates, webhooks) } => r.map(drop),
            () = admin => Ok(()),
        }
    }
}
