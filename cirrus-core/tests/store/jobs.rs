//! The job runner over both backends: dispatch by kind, retries after the
//! visibility timeout, giving up after `max_attempts`, observers told of
//! every run, and `run` stopping on shutdown.

use cirrus_core::Store;
use cirrus_core::jobs::{JobHandler, JobObserver, JobOutcome, JobRunner};
use cirrus_core::model::{Job, NewJob};
use cirrus_test_support::eventually;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Fails the first `failures` runs of each job, then succeeds.
struct FailFirst(u32);

#[async_trait::async_trait]
impl JobHandler for FailFirst {
    async fn run(&self, job: &Job) -> Result<(), String> {
        if job.attempts <= self.0 {
            Err(format!("attempt {}", job.attempts))
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some((job, outcome)) = runner.run_once().await.unwrap() {
            return (job.job.kind, outcome);
        }
        assert!(tokio::time::Instant::now() < deadline, "no job came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn runner_dispatches_retries_and_reports(store: Arc<dyn Store>) {
    let seen = Arc::new(Seen::default());
    let runner = JobRunner::builder(store.clone(), "worker-1")
        .handler("ok", FailFirst(0))
        .handler("flaky", FailFirst(1))
        .handler("broken", FailFirst(u32::MAX))
        .observer(seen.clone())
        .visibility(Duration::from_millis(200))
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

pub async fn run_drains_the_queue_and_stops(store: Arc<dyn Store>) {
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
