//! The CA side the Pebble tests share: Pebble validating through the
//! domain owner's resolver, which follows `_acme-challenge` into a real
//! `cirrus dns` on the store; issuers and workers pointed at it.

use crate::{ZONE, cirrus_dns};
use cirrus_acme::{Issuer, SolverChoice, StoreSolver, WorkerRole};
use cirrus_core::model::DomainDns;
use cirrus_core::{DomainConf, Node, Store};
use cirrus_test_support::{OwnerResolver, Pebble};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Pebble, the CDN's DNS on `store`, and the owner's resolver following it.
pub(crate) struct Ca {
    pub(crate) pebble: Pebble,
    pub(crate) dns: SocketAddr,
    pub(crate) resolver: OwnerResolver,
}

/// Registers an edge node and `domains` in `store`, then starts the DNS,
/// the resolver and Pebble.
pub(crate) async fn ca(store: Arc<dyn Store>, domains: &[&str]) -> Ca {
    store
        .put_node(&Node::new("edge-1").with_ipv4([192, 0, 2, 1].into()))
        .await
        .unwrap();
    for d in domains {
        store
            .put_domain(&DomainConf::new(*d, "http://192.0.2.10".parse().unwrap()))
            .await
            .unwrap();
    }
    let dns = cirrus_dns(store).await;
    let resolver = OwnerResolver::start(|d| DomainDns::for_domain(d, ZONE).acme_challenge.target).await;
    resolver.follow(dns);
    let pebble = Pebble::start(resolver.addr);
    Ca { pebble, dns, resolver }
}

impl Ca {
    /// A worker asking `directory` (Pebble's unless given).
    pub(crate) fn worker(&self, store: Arc<dyn Store>, name: &str, directory: Option<String>) -> WorkerRole {
        WorkerRole::new(store, name, SolverChoice::BuiltIn { zone: ZONE.into() })
            .directory(directory.unwrap_or_else(|| self.pebble.directory.clone()))
            .directory_root(&self.pebble.tls_cert)
            .check(vec![self.dns], Duration::from_secs(10))
            .resolver(self.resolver.addr)
            .max_attempts(100)
    }

    /// An issuer with the built-in solver, asking `directory`.
    pub(crate) fn issuer(&self, store: Arc<dyn Store>, directory: &str) -> Issuer {
        let solver = Arc::new(StoreSolver::new(store.clone()).zone(ZONE));
        Issuer::new(store, solver, directory)
            .directory_root(&self.pebble.tls_cert)
            .wait_for(vec![self.dns], Duration::from_secs(10))
            .resolver(self.resolver.addr)
    }
}

/// Runs `role` until the returned sender is dropped or sent to.
pub(crate) fn spawn(
    role: WorkerRole,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<cirrus_acme::Result<()>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = cirrus_core::lifecycle::Shutdown::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        let _ = stopped.await;
        trigger.trigger();
    });
    let task = tokio::spawn(async move { role.run(&shutdown).await });
    (stop, task)
}
