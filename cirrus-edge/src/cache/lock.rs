//! Request coalescing (nginx's `proxy_cache_lock`, Pingora's cache lock):
//! of the concurrent misses for one cache key, one goes to the origin (the
//! writer) and the others wait for what it gets, then look the key up
//! again. Nothing waits forever: a lock older than its age limit is taken
//! over by the next request (its writer is presumed gone), and a waiter
//! past its wait limit goes to the origin itself.
//!
//! A key whose answer was not storable is remembered for [`PASS_FOR`]:
//! requests for it go to the origin at once, side by side, instead of
//! queueing behind each other's fetches (Varnish's hit-for-miss).

use crate::hashing::Map;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What the writer's fetch came to, as its waiters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Still fetching.
    Pending,
    /// Stored: look the key up again.
    Stored,
    /// The answer was not storable: go to the origin without waiting again.
    NotStored,
    /// The fetch failed: one waiter tries again as the writer.
    Failed,
}

/// How long a key whose answer was not storable skips coalescing.
pub(crate) const PASS_FOR: Duration = Duration::from_secs(10);
/// Table size past which old entries are swept as new ones come.
const SWEEP_AT: usize = 4096;

/// The locks of one edge, by cache key.
#[derive(Debug)]
pub(crate) struct CacheLocks {
    table: Mutex<Map<String, Entry>>,
    age: Duration,
    wait: Duration,
}

#[derive(Debug)]
enum Entry {
    /// A writer is fetching.
    Fetching(Arc<Lock>),
    /// Not storable when last fetched, at this time.
    Pass(Instant),
}

#[derive(Debug)]
struct Lock {
    started: Instant,
    outcome: watch::Sender<Outcome>,
}

/// A request's turn at a key.
#[derive(Debug)]
pub(crate) enum Turn {
    /// Fetch it; the waiters learn the outcome from [`WriteLock::finish`]
    /// (or, if it is dropped unfinished, that the fetch failed).
    Write(WriteLock),
    /// Another request fetched it; `Pending` when the wait limit passed
    /// first.
    Waited(Outcome),
    /// Coalescing is off (a zero wait limit).
    Alone,
}

impl CacheLocks {
    /// Locks that a writer holds for at most `age`, and a waiter waits on
    /// for at most `wait` (zero: no coalescing).
    pub(crate) fn new(age: Duration, wait: Duration) -> Self {
        Self {
            table: Mutex::new(Map::default()),
            age,
            wait,
        }
    }

    /// The writer's lock on `key`, or the outcome of the writer's fetch.
    pub(crate) async fn turn(self: &Arc<Self>, key: &str) -> Turn {
        if self.wait.is_zero() {
            return Turn::Alone;
        }
        // Read the clock only when there is a writer to wait for.
        let mut give_up = None;
        loop {
            let (mut outcome, expires) = {
                let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
                match table.get(key) {
                    Some(Entry::Fetching(lock)) if lock.started.elapsed() < self.age => {
                        (lock.outcome.subscribe(), lock.started + self.age)
                    }
                    Some(Entry::Pass(since)) if since.elapsed() < PASS_FOR => return Turn::Waited(Outcome::NotStored),
                    _ => return Turn::Write(self.writer(&mut table, key)),
                }
            };
            let give_up = *give_up.get_or_insert_with(|| Instant::now() + self.wait);
            let until = expires.min(give_up);
            let done = tokio::time::timeout_at(until, outcome.wait_for(|o| *o != Outcome::Pending)).await;
            match done {
                Ok(Ok(seen)) => return Turn::Waited(*seen),
                // The writer's lock went without a word: as good as failed.
                Ok(Err(_)) => return Turn::Waited(Outcome::Failed),
                Err(_) if until >= give_up => return Turn::Waited(Outcome::Pending),
                // The lock aged out: the next in line takes it over.
                Err(_) => {}
            }
        }
    }

    /// The writer's lock on `key` unless another request holds it: for a
    /// background refresh, one per key.
    pub(crate) fn try_write(self: &Arc<Self>, key: &str) -> Option<WriteLock> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Entry::Fetching(lock)) = table.get(key)
            && lock.started.elapsed() < self.age
        {
            return None;
        }
        Some(self.writer(&mut table, key))
    }

    /// The rounds a request for `key` goes through before it fetches:
    /// look the key up, then ask the queue whether to look again.
    pub(crate) fn queue<'a>(self: &'a Arc<Self>, key: &'a str) -> Queue<'a> {
        Queue {
            locks: self,
            key,
            turns: 0,
        }
    }

    /// A new writer's lock on `key`, in `table` (swept of old entries when large).
    fn writer(self: &Arc<Self>, table: &mut Map<String, Entry>, key: &str) -> WriteLock {
        if table.len() >= SWEEP_AT {
            table.retain(|_, e| match e {
                Entry::Fetching(l) => l.started.elapsed() < self.age,
                Entry::Pass(since) => since.elapsed() < PASS_FOR,
            });
        }
        let lock = Arc::new(Lock {
            started: Instant::now(),
            outcome: watch::channel(Outcome::Pending).0,
        });
        table.insert(key.to_owned(), Entry::Fetching(lock.clone()));
        WriteLock {
            locks: self.clone(),
            key: key.to_owned(),
            lock,
        }
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.table.lock().map_or(0, |t| t.len())
    }
}

/// Coalescing as a request sees it: after each lookup that found nothing
/// to serve, [`Queue::next`] says whether another request just stored the
/// key (look again) or this one fetches it, as the writer or on its own.
/// Two turns at most: a third lookup that finds nothing fetches.
#[derive(Debug)]
pub(crate) struct Queue<'a> {
    locks: &'a Arc<CacheLocks>,
    key: &'a str,
    turns: u8,
}

/// What to do after a lookup that found nothing to serve.
#[derive(Debug)]
pub(crate) enum Next {
    /// Another request fetched the key: look it up again.
    LookAgain,
    /// Fetch it, holding `lock` when this request is the writer; store what
    /// comes unless `may_store` is false (the writer is still at it).
    Fetch { lock: Option<WriteLock>, may_store: bool },
}

impl Queue<'_> {
    /// The next step.
    pub(crate) async fn next(&mut self) -> Next {
        let alone = Next::Fetch {
            lock: None,
            may_store: true,
        };
        if self.turns == 2 {
            return alone;
        }
        self.turns += 1;
        match self.locks.turn(self.key).await {
            Turn::Write(held) => Next::Fetch {
                lock: Some(held),
                may_store: true,
            },
            Turn::Waited(Outcome::Stored | Outcome::Failed) => Next::LookAgain,
            Turn::Waited(Outcome::Pending) => Next::Fetch {
                lock: None,
                may_store: false,
            },
            Turn::Waited(Outcome::NotStored) | Turn::Alone => alone,
        }
    }
}

/// The writer's hold on a key.
#[derive(Debug)]
pub(crate) struct WriteLock {
    locks: Arc<CacheLocks>,
    key: String,
    lock: Arc<Lock>,
}

impl WriteLock {
    /// Tells the waiters whether the answer was stored.
    pub(crate) fn finish(self, stored: bool) {
        self.release(if stored { Outcome::Stored } else { Outcome::NotStored });
    }

    fn release(&self, outcome: Outcome) {
        let mut table = self.locks.table.lock().unwrap_or_else(|p| p.into_inner());
        // A lock that aged out and was taken over is the new writer's.
        if let Some(entry) = table.get_mut(&self.key)
            && matches!(entry, Entry::Fetching(l) if Arc::ptr_eq(l, &self.lock))
        {
            if outcome == Outcome::NotStored {
                *entry = Entry::Pass(Instant::now());
            } else {
                table.remove(&self.key);
            }
        }
        drop(table);
        self.lock.outcome.send_if_modified(|o| {
            let pending = *o == Outcome::Pending;
            if pending {
                *o = outcome;
            }
            pending
        });
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        self.release(Outcome::Failed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn locks(age_ms: u64, wait_ms: u64) -> Arc<CacheLocks> {
        Arc::new(CacheLocks::new(
            Duration::from_millis(age_ms),
            Duration::from_millis(wait_ms),
        ))
    }

    #[tokio::test]
    async fn one_writer_and_its_waiters_learn_the_outcome() {
        let locks = locks(5_000, 5_000);
        let Turn::Write(writer) = locks.turn("k").await else {
            panic!("first is the writer")
        };
        let waiter = tokio::spawn({
            let locks = locks.clone();
            async move { locks.turn("k").await }
        });
        let other = locks.turn("other").await;
        assert!(matches!(other, Turn::Write(_)), "another key is another lock");
        tokio::task::yield_now().await;
        writer.finish(true);
        assert!(matches!(waiter.await.unwrap(), Turn::Waited(Outcome::Stored)));
        drop(other);
        assert_eq!(locks.held(), 0, "finished and dropped locks are gone");
    }

    #[tokio::test]
    async fn a_queue_looks_again_after_a_store_and_fetches_after_two_turns() {
        let shared = locks(5_000, 5_000);
        // The first request is the writer.
        let mut first = shared.queue("k");
        let Next::Fetch {
            lock: Some(writer),
            may_store: true,
        } = first.next().await
        else {
            panic!("the first request writes")
        };
        // A second waits, learns it was stored, and looks again.
        let waiter = tokio::spawn({
            let shared = shared.clone();
            async move { matches!(shared.queue("k").next().await, Next::LookAgain) }
        });
        tokio::task::yield_now().await;
        writer.finish(true);
        assert!(waiter.await.unwrap(), "a stored key is looked up again");
        // Past two turns a request fetches on its own, lock or not.
        let mut late = shared.queue("k");
        let _held = match late.next().await {
            Next::Fetch { lock: Some(held), .. } => held,
            other => panic!("the key is free again: {other:?}"),
        };
        let mut third = shared.queue("k");
        third.turns = 2;
        assert!(matches!(
            third.next().await,
            Next::Fetch {
                lock: None,
                may_store: true
            }
        ));
        // A waiter past its wait limit fetches without storing.
        let impatient = locks(5_000, 20);
        let Next::Fetch { lock: Some(_slow), .. } = impatient.queue("k").next().await else {
            panic!("the first request writes")
        };
        assert!(matches!(
            impatient.queue("k").next().await,
            Next::Fetch {
                lock: None,
                may_store: false
            }
        ));
    }

    #[tokio::test]
    async fn a_dropped_writer_is_a_failure_and_an_old_lock_is_taken_over() {
        let locks = locks(100, 5_000);
        let Turn::Write(writer) = locks.turn("k").await else {
            panic!()
        };
        let waiter = tokio::spawn({
            let locks = locks.clone();
            async move { locks.turn("k").await }
        });
        tokio::task::yield_now().await;
        drop(writer);
        assert!(matches!(waiter.await.unwrap(), Turn::Waited(Outcome::Failed)));
        // A writer that never finishes: after the age limit the next takes over.
        let Turn::Write(stuck) = locks.turn("k").await else {
            panic!()
        };
        let started = Instant::now();
        let Turn::Write(next) = locks.turn("k").await else {
            panic!("takes over")
        };
        assert!(started.elapsed() >= Duration::from_millis(90));
        drop(stuck); // The old writer's end does not release the new lock.
        assert_eq!(locks.held(), 1);
        next.finish(false);
        assert!(
            matches!(locks.turn("k").await, Turn::Waited(Outcome::NotStored)),
            "not storable: the next goes to the origin at once"
        );
    }

    #[tokio::test]
    async fn the_table_is_swept_of_old_entries_as_it_grows() {
        let locks = locks(0, 5_000); // every lock is old at once
        let mut held = Vec::new();
        for i in 0..SWEEP_AT {
            held.push(locks.try_write(&format!("k{i}")).unwrap());
        }
        assert_eq!(locks.held(), SWEEP_AT);
        let _next = locks.try_write("one more").unwrap();
        assert_eq!(locks.held(), 1, "the old entries were swept");
        drop(held); // Their writers' ends touch nothing of the new table.
        assert_eq!(locks.held(), 1);
    }

    #[tokio::test]
    async fn waiters_give_up_at_the_wait_limit_and_zero_turns_it_off() {
        let locks = locks(5_000, 100);
        let Turn::Write(_writer) = locks.turn("k").await else {
            panic!()
        };
        assert!(matches!(locks.turn("k").await, Turn::Waited(Outcome::Pending)));
        let off = self::locks(5_000, 0);
        assert!(matches!(off.turn("k").await, Turn::Alone));
        assert!(matches!(off.turn("k").await, Turn::Alone));
    }
}
