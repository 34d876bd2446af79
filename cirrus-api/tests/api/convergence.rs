//! Convergence views: each edge's revision and lag on `GET /nodes`, a
//! purge's acknowledgements on `GET /purges/{id}`, and which edges serve a
//! domain's current configuration in its status. The edges' reports are
//! written through the store, as an edge writes them.

use crate::{Backend, Harness, domain};
use cirrus_core::model::{EdgeReport, PurgeSelection, Scope, TokenRequest};
use cirrus_core::{Node, Store};
use cirrus_test_support::FakeResolver;
use std::time::{SystemTime, UNIX_EPOCH};

battery!(purges_and_lag_follow_the_edges_reports);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn report(store: &dyn Store, node: &str, revision: u64, reported_ms: u64) {
    let r = EdgeReport::new(revision, reported_ms, reported_ms);
    assert!(store.report_edge(node, &r).await.unwrap());
}

async fn purges_and_lag_follow_the_edges_reports(backend: Backend) {
    let resolver = FakeResolver::start().await;
    let addr = resolver.addr();
    let h = Harness::start_with(backend, |b| b.zone("cdn.test").resolver(addr)).await;
    for (id, ip) in [("edge-a", 1), ("edge-b", 2), ("edge-gone", 3), ("dns-only", 4)] {
        h.master
            .put_node(&Node::new(id).with_ipv4([192, 0, 2, ip].into()))
            .await
            .unwrap();
    }
    h.master.put_domain(&domain("shop.test")).await.unwrap();
    let current = h.store.revision().await.unwrap();
    let now = now_ms();
    report(&*h.store, "edge-a", current, now).await;
    report(&*h.store, "edge-b", current - 1, now).await;
    report(&*h.store, "edge-gone", current, now - 120_000).await;

    let nodes = h.master.nodes().await.unwrap().items;
    let lag: Vec<_> = nodes
        .iter()
        .map(|n| (n.id.as_str(), n.edge.as_ref().and_then(|e| e.behind)))
        .collect();
    assert_eq!(
        lag,
        [
            ("dns-only", None),
            ("edge-a", Some(0)),
            ("edge-b", Some(1)),
            ("edge-gone", Some(0))
        ]
    );
    assert_eq!(h.master.get_node("edge-b").await.unwrap().edge.unwrap().behind, Some(1));

    // edge-b is one revision behind: the domain's last change, not yet served.
    let status = h.master.domain_status("shop.test").await.unwrap();
    let serving: Vec<_> = status.edges.iter().map(|e| (e.node.as_str(), e.current)).collect();
    assert_eq!(
        serving,
        [("edge-a", true), ("edge-b", false)],
        "silent edges are left out"
    );

    let all = PurgeSelection {
        all: true,
        ..PurgeSelection::default()
    };
    let accepted = h.master.purge("shop.test", &all).await.unwrap();
    let pending = h.master.purge_status(&accepted.id).await.unwrap();
    assert_eq!(
        (pending.pending.clone(), pending.complete),
        (vec!["edge-a".to_string(), "edge-b".into()], false)
    );
    assert_eq!(pending.silent, ["dns-only", "edge-gone"]);
    for edge in ["edge-a", "edge-b"] {
        assert!(
            h.store
                .ack_purge(&accepted.id, edge, pending.published_ms + 2)
                .await
                .unwrap()
        );
    }
    let done = h.master.purge_status(&accepted.id).await.unwrap();
    assert!(done.complete && done.pending.is_empty());
    assert_eq!(done.applied.iter().map(|a| a.delay_ms).collect::<Vec<_>>(), [2, 2]);

    // The recent purges: pending ones, then all of them, newest first.
    let other_purge = h.master.purge("shop.test", &all).await.unwrap();
    let pending_now = h.master.list_purges(None, true, None).await.unwrap().items;
    assert_eq!(
        pending_now.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [other_purge.id.as_str()],
        "the acknowledged one is not pending"
    );
    let recent = h
        .master
        .list_purges(Some(10), false, Some("shop.test"))
        .await
        .unwrap()
        .items;
    assert_eq!(
        recent.iter().map(|p| (p.id.as_str(), p.complete)).collect::<Vec<_>>(),
        [(other_purge.id.as_str(), false), (accepted.id.as_str(), true)]
    );
    assert!(
        h.master
            .list_purges(None, false, Some("other.test"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let none = h.master.list_purges(None, false, Some("")).await.unwrap();
    assert!(none.items.is_empty(), "no domain is empty");
    let e = h.master.list_purges(Some(0), false, None).await.unwrap_err();
    assert_eq!(e.details()[0].field, "limit");

    let e = h.master.purge_status("pg_unknown").await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    // A token limited to another domain cannot learn of this purge.
    let other = h
        .master
        .create_token(&TokenRequest {
            name: "other".into(),
            scopes: vec![Scope::Read],
            domains: Some(vec!["other.test".into()]),
            expires_at: None,
        })
        .await
        .unwrap()
        .secret;
    let e = h.client(&other).purge_status(&accepted.id).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(
        h.client(&other)
            .list_purges(None, false, None)
            .await
            .unwrap()
            .items
            .is_empty(),
        "nor see it listed"
    );
}
