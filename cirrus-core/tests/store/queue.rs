//! Conformance: the job queue (`JobQueue`) and the audit stream (`AuditLog`).

use cirrus_core::model::{AuditRecord, NewJob};
use cirrus_core::{AuditLog, JobQueue};
use cirrus_test_support::eventually;
use std::time::Duration;

pub async fn job_queue(store: &dyn JobQueue) {
    let vis = Duration::from_millis(300);
    assert!(store.claim("w1", vis).await.unwrap().is_none());
    let j1 = store
        .enqueue(&NewJob::new("issue_cert").for_domain("a.example.com"))
        .await
        .unwrap();
    let j2 = store
        .enqueue(&NewJob::new("issue_cert").for_domain("b.example.com"))
        .await
        .unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), 2);

    let c1 = store.claim("w1", vis).await.unwrap().unwrap();
    assert_eq!(
        (c1.id.as_str(), c1.attempts, c1.job.domain.as_deref()),
        (j1.as_str(), 1, Some("a.example.com"))
    );
    let c2 = store.claim("w2", vis).await.unwrap().unwrap();
    assert_eq!(c2.id, j2);
    assert!(
        store.claim("w3", vis).await.unwrap().is_none(),
        "claimed jobs are invisible"
    );
    assert!(store.ack(&c1.id).await.unwrap());
    assert!(!store.ack(&c1.id).await.unwrap());

    // w2 "died": after the visibility timeout its job is handed out again.
    let again = eventually("the unacked job comes back", Duration::from_secs(5), || async move {
        store.claim("w3", vis).await.unwrap()
    })
    .await;
    assert_eq!((again.id.as_str(), again.attempts), (j2.as_str(), 2));
    assert!(store.ack(&again.id).await.unwrap());
    assert_eq!(store.queue_depth().await.unwrap(), 0);
    assert!(!store.ack("999999-0").await.unwrap());
}

pub async fn audit_stream(store: &dyn AuditLog) {
    for (i, action) in ["domain.put", "purge", "token.create"].iter().enumerate() {
        let r =
            AuditRecord::new(1000 + i as u64, "token:t1", *action, "a.example.com").with_request_id(format!("req-{i}"));
        store.append_audit(&r).await.unwrap();
    }
    let recent = store.recent_audit(2).await.unwrap();
    let actions: Vec<&str> = recent.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["token.create", "purge"]);
    assert_eq!(recent[0].request_id.as_deref(), Some("req-2"));
    assert_eq!(store.recent_audit(100).await.unwrap().len(), 3);
}
