//! Keeping the served zone in step with the store: rebuilds on change
//! (debounced), a strictly increasing SOA serial, and NOTIFY to the
//! secondaries after every rebuild, retried until each acknowledges.

use crate::error::Result;
use crate::master::SharedZone;
use crate::metrics::{DnsMetrics, SKIPPED_INVALID_NAME};
use crate::zone::{Zone, ZoneInput, ZoneSettings};
use cirrus_core::{CertStore, Change, ChangeFeed, DomainStore, Event, NodeStore, Store, SubscribeOptions};
use hickory_proto::rr::{Name, TSigner};
use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// The serial after `previous`: the current Unix time, or `previous + 1`
/// when that is larger in serial number order (RFC 1982). Rebuilds are at least a second apart (see
/// [`Rebuilder`]), so the serial never runs ahead of the clock by more
/// than one and a restarted master still starts above what it served.
pub fn next_serial(previous: Option<u32>, now_unix: u64) -> u32 {
    let now = u32::try_from(now_unix).unwrap_or(u32::MAX);
    match previous {
        // Serial arithmetic (RFC 1982): after u32::MAX comes 0, and the
        // clock wins only when it is ahead of the previous serial.
        Some(p) if crate::zone::serial_lt(p, now) => now,
        Some(p) => p.wrapping_add(1),
        None => now,
    }
}

/// What a zone is built from: domains, nodes, challenges, and the change
/// feed that says when to build it again. Every [`Store`] is one.
pub trait ZoneSource: ChangeFeed + DomainStore + NodeStore + CertStore {}

impl<S: ChangeFeed + DomainStore + NodeStore + CertStore + ?Sized> ZoneSource for S {}

/// Rebuilds the zone from the store and announces it.
pub struct Rebuilder<S: ?Sized = dyn Store> {
    store: Arc<S>,
    settings: ZoneSettings,
    zone: Option<SharedZone>,
    /// The store revision the last build read (or a later one), shared by
    /// clones: a restarted loop refuses a store behind the zone served too.
    built_revision: Arc<std::sync::atomic::AtomicU64>,
    notify: Vec<SocketAddr>,
    notify_key: Option<TSigner>,
    journal: crate::zone::JournalLimits,
    debounce: Duration,
    min_interval: Duration,
    latest: Arc<watch::Sender<u32>>,
    metrics: Option<DnsMetrics>,
    /// Domains the last rebuild left out, so each is logged once.
    skipped: HashSet<String>,
}

impl<S: ?Sized> Clone for Rebuilder<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            settings: self.settings.clone(),
            zone: self.zone.clone(),
            built_revision: self.built_revision.clone(),
            notify: self.notify.clone(),
            notify_key: self.notify_key.clone(),
            journal: self.journal,
            debounce: self.debounce,
            min_interval: self.min_interval,
            latest: self.latest.clone(),
            metrics: self.metrics.clone(),
            skipped: self.skipped.clone(),
        }
    }
}

impl<S: ?Sized> std::fmt::Debug for Rebuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rebuilder")
            .field("origin", self.settings.origin())
            .field("notify", &self.notify)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

impl<S: ZoneSource + ?Sized> Rebuilder<S> {
    /// Rebuilds `settings`' zone from `store`. Defaults: no secondaries,
    /// 50 ms debounce, rebuilds at least 1 s apart.
    pub fn new(store: Arc<S>, settings: ZoneSettings) -> Self {
        Self {
            store,
            settings,
            zone: None,
            built_revision: Arc::default(),
            notify: Vec::new(),
            notify_key: None,
            journal: crate::zone::JournalLimits::default(),
            debounce: Duration::from_millis(50),
            min_interval: Duration::from_secs(1),
            latest: Arc::new(watch::channel(0).0),
            metrics: None,
            skipped: HashSet::new(),
        }
    }

    /// Secondaries sent a NOTIFY after every rebuild.
    pub fn notify(mut self, secondaries: Vec<SocketAddr>) -> Self {
        self.notify = secondaries;
        self
    }

    /// Signs every NOTIFY with `key` (RFC 8945), and takes an answer
    /// only when its signature verifies.
    pub fn notify_key(mut self, key: &crate::TsigKey) -> Self {
        self.notify_key = Some(key.signer());
        self
    }

    /// How much history each zone keeps for IXFR (default
    /// [`JournalLimits::default`](crate::JournalLimits)).
    pub fn journal(mut self, limits: crate::zone::JournalLimits) -> Self {
        self.journal = limits;
        self
    }

    /// Records rebuilds, zone size and serial, and NOTIFYs in `metrics`.
    pub fn metrics(mut self, metrics: DnsMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// How long to wait after a change for more changes (one rebuild for a burst).
    pub fn debounce(mut self, wait: Duration) -> Self {
        self.debounce = wait;
        self
    }

    /// The serial the last rebuild published (0 before the first).
    pub fn serial(&self) -> u32 {
        *self.latest.borrow()
    }

    /// Reads domains, nodes and challenges from the store and builds the
    /// next zone (serial from [`next_serial`]); serves it when this
    /// rebuilder has a zone to replace, then sends NOTIFYs in the background.
    /// A store whose revision went back below the zone's (it lost its
    /// history) is refused with [`Error::StoreWentBack`](crate::Error::StoreWentBack),
    /// and [`Rebuilder::run`] keeps serving the zone until the store passes it.
    #[tracing::instrument(name = "dns rebuild", skip_all)]
    pub async fn rebuild(&mut self) -> Result<Arc<Zone>> {
        // Read first: a change after it is announced after it, and replayed.
        let revision = self.store.revision().await?;
        // A store that lost its history (its domains with it) would empty
        // the zone: the zone served is kept until the store passes it.
        let served = self.built_revision.load(std::sync::atomic::Ordering::Relaxed);
        if revision < served {
            return Err(crate::Error::StoreWentBack {
                store: revision,
                served,
            });
        }
        let domains = self.store.domains().await?;
        let nodes = self.store.nodes().await?;
        let challenges = self.store.challenges().await?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let previous = Some(self.serial()).filter(|s| *s != 0);
        let serial = next_serial(previous, now);
        let started = Instant::now();
        let zone = Zone::build(
            ZoneInput {
                domains: &domains,
                nodes: &nodes,
                challenges: Some(&challenges),
            },
            &self.settings,
            serial,
        )?;
        let zone = match &self.zone {
            Some(served) => zone.with_history(&served.get(), self.journal),
            None => zone,
        };
        self.built_revision
            .fetch_max(revision, std::sync::atomic::Ordering::Relaxed);
        let _ = self.report_skipped(&zone);
        tracing::info!(
            serial,
            domains = domains.len(),
            records = zone.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "dns: zone rebuilt"
        );
        if let Some(m) = &self.metrics {
            m.rebuilds.inc();
            m.rebuild_seconds.observe(started.elapsed().as_secs_f64());
            m.zone_records.set(i64::try_from(zone.len()).unwrap_or(i64::MAX));
            m.zone_serial.set(i64::from(serial));
        }
        let zone = Arc::new(zone);
        if let Some(shared) = &self.zone {
            shared.replace_arc(zone.clone());
        } else {
            self.zone = Some(SharedZone::from_arc(zone.clone()));
        }
        self.latest.send_replace(serial);
        for target in self.notify.clone() {
            let origin = Name::from(zone.origin().clone());
            let latest = self.latest.subscribe();
            let key = self.notify_key.clone();
            tokio::spawn(crate::notify::notify_until_acked(
                target,
                origin,
                serial,
                latest,
                key,
                self.metrics.clone(),
            ));
        }
        Ok(zone)
    }

    /// Counts every domain `zone` left out, and logs each once while it
    /// stays out (again if it comes back and fails anew); returns the
    /// domains logged now.
    fn report_skipped(&mut self, zone: &Zone) -> Vec<String> {
        let mut now = HashSet::with_capacity(zone.skipped().len());
        let mut logged = Vec::new();
        for s in zone.skipped() {
            if !self.skipped.contains(&s.domain) {
                tracing::warn!(domain = %s.domain, reason = %s.reason, "dns: domain left out of the zone");
                logged.push(s.domain.clone());
            }
            if let Some(m) = &self.metrics {
                m.records_skipped.with_label_values(&[SKIPPED_INVALID_NAME]).inc();
            }
            now.insert(s.domain.clone());
        }
        self.skipped = now;
        logged
    }

    /// The zone served (built by the first [`Rebuilder::rebuild`]).
    pub fn zone(&self) -> Option<&SharedZone> {
        self.zone.as_ref()
    }

    /// Follows the store until `shutdown`: domain and node changes,
    /// `cdn:cname:dirty` and resyncs each lead to a rebuild, bursts folded
    /// into one. Needs a first [`Rebuilder::rebuild`] to have succeeded.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        // From the revision the first build read: a change made between it
        // and this subscription is replayed, not missed.
        let built = self.built_revision.load(std::sync::atomic::Ordering::Relaxed);
        let options = SubscribeOptions::default().from_revision(built);
        let mut events = self.store.subscribe(options).await?;
        let mut last = Instant::now();
        loop {
            let event = tokio::select! {
                () = &mut shutdown => return Ok(()),
                e = events.next() => match e {
                    Some(e) => e,
                    None => return Ok(()),
                },
            };
            if !affects_zone(&event) {
                continue;
            }
            // Fold the burst: wait the debounce (and the minimum interval),
            // taking every event that arrives meanwhile.
            let until =
                tokio::time::Instant::now() + self.debounce.max(self.min_interval.saturating_sub(last.elapsed()));
            loop {
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep_until(until) => break,
                    e = events.next() => if e.is_none() { return Ok(()) },
                }
            }
            let mut delay = Duration::from_millis(200);
            while let Err(e) = self.rebuild().await {
                tracing::warn!(error = %e, "dns: rebuild failed; serving the last zone and retrying");
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            last = Instant::now();
        }
    }
}

fn affects_zone(event: &Event) -> bool {
    match event {
        Event::Changed { change, .. } => matches!(change, Change::Domain(_) | Change::Node(_)),
        Event::CnameDirty { .. } | Event::Resync { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{Arc, Rebuilder, Zone, next_serial};

    #[test]
    fn serials_follow_the_clock_and_always_grow() {
        assert_eq!(next_serial(None, 1_800_000_000), 1_800_000_000);
        assert_eq!(
            next_serial(Some(1_800_000_000), 1_800_000_000),
            1_800_000_001,
            "same second"
        );
        assert_eq!(
            next_serial(Some(1_700_000_000), 1_800_000_000),
            1_800_000_000,
            "the clock moved on"
        );
        assert_eq!(next_serial(Some(5), 0), 6, "a clock behind the serial");
        assert_eq!(next_serial(Some(u32::MAX), 0), 0, "the serial wraps around to 0");
        assert_eq!(next_serial(Some(u32::MAX - 1), 3), 3, "a clock past the wrap is ahead");
        assert_eq!(
            next_serial(Some(10), 4_000_000_000),
            11,
            "a clock half the space away is not ahead"
        );
    }

    #[test]
    fn a_skipped_domain_is_logged_once_while_it_stays_out() {
        use crate::zone::{ZoneInput, ZoneSettings};
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(cirrus_core::EmbeddedStore::open(dir.path()).expect("store"));
        // An apex so long that a 57-byte target label does not fit under it.
        let apex = format!(
            "{}.{}.{}.{}.net",
            "z".repeat(63),
            "y".repeat(63),
            "x".repeat(63),
            "w".repeat(20)
        );
        let settings = ZoneSettings::builder(apex).build().expect("settings");
        let mut rebuilder = Rebuilder::new(store, settings.clone());
        let long = cirrus_core::DomainConf::new(
            format!("{}.example.com", "b".repeat(60)),
            "http://192.0.2.1".parse().expect("origin"),
        );
        let zone_of = |domains: &[cirrus_core::DomainConf]| {
            let input = ZoneInput {
                domains,
                nodes: &[],
                challenges: None,
            };
            Zone::build(input, &settings, 1).expect("zone")
        };
        let with = zone_of(std::slice::from_ref(&long));
        assert_eq!(
            rebuilder.report_skipped(&with),
            std::slice::from_ref(&long.domain),
            "logged"
        );
        assert!(
            rebuilder.report_skipped(&with).is_empty(),
            "not again while it stays out"
        );
        assert!(rebuilder.report_skipped(&zone_of(&[])).is_empty());
        assert_eq!(
            rebuilder.report_skipped(&with).len(),
            1,
            "logged again once it fails anew"
        );
    }
}
