//! Conformance: domains (`DomainStore`), announced on the change feed.

use crate::conformance::domain;
use cirrus_core::{ChangeFeed, DomainConf, DomainStore, EdgeSource, Error, Node, NodeStore, PurgeLog, PurgeRequest};

pub async fn domains_crud<S: ChangeFeed + DomainStore + ?Sized>(store: &S) {
    let w1 = store.put_domain(&domain("B.example.com")).await.unwrap();
    assert!(w1.created);
    assert_eq!(store.revision().await.unwrap(), w1.revision);
    let w2 = store.put_domain(&domain("a.example.com")).await.unwrap();
    let mut changed = domain("b.example.com");
    changed.replicas = Some(3);
    let w3 = store.put_domain(&changed).await.unwrap();
    assert!(!w3.created, "second PUT replaces");
    assert!(w1.revision < w2.revision && w2.revision < w3.revision);
    assert_eq!(store.domain_names().await.unwrap(), ["a.example.com", "b.example.com"]);
    assert_eq!(
        store.get_domain("b.example.com").await.unwrap(),
        Some(changed.clone().validated().unwrap())
    );
    let all = store.domains().await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.domain.as_str()).collect::<Vec<_>>(),
        ["a.example.com", "b.example.com"]
    );
    assert_eq!(all[1], changed.validated().unwrap());
    assert!(store.get_domain("missing.example.com").await.unwrap().is_none());

    // Readiness: the previous answer comes back; deleting forgets it.
    assert_eq!(store.record_readiness("a.example.com", false).await.unwrap(), None);
    assert_eq!(
        store.record_readiness("a.example.com", true).await.unwrap(),
        Some(false)
    );
    assert_eq!(store.record_readiness("a.example.com", true).await.unwrap(), Some(true));
    assert_eq!(
        store.record_readiness("b.example.com", true).await.unwrap(),
        None,
        "per domain"
    );

    let deleted = store.delete_domain("a.example.com").await.unwrap();
    assert!(deleted.is_some_and(|r| r > w3.revision));
    assert_eq!(
        store.record_readiness("a.example.com", true).await.unwrap(),
        None,
        "forgotten"
    );
    assert_eq!(store.delete_domain("a.example.com").await.unwrap(), None);
    assert!(store.get_domain("a.example.com").await.unwrap().is_none());
    assert_eq!(store.domain_names().await.unwrap(), ["b.example.com"]);
}

pub async fn domain_pages<S: DomainStore + EdgeSource + ?Sized>(store: &S) {
    let confs: Vec<DomainConf> = ["d", "a", "c", "e", "b"]
        .iter()
        .map(|n| domain(&format!("{n}.example.com")))
        .collect();
    store.put_domains(&confs).await.unwrap();
    store.put_domain(&domain("f.example.com")).await.unwrap();
    store.delete_domain("c.example.com").await.unwrap();
    let first = store.domain_names_after(None, 2).await.unwrap();
    assert_eq!(first, ["a.example.com", "b.example.com"]);
    let next = store.domain_names_after(Some("b.example.com"), 2).await.unwrap();
    assert_eq!(next, ["d.example.com", "e.example.com"], "the deleted one is gone");
    let last = store.domain_names_after(Some("e.example.com"), 2).await.unwrap();
    assert_eq!(last, ["f.example.com"]);
    assert!(
        store
            .domain_names_after(Some("f.example.com"), 2)
            .await
            .unwrap()
            .is_empty()
    );
    let between = store.domain_names_after(Some("b.zzz"), 10).await.unwrap();
    assert_eq!(between[0], "d.example.com", "a cursor need not be a name");
    // An edge reads whole configurations a page at a time; the cursor of
    // a full page leads on, the last page has none.
    let mut read = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = EdgeSource::domain_page(store, after.as_deref(), 2).await.unwrap();
        assert!(page.items.len() <= 2);
        read.extend(page.items.into_iter().map(|d| d.domain));
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(read, ["a", "b", "d", "e", "f"].map(|n| format!("{n}.example.com")));
    let names = ["e.example.com", "gone.example.com", "a.example.com"].map(String::from);
    let got = store.get_domains(&names).await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.domain.as_str()).collect::<Vec<_>>(),
        ["e.example.com", "a.example.com"]
    );
}

pub async fn invalid_input_changes_nothing<S: ChangeFeed + DomainStore + NodeStore + PurgeLog + ?Sized>(store: &S) {
    store.put_domain(&domain("ok.example.com")).await.unwrap();
    let rev = store.revision().await.unwrap();
    let mut bad = domain("bad.example.com");
    bad.origins[0].port = Some(0);
    match store.put_domain(&bad).await {
        Err(Error::Invalid(e)) => assert_eq!(e.errors[0].field, "origins[0].port"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // One bad domain in a bulk import refuses the whole import.
    let batch = [
        domain("c1.example.com"),
        domain("not a domain"),
        domain("c2.example.com"),
    ];
    assert!(matches!(store.put_domains(&batch).await, Err(Error::Invalid(_))));
    assert!(matches!(
        store.put_node(&Node::new("no-address")).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        store
            .publish_purge(&PurgeRequest {
                domain: "x.com".into(),
                ..Default::default()
            })
            .await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(store.revision().await.unwrap(), rev);
    assert_eq!(store.domain_names().await.unwrap(), ["ok.example.com"]);
    assert!(store.nodes().await.unwrap().is_empty());
}

pub async fn bulk_import<S: ChangeFeed + DomainStore + ?Sized>(store: &S) {
    let confs: Vec<DomainConf> = (0..2500).map(|i| domain(&format!("site-{i:05}.example.com"))).collect();
    let before = store.revision().await.unwrap();
    let rev = store.put_domains(&confs).await.unwrap();
    assert!(rev > before);
    assert_eq!(store.revision().await.unwrap(), rev);
    let names = store.domain_names().await.unwrap();
    assert_eq!(names.len(), 2500);
    assert_eq!(names[1234], "site-01234.example.com");
    assert_eq!(
        store
            .get_domain("site-02499.example.com")
            .await
            .unwrap()
            .unwrap()
            .domain,
        "site-02499.example.com"
    );
}
