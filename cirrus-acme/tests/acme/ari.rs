//! Renewal information (RFC 9773): Debian's Pebble 2.4 offers none, so a
//! front serves Pebble's directory with a `renewalInfo` URL added and
//! answers it with a window the test moves; orders still go to Pebble.

use crate::{ZONE, cirrus_dns, serial_of};
use axum::extract::{Path, State};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cirrus_acme::{ISSUE_JOB, IssueJobs, Issuer, RenewalScan, StoreSolver};
use cirrus_core::jobs::{JobOutcome, JobRunner};
use cirrus_core::model::{DomainDns, TlsMode};
use cirrus_core::{DomainConf, EmbeddedStore, Node, Store};
use cirrus_test_support::{OwnerResolver, Pebble};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use x509_parser::extensions::ParsedExtension;

/// The window the front suggests (Unix seconds), and the identifiers asked about.
#[derive(Default)]
struct Ari {
    window: Mutex<(u64, u64)>,
    asked: Mutex<Vec<String>>,
}

fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The RFC 9773 identifier of a PEM chain's leaf, computed here on its own.
fn identifier(pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let aki = cert
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
            _ => None,
        })
        .expect("Pebble's leaves carry an authority key identifier");
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(aki),
        URL_SAFE_NO_PAD.encode(cert.tbs_certificate.raw_serial())
    )
}

/// Serves `pebble`'s directory plus `renewalInfo`, and the window in `ari`.
async fn front(pebble: &Pebble, ari: Arc<Ari>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&pebble.tls_cert).unwrap()).unwrap())
        .build()
        .unwrap();
    let mut directory: serde_json::Value = http.get(&pebble.directory).send().await.unwrap().json().await.unwrap();
    directory["renewalInfo"] = format!("{base}/ari").into();
    let app = axum::Router::new()
        .route("/dir", get(move || async move { axum::Json(directory) }))
        .route(
            "/ari/{id}",
            get(|State(ari): State<Arc<Ari>>, Path(id): Path<String>| async move {
                ari.asked.lock().unwrap().push(id);
                let (start, end) = *ari.window.lock().unwrap();
                let body = serde_json::json!({
                    "suggestedWindow": { "start": rfc3339(start), "end": rfc3339(end) },
                    "explanationURL": "https://ca.test/why",
                });
                ([("retry-after", "3600")], axum::Json(body))
            }),
        )
        .with_state(ari);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("{base}/dir")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_s_renewal_window_renews_early_and_is_asked_again_after_its_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    store
        .put_node(&Node::new("edge-1").with_ipv4([192, 0, 2, 1].into()))
        .await
        .unwrap();
    let mut conf = DomainConf::new("ari.test", "http://192.0.2.10".parse().unwrap());
    conf.tls.mode = TlsMode::Acme;
    store.put_domain(&conf).await.unwrap();
    let dns = cirrus_dns(store.clone()).await;
    let resolver = OwnerResolver::start(|d| DomainDns::for_domain(d, ZONE).acme_challenge.target).await;
    resolver.follow(dns);
    let pebble = Pebble::start(resolver.addr);
    let ari = Arc::new(Ari::default());
    let directory = front(&pebble, ari.clone()).await;
    let solver = Arc::new(StoreSolver::new(store.clone()).zone(ZONE));
    let issuer = Issuer::new(store.clone(), solver, directory)
        .directory_root(&pebble.tls_cert)
        .wait_for(vec![dns], Duration::from_secs(10))
        .resolver(resolver.addr);
    let issuer = Arc::new(issuer);
    let first = issuer.issue("ari.test").await.unwrap();
    let now = cirrus_core::model::now_ms() / 1000;
    assert!(
        first.not_after.unwrap() > now + 60 * 86_400,
        "far from the expiry window"
    );

    // A window ten days ahead: nothing to do, and the next scans do not
    // ask again before the CA's Retry-After (an hour).
    let day = 86_400;
    *ari.window.lock().unwrap() = (now + 10 * day, now + 11 * day);
    let scan = RenewalScan::new(store.clone(), "scanner").ari(issuer.clone());
    assert!(scan.scan(now).await.unwrap().is_empty());
    assert_eq!(*ari.asked.lock().unwrap(), [identifier(&first.fullchain)]);
    // The CA moves the window to the past (a revocation coming, say).
    *ari.window.lock().unwrap() = (now - 2 * day, now - day);
    assert!(
        scan.scan(now + 1800).await.unwrap().is_empty(),
        "the last answer stands"
    );
    assert_eq!(ari.asked.lock().unwrap().len(), 1, "not asked before the Retry-After");
    assert_eq!(scan.scan(now + 3601).await.unwrap(), ["ari.test"]);
    assert_eq!(ari.asked.lock().unwrap().len(), 2);

    // The queued renewal is issued (the order names the certificate it
    // replaces; Pebble 2.4 does not take the field, so it is ordered anew).
    let runner = JobRunner::builder(store.clone(), "worker-1")
        .handler(ISSUE_JOB, IssueJobs::new(store.clone(), issuer.clone()))
        .build();
    let (_, outcome) = runner.run_once().await.unwrap().unwrap();
    assert_eq!(outcome, JobOutcome::Succeeded);
    let renewed = store.get_cert("ari.test").await.unwrap().unwrap();
    assert_ne!(serial_of(&renewed.fullchain), serial_of(&first.fullchain));

    // A new certificate is asked about afresh, whatever the last answer's age.
    *ari.window.lock().unwrap() = (now + 10 * day, now + 11 * day);
    assert!(scan.scan(now + 3602).await.unwrap().is_empty());
    assert_eq!(ari.asked.lock().unwrap().last(), Some(&identifier(&renewed.fullchain)));
}
