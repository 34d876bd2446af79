//! The job runner over both backends: dispatch by kind, retries after an
//! exponential backoff (or the longer wait an error asks for), a job of a
//! worker that died reclaimed after the visibility timeout, giving up after
//! `max_attempts`, observers told of every run, and `run` stopping on
//! shutdown.

use cirrus_core::JobQueue;
use cirrus_core::jobs::{JobError, JobHandler, JobObserver, JobOutcome, JobRunner};
use cirrus_core::model::{Job, NewJob};
use cirrus_test_support::eventually;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Fails the first `failures` runs of each job, then succeeds.
struct FailFirst(u32);

#[async_trait::async_trait]
impl JobHandler for FailFirst {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        if job.attempts <= self.0 {
            Err(format!("attempt {}", job.attempts).into())
        } else {
            Ok(())
        }
    }
}

#[derive(Default)]
struct Seen(Mutex<Vec<(String, JobOutcome)>>);

impl JobObserver for Seen {
    fn observe(&self, kind: &str, outcome: JobOutcome, _: Duration) {
        self.0.lock().unwrap().push((kind.to_string(), outcome));
    }
}

async fn next(runner: &JobRunner) -> (String, JobOutcome) {
    let (job, outcome) = eventually("a job comes back", Duration::from_secs(5), || async move {
        runner.run_once().await.unwrap()
    })
    .await;
    (job.job.kind, outcome)
}

pub async fn runner_dispatches_retries_and_reports(store: Arc<dyn JobQueue>) {
    let seen = Arc::new(Seen::default());
    let runner = JobRunner::builder(store.clone(), "worker-1")
        .handler("ok", FailFirst(0))
        .handler("flaky", FailFirst(1))
        .handler("broken", FailFirst(u32::MAX))
        .observer(seen.clone())
        .backoff(Duration::from_millis(50), Duration::from_millis(100))
        .max_attempts(2)
        .build();
    assert!(runner.run_once().await.unwrap().is_none(), "empty queue");
    for kind in ["ok", "flaky", "broken", "mystery"] {
        store.enqueue(&NewJob::new(kind)).await.unwrap();
    }
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        outcomes.push(next(&runner).await);
    }
    outcomes.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
    let o = |k: &str, out| (k.to_string(), out);
    assert_eq!(
        outcomes,
        [
            o("broken", JobOutcome::Failed),
            o("broken", JobOutcome::Retrying),
            o("flaky", JobOutcome::Retrying),
            o("flaky", JobOutcome::Succeeded),
            o("mystery", JobOutcome::Unhandled),
            o("ok", JobOutcome::Succeeded),
        ]
    );
    assert_eq!(store.queue_depth().await.unwrap(), 0, "every job ended acknowledged");
    assert_eq!(seen.0.lock().unwrap().len(), 6, "observers saw every run");
}

pub async fn run_drains_the_queue_and_stops(store: Arc<dyn JobQueue>) {
    let runner = JobRunner::builder(store.clone(), "worker-1")
        .handler("ok", FailFirst(0))
        .poll_interval(Duration::from_millis(20))
        .build();
    for _ in 0..3 {
        store.enqueue(&NewJob::new("ok")).await.unwrap();
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    eventually("the queue drains", Duration::from_secs(5), || {
        let store = store.clone();
        async move { store.queue_depth().await.unwrap() == 0 }
    })
    .await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("run stops")
        .unwrap();
}

/// Asks the next attempt to wait `0` (a `Retry-After`).
struct AskWait(Duration);

#[async_trait::async_trait]
impl JobHandler for AskWait {
    async fn run(&self, _: &Job) -> Result<(), JobError> {
        Err(JobError::new("rate limited").retry_after(self.0))
    }
}

pub async fn retries_wait_their_backoff_and_the_wait_asked_for(store: Arc<dyn JobQueue>) {
    let ms = Duration::from_millis;
    let runner = JobRunner::builder(store.clone(), "worker-1")
        .handler("limited", AskWait(ms(600)))
        .backoff(ms(100), ms(350))
        .build();
    // The backoff doubles up to its cap; a longer wait asked for wins.
    let plain = JobError::new("x");
    let delays: Vec<_> = (1..=4).map(|n| runner.retry_delay(n, &plain)).collect();
    assert_eq!(delays, [ms(100), ms(200), ms(350), ms(350)]);
    assert_eq!(runner.retry_delay(1, &plain.clone().retry_after(ms(900))), ms(900));
    assert_eq!(runner.retry_delay(3, &plain.retry_after(ms(10))), ms(350));

    store.enqueue(&NewJob::new("limited")).await.unwrap();
    let started = tokio::time::Instant::now();
    let (job, outcome) = runner.run_once().await.unwrap().unwrap();
    assert_eq!((job.attempts, outcome), (1, JobOutcome::Retrying));
    assert!(runner.run_once().await.unwrap().is_none(), "waiting its turn");
    assert_eq!(store.queue_depth().await.unwrap(), 1, "a waiting job is still queued");
    let again = eventually("the job comes back", Duration::from_secs(5), || {
        let store = store.clone();
        async move { store.claim("worker-1", Duration::from_secs(60)).await.unwrap() }
    })
    .await;
    assert!(started.elapsed() >= ms(550), "came back after {:?}", started.elapsed());
    assert_eq!(
        (again.job.kind.as_str(), again.attempts),
        ("limited", 2),
        "attempts are counted"
    );
    assert!(store.ack(&again.id).await.unwrap());
    assert!(
        !store.retry_later(&again, ms(1)).await.unwrap(),
        "an acknowledged job is not given back"
    );
    assert_eq!(store.queue_depth().await.unwrap(), 0);
}

pub async fn a_dead_workers_job_is_reclaimed_after_the_visibility_timeout(store: Arc<dyn JobQueue>) {
    store.enqueue(&NewJob::new("ok")).await.unwrap();
    let died = store
        .claim("dead-worker", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    let runner = JobRunner::builder(store.clone(), "worker-2")
        .handler("ok", FailFirst(0))
        .visibility(Duration::from_millis(200))
        .build();
    assert!(runner.run_once().await.unwrap().is_none(), "still claimed");
    let (kind, outcome) = next(&runner).await;
    assert_eq!((kind.as_str(), outcome), ("ok", JobOutcome::Succeeded));
    assert!(!store.ack(&died.id).await.unwrap(), "finished by the other worker");
}
