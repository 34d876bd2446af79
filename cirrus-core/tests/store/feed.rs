//! Conformance: the change feed (`ChangeFeed`): revisions, replays, resyncs.

use crate::conformance::{domain, expect_zone_change, next_event, node};
use cirrus_core::model::CertBundle;
use cirrus_core::{
    CertStore, Change, ChangeFeed, DomainStore, Event, NodeStore, PurgeLog, PurgeRequest, SubscribeOptions,
};

pub async fn events_carry_revisions<S: CertStore + ChangeFeed + DomainStore + NodeStore + PurgeLog + ?Sized>(
    store: &S,
) {
    let mut sub = store.subscribe(SubscribeOptions::default()).await.unwrap();
    let w = store.put_domain(&domain("ev.example.com")).await.unwrap();
    expect_zone_change(&mut sub, w.revision, Change::Domain("ev.example.com".into())).await;

    let purge = PurgeRequest::prefixes("ev.example.com", ["/img/"]);
    let rev = store.publish_purge(&purge).await.unwrap();
    assert_eq!(rev, w.revision + 1);
    assert_eq!(
        next_event(&mut sub).await,
        Event::Purge {
            revision: Some(rev),
            request: purge
        }
    );

    let w = store.put_node(&node("edge-1", 1)).await.unwrap();
    expect_zone_change(&mut sub, w.revision, Change::Node("edge-1".into())).await;

    let rev = store
        .put_cert("ev.example.com", &CertBundle::new("C", "K", None))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut sub).await,
        Event::Changed {
            revision: rev,
            change: Change::Certificate("ev.example.com".into())
        }
    );
    let rev = store.mark_cname_dirty("manual").await.unwrap();
    assert_eq!(next_event(&mut sub).await, Event::CnameDirty { revision: Some(rev) });
}

pub async fn subscription_replays_from_revision<S: ChangeFeed + DomainStore + ?Sized>(store: &S) {
    let start = store.revision().await.unwrap();
    let w1 = store.put_domain(&domain("r1.example.com")).await.unwrap();
    let r2 = store.delete_domain("r1.example.com").await.unwrap().unwrap();
    let mut sub = store
        .subscribe(SubscribeOptions::default().from_revision(start))
        .await
        .unwrap();
    expect_zone_change(&mut sub, w1.revision, Change::Domain("r1.example.com".into())).await;
    expect_zone_change(&mut sub, r2, Change::Domain("r1.example.com".into())).await;
    // Then live events follow, without duplicates of the replayed ones.
    let rev = store.mark_cname_dirty("live").await.unwrap();
    assert_eq!(next_event(&mut sub).await, Event::CnameDirty { revision: Some(rev) });
}

pub async fn trimmed_changelog_means_resync(store: &dyn ChangeFeed) {
    for i in 0..10 {
        store.mark_cname_dirty(&format!("change {i}")).await.unwrap();
    }
    let since = store.changes_since(0).await.unwrap();
    assert_eq!(since.current, 10);
    assert!(!since.complete, "a log of 4 entries cannot replay 10 changes");
    let recent = store.changes_since(8).await.unwrap();
    assert!(recent.complete);
    assert_eq!(recent.records.iter().map(|r| r.revision).collect::<Vec<_>>(), [9, 10]);
    let mut sub = store
        .subscribe(SubscribeOptions::default().from_revision(0))
        .await
        .unwrap();
    assert_eq!(next_event(&mut sub).await, Event::Resync { revision: 10 });
}

/// Edges report a store behind them; adopting it moves the revision past
/// every report, announces it, and clears the reports.
pub async fn regressions_are_reported_and_adopted<S: ChangeFeed + ?Sized>(store: &S) {
    assert!(store.regressions().await.unwrap().is_empty());
    store.mark_cname_dirty("one").await.unwrap();
    store.report_regression("edge-2", 40).await.unwrap();
    store.report_regression("edge-1", 52).await.unwrap();
    store.report_regression("edge-1", 53).await.unwrap();
    assert_eq!(
        store.regressions().await.unwrap(),
        [("edge-1".to_string(), 53), ("edge-2".to_string(), 40)]
    );
    let mut sub = store.subscribe(SubscribeOptions::default()).await.unwrap();
    let adopted = store.adopt_history().await.unwrap();
    assert_eq!(adopted, 54, "past every kept revision");
    assert_eq!(store.revision().await.unwrap(), 54);
    assert_eq!(next_event(&mut sub).await, Event::CnameDirty { revision: Some(54) });
    assert!(store.regressions().await.unwrap().is_empty(), "cleared");
    // A store already past them only moves by one.
    store.report_regression("edge-1", 10).await.unwrap();
    assert_eq!(store.adopt_history().await.unwrap(), 55);
}
