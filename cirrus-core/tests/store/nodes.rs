//! Conformance: nodes and their health (`NodeStore`).

use crate::conformance::node;
use cirrus_core::model::NodeHealth;
use cirrus_core::{ChangeFeed, NodeStore};
use std::net::Ipv4Addr;

pub async fn nodes_and_health<S: ChangeFeed + NodeStore + ?Sized>(store: &S) {
    assert!(store.put_node(&node("edge-b", 2)).await.unwrap().created);
    store.put_node(&node("edge-a", 1).with_weight(3)).await.unwrap();
    let ids: Vec<String> = store.nodes().await.unwrap().into_iter().map(|n| n.id).collect();
    assert_eq!(ids, ["edge-a", "edge-b"]);
    let a = store.get_node("edge-a").await.unwrap().unwrap();
    assert_eq!(
        (a.weight, a.ipv4, a.enabled, a.active),
        (3, Some(Ipv4Addr::new(192, 0, 2, 1)), true, true)
    );

    // A failing probe that does not flip yet: counters only, no revision.
    let rev = store.revision().await.unwrap();
    let h1 = NodeHealth {
        consecutive_failures: 1,
        last_check: Some(100),
        last_error: Some("timeout".into()),
        ..Default::default()
    };
    assert_eq!(store.record_node_health("edge-a", &h1, true, None).await.unwrap(), None);
    assert_eq!(store.revision().await.unwrap(), rev);
    // The flip: a new revision.
    let h3 = NodeHealth {
        consecutive_failures: 3,
        ..h1.clone()
    };
    let flipped = store.record_node_health("edge-a", &h3, false, None).await.unwrap();
    assert!(flipped.is_some_and(|r| r > rev));
    let a = store.get_node("edge-a").await.unwrap().unwrap();
    assert!(!a.active);
    assert_eq!(a.health, h3);
    // Operator edits keep health state.
    let mut edit = node("edge-a", 9);
    edit.active = true;
    assert!(!store.put_node(&edit).await.unwrap().created);
    let a = store.get_node("edge-a").await.unwrap().unwrap();
    assert_eq!(
        (a.ipv4, a.active, a.health.consecutive_failures),
        (Some(Ipv4Addr::new(192, 0, 2, 9)), false, 3)
    );
    // Recovery with last_seen.
    let ok = NodeHealth {
        consecutive_successes: 2,
        last_check: Some(200),
        ..Default::default()
    };
    assert!(
        store
            .record_node_health("edge-a", &ok, true, Some(200))
            .await
            .unwrap()
            .is_some()
    );
    let a = store.get_node("edge-a").await.unwrap().unwrap();
    assert!(a.active && a.last_seen == Some(200) && a.health.last_error.is_none());

    assert_eq!(store.record_node_health("ghost", &ok, true, None).await.unwrap(), None);
    assert!(store.delete_node("edge-b").await.unwrap().is_some());
    assert_eq!(store.delete_node("edge-b").await.unwrap(), None);
    assert!(store.get_node("edge-b").await.unwrap().is_none());
}
