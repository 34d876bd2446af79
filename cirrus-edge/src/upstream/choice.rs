//! Choosing an origin: weighted among the primaries that are up, backups
//! only when every primary is down, and passive health: an origin that
//! failed to connect or timed out is skipped for a while.

use cirrus_core::model::Origin;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Origins that failed recently, keyed by `scheme://host:port`.
#[derive(Debug, Default)]
pub(crate) struct OriginHealth {
    down_until: Mutex<HashMap<String, Instant>>,
    /// Whether `down_until` may hold anything.
    any_down: AtomicBool,
}

impl OriginHealth {
    pub(crate) fn mark_down(&self, origin: &Origin, for_how_long: Duration) {
        let mut map = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(origin.to_string(), Instant::now() + for_how_long);
        self.any_down.store(true, Ordering::Relaxed);
    }

    /// `origin` answered: it is up again, whatever it did before. (Its
    /// common case is one load: inlined into each caller.)
    #[inline(always)]
    pub(crate) fn mark_up(&self, origin: &Origin) {
        // The common case, nothing failed: no lock, no key to format.
        if !self.any_down.load(Ordering::Relaxed) {
            return;
        }
        let mut map = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&origin.to_string());
        if map.is_empty() {
            self.any_down.store(false, Ordering::Relaxed);
        }
    }

    /// Whether every one of `origins` failed recently (none: false). When
    /// one's time out is over, the caller gets `false` and tries it, and
    /// the others keep seeing it down for `probe_for` more (one probe at a
    /// time, not a crowd waiting on an origin that may still hang).
    pub(crate) fn all_down(&self, origins: &[Origin], probe_for: Duration) -> bool {
        if origins.is_empty() || !self.any_down.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        let mut map = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        for o in origins {
            match map.get_mut(&o.to_string()) {
                Some(until) if *until > now => {}
                Some(until) => {
                    *until = now + probe_for;
                    return false;
                }
                None => return false,
            }
        }
        true
    }

    fn is_down(&self, map: &HashMap<String, Instant>, origin: &Origin, now: Instant) -> bool {
        // The common case, nothing failed: no key to format.
        !map.is_empty() && map.get(&origin.to_string()).is_some_and(|until| *until > now)
    }

    /// The order in which to try `origins`: healthy primaries (weighted
    /// draw, `pick` in 0..1), then healthy backups, then the primaries and
    /// backups that failed recently (better than no answer).
    pub(crate) fn order<'a>(&self, origins: &'a [Origin], pick: f64) -> Vec<&'a Origin> {
        if let [only] = origins {
            // Down or not, it is the one to try.
            return vec![only];
        }
        let now = Instant::now();
        let mut tiers: [Vec<&Origin>; 4] = Default::default();
        let map = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        for o in origins {
            let tier = usize::from(self.is_down(&map, o, now)) * 2 + usize::from(o.backup);
            tiers[tier].push(o);
        }
        drop(map);
        let mut out = Vec::with_capacity(origins.len());
        for mut tier in tiers {
            weighted_first(&mut tier, pick);
            out.extend(tier);
        }
        out
    }
}

/// Moves the weighted draw `pick` (0..1) to the front.
fn weighted_first(origins: &mut [&Origin], pick: f64) {
    let total: u64 = origins.iter().map(|o| u64::from(o.weight)).sum();
    if total == 0 {
        return;
    }
    // Bounded by `total`; the float only positions the draw.
    let mut target = (pick.clamp(0.0, 0.999_999) * total as f64) as u64;
    for i in 0..origins.len() {
        let w = u64::from(origins[i].weight);
        if target < w {
            origins[..=i].rotate_right(1);
            return;
        }
        target -= w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(host: &str, weight: u32, backup: bool) -> Origin {
        let mut o: Origin = format!("http://{host}").parse().expect("origin");
        o.weight = weight;
        o.backup = backup;
        o
    }

    #[test]
    fn weights_backups_and_health_order_the_origins() {
        let h = OriginHealth::default();
        let origins = [origin("a", 1, false), origin("b", 3, false), origin("c", 1, true)];
        let hosts = |order: Vec<&Origin>| order.iter().map(|o| o.host.clone()).collect::<Vec<_>>();
        assert_eq!(hosts(h.order(&origins, 0.1)), ["a", "b", "c"]);
        assert_eq!(hosts(h.order(&origins, 0.5)), ["b", "a", "c"]);
        let mut counts = [0; 2];
        for i in 0..1000 {
            let first = &h.order(&origins, f64::from(i) / 1000.0)[0].host;
            counts[usize::from(first == "b")] += 1;
        }
        assert_eq!(counts, [250, 750], "weights 1:3");
        h.mark_down(&origins[0], Duration::from_secs(60));
        h.mark_down(&origins[1], Duration::from_secs(60));
        assert_eq!(
            hosts(h.order(&origins, 0.1)),
            ["c", "a", "b"],
            "backup first when primaries are down"
        );
    }
}
