//! Integration tests of the store: one conformance suite run against both
//! backends (a private redis-server per test, a temp dir per test), then
//! backend-specific behaviour (key layout, reconnects, crash durability).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod access;
mod certs;
mod conformance;
mod convergence;
mod domains;
mod embedded_only;
mod feed;
mod jobs;
mod nodes;
mod queue;
mod redis_only;
mod sentinel;
mod stream;
mod webhooks;

use cirrus_core::{EmbeddedStore, RedisStore, Store};
use cirrus_test_support::RedisServer;
use std::sync::Arc;

/// A store and whatever keeps it alive (a server, a temp dir).
#[allow(missing_debug_implementations)]
pub struct Fixture {
    pub store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any + Send>,
}

pub fn redis_fixture(changelog_len: usize) -> Fixture {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .changelog_len(changelog_len)
        .build()
        .unwrap();
    Fixture {
        store: Arc::new(store),
        _guard: Box::new(server),
    }
}

pub fn embedded_fixture(changelog_len: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::builder(dir.path())
        .changelog_len(changelog_len)
        .open()
        .unwrap();
    Fixture {
        store: Arc::new(store),
        _guard: Box::new(dir),
    }
}

/// Runs every conformance test against one backend.
macro_rules! battery {
    ($backend:ident, $fixture:path) => {
        mod $backend {
            battery!(@tests $fixture;
                domains_crud, domain_pages, invalid_input_changes_nothing, bulk_import, nodes_and_health, certs_and_acme, locks,
                tokens, users_and_sessions, job_queue, audit_stream, events_carry_revisions,
                subscription_replays_from_revision, trimmed_changelog_means_resync, edge_reports_and_purge_acks,
                dns01_challenges, events_in_order, webhooks_crud_and_logs, regressions_are_reported_and_adopted
            );
        }
    };
    (@tests $fixture:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let f = $fixture(if stringify!($name) == "trimmed_changelog_means_resync" { 4 } else { 10_000 });
                crate::conformance::$name(&*f.store).await;
            }
        )*
    };
}

battery!(redis, crate::redis_fixture);
battery!(embedded, crate::embedded_fixture);

/// The job runner against both backends.
macro_rules! job_battery {
    ($($name:ident),*) => {
        mod job_runner {
            $(
                mod $name {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn redis() {
                        let f = crate::redis_fixture(10_000);
                        crate::jobs::$name(f.store.clone()).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn embedded() {
                        let f = crate::embedded_fixture(10_000);
                        crate::jobs::$name(f.store.clone()).await;
                    }
                }
            )*
        }
    };
}

job_battery!(
    runner_dispatches_retries_and_reports,
    run_drains_the_queue_and_stops,
    retries_wait_their_backoff_and_the_wait_asked_for,
    a_dead_workers_job_is_reclaimed_after_the_visibility_timeout
);
