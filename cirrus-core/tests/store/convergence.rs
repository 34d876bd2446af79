//! Conformance: edge reports and purge acknowledgements, which are status
//! (no revision, no event), never configuration; DNS-01 challenge values.

use crate::conformance::node;
use cirrus_core::model::EdgeReport;
use cirrus_core::{CertStore, ChangeFeed, Node, NodeStore, PurgeLog, PurgeRequest};

pub async fn edge_reports_and_purge_acks<S: ChangeFeed + NodeStore + PurgeLog + ?Sized>(store: &S) {
    let report = EdgeReport::new(41, 1_000, 2_000).with_shield_port(Some(8080));
    assert!(!store.report_edge("edge-1", &report).await.unwrap(), "not registered");
    assert!(
        store.get_node("edge-1").await.unwrap().is_none(),
        "a report creates no node"
    );
    store.put_node(&node("edge-1", 1)).await.unwrap();
    store.put_node(&node("edge-2", 2)).await.unwrap();
    let rev = store.revision().await.unwrap();
    assert!(store.report_edge("edge-1", &report).await.unwrap());
    assert_eq!(store.revision().await.unwrap(), rev, "a report is not a change");
    assert_eq!(
        store.get_node("edge-1").await.unwrap().unwrap().edge,
        Some(report.clone())
    );
    let nodes = store.nodes().await.unwrap();
    assert_eq!(
        nodes.iter().map(|n| n.edge.is_some()).collect::<Vec<_>>(),
        [true, false]
    );
    // An operator's write keeps the report and cannot forge one.
    let mut forged = node("edge-1", 9).with_weight(3);
    forged.edge = Some(EdgeReport::new(999, 0, 0));
    store.put_node(&forged).await.unwrap();
    let kept: Node = store.get_node("edge-1").await.unwrap().unwrap();
    assert_eq!((kept.weight, kept.edge), (3, Some(report)));
    // A later report without a shield port says so (the edge stopped
    // taking peers' requests).
    let portless = EdgeReport::new(42, 1_000, 3_000);
    assert!(store.report_edge("edge-1", &portless).await.unwrap());
    assert_eq!(store.get_node("edge-1").await.unwrap().unwrap().edge, Some(portless));

    // The cluster secret: made once, the same for every caller.
    let secret = store.cluster_secret().await.unwrap();
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(store.cluster_secret().await.unwrap(), secret);

    let purge = PurgeRequest {
        id: Some("pg_conf1".into()),
        ..PurgeRequest::all("a.example.com")
    };
    assert!(
        !store.ack_purge("pg_conf1", "edge-1", 5).await.unwrap(),
        "not published yet"
    );
    assert!(store.purge_record("pg_conf1").await.unwrap().is_none());
    store.publish_purge(&purge).await.unwrap();
    let record = store.purge_record("pg_conf1").await.unwrap().unwrap();
    assert_eq!((record.domain.as_str(), record.acks.len()), ("a.example.com", 0));
    assert!(
        record.published_ms > 1_600_000_000_000,
        "a wall-clock time: {}",
        record.published_ms
    );
    assert!(
        store
            .ack_purge("pg_conf1", "edge-1", record.published_ms + 3)
            .await
            .unwrap()
    );
    assert!(
        store
            .ack_purge("pg_conf1", "edge-2", record.published_ms + 8)
            .await
            .unwrap()
    );
    let acks = store.purge_record("pg_conf1").await.unwrap().unwrap().acks;
    assert_eq!(acks.get("edge-1"), Some(&(record.published_ms + 3)));
    assert_eq!(acks.len(), 2);
    // A purge without an id is published but not recorded.
    store.publish_purge(&PurgeRequest::all("a.example.com")).await.unwrap();
    assert!(!store.ack_purge("", "edge-1", 1).await.unwrap());
    // The recent purges, newest first, with their acknowledgements.
    let second = PurgeRequest {
        id: Some("pg_conf2".into()),
        ..PurgeRequest::all("b.example.com")
    };
    store.publish_purge(&second).await.unwrap();
    let recent = store.recent_purges(10).await.unwrap();
    let ids: Vec<&str> = recent.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["pg_conf2", "pg_conf1"]);
    assert_eq!((recent[1].domain.as_str(), recent[1].acks.len()), ("a.example.com", 2));
    assert_eq!(store.recent_purges(1).await.unwrap().len(), 1, "limited");

    store.delete_node("edge-1").await.unwrap();
    store.put_node(&node("edge-1", 1)).await.unwrap();
    assert!(
        store.get_node("edge-1").await.unwrap().unwrap().edge.is_none(),
        "gone with the node"
    );
}

pub async fn dns01_challenges<S: CertStore + ChangeFeed + ?Sized>(store: &S) {
    assert!(store.challenges().await.unwrap().is_empty());
    let mut sub = store.subscribe(cirrus_core::SubscribeOptions::default()).await.unwrap();
    let values = vec!["token-a".to_string(), "token-b".to_string()];
    let rev = store.put_challenge("shop.example.com", &values).await.unwrap();
    // Served by DNS: announced as a zone change.
    let event = crate::conformance::next_event(&mut sub).await;
    assert_eq!(event, cirrus_core::Event::CnameDirty { revision: Some(rev) });
    store
        .put_challenge("other.example.com", &["x".to_string()])
        .await
        .unwrap();
    let all = store.challenges().await.unwrap();
    assert_eq!(all.get("shop.example.com"), Some(&values));
    assert_eq!(all.len(), 2);
    store.put_challenge("shop.example.com", &[]).await.unwrap();
    assert_eq!(
        store.challenges().await.unwrap().keys().collect::<Vec<_>>(),
        ["other.example.com"]
    );
}
