//! What an edge reads: the narrow view of configuration a data-plane node
//! needs ([`EdgeSource`]), implemented for every [`Store`], and a static
//! in-memory source ([`StaticSource`]) for embedders who run an edge with
//! no store at all. The only writes are an edge's own status: what it
//! serves and which purges it applied.

use super::{
    CertStore, Change, ChangeFeed, DomainStore, Event, EventLog, NodeStore, PurgeLog, SubscribeOptions, Subscription,
};
use crate::Result;
use crate::model::{CertBundle, DomainConf, DomainPage, EdgeReport, NewEvent, PurgeRequest};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};

/// The configuration an edge serves: domains, certificates, the revision
/// they reflect and the announcements of their changes.
///
/// Every [`Store`](super::Store) is one (and an `Arc` of any source too); [`StaticSource`]
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
}

/// Configuration held in memory: domains and certificates put by the
/// embedder, each change announced to subscribers with a new revision.
/// Domains are validated (and their names normalized) when put.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use cirrus_core::{DomainConf, EdgeSource, StaticSource};
///
/// let source = StaticSource::new();
/// source.put_domain(DomainConf::new("Example.com", "http://192.0.2.10".parse()?))?;
/// assert!(source.domain("example.com").await?.is_some());
/// assert_eq!(source.revision().await?, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct StaticSource {
    inner: Arc<StaticInner>,
}

#[derive(Debug)]
struct StaticInner {
    state: Mutex<StaticState>,
    events: broadcast::Sender<Event>,
}

#[derive(Debug, Default)]
struct StaticState {
    revision: u64,
    domains: BTreeMap<String, DomainConf>,
    certs: BTreeMap<String, CertBundle>,
}

impl Default for StaticSource {
    fn default() -> Self {
        Self::new()
    }
}

impl StaticSource {
    /// An empty source at revision 0.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(StaticInner {
                state: Mutex::new(StaticState::default()),
                events,
            }),
        }
    }

    /// Adds `conf` (see [`StaticSource::put_domain`]), for building a source in one expression.
    pub fn with_domain(self, conf: DomainConf) -> Result<Self> {
        self.put_domain(conf)?;
        Ok(self)
    }

    fn change(&self, edit: impl FnOnce(&mut StaticState) -> Option<Event>) -> u64 {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        state.revision += 1;
        let revision = state.revision;
        if let Some(event) = edit(&mut state) {
            // Sent under the lock so subscribers see revisions in order; no
            // subscriber is not an error.
            let _ = self.inner.events.send(event);
        }
        revision
    }

    /// Creates or replaces a domain; returns the new revision.
    pub fn put_domain(&self, conf: DomainConf) -> Result<u64> {
        let conf = conf.validated()?;
        Ok(self.change(|state| {
            let name = conf.domain.clone();
            state.domains.insert(name.clone(), conf);
            Some(Event::Changed {
                revision: state.revision,
                change: Change::Domain(name),
            })
        }))
    }

    /// Removes a domain; returns the new revision, `None` when it was not there.
    pub fn remove_domain(&self, name: &str) -> Option<u64> {
        let present = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .domains
            .contains_key(name);
        present.then(|| {
            self.change(|state| {
                state.domains.remove(name);
                Some(Event::Changed {
                    revision: state.revision,
                    change: Change::Domain(name.to_string()),
                })
            })
        })
    }

    /// Stores a domain's certificate; returns the new revision.
    pub fn put_certificate(&self, domain: &str, cert: CertBundle) -> u64 {
        self.change(|state| {
            state.certs.insert(domain.to_string(), cert);
            Some(Event::Changed {
                revision: state.revision,
                change: Change::Certificate(domain.to_string()),
            })
        })
    }

    /// Announces a purge to subscribers; returns its revision.
    pub fn purge(&self, request: PurgeRequest) -> u64 {
        self.change(|state| {
            Some(Event::Purge {
                revision: Some(state.revision),
                request,
            })
        })
    }
}

#[async_trait::async_trait]
impl EdgeSource for StaticSource {
    async fn revision(&self) -> Result<u64> {
        Ok(self.inner.state.lock().unwrap_or_else(|p| p.into_inner()).revision)
    }

    async fn domains(&self) -> Result<Vec<DomainConf>> {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(state.domains.values().cloned().collect())
    }

    async fn domain_page(&self, after: Option<&str>, limit: usize) -> Result<DomainPage> {
        use std::ops::Bound;
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut items: Vec<DomainConf> = state
            .domains
            .range::<str, _>((from, Bound::Unbounded))
            .take(limit.saturating_add(1))
            .map(|(_, conf)| conf.clone())
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|c| c.domain.clone())
        } else {
            None
        };
        Ok(DomainPage { items, next_cursor })
    }

    async fn domain(&self, name: &str) -> Result<Option<DomainConf>> {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(state.domains.get(name).cloned())
    }

    async fn certificate(&self, domain: &str) -> Result<Option<CertBundle>> {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(state.certs.get(domain).cloned())
    }

    /// Live events only: a source in memory has no change log, so a
    /// subscriber that asks to replay from an older revision, or falls
    /// behind by more than the buffer, is told to [`Event::Resync`].
    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription> {
        let (mut live, current) = {
            let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
            (self.inner.events.subscribe(), state.revision)
        };
        let (tx, rx) = mpsc::channel(options.buffer.max(1));
        let task = tokio::spawn(async move {
            if options.from_revision.is_some_and(|from| from < current)
                && tx.send(Event::Resync { revision: current }.into()).await.is_err()
            {
                return;
            }
            loop {
                let event = match live.recv().await {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(_)) => Event::Resync { revision: current },
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if tx.send(event.into()).await.is_err() {
                    return;
                }
            }
        });
        Ok(Subscription::new(rx, task))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn changes_are_announced_with_their_revision() {
        let source = StaticSource::new();
        let mut events = source.subscribe(SubscribeOptions::default()).await.expect("test");
        let conf = DomainConf::new("A.test", "http://192.0.2.1".parse().expect("test"));
        assert_eq!(source.put_domain(conf).expect("test"), 1);
        assert_eq!(
            events.next().await,
            Some(Event::Changed {
                revision: 1,
                change: Change::Domain("a.test".into())
            })
        );
        assert_eq!(source.purge(PurgeRequest::all("a.test")), 2);
        assert!(matches!(
            events.next().await,
            Some(Event::Purge { revision: Some(2), .. })
        ));
        assert_eq!(source.remove_domain("a.test"), Some(3));
        assert_eq!(source.remove_domain("a.test"), None);
        assert!(source.domains().await.expect("test").is_empty());
        let bad = DomainConf::new("not a name", "http://192.0.2.1".parse().expect("test"));
        assert!(source.put_domain(bad).is_err(), "validated like a store write");
        let mut late = source
            .subscribe(SubscribeOptions::default().from_revision(1))
            .await
            .expect("test");
        assert_eq!(late.next().await, Some(Event::Resync { revision: 3 }));
    }

    #[tokio::test]
    async fn pages_follow_name_order() {
        let source = StaticSource::new();
        for name in ["c.test", "a.test", "b.test"] {
            let conf = DomainConf::new(name, "http://192.0.2.1".parse().expect("test"));
            source.put_domain(conf).expect("test");
        }
        let first = source.domain_page(None, 2).await.expect("test");
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.next_cursor.as_deref(), Some("b.test"));
        let last = source.domain_page(Some("b.test"), 2).await.expect("test");
        assert_eq!(last.items[0].domain, "c.test");
        assert_eq!(last.next_cursor, None);
    }
}
