//! Conformance: certificates and ACME state (`CertStore`).

use crate::conformance::domain;
use cirrus_core::model::{AcmeState, AcmeStatus, CertBundle};
use cirrus_core::{CertStore, DomainStore};

pub async fn certs_and_acme<S: CertStore + DomainStore + ?Sized>(store: &S) {
    let d = "tls.example.com";
    assert!(store.get_cert(d).await.unwrap().is_none());
    let cert = CertBundle::new(
        "-----BEGIN CERTIFICATE-----\nA\n",
        "-----BEGIN PRIVATE KEY-----\nB\n",
        Some(1_900_000_000),
    );
    let rev = store.put_cert(d, &cert).await.unwrap();
    assert!(rev > 0);
    assert_eq!(store.get_cert(d).await.unwrap(), Some(cert));
    let no_expiry = CertBundle::new("C", "K", None);
    store.put_cert(d, &no_expiry).await.unwrap();
    assert_eq!(store.get_cert(d).await.unwrap(), Some(no_expiry));
    assert!(store.delete_cert(d).await.unwrap().is_some());
    assert_eq!(store.delete_cert(d).await.unwrap(), None);

    // Certificate ends, for configured domains whose certificate names one.
    for name in ["ends.example.com", "open.example.com"] {
        store.put_domain(&domain(name)).await.unwrap();
    }
    store
        .put_cert("ends.example.com", &CertBundle::new("C", "K", Some(1_800_000_000)))
        .await
        .unwrap();
    store
        .put_cert("open.example.com", &CertBundle::new("C", "K", None))
        .await
        .unwrap();
    store
        .put_cert("orphan.example.com", &CertBundle::new("C", "K", Some(5)))
        .await
        .unwrap();
    assert_eq!(
        store.cert_expiries().await.unwrap(),
        [("ends.example.com".to_string(), 1_800_000_000)]
    );

    let state = AcmeState {
        status: AcmeStatus::Failed,
        last_error: Some("dns".into()),
        updated_at: 5,
        ..Default::default()
    };
    store.put_acme_state(d, &state).await.unwrap();
    assert_eq!(store.get_acme_state(d).await.unwrap(), Some(state));
    assert!(store.get_acme_account().await.unwrap().is_none());
    store.put_acme_account(r#"{"id":"acct"}"#).await.unwrap();
    assert_eq!(
        store.get_acme_account().await.unwrap().as_deref(),
        Some(r#"{"id":"acct"}"#)
    );
    store.put_cert_key(d, "KEY").await.unwrap();
    assert_eq!(store.get_cert_key(d).await.unwrap().as_deref(), Some("KEY"));
}
