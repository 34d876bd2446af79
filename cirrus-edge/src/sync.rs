//! Keeping an edge in step with its configuration source: a first load,
//! then domain changes, certificate changes and purges from the
//! subscription, a reload after a resync, and a periodic check of the
//! source so `/healthz` can say when the edge serves from its last config.

use crate::edge::Edge;
use crate::hooks::EdgeHooks;
use crate::source_state::SourceState;
use cirrus_core::{Change, Event, SubscribeOptions};
use std::future::Future;
use std::time::Duration;

/// How often the source is asked whether it answers.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// How long it has to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

impl<H: EdgeHooks> Edge<H> {
    /// Loads every domain from the source once; the edge is ready after it.
    pub async fn load(&self) -> crate::Result<()> {
        self.inner.domains.reload(&*self.inner.source).await?;
        self.inner.set_source_state(SourceState::Up);
        Ok(())
    }

    /// Loads every domain, then applies the source's events until
    /// `shutdown` completes: changed domains are re-read, a changed
    /// certificate is read again at its next handshake, purges applied,
    /// and after an [`Event::Resync`] (events were lost, purges perhaps
    /// among them) every cached response is marked stale, as a soft purge
    /// does, then the domains are reloaded and the certificates read again:
    /// the cache is kept, but revalidated before it is trusted. While the
    /// source is down the edge keeps serving what it has, and says so on
    /// `/healthz`.
    pub async fn sync(&self, shutdown: impl Future<Output = ()>) -> crate::Result<()> {
        tokio::pin!(shutdown);
        self.load().await?;
        self.settle(0, None, None).await;
        // A disk cache from before this start replays what it missed
        // (purges above all) since the revision it last saved; a change
        // log that does not reach back that far means a resync.
        let saved = self.disk_cache().and_then(|d| d.saved_revision());
        let from = saved.map_or(self.revision(), |r| r.min(self.revision()));
        let options = SubscribeOptions::default().from_revision(from);
        let mut events = self.inner.source.subscribe(options).await?;
        let mut saved_at = saved.unwrap_or(0);
        let mut probe = tokio::time::interval(PROBE_EVERY);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ring = tokio::time::interval(crate::shield::REFRESH_EVERY);
        ring.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                _ = ring.tick() => {
                    let refresh = self.inner.shield.refresh(&*self.inner.source);
                    if tokio::time::timeout(PROBE_TIMEOUT, refresh).await.is_err() {
                        tracing::debug!("reading the shield ring timed out");
                    }
                }
                _ = probe.tick() => {
                    self.probe().await;
                    if let Some(reporter) = &self.inner.reporter {
                        reporter.heartbeat(&*self.inner.source, self.revision()).await;
                    }
                    self.save_revision(&mut saved_at).await;
                }
                event = events.next() => match event {
                    Some(e) => self.apply(e, events.written_ms()).await,
                    None => return Ok(()),
                },
            }
        }
    }

    /// Saves the revision applied in the disk cache when it moved.
    async fn save_revision(&self, saved: &mut u64) {
        let (Some(disk), now) = (self.disk_cache(), self.revision()) else {
            return;
        };
        if now != *saved {
            match disk.save_revision(now).await {
                Ok(()) => *saved = now,
                Err(e) => tracing::warn!(error = %e, "could not save the revision in the disk cache"),
            }
        }
    }

    async fn probe(&self) {
        let asked = tokio::time::timeout(PROBE_TIMEOUT, self.inner.source.revision()).await;
        let answered = matches!(asked, Ok(Ok(_)));
        if let Ok(Ok(store)) = asked {
            self.check_history(store).await;
        }
        let now = if answered { SourceState::Up } else { SourceState::Down };
        let before = self.inner.source_state();
        if before != now {
            tracing::warn!(state = ?now, "configuration source state changed");
        }
        self.inner.set_source_state(now);
        match (before, now) {
            (SourceState::Up, SourceState::Down) | (SourceState::Down, SourceState::Up) => {
                if let Some(reporter) = &self.inner.reporter {
                    reporter
                        .source_flipped(&*self.inner.source, now == SourceState::Up)
                        .await;
                }
            }
            _ => {}
        }
    }

    /// After an event was applied, with the edge at revision `before` until
    /// then: takes `revision` as applied (an event with nothing to re-read),
    /// then acknowledges the purge `purge` and reports the revision served.
    async fn settle(&self, before: u64, revision: Option<u64>, purge: Option<&str>) {
        if let Some(rev) = revision {
            self.inner.domains.advance(rev);
        }
        if let Some(reporter) = &self.inner.reporter {
            let now = self.revision();
            reporter.settle(&*self.inner.source, now, now > before, purge).await;
        }
    }

    /// The store at `store` while this edge serves a later revision: its
    /// history went back (Redis restarted without its data, a restore from
    /// an older copy). The edge keeps its configuration, certificates and
    /// cache (marked stale: purges of the lost history are lost too) rather
    /// than adopt a store that lost them, says so on `/healthz` and in
    /// `cirrus_store_regressed`, and follows the store again once its
    /// revision passes the one kept.
    async fn check_history(&self, store: u64) {
        if self.inner.domains.note_store_revision(store) {
            let marked = self.inner.cache.tiers().mark_all_stale().await;
            tracing::error!(
                store,
                served = self.revision(),
                marked,
                "the store's history went back: serving the last configuration until the store passes it"
            );
            // Told to the store, so the API refuses writes until an
            // operator adopts it (`cirrus store adopt`).
            if let Some(reporter) = &self.inner.reporter {
                let told = self.inner.source.report_regression(reporter.node(), self.revision());
                if let Err(e) | Ok(Err(e)) = tokio::time::timeout(PROBE_TIMEOUT, told)
                    .await
                    .map_err(|_| cirrus_core::Error::unavailable("timed out telling the store", None))
                {
                    tracing::warn!(error = %e, "could not tell the store it went back; telling it at the next probe");
                    self.inner.domains.clear_regression();
                }
            }
        }
    }

    /// Applies `event`, written in the store at `written_ms`.
    async fn apply(&self, event: Event, written_ms: Option<u64>) {
        if let Some(kept) = self.inner.domains.regressed() {
            match event.revision() {
                // Past the kept revision: the store's new history is followed.
                Some(r) if r > kept => {
                    self.inner.domains.clear_regression();
                    tracing::warn!(
                        store = r,
                        kept,
                        "the store passed the kept revision: following it again"
                    );
                    self.apply_one(Event::Resync { revision: r }).await;
                }
                // Purges are always safe to apply; the rest would read
                // from the history that lost the kept configuration.
                _ if !matches!(event, Event::Purge { .. }) => {
                    if let Event::Resync { revision } = event {
                        self.check_history(revision).await;
                    }
                    return;
                }
                _ => {}
            }
        }
        // Domain changes and resyncs move the revision when their re-read
        // succeeds; every other event is applied once handled.
        let rereads = matches!(
            event,
            Event::Changed {
                change: Change::Domain(_),
                ..
            } | Event::Resync { .. }
        );
        let revision = event.revision().filter(|_| !rereads);
        let purge_id = match &event {
            Event::Purge { request, .. } => request.id.clone(),
            _ => None,
        };
        let metrics = self.inner.metrics();
        let took = match &event {
            Event::Purge { .. } => Some(&metrics.purge_apply),
            Event::Changed { .. } => Some(&metrics.config_apply),
            _ => None,
        };
        let before = self.revision();
        self.apply_one(event).await;
        self.settle(before, revision, purge_id.as_deref()).await;
        if let (Some(histogram), Some(at)) = (took, written_ms) {
            let ms = crate::report::now_ms().saturating_sub(at);
            histogram.observe(ms as f64 / 1000.0);
        }
    }

    async fn apply_one(&self, event: Event) {
        let source = &*self.inner.source;
        match event {
            Event::Changed {
                revision,
                change: Change::Domain(name),
            } => {
                // Retry while the source is briefly away; the next resync
                // catches up if it stays away.
                for attempt in 0..5u32 {
                    match self.inner.domains.refresh(source, &name, revision).await {
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
            Event::Resync { revision } if revision < self.revision() => {
                self.check_history(revision).await;
            }
            Event::Resync { .. } => {
                // Purges in the gap may be lost with the events: nothing
                // stored is trusted as fresh until revalidated.
                let marked = self.inner.cache.tiers().mark_all_stale().await;
                tracing::warn!(marked, "events were lost: every cached response marked stale");
                if let Err(e) = self.inner.domains.reload(source).await {
                    tracing::warn!(error = %e, "reload after resync failed; serving the last known domains");
                }
                if let Some(certs) = self.certificates() {
                    certs.clear();
                }
            }
            _ => {}
        }
    }
}
