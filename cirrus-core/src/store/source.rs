//! What an edge reads: the narrow view of configuration a data-plane node
//! needs ([`EdgeSource`]), implemented for every [`Store`](super::Store)
//! (and by [`StaticSource`](super::StaticSource)). The only writes are an
//! edge's own status: what it serves and which purges it applied.

use super::{CertStore, ChangeFeed, DomainStore, EventLog, NodeStore, PurgeLog, SubscribeOptions, Subscription};
use crate::Result;
use crate::model::{CertBundle, DomainConf, DomainPage, EdgeReport, NewEvent, Node};
use std::sync::Arc;

/// The configuration an edge serves: domains, certificates, the revision
/// they reflect and the announcements of their changes.
///
/// Every [`Store`](super::Store) is one (and an `Arc` of any source too);
/// [`StaticSource`](super::StaticSource)
/// holds it in memory.
#[async_trait::async_trait]
pub trait EdgeSource: Send + Sync + std::fmt::Debug + 'static {
    /// The revision of the configuration (0 before the first change).
    async fn revision(&self) -> Result<u64>;
    /// Every domain's configuration.
    async fn domains(&self) -> Result<Vec<DomainConf>>;
    /// The configurations after `after` (exclusive) in name order, at
    /// most `limit`; `next_cursor` is the `after` of the next page, `None`
    /// after the last. An edge loads with it a page at a time, so its
    /// peak memory is the table plus one page. The default answers every
    /// domain of [`EdgeSource::domains`] as one page.
    async fn domain_page(&self, after: Option<&str>, limit: usize) -> Result<DomainPage> {
        let _ = limit;
        let items = match after {
            None => self.domains().await?,
            Some(_) => Vec::new(),
        };
        Ok(DomainPage {
            items,
            next_cursor: None,
        })
    }
    /// One domain's configuration.
    async fn domain(&self, name: &str) -> Result<Option<DomainConf>>;
    /// A domain's certificate.
    async fn certificate(&self, domain: &str) -> Result<Option<CertBundle>>;
    /// Changes, purges and resyncs, from the revision `options` names.
    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription>;
    /// Records what the edge on node `node` serves ([`NodeStore::report_edge`]).
    /// A source with no one to tell (the default) keeps nothing and says `false`.
    async fn report_edge(&self, node: &str, report: &EdgeReport) -> Result<bool> {
        let _ = (node, report);
        Ok(false)
    }
    /// Records that the edge on node `node` applied the purge `id`
    /// ([`PurgeLog::ack_purge`]). A source with no one to tell (the default)
    /// keeps nothing and says `false`.
    async fn ack_purge(&self, id: &str, node: &str, applied_ms: u64) -> Result<bool> {
        let _ = (id, node, applied_ms);
        Ok(false)
    }
    /// Appends `events` to the event stream ([`EventLog::append_events`]).
    /// A source with no stream (the default) keeps nothing and says `false`.
    async fn record_events(&self, events: &[NewEvent]) -> Result<bool> {
        let _ = events;
        Ok(false)
    }
    /// Tells the store that the edge on `node` serves revision `kept`,
    /// above the store's ([`ChangeFeed::report_regression`]): the API then
    /// refuses writes until an operator adopts the store. A source with no
    /// one to tell (the default) keeps nothing and says `false`.
    async fn report_regression(&self, node: &str, kept: u64) -> Result<bool> {
        let _ = (node, kept);
        Ok(false)
    }
    /// The registered nodes, their edges' last reports with them: the
    /// edges a domain's shield ring is drawn from. A source with no
    /// registry (the default) has none, and the edge fetches from origins.
    async fn nodes(&self) -> Result<Vec<Node>> {
        Ok(Vec::new())
    }
    /// The secret edges sign their requests to each other with
    /// ([`NodeStore::cluster_secret`]). `None` (the default): no shielding.
    async fn cluster_secret(&self) -> Result<Option<String>> {
        Ok(None)
    }
}

#[async_trait::async_trait]
impl<S: ChangeFeed + DomainStore + CertStore + NodeStore + PurgeLog + EventLog + ?Sized> EdgeSource for S {
    async fn revision(&self) -> Result<u64> {
        ChangeFeed::revision(self).await
    }
    async fn domains(&self) -> Result<Vec<DomainConf>> {
        DomainStore::domains(self).await
    }
    async fn domain_page(&self, after: Option<&str>, limit: usize) -> Result<DomainPage> {
        let names = self.domain_names_after(after, limit).await?;
        // A full page may have a next one; the cursor is its last name
        // even when that domain was deleted meanwhile.
        let next_cursor = (names.len() == limit).then(|| names.last().cloned()).flatten();
        Ok(DomainPage {
            items: self.get_domains(&names).await?,
            next_cursor,
        })
    }
    async fn domain(&self, name: &str) -> Result<Option<DomainConf>> {
        self.get_domain(name).await
    }
    async fn certificate(&self, domain: &str) -> Result<Option<CertBundle>> {
        self.get_cert(domain).await
    }
    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription> {
        ChangeFeed::subscribe(self, options).await
    }
    async fn report_edge(&self, node: &str, report: &EdgeReport) -> Result<bool> {
        NodeStore::report_edge(self, node, report).await
    }
    async fn ack_purge(&self, id: &str, node: &str, applied_ms: u64) -> Result<bool> {
        PurgeLog::ack_purge(self, id, node, applied_ms).await
    }
    async fn record_events(&self, events: &[NewEvent]) -> Result<bool> {
        self.append_events(events).await.map(|_| true)
    }
    async fn report_regression(&self, node: &str, kept: u64) -> Result<bool> {
        ChangeFeed::report_regression(self, node, kept).await.map(|()| true)
    }
    async fn nodes(&self) -> Result<Vec<Node>> {
        NodeStore::nodes(self).await
    }
    async fn cluster_secret(&self) -> Result<Option<String>> {
        NodeStore::cluster_secret(self).await.map(Some)
    }
}

/// A shared source is a source (`Arc<dyn Store>` from [`crate::open_store`], say).
#[async_trait::async_trait]
impl<T: EdgeSource + ?Sized> EdgeSource for Arc<T> {
    async fn revision(&self) -> Result<u64> {
        (**self).revision().await
    }
    async fn domains(&self) -> Result<Vec<DomainConf>> {
        (**self).domains().await
    }
    async fn domain_page(&self, after: Option<&str>, limit: usize) -> Result<DomainPage> {
        (**self).domain_page(after, limit).await
    }
    async fn domain(&self, name: &str) -> Result<Option<DomainConf>> {
        (**self).domain(name).await
    }
    async fn certificate(&self, domain: &str) -> Result<Option<CertBundle>> {
        (**self).certificate(domain).await
    }
    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription> {
        (**self).subscribe(options).await
    }
    async fn report_edge(&self, node: &str, report: &EdgeReport) -> Result<bool> {
        (**self).report_edge(node, report).await
    }
    async fn ack_purge(&self, id: &str, node: &str, applied_ms: u64) -> Result<bool> {
        (**self).ack_purge(id, node, applied_ms).await
    }
    async fn record_events(&self, events: &[NewEvent]) -> Result<bool> {
        (**self).record_events(events).await
    }
    async fn report_regression(&self, node: &str, kept: u64) -> Result<bool> {
        (**self).report_regression(node, kept).await
    }
    async fn nodes(&self) -> Result<Vec<Node>> {
        (**self).nodes().await
    }
    async fn cluster_secret(&self) -> Result<Option<String>> {
        (**self).cluster_secret().await
    }
}
