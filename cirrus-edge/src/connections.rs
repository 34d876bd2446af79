//! The edge's client connections, counted over all its listeners and
//! workers: a cap per client address, and a budget for the whole process.
//!
//! The budget is [`crate::EdgeSettings::max_connections`], lowered when the
//! process's descriptor limit leaves no room for it: each client
//! connection may hold an origin connection too, and the store, the disk
//! tier and the listeners need some, so the budget is at most half of
//! what the limit leaves after a reserve. When the budget is spent and one
//! more client arrives, the connections that have waited longest for a
//! request (never sent one, or idle between keep-alive requests, or still
//! in the TLS handshake) are closed to make room, as nginx reuses idle
//! keep-alive connections: a flood of idle or half-open connections
//! delays a newcomer by one reclaim, not by a header timeout. A
//! connection in the middle of a request is never reclaimed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Descriptors kept out of the budget, for everything but client and
/// origin connections.
const RESERVE: u64 = 128;
/// Connections reclaimed at most in one go (nginx drains 32 as well).
const RECLAIM_AT_ONCE: usize = 32;
/// `since` of a connection in the middle of a request.
const BUSY: u64 = u64::MAX;

/// The edge's connection budget and per-address cap.
pub(crate) struct Connections {
    per_ip_cap: usize,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    slots: Arc<Semaphore>,
    limit: usize,
    /// Advanced once per admitted connection: the order in which
    /// connections start waiting, to the nearest admission.
    clock: Arc<AtomicU64>,
    next_id: AtomicU64,
    live: Arc<Mutex<HashMap<u64, Arc<Idle>>>>,
    /// Connections open, for the metrics.
    open: Arc<AtomicUsize>,
}

/// Whether one connection is waiting for a request, and since when.
pub(crate) struct Idle {
    since: AtomicU64,
    clock: Arc<AtomicU64>,
    wake: Notify,
}

/// A connection's place in the budget, given back when dropped.
pub(crate) struct Member {
    id: u64,
    idle: Arc<Idle>,
    live: Arc<Mutex<HashMap<u64, Arc<Idle>>>>,
    open: Arc<AtomicUsize>,
    _slot: OwnedSemaphorePermit,
}

/// One connection of an address: given back when dropped.
pub(crate) struct Held {
    ip: IpAddr,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The budget `max` leaves under a descriptor limit of `nofile`.
pub(crate) fn budget_under(max: usize, nofile: Option<u64>) -> usize {
    let max = max.max(1);
    match nofile {
        Some(n) => {
            let room = usize::try_from(n.saturating_sub(RESERVE) / 2).unwrap_or(usize::MAX);
            max.min(room.max(1))
        }
        None => max,
    }
}

impl Connections {
    /// `max` connections in all (lowered to what the descriptor limit
    /// allows), `per_ip_cap` per address (0: no cap).
    pub(crate) fn new(max: usize, per_ip_cap: usize) -> Self {
        let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let limit = budget_under(max, nofile);
        if limit < max {
            tracing::info!(
                max_connections = max,
                budget = limit,
                nofile = nofile.unwrap_or_default(),
                "the descriptor limit leaves room for fewer client connections than max_connections; raise it (LimitNOFILE) to serve more"
            );
        }
        Self {
            per_ip_cap,
            per_ip: Arc::default(),
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            clock: Arc::default(),
            next_id: AtomicU64::new(0),
            live: Arc::default(),
            open: Arc::default(),
        }
    }

    /// The number of client connections open, kept up to date.
    pub(crate) fn open(&self) -> Arc<AtomicUsize> {
        self.open.clone()
    }

    /// The number of client connections the edge serves at once.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// A connection of `ip`, unless it holds the most allowed already.
    pub(crate) fn hold(&self, ip: IpAddr) -> Option<Option<Held>> {
        if self.per_ip_cap == 0 {
            return Some(None);
        }
        let mut held = locked(&self.per_ip);
        let n = held.entry(ip).or_insert(0);
        if *n >= self.per_ip_cap {
            return None;
        }
        *n += 1;
        Some(Some(Held {
            ip,
            held: self.per_ip.clone(),
        }))
    }

    /// A place in the budget for a connection just accepted: at once when
    /// one is free, else after reclaiming idle connections (counted in
    /// `reclaimed`), or when a busy one ends.
    pub(crate) async fn admit(&self) -> Member {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => loop {
                self.reclaim();
                match tokio::time::timeout(Duration::from_millis(100), self.slots.clone().acquire_owned()).await {
                    Ok(Ok(slot)) => break slot,
                    // The semaphore is never closed.
                    Ok(Err(_)) => std::future::pending::<()>().await,
                    Err(_) => {}
                }
            },
        };
        let idle = Arc::new(Idle {
            since: AtomicU64::new(self.clock.fetch_add(1, Ordering::Relaxed)),
            clock: self.clock.clone(),
            wake: Notify::new(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        locked(&self.live).insert(id, idle.clone());
        self.open.fetch_add(1, Ordering::Relaxed);
        Member {
            id,
            idle,
            live: self.live.clone(),
            open: self.open.clone(),
            _slot: slot,
        }
    }

    /// Asks the connections idle the longest to close.
    fn reclaim(&self) {
        let mut idle: Vec<(u64, Arc<Idle>)> = locked(&self.live)
            .values()
            .filter_map(|c| {
                let since = c.since.load(Ordering::Relaxed);
                (since != BUSY).then(|| (since, c.clone()))
            })
            .collect();
        if idle.len() > RECLAIM_AT_ONCE {
            idle.select_nth_unstable_by_key(RECLAIM_AT_ONCE, |(since, _)| *since);
            idle.truncate(RECLAIM_AT_ONCE);
        }
        for (_, c) in idle {
            c.wake.notify_one();
        }
    }
}

impl Member {
    /// This connection's idle state, for its protocol to update.
    pub(crate) fn idle(&self) -> Arc<Idle> {
        self.idle.clone()
    }

    /// Completes when the edge reclaims this connection while it waits
    /// for a request.
    pub(crate) async fn reclaimed(&self) {
        loop {
            self.idle.wake.notified().await;
            if self.idle.since.load(Ordering::Relaxed) != BUSY {
                return;
            }
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        locked(&self.live).remove(&self.id);
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Idle {
    /// A request is being served: not to be reclaimed.
    pub(crate) fn busy(&self) {
        self.since.store(BUSY, Ordering::Relaxed);
    }

    /// Waiting for the next request: may be reclaimed. A load, not an
    /// increment: no write to a line every connection shares per request.
    pub(crate) fn waiting(&self) {
        self.since.store(self.clock.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = locked(&self.held);
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_room_under_the_descriptor_limit() {
        assert_eq!(budget_under(16_384, Some(1024)), 448);
        assert_eq!(budget_under(16_384, Some(1_048_576)), 16_384);
        assert_eq!(budget_under(100, None), 100);
        assert_eq!(budget_under(16_384, Some(10)), 1);
        assert_eq!(budget_under(0, Some(1024)), 1);
    }

    #[tokio::test]
    async fn the_longest_idle_are_reclaimed_and_busy_ones_never() {
        let c = Connections::new(2, 0);
        let first = c.admit().await;
        let second = c.admit().await;
        first.idle().busy();
        let c = Arc::new(c);
        let third = tokio::spawn({
            let c = c.clone();
            async move { c.admit().await }
        });
        tokio::time::timeout(Duration::from_secs(1), second.reclaimed())
            .await
            .expect("the idle connection is asked to close");
        assert!(
            tokio::time::timeout(Duration::from_millis(250), first.reclaimed())
                .await
                .is_err(),
            "a busy connection is left alone"
        );
        drop(second);
        let third = tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .expect("admitted once the reclaimed one closed")
            .unwrap();
        first.idle().waiting();
        drop(third);
    }
}
