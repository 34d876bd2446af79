//! The node health checker: probes each enabled node's edge health
//! endpoint, keeps the counters in the store and flips `active` after
//! enough failures or successes in a row.

use crate::error::{Error, Result};
use crate::metrics::DnsMetrics;
use cirrus_core::model::{EventType, NewEvent};
use cirrus_core::{EventLog, Lock, LockStore, Node, NodeStore, Store};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Probes nodes on an interval; build with [`HealthChecker::builder`].
///
/// Each round, every enabled node with an address is probed with
/// `GET http://<address>:<port>/healthz` (IPv4 when the node has one); a
/// 2xx within the timeout is a success, anything else a failure. After
/// `fail_after` failures in a row an active node becomes inactive; after
/// `recover_after` successes in a row an inactive node becomes active. The
/// store publishes `cdn:cname:dirty` on every flip, so the zone is rebuilt.
///
/// Several checkers (one per region, say) may share a store: a checker
/// probes a node only while it holds that node's lock
/// (`cdn:lock:health:{id}`, held for most of an interval and never
/// released early), so each node is probed once per interval by one of
/// them and its counters are never fought over.
pub struct HealthChecker<S: ?Sized = dyn Store> {
    store: Arc<S>,
    http: reqwest::Client,
    /// What the builder was given.
    config: HealthCheckerBuilder,
}

impl<S: ?Sized> Clone for HealthChecker<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            http: self.http.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S: ?Sized> std::fmt::Debug for HealthChecker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthChecker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`HealthChecker`].
#[derive(Debug, Clone)]
pub struct HealthCheckerBuilder {
    metrics: Option<DnsMetrics>,
    owner: String,
    port: u16,
    interval: Duration,
    timeout: Duration,
    fail_after: u32,
    recover_after: u32,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Round {
    /// Nodes probed by this checker.
    pub probed: usize,
    /// Nodes skipped because another checker holds them.
    pub skipped: usize,
    /// Nodes whose `active` flag flipped, with the new value.
    pub flipped: Vec<(String, bool)>,
}

impl HealthCheckerBuilder {
    /// This checker's name in the node locks (default: a random one).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Counts node flips in `metrics`.
    pub fn metrics(mut self, metrics: DnsMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Port of the nodes' health endpoint (default 9145).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Time between rounds (default 10 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Time a probe may take (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Failures in a row that make a node inactive (default 3).
    pub fn fail_after(mut self, n: u32) -> Self {
        self.fail_after = n.max(1);
        self
    }

    /// Successes in a row that make a node active again (default 2).
    pub fn recover_after(mut self, n: u32) -> Self {
        self.recover_after = n.max(1);
        self
    }

    /// The checker.
    pub fn build<S: NodeStore + LockStore + EventLog + ?Sized>(self, store: Arc<S>) -> Result<HealthChecker<S>> {
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(Error::HttpClient)?;
        Ok(HealthChecker {
            store,
            http,
            config: self,
        })
    }
}

impl HealthChecker {
    /// A checker with the defaults.
    pub fn builder() -> HealthCheckerBuilder {
        HealthCheckerBuilder {
            metrics: None,
            owner: format!("checker-{:016x}", rand::random::<u64>()),
            port: 9145,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            fail_after: 3,
            recover_after: 2,
        }
    }
}

impl<S: NodeStore + LockStore + EventLog + ?Sized> HealthChecker<S> {
    /// Probes every enabled node once (those this checker can lock) and
    /// records the results.
    pub async fn round(&self) -> Result<Round> {
        let nodes = self.store.nodes().await?;
        // Held for most of an interval: the next round of any checker may take it.
        let hold = self.config.interval.mul_f64(0.9).max(Duration::from_millis(1));
        let mut round = Round::default();
        let mut probes = Vec::new();
        for node in nodes.into_iter().filter(|n| n.enabled) {
            let Some(ip) = node.ipv4.map(IpAddr::V4).or(node.ipv6.map(IpAddr::V6)) else {
                continue;
            };
            if !self
                .store
                .try_lock(&Lock::NodeHealth(node.id.clone()), &self.config.owner, hold)
                .await?
            {
                round.skipped += 1;
                continue;
            }
            probes.push(async move {
                let outcome = self.probe(SocketAddr::new(ip, self.config.port)).await;
                (node, outcome)
            });
        }
        round.probed = probes.len();
        for (node, outcome) in futures_util::future::join_all(probes).await {
            if let Some(active) = self.record(&node, outcome).await? {
                if let Some(m) = &self.config.metrics {
                    m.node_flips
                        .with_label_values(&[if active { "up" } else { "down" }])
                        .inc();
                }
                round.flipped.push((node.id.clone(), active));
            }
        }
        Ok(round)
    }

    async fn probe(&self, addr: SocketAddr) -> std::result::Result<(), String> {
        let url = format!("http://{addr}/healthz");
        match self.http.get(&url).send().await {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => Err(format!("status {}", res.status().as_u16())),
            Err(e) if e.is_timeout() => Err(format!("no answer within {:?}", self.config.timeout)),
            Err(e) if e.is_connect() => Err("connection refused or unreachable".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Stores the new counters; returns the new `active` when it flipped.
    async fn record(&self, node: &Node, outcome: std::result::Result<(), String>) -> Result<Option<bool>> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut health = node.health.clone();
        health.last_check = Some(now);
        let (active, last_seen) = match outcome {
            Ok(()) => {
                health.consecutive_successes = health.consecutive_successes.saturating_add(1);
                health.consecutive_failures = 0;
                health.last_error = None;
                let active = node.active || health.consecutive_successes >= self.config.recover_after;
                (active, Some(now))
            }
            Err(why) => {
                health.consecutive_failures = health.consecutive_failures.saturating_add(1);
                health.consecutive_successes = 0;
                let active = node.active && health.consecutive_failures < self.config.fail_after;
                if node.active && !active {
                    tracing::warn!(node = %node.id, error = %why, "dns: node marked down");
                }
                health.last_error = Some(why);
                (active, node.last_seen)
            }
        };
        if active && !node.active {
            tracing::info!(node = %node.id, "dns: node back up");
        }
        if let Some(m) = &self.config.metrics {
            m.node_failures
                .with_label_values(&[node.id.as_str()])
                .set(i64::from(health.consecutive_failures));
        }
        let error = health.last_error.clone();
        let flipped = self
            .store
            .record_node_health(&node.id, &health, active, last_seen)
            .await?;
        let flipped = flipped.map(|_| active).filter(|_| active != node.active);
        if let Some(up) = flipped {
            let kind = if up { EventType::NodeUp } else { EventType::NodeDown };
            let mut event = NewEvent::new(kind, &node.id).actor(format!("checker:{}", self.config.owner));
            if let (false, Some(error)) = (up, error) {
                event = event.data(serde_json::json!({ "error": error }));
            }
            // The flip is stored: an event that cannot be written is lost,
            // and said so.
            if let Err(e) = self.store.append_event(&event).await {
                tracing::warn!(node = %node.id, error = %e, "dns: the node's {kind} event was not written");
            }
        }
        Ok(flipped)
    }

    /// Runs rounds every interval until `shutdown`; a store that is down
    /// skips the round (nodes keep their state).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "dns: health round skipped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let b = HealthChecker::builder();
        assert_eq!((b.port, b.fail_after, b.recover_after), (9145, 3, 2));
        assert_eq!(
            (b.interval, b.timeout),
            (Duration::from_secs(10), Duration::from_secs(2))
        );
        let b = b.fail_after(0).recover_after(0);
        assert_eq!((b.fail_after, b.recover_after), (1, 1), "at least one probe decides");
    }
}
