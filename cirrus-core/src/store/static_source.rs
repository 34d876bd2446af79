//! A static in-memory source ([`StaticSource`]) for embedders who run an
//! edge with no store at all.

use super::source::EdgeSource;
use super::{Change, Event, SubscribeOptions, Subscription};
use crate::Result;
use crate::model::{CertBundle, DomainConf, DomainPage, PurgeRequest};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};
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
