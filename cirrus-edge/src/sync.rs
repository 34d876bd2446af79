//! Keeping an edge in step with the store: domain changes and purges from
//! the subscription, a full reload after a resync.

use crate::proxy::Edge;
use cirrus_core::{Change, Event, Store, SubscribeOptions};
use std::future::Future;
use std::time::Duration;

impl Edge {
    /// Loads every domain, then applies the store's events until
    /// `shutdown` completes: changed domains are re-read, a changed
    /// certificate is read again at its next handshake, purges applied,
    /// and after a [`Event::Resync`] (events were lost) the domains are
    /// reloaded and the memory cache emptied, since purges may have been
    /// missed. While the store is down the edge keeps serving what it has.
    pub async fn sync(&self, store: &dyn Store, shutdown: impl Future<Output = ()>) -> crate::Result<()> {
        tokio::pin!(shutdown);
        self.domains().reload(store).await?;
        let options = SubscribeOptions::default().from_revision(self.domains().revision());
        let mut events = store.subscribe(options).await?;
        loop {
            let event = tokio::select! {
                () = &mut shutdown => return Ok(()),
                event = events.next() => match event {
                    Some(e) => e,
                    None => return Ok(()),
                },
            };
            self.apply(store, event).await;
        }
    }

    async fn apply(&self, store: &dyn Store, event: Event) {
        match event {
            Event::Changed {
                revision,
                change: Change::Domain(name),
            } => {
                // Retry while the store is briefly away; the next resync
                // catches up if it stays away.
                for attempt in 0..5u32 {
                    match self.domains().refresh(store, &name, revision).await {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(domain = %name, error = %e, "could not re-read a changed domain");
                            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                        }
                    }
                }
            }
            Event::Changed {
                change: Change::Certificate(name),
                ..
            } => {
                // Read again at the next handshake naming it.
                if let Some(certs) = self.certificates() {
                    certs.forget(&name);
                }
            }
            Event::Purge { request, .. } => {
                let dropped = self.purge(&request).await;
                tracing::info!(domain = %request.domain, dropped, "purge applied");
            }
            Event::Resync { .. } => {
                if let Err(e) = self.domains().reload(store).await {
                    tracing::warn!(error = %e, "reload after resync failed; serving the last known domains");
                }
                self.clear_cache().await;
                if let Some(certs) = self.certificates() {
                    certs.clear();
                }
            }
            _ => {}
        }
    }
}
