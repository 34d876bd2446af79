//! Events and webhooks: a `cirrus api` and a `cirrus worker` on one private
//! Redis, and a local receiver that verifies every signature. Prints the
//! time from a change (a domain PUT through the API) to its webhook's
//! arrival, p50/p99 over sequential changes (target p99 < 100 ms with the
//! receiver up), then the events written per second (batches of domains
//! through the API) and delivered per second to the one receiver. Run by
//! `scripts/bench-events`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod procs;

use cirrus_client::Client;
use cirrus_core::DomainConf;
use cirrus_core::model::{EventType, WebhookSpec};
use cirrus_test_support::{RedisServer, WebhookReceiver};
use procs::{cirrus, logged, ms, summary};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (rounds, backlog) = (env("BENCH_ROUNDS", 300), env("BENCH_EVENTS", 10_000));
    let redis = RedisServer::start();
    let store = redis.url();
    let (_api, url, token) = procs::api(&store, &["--webhook-allow-private"]);
    let (_worker, worker_err, _) = cirrus(&[
        "worker",
        "--store",
        &store,
        "--zone",
        "cdn.test",
        "--metrics-listen",
        "127.0.0.1:0",
        "--webhook-allow-private",
    ]);
    logged(&worker_err, "running certificate jobs");
    let api = Client::builder(&url).token(&token).build().unwrap();
    let receiver = WebhookReceiver::start("whsec_AAAA").await;
    let mut spec = WebhookSpec::new(receiver.url());
    spec.types = vec![EventType::DomainCreated, EventType::DomainUpdated];
    receiver.set_secret(&api.create_webhook(&spec).await.unwrap().secret);

    // Warm-up: the worker looks for new endpoints once a second, so the
    // first event after a registration may wait up to that long.
    let mut conf = DomainConf::new("bench.test", "http://192.0.2.10".parse().unwrap());
    let t0 = Instant::now();
    api.put_domain(&conf).await.unwrap();
    let first = receiver.wait_delivered(1, Duration::from_secs(10)).await;
    let first = ms(first[0].at.saturating_duration_since(t0));

    // Latency: one change at a time, each waited for.
    let mut lags = Vec::with_capacity(rounds);
    for i in 1..=rounds {
        conf.replicas = Some(1 + (i % 2) as u16);
        let t0 = Instant::now();
        api.put_domain(&conf).await.unwrap();
        let got = receiver.wait_delivered(i + 1, Duration::from_secs(10)).await;
        lags.push(ms(got[i].at.saturating_duration_since(t0)));
    }
    assert!(
        receiver.received().iter().all(|r| r.verified),
        "every signature verifies"
    );
    println!("one box: cirrus api + cirrus worker on one Redis, one receiver on loopback");
    println!("first event after the registration: {first:.1} ms (new endpoints are looked for every second)");
    let p99 = summary("change -> webhook arrival", lags);
    println!("  target p99 < 100 ms: {}", if p99 < 100.0 { "met" } else { "MISSED" });

    // Throughput: `backlog` domains created through the batch endpoint,
    // each one event, then delivered to the one receiver.
    let before = receiver.delivered().len();
    let started = Instant::now();
    let mut written = 0;
    while written < backlog {
        let batch: Vec<DomainConf> = (written..(written + 1000).min(backlog))
            .map(|i| DomainConf::new(format!("d{i}.bench.test"), "http://192.0.2.10".parse().unwrap()))
            .collect();
        written += batch.len();
        api.batch_domains(&batch).await.unwrap();
    }
    let wrote = started.elapsed();
    receiver
        .wait_delivered(before + backlog, Duration::from_secs(600))
        .await;
    let delivered = started.elapsed();
    println!(
        "{backlog} events written in {:.2} s ({:.0}/s); all delivered after {:.2} s ({:.0}/s)",
        wrote.as_secs_f64(),
        backlog as f64 / wrote.as_secs_f64(),
        delivered.as_secs_f64(),
        backlog as f64 / delivered.as_secs_f64()
    );
}
