//! The worker when things fail: the store and the CA unreachable (it
//! waits, retries with backoff, never crashes nor loses the job), a worker
//! killed mid-job (its job is reclaimed and finished by another), and two
//! workers on one domain (one issuance). Real Redis, real Pebble, TCP
//! relays to cut them off.

use crate::ZONE;
use crate::ca::{ca, spawn};
use cirrus_core::jobs::{JobObserver, JobOutcome, queue_issuance};
use cirrus_core::model::{AcmeStatus, DomainDns};
use cirrus_core::{DomainConf, RedisStore, Store};
use cirrus_test_support::{OwnerResolver, RedisServer, Relay, eventually, readiness, stays};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn status(store: &dyn Store, domain: &str) -> Option<AcmeStatus> {
    store.get_acme_state(domain).await.unwrap().map(|s| s.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_waits_out_a_store_outage_and_a_ca_outage_and_loses_no_job() {
    let redis = RedisServer::start();
    let direct: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    let ca = ca(direct.clone(), &["shop.test"]).await;
    let pebble: SocketAddr = ca.pebble.directory["https://".len()..]
        .trim_end_matches("/dir")
        .parse()
        .unwrap();
    let (store_link, ca_link) = (
        Relay::start(([127, 0, 0, 1], redis.port()).into()).await,
        Relay::start(pebble).await,
    );
    let through_link = ca
        .pebble
        .directory
        .replace(&pebble.to_string(), &ca_link.addr.to_string());
    let worker_store: Arc<dyn Store> = Arc::new(RedisStore::connect(&store_link.redis_url()).unwrap());
    store_link.cut();
    ca_link.cut();
    queue_issuance(&*direct, "shop.test").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let role = ca
        .worker(worker_store, "worker-1", Some(through_link))
        .backoff(Duration::from_millis(200), Duration::from_millis(400))
        .admin(admin, cirrus_core::model::AllowList::default());
    let (stop, worker) = spawn(role);

    // The store is unreachable: the worker waits, the job stays queued,
    // and it says it is not ready.
    stays("the worker outlives the store outage", Duration::from_secs(1), || {
        std::future::ready(!worker.is_finished())
    })
    .await;
    let r = readiness(admin_addr).await;
    assert_eq!((r.status, r.store_up, r.check("store")), (503, Some(0.0), Some("down")));
    assert_eq!(direct.queue_depth().await.unwrap(), 1);
    assert_eq!(status(&*direct, "shop.test").await, Some(AcmeStatus::Queued));

    // The store is back, the CA is not: attempts fail, are recorded, and
    // the job waits for its next one.
    store_link.restore();
    eventually("ready again", Duration::from_secs(10), || async {
        let r = readiness(admin_addr).await;
        (r.status, r.store_up) == (200, Some(1.0))
    })
    .await;
    eventually("a failed attempt recorded", Duration::from_secs(15), || {
        let direct = direct.clone();
        async move {
            let state = direct.get_acme_state("shop.test").await.unwrap().unwrap();
            state.status == AcmeStatus::Failed && state.last_error.is_some_and(|e| e.contains("ACME"))
        }
    })
    .await;
    assert_eq!(direct.queue_depth().await.unwrap(), 1, "the job waits for its retry");
    assert!(direct.get_cert("shop.test").await.unwrap().is_none());

    // The CA is back: the same job issues the certificate.
    ca_link.restore();
    eventually("the certificate issued", Duration::from_secs(30), || {
        let direct = direct.clone();
        async move { status(&*direct, "shop.test").await == Some(AcmeStatus::Issued) }
    })
    .await;
    assert!(direct.get_cert("shop.test").await.unwrap().is_some());
    // The job is acknowledged just after the certificate's state is written.
    eventually("the job acknowledged", Duration::from_secs(10), || {
        let direct = direct.clone();
        async move { direct.queue_depth().await.unwrap() == 0 }
    })
    .await;
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
}

/// Counts job outcomes across workers.
#[derive(Default)]
struct Outcomes(Mutex<Vec<JobOutcome>>);

impl JobObserver for Outcomes {
    fn observe(&self, _: &str, outcome: JobOutcome, _: Duration) {
        self.0.lock().unwrap().push(outcome);
    }
}

impl Outcomes {
    fn count(&self, outcome: JobOutcome) -> usize {
        self.0.lock().unwrap().iter().filter(|o| **o == outcome).count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_job_is_finished_by_another_and_two_workers_issue_once() {
    let redis = RedisServer::start();
    let store = || -> Arc<dyn Store> { Arc::new(RedisStore::connect(&redis.url()).unwrap()) };
    let ca = ca(store(), &["killed.test", "shared.test"]).await;

    // A worker whose CA never answers is stuck mid-job, holding the
    // domain's lock, when it is killed.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_ca = format!("http://{}/dir", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let queued = queue_issuance(&*store(), "killed.test").await.unwrap();
    let visibility = Duration::from_secs(1);
    let (_stop, doomed) = spawn(ca.worker(store(), "doomed", Some(silent_ca)).visibility(visibility));
    eventually("the doomed worker running the job", Duration::from_secs(10), || {
        let store = store();
        async move { status(&*store, "killed.test").await == Some(AcmeStatus::Running) }
    })
    .await;
    doomed.abort();
    assert!(doomed.await.unwrap_err().is_cancelled());
    assert!(store().get_cert("killed.test").await.unwrap().is_none());

    let outcomes = Arc::new(Outcomes::default());
    let worker = |name: &str| {
        ca.worker(store(), name, None)
            .visibility(visibility)
            .observer(outcomes.clone())
    };
    let (stop_a, a) = spawn(worker("worker-a"));
    eventually("the job reclaimed and finished", Duration::from_secs(30), || {
        let store = store();
        async move { status(&*store, "killed.test").await == Some(AcmeStatus::Issued) }
    })
    .await;
    let state = store().get_acme_state("killed.test").await.unwrap().unwrap();
    assert_eq!(state.job_id, queued.job_id, "the killed worker's job");
    hold.abort();
    // The state says issued before the runner counts the job's outcome:
    // wait for the count, so it is not taken for the next job's.
    eventually("the reclaimed job counted", Duration::from_secs(10), || {
        std::future::ready(outcomes.count(JobOutcome::Succeeded) == 1)
    })
    .await;

    // Two workers, one domain, a visibility (1 s) about as long as an
    // issuance, so the other worker may take over the claim mid-flight:
    // the renewed lock lets one issue, once.
    let (stop_b, b) = spawn(worker("worker-b"));
    let before = outcomes.count(JobOutcome::Succeeded);
    queue_issuance(&*store(), "shared.test").await.unwrap();
    eventually("shared.test issued", Duration::from_secs(30), || {
        let store = store();
        async move { status(&*store, "shared.test").await == Some(AcmeStatus::Issued) }
    })
    .await;
    let cert = store().get_cert("shared.test").await.unwrap().unwrap();
    eventually("the queue drained", Duration::from_secs(10), || {
        let store = store();
        async move { store.queue_depth().await.unwrap() == 0 }
    })
    .await;
    // Past a visibility timeout, nothing else is issued.
    eventually("shared.test's job counted", Duration::from_secs(10), || {
        std::future::ready(outcomes.count(JobOutcome::Succeeded) - before == 1)
    })
    .await;
    stays("one issuance", visibility + Duration::from_secs(1), || {
        std::future::ready(outcomes.count(JobOutcome::Succeeded) - before == 1)
    })
    .await;
    assert_eq!(
        store().get_cert("shared.test").await.unwrap().unwrap(),
        cert,
        "not reissued"
    );
    for (stop, task) in [(stop_a, a), (stop_b, b)] {
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_attempt_waits_the_cas_retry_after() {
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use cirrus_acme::{ISSUE_JOB, IssueJobs, Issuer, StoreSolver};
    use cirrus_core::jobs::JobRunner;
    use cirrus_core::model::NewJob;

    // A CA whose every new account is refused with a rate limit.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let directory = serde_json::json!({
        "newNonce": format!("{base}/nonce"),
        "newAccount": format!("{base}/account"),
        "newOrder": format!("{base}/order"),
    });
    let app = axum::Router::new()
        .route("/dir", get(move || async move { axum::Json(directory) }))
        .route("/nonce", get(|| async { [("replay-nonce", "nonce-1")] }))
        .route(
            "/account",
            post(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [
                        ("content-type", "application/problem+json"),
                        ("retry-after", "120"),
                        ("replay-nonce", "nonce-2"),
                    ],
                    r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many new accounts","status":429}"#,
                )
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(cirrus_core::EmbeddedStore::open(dir.path()).unwrap());
    store
        .put_domain(&DomainConf::new("limited.test", "http://192.0.2.10".parse().unwrap()))
        .await
        .unwrap();
    let resolver = OwnerResolver::start(|d| DomainDns::for_domain(d, ZONE).acme_challenge.target).await;
    let solver = Arc::new(StoreSolver::new(store.clone()).zone(ZONE));
    let issuer = Arc::new(Issuer::new(store.clone(), solver, format!("{base}/dir")).resolver(resolver.addr));

    let refused = issuer.issue("limited.test").await.unwrap_err();
    let wait = refused.retry_after().unwrap_or_else(|| panic!("no wait in {refused}"));
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
    assert!(refused.to_string().contains("too many new accounts"), "{refused}");

    // Through the job runner, the job waits the CA's two minutes, not the
    // 10 ms backoff; it stays queued meanwhile.
    store
        .enqueue(&NewJob::new(ISSUE_JOB).for_domain("limited.test"))
        .await
        .unwrap();
    let runner = JobRunner::builder(store.clone(), "worker-1")
        .handler(ISSUE_JOB, IssueJobs::new(store.clone(), issuer))
        .backoff(Duration::from_millis(10), Duration::from_millis(20))
        .build();
    let (_, outcome) = runner.run_once().await.unwrap().unwrap();
    assert_eq!(outcome, JobOutcome::Retrying);
    let runner = &runner;
    stays(
        "waiting out the Retry-After",
        Duration::from_millis(300),
        || async move { runner.run_once().await.unwrap().is_none() },
    )
    .await;
    assert_eq!(store.queue_depth().await.unwrap(), 1);
    let state = store.get_acme_state("limited.test").await.unwrap().unwrap();
    assert_eq!(state.status, AcmeStatus::Failed);
    assert!(
        state.last_error.unwrap().contains("come back later (in 1"),
        "the wait is recorded"
    );
}
