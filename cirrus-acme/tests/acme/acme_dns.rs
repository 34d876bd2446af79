//! The acme-dns solver in a Pebble run: `cirrus worker`'s role with
//! `SolverChoice::AcmeDns`, an acme-dns-compatible server (its API and its
//! DNS), and the owner's resolver following `_acme-challenge.<domain>` to
//! the registration once the owner has set the CNAME the error names.

use crate::ca::spawn;
use cirrus_acme::{SolverChoice, WorkerRole};
use cirrus_core::jobs::queue_issuance;
use cirrus_core::model::AcmeStatus;
use cirrus_core::{DomainConf, EmbeddedStore, Store};
use cirrus_test_support::{AcmeDnsServer, OwnerResolver, Pebble, eventually};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acme_dns_solver_issues_once_the_owner_points_the_challenge_at_its_registration() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    store
        .put_domain(&DomainConf::new("shop.test", "http://192.0.2.10".parse().unwrap()))
        .await
        .unwrap();
    let acme_dns = AcmeDnsServer::start("auth.acme-dns.test").await;
    // The owner's `_acme-challenge` CNAMEs, none yet.
    let cnames: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let owner = cnames.clone();
    let resolver = OwnerResolver::start(move |d| owner.lock().unwrap().get(d).cloned().unwrap_or_default()).await;
    resolver.follow(acme_dns.dns);
    let pebble = Pebble::start(resolver.addr);
    let role = WorkerRole::new(
        store.clone(),
        "worker-1",
        SolverChoice::AcmeDns {
            api: acme_dns.api.clone(),
        },
    )
    .directory(&pebble.directory)
    .directory_root(&pebble.tls_cert)
    .check(vec![acme_dns.dns], Duration::from_secs(10))
    .resolver(resolver.addr)
    .backoff(Duration::from_millis(200), Duration::from_millis(400))
    .max_attempts(100);
    let (stop, worker) = spawn(role);
    queue_issuance(&*store, "shop.test").await.unwrap();

    // The first attempt registers the domain and fails: the CNAME the
    // owner must set is in the recorded error, and no order was placed.
    eventually("the missing delegation recorded", Duration::from_secs(15), || {
        let store = store.clone();
        async move {
            let state = store.get_acme_state("shop.test").await.unwrap().unwrap_or_default();
            state.acme_dns.is_some() && state.last_error.is_some()
        }
    })
    .await;
    let state = store.get_acme_state("shop.test").await.unwrap().unwrap();
    let fulldomain = state.acme_dns.unwrap().fulldomain;
    let error = state.last_error.unwrap();
    assert!(error.contains(&format!("must be a CNAME to {fulldomain}")), "{error}");
    assert!(store.get_cert("shop.test").await.unwrap().is_none());
    assert!(acme_dns.updates().is_empty(), "no challenge before the delegation");

    // The owner sets it: a retry of the same job issues through acme-dns.
    cnames.lock().unwrap().insert("shop.test".into(), fulldomain.clone());
    eventually("the certificate issued", Duration::from_secs(30), || {
        let store = store.clone();
        async move {
            let state = store.get_acme_state("shop.test").await.unwrap().unwrap();
            state.status == AcmeStatus::Issued
        }
    })
    .await;
    let cert = store.get_cert("shop.test").await.unwrap().unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert.fullchain.as_bytes()).unwrap();
    let leaf = pem.parse_x509().unwrap();
    let names: Vec<String> = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["DNSName(shop.test)"]);
    let subdomain = fulldomain.split('.').next().unwrap().to_string();
    let updates = acme_dns.updates();
    assert_eq!(updates.len(), 1, "one challenge value sent: {updates:?}");
    assert_eq!(updates[0].0, subdomain);
    assert_eq!(acme_dns.registrations(), 1, "the registration is kept and reused");
    // The job is acknowledged just after the certificate's state is written.
    eventually("the job acknowledged", Duration::from_secs(10), || {
        let store = store.clone();
        async move { store.queue_depth().await.unwrap() == 0 }
    })
    .await;
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
}
