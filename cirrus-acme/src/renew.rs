//! The renewal scan: every ACME-managed domain (`tls.mode = "acme"`) whose
//! certificate ends within the window is queued for issuance, as the API
//! queues a request (`cirrus_core::jobs::queue_issuance`, under the task
//! lock, so scans of several workers and API requests never queue twice).
//! Each domain's window is shortened by a share of up to a tenth of it
//! derived from its name, so certificates issued together do not all
//! renew in the same scan.
//!
//! With [`RenewalScan::ari`], a certificate is also renewed once the CA's
//! renewal information (RFC 9773, where its directory offers it) says so:
//! at the domain's point of the suggested window, asked again no sooner
//! than the CA's `Retry-After` (kept in memory per certificate). A CA
//! that moves the window before the certificate's end (a revocation
//! coming) gets its renewal early; one that cannot be asked leaves the
//! expiry window in charge.

use crate::ari::{RenewalWindow, certificate_id};
use crate::error::Result;
use crate::issuer::Issuer;
use cirrus_core::model::{CertBundle, EventType, ExpiryWarning, NewEvent, TlsMode};
use cirrus_core::{CertStore, DomainStore, EventLog, JobQueue, Lock, LockStore, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the CA last said about one domain's certificate.
#[derive(Debug, Clone)]
struct Asked {
    /// The certificate asked about (RFC 9773 identifier).
    id: String,
    window: RenewalWindow,
    /// Unix seconds: ask again from then on.
    next: u64,
}

/// Days left at which `certificate.expiring` is written, once each per
/// certificate.
const EXPIRY_WARNINGS: [u64; 3] = [14, 7, 1];

/// Queues renewals of certificates close to their end.
pub struct RenewalScan<S: ?Sized = dyn Store> {
    store: Arc<S>,
    window: Duration,
    owner: String,
    ari: Option<Arc<Issuer<S>>>,
    asked: Arc<Mutex<HashMap<String, Asked>>>,
}

impl<S: ?Sized> Clone for RenewalScan<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            window: self.window,
            owner: self.owner.clone(),
            ari: self.ari.clone(),
            asked: self.asked.clone(),
        }
    }
}

impl<S: ?Sized> std::fmt::Debug for RenewalScan<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenewalScan")
            .field("window", &self.window)
            .field("owner", &self.owner)
            .field("ari", &self.ari)
            .finish_non_exhaustive()
    }
}

impl<S: DomainStore + CertStore + LockStore + JobQueue + EventLog + ?Sized> RenewalScan<S> {
    /// Scans `store` with a window of 30 days; `owner` names the scanner
    /// in the task locks it takes.
    pub fn new(store: Arc<S>, owner: impl Into<String>) -> Self {
        Self {
            store,
            window: Duration::from_secs(30 * 86_400),
            owner: owner.into(),
            ari: None,
            asked: Arc::default(),
        }
    }

    /// Also renews when `issuer`'s CA suggests it (ARI, RFC 9773).
    pub fn ari(mut self, issuer: Arc<Issuer<S>>) -> Self {
        self.ari = Some(issuer);
        self
    }

    /// Renews certificates ending within `window`.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The window of `domain`: the scan's, less its share of a tenth.
    fn window_of(&self, domain: &str) -> u64 {
        let window = self.window.as_secs();
        let spread = (window / 10).max(1);
        window - cirrus_core::stable_hash(domain.as_bytes()) % spread
    }

    /// One scan at `now` (Unix seconds); returns the domains queued.
    pub async fn scan(&self, now: u64) -> Result<Vec<String>> {
        let mut queued = Vec::new();
        for conf in self.store.domains().await? {
            let Some(cert) = self.store.get_cert(&conf.domain).await? else {
                continue;
            };
            let Some(not_after) = cert.not_after else {
                continue;
            };
            // Uploaded certificates too: nobody renews those for their owner.
            self.warn_expiring(&conf.domain, not_after, now).await?;
            if conf.tls.mode != TlsMode::Acme {
                continue;
            }
            let expiring = not_after.saturating_sub(now) <= self.window_of(&conf.domain);
            if !expiring && !self.ca_suggests(&conf.domain, &cert, now).await {
                continue;
            }
            let lock = Lock::AcmeTask(conf.domain.clone());
            if !self.store.try_lock(&lock, &self.owner, Duration::from_secs(30)).await? {
                continue;
            }
            let result = cirrus_core::jobs::queue_issuance(&*self.store, &conf.domain).await;
            let _ = self.store.unlock(&lock, &self.owner).await; // expires by itself otherwise
            let state = result?;
            tracing::info!(domain = %conf.domain, not_after, job = ?state.job_id, "renewal queued");
            queued.push(conf.domain);
        }
        Ok(queued)
    }

    /// Writes `certificate.expiring` when the certificate ending at
    /// `not_after` has crossed 14, 7 or 1 days left since the last one
    /// written for it (kept in the domain's ACME state). Two scanners
    /// racing may both write it: at least once, as every event.
    async fn warn_expiring(&self, domain: &str, not_after: u64, now: u64) -> Result<()> {
        let left = not_after.saturating_sub(now);
        let Some(days) = EXPIRY_WARNINGS.into_iter().rev().find(|d| left <= d * 86_400) else {
            return Ok(());
        };
        let mut state = self.store.get_acme_state(domain).await?.unwrap_or_default();
        let warning = ExpiryWarning { not_after, days };
        let already = state
            .expiry_warned
            .is_some_and(|w| w.not_after == not_after && w.days <= days);
        if already {
            return Ok(());
        }
        let event = NewEvent::new(EventType::CertificateExpiring, domain)
            .domain(domain)
            .data(serde_json::json!({ "not_after": not_after, "days": days, "expired": left == 0 }));
        self.store.append_event(&event).await?;
        state.expiry_warned = Some(warning);
        self.store.put_acme_state(domain, &state).await?;
        tracing::info!(domain, not_after, days, "certificate.expiring written");
        Ok(())
    }

    /// Whether the CA's suggested window for `cert` has reached the
    /// domain's point in it.
    async fn ca_suggests(&self, domain: &str, cert: &CertBundle, now: u64) -> bool {
        let Some(window) = self.window_for(domain, cert, now).await else {
            return false;
        };
        let due = window.renew_at(domain) <= now;
        if due {
            tracing::info!(
                domain,
                window_start = window.start,
                window_end = window.end,
                explanation = window.explanation.as_deref().unwrap_or_default(),
                "the CA suggests renewing"
            );
        }
        due
    }

    /// The CA's window for `cert`: its last answer while that is not due
    /// again, else a new one; the last answer while the CA cannot be asked.
    async fn window_for(&self, domain: &str, cert: &CertBundle, now: u64) -> Option<RenewalWindow> {
        let issuer = self.ari.as_ref()?;
        let id = certificate_id(&cert.fullchain)?;
        let key = id.to_string();
        let known = self.asked_about(domain).filter(|a| a.id == key);
        if let Some(asked) = known.as_ref().filter(|a| now < a.next) {
            return Some(asked.window.clone());
        }
        match issuer.renewal_window_of(&id).await {
            Ok(Some(window)) => {
                let next = now + window.check_again.as_secs();
                if let Ok(mut asked) = self.asked.lock() {
                    let entry = Asked {
                        id: key,
                        window: window.clone(),
                        next,
                    };
                    asked.insert(domain.to_string(), entry);
                }
                Some(window)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(domain, error = %e, "could not ask the CA for renewal information");
                known.map(|a| a.window)
            }
        }
    }

    fn asked_about(&self, domain: &str) -> Option<Asked> {
        self.asked.lock().ok()?.get(domain).cloned()
    }
}
