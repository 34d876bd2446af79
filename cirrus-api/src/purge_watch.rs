//! Following the purges this API published until each is done:
//! `purge.completed` once every live edge applied it, `purge.incomplete`
//! when one is still pending past the deadline (a minute unless
//! [`ApiBuilder::purge_deadline`](crate::ApiBuilder::purge_deadline) says
//! otherwise). Followed
//! in memory, by the API that published: a purge in flight when its API
//! stops gets neither event (its status stays readable at
//! `GET /api/v1/purges/{id}`).

use crate::state::Shared;
use cirrus_core::model::{EventType, NewEvent, PurgeStatus, now_ms};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// How often the followed purges are looked at.
const EVERY: Duration = Duration::from_millis(500);
/// Purges followed at most (the oldest is dropped for a new one).
const FOLLOWED: usize = 10_000;

/// The purges followed: id → publication time (Unix ms).
#[derive(Debug, Default)]
pub(crate) struct PurgeWatch {
    followed: Mutex<HashMap<String, u64>>,
}

impl PurgeWatch {
    /// Follows purge `id`, published at `published_ms`.
    pub(crate) fn follow(&self, id: &str, published_ms: u64) {
        let mut followed = self.followed.lock().unwrap_or_else(|p| p.into_inner());
        if followed.len() >= FOLLOWED
            && let Some(oldest) = followed.iter().min_by_key(|(_, at)| **at).map(|(id, _)| id.clone())
        {
            followed.remove(&oldest);
        }
        followed.insert(id.to_string(), published_ms);
    }

    /// Looks at every followed purge at `now`: writes the event of each
    /// that is done, and forgets it.
    pub(crate) async fn check(&self, state: &Shared, now: u64) -> cirrus_core::Result<()> {
        let followed: Vec<(String, u64)> = {
            let f = self.followed.lock().unwrap_or_else(|p| p.into_inner());
            f.iter().map(|(id, at)| (id.clone(), *at)).collect()
        };
        if followed.is_empty() {
            return Ok(());
        }
        let nodes = state.store.nodes().await?;
        for (id, published) in followed {
            let Some(record) = state.store.purge_record(&id).await? else {
                self.forget(&id);
                continue;
            };
            let status = PurgeStatus::new(record, &nodes, now);
            let event = if status.complete {
                let slowest = status.applied.iter().map(|a| a.delay_ms).max();
                NewEvent::new(EventType::PurgeCompleted, &id)
                    .domain(&status.domain)
                    .data(serde_json::json!({ "applied": status.applied.len(), "slowest_ms": slowest }))
            } else if u128::from(now.saturating_sub(published)) > state.config.purge_deadline.as_millis() {
                NewEvent::new(EventType::PurgeIncomplete, &id)
                    .domain(&status.domain)
                    .data(serde_json::json!({ "pending": status.pending, "silent": status.silent }))
            } else {
                continue;
            };
            state.store.append_event(&event).await?;
            self.forget(&id);
        }
        Ok(())
    }

    fn forget(&self, id: &str) {
        self.followed.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// Looks at the followed purges every half second until `shutdown`; a
/// store that fails is tried again at the next look.
pub(crate) async fn run(state: Shared, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = state.purges.check(&state, now_ms()).await {
            tracing::warn!(error = %e, "purge events: the store failed; trying again");
        }
    }
}
