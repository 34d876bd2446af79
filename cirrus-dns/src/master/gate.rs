//! What keeps one client of the master from hurting the others: a bound
//! on the zone transfers each address runs at once, and refusals logged
//! once per address and reason a minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Transfers one address may run at once.
pub(crate) const TRANSFERS_PER_ADDRESS: u32 = 2;
/// How often one address's refusals of one kind are logged.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Addresses remembered for logging before the oldest are forgotten.
const LOG_MEMORY: usize = 10_000;

/// Running transfers by address, and when each refusal was last logged.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gate {
    running: Arc<Mutex<HashMap<IpAddr, u32>>>,
    logged: Arc<Mutex<HashMap<(IpAddr, &'static str), Instant>>>,
}

/// A transfer's place; given back on drop.
pub(crate) struct TransferSlot {
    running: Arc<Mutex<HashMap<IpAddr, u32>>>,
    ip: IpAddr,
}

impl Drop for TransferSlot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.ip);
            }
        }
    }
}

impl Gate {
    /// A place for one more transfer to `ip`, unless it already runs
    /// [`TRANSFERS_PER_ADDRESS`].
    pub(crate) fn transfer(&self, ip: IpAddr) -> Option<TransferSlot> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let n = running.entry(ip).or_insert(0);
        if *n >= TRANSFERS_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(TransferSlot {
            running: self.running.clone(),
            ip,
        })
    }

    /// True when a refusal of kind `why` to `ip` should be logged now:
    /// the first time, then once a minute.
    pub(crate) fn should_log(&self, ip: IpAddr, why: &'static str) -> bool {
        let now = Instant::now();
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.len() >= LOG_MEMORY {
            logged.retain(|_, at| now.duration_since(*at) < LOG_EVERY);
        }
        match logged.get(&(ip, why)) {
            Some(at) if now.duration_since(*at) < LOG_EVERY => false,
            _ => {
                if logged.len() < LOG_MEMORY {
                    logged.insert((ip, why), now);
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_are_bounded_per_address_and_given_back() {
        let gate = Gate::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        let other: IpAddr = [192, 0, 2, 2].into();
        let a = gate.transfer(ip).expect("first");
        let _b = gate.transfer(ip).expect("second");
        assert!(gate.transfer(ip).is_none(), "a third at once is refused");
        assert!(gate.transfer(other).is_some(), "another address is not held back");
        drop(a);
        assert!(gate.transfer(ip).is_some(), "a finished transfer gives its place back");
    }

    #[test]
    fn refusals_are_logged_once_per_address_and_reason() {
        let gate = Gate::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        assert!(gate.should_log(ip, "badsig"));
        assert!(!gate.should_log(ip, "badsig"), "not again within the minute");
        assert!(gate.should_log(ip, "badkey"), "another reason");
        assert!(gate.should_log([192, 0, 2, 9].into(), "badsig"), "another address");
    }
}
