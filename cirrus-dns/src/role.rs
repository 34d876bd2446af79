//! The `cirrus dns` role as one value: the first zone from the store, the
//! rebuild loop, the hidden master, the health checker and the admin
//! listener, started together and stopped together.

use crate::health::HealthCheckerBuilder;
use crate::master::HiddenMaster;
use crate::metrics::DnsMetrics;
use crate::rebuild::Rebuilder;
use crate::rebuild::ZoneSource;
use crate::zone::ZoneSettings;
use cirrus_core::lifecycle::{Backoff, Shutdown, keep_running};
use cirrus_core::model::AllowList;
use cirrus_core::{EventLog, LockStore, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};

/// How often each notified secondary is asked for its serial.
const SECONDARY_CHECK: Duration = Duration::from_secs(5);

/// Everything `cirrus dns` runs, configured by its methods and started by
/// [`DnsRole::run`].
#[must_use]
pub struct DnsRole<S: ?Sized = dyn Store> {
    store: Arc<S>,
    settings: ZoneSettings,
    notify: Vec<SocketAddr>,
    allow_transfer: AllowList,
    tsig_keys: Vec<crate::TsigKey>,
    journal: crate::JournalLimits,
    udp_threads: Option<usize>,
    checker: Option<HealthCheckerBuilder>,
    admin: Option<(TcpListener, AllowList)>,
    metrics: DnsMetrics,
}

impl<S: ?Sized> std::fmt::Debug for DnsRole<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsRole")
            .field("settings", &self.settings)
            .field("notify", &self.notify)
            .field("allow_transfer", &self.allow_transfer)
            .field("checker", &self.checker)
            .finish_non_exhaustive()
    }
}

impl<S: ZoneSource + LockStore + EventLog + ?Sized> DnsRole<S> {
    /// The zone `settings` built from `store`; no NOTIFY, transfers from
    /// loopback only, no health checker, no admin listener.
    pub fn new(store: Arc<S>, settings: ZoneSettings) -> crate::Result<Self> {
        Ok(Self {
            store,
            settings,
            notify: Vec::new(),
            allow_transfer: AllowList::default(),
            tsig_keys: Vec::new(),
            journal: crate::JournalLimits::default(),
            udp_threads: None,
            checker: None,
            admin: None,
            metrics: DnsMetrics::new()?,
        })
    }

    /// Secondaries sent a NOTIFY after every rebuild.
    pub fn notify(mut self, secondaries: Vec<SocketAddr>) -> Self {
        self.notify = secondaries;
        self
    }

    /// Who may transfer the zone (AXFR) and ask for its SOA.
    pub fn allow_transfer(mut self, allow: AllowList) -> Self {
        self.allow_transfer = allow;
        self
    }

    /// TSIG keys: transfers must be signed with one, NOTIFYs are signed
    /// with the first (see [`HiddenMaster`]).
    pub fn tsig_keys(mut self, keys: Vec<crate::TsigKey>) -> Self {
        self.tsig_keys = keys;
        self
    }

    /// How much zone history is kept for IXFR.
    pub fn journal(mut self, limits: crate::JournalLimits) -> Self {
        self.journal = limits;
        self
    }

    /// Threads answering UDP (see [`HiddenMasterBuilder::udp_threads`](crate::HiddenMasterBuilder::udp_threads)).
    pub fn udp_threads(mut self, threads: usize) -> Self {
        self.udp_threads = Some(threads);
        self
    }

    /// Runs a node health checker with these settings beside the server.
    pub fn health_checker(mut self, checker: HealthCheckerBuilder) -> Self {
        self.checker = Some(checker);
        self
    }

    /// `/healthz` and `/readyz` for everyone and `/metrics` for `allow`,
    /// on `listener`.
    pub fn admin(mut self, listener: TcpListener, allow: AllowList) -> Self {
        self.admin = Some((listener, allow));
        self
    }

    /// Serves DNS on `udp` and `tcp` until `shutdown` triggers. The first
    /// zone is built from the store before any query is answered (a store
    /// that is down is retried: an empty zone must never reach a
    /// secondary); then the zone follows the store. The admin listener
    /// answers from the start (`/readyz` says `starting` until the zone).
    pub async fn run(mut self, udp: UdpSocket, tcp: TcpListener, shutdown: &Shutdown) -> crate::Result<()> {
        let admin = self.admin.take();
        let (metrics, store) = (self.metrics.clone(), self.store.clone());
        let admin = async {
            if let Some((l, allow)) = admin {
                let probe = std::sync::Arc::new(crate::admin::Probe { metrics, store });
                cirrus_core::admin::serve(l, allow, probe, shutdown.wait()).await;
            }
        };
        let (served, ()) = tokio::join!(self.serve(udp, tcp, shutdown), admin);
        served
    }

    async fn serve(self, udp: UdpSocket, tcp: TcpListener, shutdown: &Shutdown) -> crate::Result<()> {
        let checker = match self.checker {
            Some(c) => Some(c.metrics(self.metrics.clone()).build(self.store.clone())?),
            None => None,
        };
        let secondaries = crate::secondaries::watch(
            self.notify.clone(),
            self.settings.origin().clone(),
            SECONDARY_CHECK,
            self.metrics.clone(),
            shutdown.wait(),
        );
        let mut rebuilder = Rebuilder::new(self.store, self.settings)
            .notify(self.notify)
            .journal(self.journal)
            .metrics(self.metrics.clone());
        if let Some(key) = self.tsig_keys.first() {
            rebuilder = rebuilder.notify_key(key);
        }
        let mut backoff = Backoff::new();
        while let Err(e) = rebuilder.rebuild().await {
            if !backoff.wait("building the first zone", &e, shutdown).await {
                return Ok(());
            }
        }
        let zone = rebuilder
            .zone()
            .ok_or_else(|| crate::Error::Config("no zone after a rebuild".into()))?;
        let mut master = HiddenMaster::builder(zone.clone())
            .allow_transfer(self.allow_transfer)
            .tsig_keys(&self.tsig_keys)
            .metrics(self.metrics.clone());
        if let Some(threads) = self.udp_threads {
            master = master.udp_threads(threads);
        }
        let master = master.build();
        // Restarted after a failure with a rebuild first, so changes made
        // while it was not listening are in the zone.
        let mut first = true;
        let rebuilds = keep_running("following the store", shutdown, || {
            let mut r = rebuilder.clone();
            let rebuild = !std::mem::replace(&mut first, false);
            async move {
                if rebuild {
                    r.rebuild().await?;
                }
                r.run(shutdown.wait()).await
            }
        });
        let checks = async {
            if let Some(c) = &checker {
                c.run(shutdown.wait()).await;
            }
        };
        let served = async {
            let served = master.serve(udp, tcp, shutdown.wait()).await;
            if served.is_err() {
                shutdown.trigger();
            }
            served
        };
        let (served, (), (), ()) = tokio::join!(served, rebuilds, checks, secondaries);
        served
    }
}
