//! Issuance against a real Pebble (Debian's `pebble`): the built-in
//! solver's values served by `cirrus dns`, a stand-in for the customer's
//! resolver that follows `_acme-challenge.<domain>` into the CDN's zone (as
//! the customer's CNAME makes any resolver do), and a `cirrus-edge` on the
//! store presenting the certificates by SNI, verified against Pebble's root.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cirrus_acme::{Error, ISSUE_JOB, IssueJobs, Issuer, RenewalScan, StoreSolver};
use cirrus_core::jobs::{JobOutcome, JobRunner};
use cirrus_core::model::{AcmeStatus, DomainDns, NewJob, TlsMode};
use cirrus_core::{DomainConf, EmbeddedStore, Lock, Node, Store};
use cirrus_dns::{HiddenMaster, Rebuilder, ZoneSettings};
use cirrus_test_support::{OwnerResolver, Pebble, eventually};
use rustls_pki_types::pem::PemObject;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

mod acme_dns;
mod ari;
mod ca;
mod outages;
mod webhooks;

const ZONE: &str = "cdn.test";

/// `cirrus dns` for the zone, following `store`; its address.
async fn cirrus_dns(store: Arc<dyn Store>) -> SocketAddr {
    let settings = ZoneSettings::builder(ZONE).build().unwrap();
    let mut rebuilder = Rebuilder::new(store, settings);
    rebuilder.rebuild().await.unwrap();
    let zone = rebuilder.zone().unwrap().clone();
    tokio::spawn(rebuilder.run(std::future::pending()));
    let (udp, tcp) = cirrus_dns::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let master = HiddenMaster::builder(zone).build();
    tokio::spawn(async move { master.serve(udp, tcp, std::future::pending()).await });
    addr
}

fn serial_of(pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    pem.parse_x509().unwrap().raw_serial_as_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_against_pebble_with_the_built_in_solver_renews_with_the_same_key_and_runs_queued_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    store
        .put_node(&Node::new("edge-1").with_ipv4([192, 0, 2, 1].into()))
        .await
        .unwrap();
    store
        .put_domain(&DomainConf::new("shop.test", "http://192.0.2.10".parse().unwrap()))
        .await
        .unwrap();
    let dns = cirrus_dns(store.clone()).await;
    // The owner of undelegated.test never set its `_acme-challenge` CNAME.
    let resolver = OwnerResolver::start(|d| match d {
        "undelegated.test" => String::new(),
        d => DomainDns::for_domain(d, ZONE).acme_challenge.target,
    })
    .await;
    resolver.follow(dns);
    let pebble = Pebble::start(resolver.addr);
    let solver = Arc::new(StoreSolver::new(store.clone()).zone(ZONE));
    let issuer = Issuer::new(store.clone(), solver, &pebble.directory)
        .directory_root(&pebble.tls_cert)
        .wait_for(vec![dns], Duration::from_secs(10))
        .resolver(resolver.addr);
    let issuer = Arc::new(issuer);

    let bundle = issuer.issue("shop.test").await.unwrap();
    assert_eq!(
        store.get_cert("shop.test").await.unwrap(),
        Some(bundle.clone()),
        "stored for the edges"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(bundle.not_after.unwrap() > now + 86_400, "{:?}", bundle.not_after);
    assert!(
        store.challenges().await.unwrap().is_empty(),
        "the challenge values are gone"
    );
    assert!(store.get_acme_account().await.unwrap().is_some(), "the account is kept");

    // The chain verifies against Pebble's root, for the domain's name.
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&pebble.tls_cert).unwrap()).unwrap())
        .build()
        .unwrap();
    let root = http
        .get(format!("{}/roots/0", pebble.management))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(root.as_bytes()).unwrap())
        .unwrap();
    let client = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    // A cirrus-edge on the store presents it for the name by SNI; the
    // handshake verifies the chain against Pebble's root.
    let edge = edge_on(store.clone()).await;
    assert_eq!(
        served_serial(edge, "shop.test", client.clone()).await.unwrap(),
        serial_of(&bundle.fullchain)
    );

    // A renewal: a new certificate, the same key.
    let renewed = issuer.issue("shop.test").await.unwrap();
    assert_ne!(serial_of(&renewed.fullchain), serial_of(&bundle.fullchain));
    assert_eq!(renewed.key, bundle.key, "the domain's key is reused");

    // No order for a name nobody onboarded.
    let refused = issuer.issue("nobody.test").await.unwrap_err();
    assert!(matches!(refused, Error::NotOnboarded(_)), "{refused}");
    assert!(store.get_cert("nobody.test").await.unwrap().is_none());

    // Nor for a registered domain whose challenge delegation is missing:
    // the job records why, and no certificate exists.
    store
        .put_domain(&DomainConf::new(
            "undelegated.test",
            "http://192.0.2.10".parse().unwrap(),
        ))
        .await
        .unwrap();
    let job = store
        .enqueue(&NewJob::new(ISSUE_JOB).for_domain("undelegated.test"))
        .await
        .unwrap();
    let once = JobRunner::builder(store.clone(), "worker-0")
        .handler(ISSUE_JOB, IssueJobs::new(store.clone(), issuer.clone()).max_attempts(1))
        .max_attempts(1)
        .build();
    let (ran, outcome) = once.run_once().await.unwrap().unwrap();
    assert_eq!((ran.id.as_str(), outcome), (job.as_str(), JobOutcome::Failed));
    let state = store.get_acme_state("undelegated.test").await.unwrap().unwrap();
    assert_eq!(state.status, AcmeStatus::Failed);
    let error = state.last_error.unwrap();
    assert!(
        error.contains("_acme-challenge.undelegated.test must be a CNAME to _acme-challenge."),
        "{error}"
    );
    assert!(store.get_cert("undelegated.test").await.unwrap().is_none());
    let events = store.events_after(None, 100).await.unwrap();
    let failed = events.last().unwrap();
    assert_eq!(
        (failed.kind, failed.subject.as_str()),
        (cirrus_core::model::EventType::CertificateFailed, "undelegated.test"),
        "failed for good: its last attempt"
    );
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("_acme-challenge.undelegated.test")
    );

    // A job queued as the API queues it, while another worker holds the
    // domain's issuance lock: it waits its turn, then issues.
    store
        .put_domain(&DomainConf::new("queued.test", "http://192.0.2.10".parse().unwrap()))
        .await
        .unwrap();
    store
        .enqueue(&NewJob::new(ISSUE_JOB).for_domain("queued.test"))
        .await
        .unwrap();
    let lock = Lock::AcmeIssue("queued.test".into());
    assert!(
        store
            .try_lock(&lock, "other-worker", Duration::from_secs(60))
            .await
            .unwrap()
    );
    let runner = JobRunner::builder(store.clone(), "worker-1")
        .handler(ISSUE_JOB, IssueJobs::new(store.clone(), issuer.clone()))
        .visibility(Duration::from_millis(300))
        .build();
    let (_, outcome) = runner.run_once().await.unwrap().unwrap();
    assert_eq!(outcome, JobOutcome::Retrying, "locked by another worker: left claimed");
    assert!(
        store.get_cert("queued.test").await.unwrap().is_none(),
        "no second issuance"
    );
    store.unlock(&lock, "other-worker").await.unwrap();
    let runner = &runner;
    let (job, outcome) = eventually(
        "the job comes back after its visibility timeout",
        Duration::from_secs(5),
        || async move { runner.run_once().await.unwrap() },
    )
    .await;
    assert_eq!(outcome, JobOutcome::Succeeded);
    let state = store.get_acme_state("queued.test").await.unwrap().unwrap();
    assert_eq!(
        (state.status, state.job_id.as_deref()),
        (AcmeStatus::Issued, Some(job.id.as_str()))
    );
    assert_eq!(
        state.not_after,
        store.get_cert("queued.test").await.unwrap().unwrap().not_after
    );
    // One event for the issuance, one for the failure, none for the
    // skipped attempt.
    let issued: Vec<_> = store
        .events_after(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == cirrus_core::model::EventType::CertificateIssued)
        .collect();
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0].kind, cirrus_core::model::EventType::CertificateIssued);
    assert_eq!(
        (issued[0].subject.as_str(), issued[0].domain.as_deref()),
        ("queued.test", Some("queued.test"))
    );
    assert_eq!(issued[0].data["job"], job.id.as_str());
    assert_eq!(issued[0].data["not_after"], serde_json::json!(state.not_after));
    assert!(
        store.try_lock(&lock, "x", Duration::from_secs(1)).await.unwrap(),
        "the worker released the lock"
    );
    store.unlock(&lock, "x").await.unwrap();

    // The renewal scan queues the ACME-managed certificates that end within
    // its window (shop.test is not ACME-managed), and the job renews it.
    let mut conf = store.get_domain("queued.test").await.unwrap().unwrap();
    conf.tls.mode = TlsMode::Acme;
    store.put_domain(&conf).await.unwrap();
    let before = serial_of(&store.get_cert("queued.test").await.unwrap().unwrap().fullchain);
    let scan = RenewalScan::new(store.clone(), "scanner");
    let day = Duration::from_secs(86_400);
    assert!(
        scan.clone().window(day).scan(now).await.unwrap().is_empty(),
        "far from its end"
    );
    let twenty_years = Duration::from_secs(20 * 365 * 86_400);
    assert_eq!(scan.window(twenty_years).scan(now).await.unwrap(), ["queued.test"]);
    let (_, outcome) = runner.run_once().await.unwrap().unwrap();
    assert_eq!(outcome, JobOutcome::Succeeded);
    let after = serial_of(&store.get_cert("queued.test").await.unwrap().unwrap().fullchain);
    assert_ne!(before, after, "renewed");
    // The edge serves the renewed certificate, without a restart.
    eventually("the edge serving the renewal", Duration::from_secs(10), || {
        let client = client.clone();
        let after = after.clone();
        async move {
            served_serial(edge, "queued.test", client)
                .await
                .is_ok_and(|s| s == after)
        }
    })
    .await;
}

/// A cirrus-edge serving HTTPS from `store`'s domains and certificates,
/// following its changes; its address.
async fn edge_on(store: Arc<dyn Store>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let edge = cirrus_edge::Edge::builder(Arc::new(store))
        .certificates(cirrus_edge::Certificates::self_signed().unwrap())
        .build()
        .unwrap();
    edge.load().await.unwrap();
    let synced = edge.clone();
    tokio::spawn(async move { synced.sync(std::future::pending()).await });
    tokio::spawn(async move { edge.serve_tls(listener, std::future::pending()).await });
    addr
}

/// The serial of the leaf `edge` presents for `name` in a handshake
/// that `client` verifies.
async fn served_serial(edge: SocketAddr, name: &str, client: Arc<rustls::ClientConfig>) -> std::io::Result<String> {
    let tcp = tokio::net::TcpStream::connect(edge).await?;
    let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(client).connect(name, tcp).await?;
    let leaf = &tls.get_ref().1.peer_certificates().unwrap()[0];
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).unwrap();
    Ok(cert.raw_serial_as_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_certificates_are_announced_at_14_7_and_1_days_once_each() {
    use cirrus_core::model::{CertBundle, EventType};
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    // An uploaded certificate (not ACME-managed: nobody renews it) ending
    // in 20 days.
    let day = 86_400;
    let now = 1_800_000_000;
    store
        .put_domain(&DomainConf::new("shop.test", "http://192.0.2.10".parse().unwrap()))
        .await
        .unwrap();
    let upload = |not_after: u64| CertBundle::new("chain", "key", Some(not_after));
    store.put_cert("shop.test", &upload(now + 20 * day)).await.unwrap();
    let scan = RenewalScan::new(store.clone(), "scanner");
    let warned = |store: Arc<dyn Store>| async move {
        store
            .events_after(None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == EventType::CertificateExpiring)
            .map(|e| e.data["days"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };

    assert!(scan.scan(now).await.unwrap().is_empty(), "not ACME-managed: no renewal");
    assert!(warned(store.clone()).await.is_empty(), "20 days left: nothing yet");
    scan.scan(now + 6 * day).await.unwrap();
    scan.scan(now + 7 * day).await.unwrap();
    assert_eq!(warned(store.clone()).await, [14], "once at 14 days");
    scan.scan(now + 13 * day).await.unwrap();
    scan.scan(now + 19 * day + 1).await.unwrap();
    scan.scan(now + 19 * day + 2).await.unwrap();
    assert_eq!(warned(store.clone()).await, [14, 7, 1]);
    let events = store.events_after(None, 100).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.subject.as_str(), last.domain.as_deref()),
        ("shop.test", Some("shop.test"))
    );
    assert_eq!(last.data["not_after"], now + 20 * day);

    // A new certificate is warned about afresh.
    store.put_cert("shop.test", &upload(now + 30 * day)).await.unwrap();
    scan.scan(now + 17 * day).await.unwrap();
    assert_eq!(warned(store.clone()).await, [14, 7, 1, 14]);
}
