//! Renewal information (RFC 9773): Debian's Pebble 2.4 offers none, so a
//! front serves Pebble's directory with a `renewalInfo` URL added and
//! answers it with a window the test moves; orders still go to Pebble.

use crate::ca::ca;
use crate::serial_of;
use axum::extract::{Path, State};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cirrus_acme::{ISSUE_JOB, IssueJobs, RenewalScan};
use cirrus_core::jobs::{JobOutcome, JobRunner};
use cirrus_core::model::TlsMode;
use cirrus_core::{EmbeddedStore, Store};
use cirrus_test_support::Pebble;
use std::sync::{Arc, Mutex};
use x509_parser::extensions::ParsedExtension;

/// The window the front suggests (Unix seconds), and the identifiers asked about.
#[derive(Default)]
struct Ari {
    window: Mutex<(u64, u64)>,
    asked: Mutex<Vec<String>>,
}

fn rfc3339(unix: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap()).unwrap();
    at.format(&time::format_description::well_known::Rfc3339).unwrap()
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
    let ca = ca(store.clone(), &["ari.test"]).await;
    let mut conf = store.get_domain("ari.test").await.unwrap().unwrap();
    conf.tls.mode = TlsMode::Acme;
    store.put_domain(&conf).await.unwrap();
    let ari = Arc::new(Ari::default());
    let directory = front(&ca.pebble, ari.clone()).await;
    let issuer = Arc::new(ca.issuer(store.clone(), &directory));
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
    let events = store.events_after(None, 100).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.kind, last.subject.as_str()),
        (cirrus_core::model::EventType::CertificateRenewed, "ari.test"),
        "a certificate that replaces one is a renewal"
    );

    // A new certificate is asked about afresh, whatever the last answer's age.
    *ari.window.lock().unwrap() = (now + 10 * day, now + 11 * day);
    assert!(scan.scan(now + 3602).await.unwrap().is_empty());
    assert_eq!(ari.asked.lock().unwrap().last(), Some(&identifier(&renewed.fullchain)));
}
