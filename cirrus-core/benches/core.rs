//! Benchmarks of the foundation: `cargo bench -p cirrus-core`.
//!
//! - rendezvous over 1,000 nodes, k = 2 (one key);
//! - assigning 100,000 domains over 1,000 nodes (target < 2 s on one core);
//! - bulk import of 10,000 domains into Redis (a private redis-server,
//!   target < 2 s) and into the embedded store.
#![allow(missing_docs, clippy::unwrap_used)]

use cirrus_core::model::Origin;
use cirrus_core::{DomainConf, DomainStore, EmbeddedStore, RedisStore, RendezvousTable, rendezvous_topk};
use cirrus_test_support::RedisServer;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn nodes(n: usize) -> Vec<(String, u32)> {
    (0..n).map(|i| (format!("edge-{i:04}"), 1 + (i % 3) as u32)).collect()
}

fn rendezvous(c: &mut Criterion) {
    let nodes = nodes(1000);
    c.bench_function("rendezvous_topk 1000 nodes k=2 (hashes the nodes too)", |b| {
        b.iter(|| rendezvous_topk(black_box("www.example.com"), &nodes, 2))
    });
    let table = RendezvousTable::new(&nodes);
    c.bench_function("RendezvousTable::topk 1000 nodes k=2", |b| {
        b.iter(|| table.topk(black_box("www.example.com"), 2))
    });
    let domains: Vec<String> = (0..100_000).map(|i| format!("customer-{i}.example.com")).collect();
    let mut g = c.benchmark_group("assignment");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("100k domains x 1000 nodes k=2", |b| {
        b.iter(|| {
            let table = RendezvousTable::new(&nodes);
            domains.iter().map(|d| table.topk(d, 2)[0]).sum::<usize>()
        })
    });
    g.finish();
}

fn confs() -> Vec<DomainConf> {
    let origin: Origin = "https://192.0.2.10".parse().unwrap();
    (0..10_000)
        .map(|i| DomainConf::new(format!("bulk-{i}.example.com"), origin.clone()))
        .collect()
}

fn bulk_import(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let confs = confs();
    let mut g = c.benchmark_group("bulk import 10k domains");
    g.sample_size(10).measurement_time(Duration::from_secs(20));

    let server = RedisServer::start();
    let redis = rt.block_on(async { RedisStore::connect(&server.url()) }).unwrap();
    g.bench_function("redis", |b| b.iter(|| rt.block_on(redis.put_domains(&confs)).unwrap()));

    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(dir.path()).unwrap();
    g.bench_function("embedded", |b| {
        b.iter(|| rt.block_on(embedded.put_domains(&confs)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, rendezvous, bulk_import);
criterion_main!(benches);
