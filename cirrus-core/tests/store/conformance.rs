//! The conformance suite: what every backend must do, one file per
//! capability, each test taking only the capabilities it exercises; the
//! helpers they share.

use cirrus_core::model::Origin;
use cirrus_core::{Change, DomainConf, Event, Node, Subscription};
use std::net::Ipv4Addr;
use std::time::Duration;

pub use crate::access::{locks, tokens, users_and_sessions};
pub use crate::certs::certs_and_acme;
pub use crate::convergence::{dns01_challenges, edge_reports_and_purge_acks};
pub use crate::domains::{bulk_import, domain_pages, domains_crud, invalid_input_changes_nothing};
pub use crate::feed::{
    events_carry_revisions, regressions_are_reported_and_adopted, subscription_replays_from_revision,
    trimmed_changelog_means_resync,
};
pub use crate::nodes::nodes_and_health;
pub use crate::queue::{audit_stream, job_queue};
pub use crate::stream::events_in_order;
pub use crate::webhooks::webhooks_crud_and_logs;

pub fn domain(name: &str) -> DomainConf {
    DomainConf::new(name, "https://192.0.2.10".parse::<Origin>().unwrap())
}

pub fn node(id: &str, last_octet: u8) -> Node {
    Node::new(id).with_ipv4(Ipv4Addr::new(192, 0, 2, last_octet))
}

/// The next event, failing the test after 10 s.
pub async fn next_event(sub: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("no event within 10 s")
        .expect("subscription ended")
}

/// Asserts the two events every domain or node change announces: the
/// change itself, then cname-dirty with the same revision.
pub async fn expect_zone_change(sub: &mut Subscription, revision: u64, change: Change) {
    assert_eq!(next_event(sub).await, Event::Changed { revision, change });
    assert_eq!(
        next_event(sub).await,
        Event::CnameDirty {
            revision: Some(revision)
        }
    );
}
