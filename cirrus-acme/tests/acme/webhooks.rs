//! Webhook delivery by the worker against a real receiver that verifies
//! every signature: order, a receiver that was down, backoff and dead
//! letters, `410 Gone`, hung, huge and redirecting receivers, a worker
//! killed mid-delivery, the SSRF rule at delivery, a 10,000-event backlog.

use cirrus_acme::{WebhookDeliverer, WebhookSettings, WorkerMetrics};
use cirrus_core::model::{DeliveryOutcome, EventType, NewEvent, Webhook, WebhookProgress, WebhookSecrets, WebhookSpec};
use cirrus_core::webhook::new_secret;
use cirrus_core::{RedisStore, Store};
use cirrus_test_support::{Answer, RedisServer, WebhookReceiver, eventually, metric_value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fast schedule for tests: retries from 50 ms, at most 200 ms apart.
fn quick() -> WebhookSettings {
    WebhookSettings::new()
        .allow_private(true)
        .timeout(Duration::from_millis(500))
        .retry(
            Duration::from_millis(50),
            Duration::from_millis(200),
            Duration::from_secs(3600),
        )
        .poll(Duration::from_millis(10))
}

struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the deliverer stops")
            .unwrap();
    }
}

fn deliver(store: &Arc<dyn Store>, name: &str, settings: WebhookSettings, metrics: WorkerMetrics) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let deliverer = WebhookDeliverer::new(store.clone(), name, settings).metrics(metrics);
    let task = tokio::spawn(async move {
        deliverer.run(async { drop(stopped.await) }).await.unwrap();
    });
    Running { stop: Some(stop), task }
}

/// Registers `url` for `spec`'s events, from the stream's end, as the API would.
async fn register(store: &dyn Store, id: &str, mut spec: WebhookSpec, url: &str) -> String {
    spec.url = url.into();
    let secret = new_secret();
    let hook = Webhook::new(id, spec.validated().unwrap(), 0, "master");
    let progress = WebhookProgress {
        cursor: store.newest_event().await.unwrap().map(|e| e.to_string()),
        ..WebhookProgress::default()
    };
    store
        .create_webhook(&hook, &WebhookSecrets::new(secret.clone()), &progress)
        .await
        .unwrap();
    secret
}

async fn redis_store() -> (RedisServer, Arc<dyn Store>) {
    let redis = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&redis.url()).unwrap());
    (redis, store)
}

async fn append(store: &dyn Store, n: usize, domain: &str) -> Vec<String> {
    let events: Vec<NewEvent> = (0..n)
        .map(|i| NewEvent::new(EventType::DomainUpdated, format!("{i}")).domain(domain))
        .collect();
    store
        .append_events(&events)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// The distinct ids received, in arrival order (a retry repeats an id).
fn distinct(received: &[cirrus_test_support::Received]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for r in received {
        if ids.last() != Some(&r.id) {
            ids.push(r.id.clone());
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_signed_in_order_filtered_and_after_the_receiver_was_down() {
    let (_redis, store) = redis_store().await;
    append(&*store, 3, "a.com").await; // before registration: not sent
    let mut all = WebhookReceiver::start("whsec_AAAA").await;
    let secret = register(&*store, "wh_00000000000000a1", WebhookSpec::new(""), &all.url()).await;
    all.set_secret(&secret);
    let only_a = {
        let mut spec = WebhookSpec::new("");
        spec.domains = vec!["a.com".into()];
        spec.types = vec![EventType::DomainUpdated];
        let r = WebhookReceiver::start("whsec_AAAA").await;
        r.set_secret(&register(&*store, "wh_00000000000000a2", spec, &r.url()).await);
        r
    };
    let metrics = WorkerMetrics::new();
    let worker = deliver(&store, "worker-1", quick(), metrics.clone());

    let mut sent = append(&*store, 5, "a.com").await;
    sent.extend(append(&*store, 2, "b.com").await);
    let got = all.wait_delivered(7, Duration::from_secs(10)).await;
    assert_eq!(
        got.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        sent,
        "in order, once"
    );
    assert!(got.iter().all(|r| r.verified && r.signatures == 1), "{got:#?}");
    assert_eq!(got[0].body["type"], "domain.updated");
    assert_eq!(got[0].body["id"], sent[0].as_str());
    let a = only_a.wait_delivered(5, Duration::from_secs(10)).await;
    assert_eq!(
        a.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        sent[..5],
        "b.com's are filtered out"
    );

    // Down: connections refused while 20 more are written; back: all of them, in order.
    all.stop();
    let more = append(&*store, 20, "b.com").await;
    eventually("failed attempts logged", Duration::from_secs(10), || async {
        let log = store.deliveries("wh_00000000000000a1", 5).await.unwrap();
        (log.iter().filter(|d| d.outcome == DeliveryOutcome::Failed).count() >= 2).then_some(())
    })
    .await;
    let text = metrics.render();
    assert!(
        metric_value(&text, "cirrus_webhook_backlog{webhook=\"wh_00000000000000a1\"}").unwrap() >= 20.0,
        "{text}"
    );
    all.resume().await;
    let got = all.wait_delivered(27, Duration::from_secs(10)).await;
    let ids = distinct(&got);
    assert_eq!(ids[7..], more[..], "every event after the outage, in order");
    assert!(got.iter().all(|r| r.verified));
    eventually("the backlog gauge empties", Duration::from_secs(5), || async {
        (metric_value(
            &metrics.render(),
            "cirrus_webhook_backlog{webhook=\"wh_00000000000000a1\"}",
        ) == Some(0.0))
        .then_some(())
    })
    .await;
    let text = metrics.render();
    assert!(
        metric_value(
            &text,
            "cirrus_webhook_attempt_duration_seconds_count{outcome=\"delivered\"}"
        )
        .unwrap()
            >= 32.0,
        "{text}"
    );
    assert!(metric_value(&text, "cirrus_webhook_delivery_lag_seconds_count").unwrap() >= 32.0);

    // A rotation: both secrets sign during the overlap.
    let mut secrets = store.webhook_secrets("wh_00000000000000a1").await.unwrap().unwrap();
    secrets.previous = Some(std::mem::replace(&mut secrets.current, new_secret()));
    secrets.previous_until = cirrus_core::model::now_ms() / 1000 + 60;
    store
        .put_webhook_secrets("wh_00000000000000a1", &secrets)
        .await
        .unwrap();
    append(&*store, 1, "a.com").await;
    let got = all.wait_delivered(28, Duration::from_secs(10)).await;
    let last = got.last().unwrap();
    assert!(
        last.verified && last.signatures == 2,
        "the old secret still verifies: {last:?}"
    );
    all.set_secret(&secrets.current);
    append(&*store, 1, "a.com").await;
    let got = all.wait_delivered(29, Duration::from_secs(10)).await;
    assert!(got.last().unwrap().verified, "and the new one");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_then_go_to_the_dead_letters_and_gone_disables() {
    let (_redis, store) = redis_store().await;
    let receiver = WebhookReceiver::start("whsec_AAAA").await;
    let id = "wh_00000000000000b1";
    receiver.set_secret(&register(&*store, id, WebhookSpec::new(""), &receiver.url()).await);
    receiver.answer(Answer::Status(500));
    let settings = quick().retry(
        Duration::from_millis(50),
        Duration::from_millis(100),
        Duration::from_millis(600),
    );
    let worker = deliver(&store, "worker-1", settings, WorkerMetrics::new());
    let first = append(&*store, 1, "a.com").await;
    let dead = eventually("the event in the dead letters", Duration::from_secs(10), || async {
        store.dead_letters(id, 10).await.unwrap().pop()
    })
    .await;
    assert_eq!(dead.event.id, first[0]);
    assert_eq!(dead.outcome, DeliveryOutcome::Dead);
    let log = store.deliveries(id, 100).await.unwrap();
    let failed: Vec<_> = log.iter().filter(|d| d.outcome == DeliveryOutcome::Failed).collect();
    assert!(failed.len() >= 2, "retried: {log:#?}");
    assert!(
        failed
            .iter()
            .all(|d| d.status == Some(500) && d.next_attempt_at.is_some())
    );
    let attempts = receiver.received().len();
    assert!(
        (3..=20).contains(&attempts),
        "backed off, not a hot loop: {attempts} attempts in 600 ms"
    );

    // Delivery moves on; then a 410 disables the endpoint.
    receiver.answer(Answer::Ok);
    let second = append(&*store, 1, "a.com").await;
    let got = receiver.wait_delivered(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].id, second[0]);
    receiver.answer(Answer::Status(410));
    let third = append(&*store, 1, "a.com").await;
    let hook = eventually("the endpoint disabled", Duration::from_secs(10), || async {
        store.get_webhook(id).await.unwrap().filter(|h| !h.enabled)
    })
    .await;
    assert_eq!(hook.disabled_reason.as_deref(), Some("the receiver answered 410 Gone"));
    let gone = receiver.received().len();
    append(&*store, 1, "a.com").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), gone, "nothing more is posted while disabled");

    // Enabled again, it resumes at the event that was refused.
    receiver.answer(Answer::Ok);
    let mut enabled = hook.clone();
    enabled.apply(WebhookSpec::new(hook.url.clone()));
    store.update_webhook(&enabled).await.unwrap();
    let got = receiver.wait_delivered(3, Duration::from_secs(10)).await;
    assert_eq!(got[1].id, third[0]);
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_huge_and_redirecting_receivers_are_bounded_and_block_no_other_endpoint() {
    let (_redis, store) = redis_store().await;
    let slow = WebhookReceiver::start("whsec_AAAA").await;
    slow.set_secret(&register(&*store, "wh_00000000000000c1", WebhookSpec::new(""), &slow.url()).await);
    slow.answer(Answer::Hang);
    let fine = WebhookReceiver::start("whsec_AAAA").await;
    fine.set_secret(&register(&*store, "wh_00000000000000c2", WebhookSpec::new(""), &fine.url()).await);
    // Each attempt at the hung one takes its whole 2 s: ten events held
    // up behind it would take 20 s.
    let settings = quick().timeout(Duration::from_secs(2));
    let worker = deliver(&store, "worker-1", settings, WorkerMetrics::new());
    let sent = append(&*store, 10, "a.com").await;
    let started = Instant::now();
    let got = fine.wait_delivered(10, Duration::from_secs(10)).await;
    assert_eq!(distinct(&got), sent);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not held up by the hung one"
    );
    let timed_out = eventually("a timed-out attempt", Duration::from_secs(10), || async {
        store.deliveries("wh_00000000000000c1", 1).await.unwrap().pop()
    })
    .await;
    assert!(
        timed_out.error.as_deref().unwrap_or_default().contains("timed out"),
        "{timed_out:?}"
    );
    assert!(timed_out.duration_ms < 3500, "bounded by the timeout: {timed_out:?}");

    for (answer, why) in [
        (Answer::Huge, "status 500"),
        (Answer::Redirect, "redirects are not followed"),
    ] {
        slow.answer(answer);
        let attempt = eventually(why, Duration::from_secs(10), || async {
            store
                .deliveries("wh_00000000000000c1", 1)
                .await
                .unwrap()
                .pop()
                .filter(|d| d.error.as_deref().unwrap_or_default().contains(why))
        })
        .await;
        assert!(attempt.duration_ms < 3500, "{attempt:?}");
    }
    assert!(
        slow.received().iter().all(|r| r.id == sent[0]),
        "the first event retried; the redirect not followed to a second request of another id"
    );
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_delivery_loses_nothing() {
    let (_redis, store) = redis_store().await;
    let receiver = WebhookReceiver::start("whsec_AAAA").await;
    let id = "wh_00000000000000d1";
    receiver.set_secret(&register(&*store, id, WebhookSpec::new(""), &receiver.url()).await);
    receiver.answer(Answer::Hang);
    let settings = quick().timeout(Duration::from_secs(5)).lock_ttl(Duration::from_secs(6));
    let first = deliver(&store, "worker-1", settings.clone(), WorkerMetrics::new());
    let sent = append(&*store, 5, "a.com").await;
    eventually("an attempt under way", Duration::from_secs(10), || async {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    // Killed: no shutdown, its lock left to expire.
    first.task.abort();
    let started = Instant::now();
    receiver.answer(Answer::Ok);
    let second = deliver(&store, "worker-2", settings, WorkerMetrics::new());
    let got = receiver.wait_delivered(5, Duration::from_secs(20)).await;
    assert_eq!(distinct(&got), sent, "every event, in order, the interrupted one again");
    assert_eq!(
        got[0].id,
        receiver.received()[0].id,
        "a repeat carries the same webhook-id"
    );
    let owner = store.lock_owner(&cirrus_core::Lock::Webhook(id.into())).await.unwrap();
    assert_eq!(
        owner.as_deref(),
        Some("worker-2"),
        "the second worker took over once the lock expired"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "not before the first one's lock expired"
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_at_delivery_unless_allowed() {
    let (_redis, store) = redis_store().await;
    let receiver = WebhookReceiver::start("whsec_AAAA").await;
    let by_name = receiver.url().replace("127.0.0.1", "localhost");
    register(&*store, "wh_00000000000000e1", WebhookSpec::new(""), &receiver.url()).await;
    register(&*store, "wh_00000000000000e2", WebhookSpec::new(""), &by_name).await;
    let settings = quick().allow_private(false);
    let worker = deliver(&store, "worker-1", settings, WorkerMetrics::new());
    append(&*store, 1, "a.com").await;
    for (id, why) in [
        ("wh_00000000000000e1", "127.0.0.1 is not a public address"),
        ("wh_00000000000000e2", "resolves to no public address"),
    ] {
        let refused = eventually(why, Duration::from_secs(10), || async {
            store.deliveries(id, 1).await.unwrap().pop()
        })
        .await;
        assert!(
            refused.error.as_deref().unwrap_or_default().contains(why),
            "{refused:?}"
        );
    }
    assert!(receiver.received().is_empty(), "nothing reached the loopback receiver");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_10000_events_drains_in_order() {
    let (_redis, store) = redis_store().await;
    let receiver = WebhookReceiver::start("whsec_AAAA").await;
    receiver.set_secret(&register(&*store, "wh_00000000000000f1", WebhookSpec::new(""), &receiver.url()).await);
    let mut sent = Vec::new();
    for _ in 0..20 {
        sent.extend(append(&*store, 500, "a.com").await);
    }
    let started = Instant::now();
    let worker = deliver(&store, "worker-1", quick(), WorkerMetrics::new());
    let got = receiver.wait_delivered(10_000, Duration::from_secs(120)).await;
    let took = started.elapsed();
    assert_eq!(distinct(&got), sent);
    assert!(got.iter().all(|r| r.verified));
    eprintln!(
        "10,000 events delivered in {took:?} ({:.0}/s)",
        10_000.0 / took.as_secs_f64()
    );
    worker.stop().await;
}
