//! Certificates and ACME state. Private keys never appear in `Debug` output.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A certificate chain and its private key, as stored in `cdn:cert:{domain}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CertBundle {
    /// PEM: leaf certificate first, then intermediates.
    pub fullchain: String,
    /// PEM private key.
    pub key: String,
    /// Unix seconds after which the leaf is no longer valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<u64>,
}

impl CertBundle {
    /// A bundle from PEM text.
    pub fn new(fullchain: impl Into<String>, key: impl Into<String>, not_after: Option<u64>) -> Self {
        Self {
            fullchain: fullchain.into(),
            key: key.into(),
            not_after,
        }
    }
}

impl fmt::Debug for CertBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertBundle")
            .field("fullchain_bytes", &self.fullchain.len())
            .field("key", &"<redacted>")
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// Where a domain's certificate issuance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AcmeStatus {
    /// Nothing requested yet.
    #[default]
    None,
    /// Waiting in the job queue.
    Queued,
    /// A worker is issuing.
    Running,
    /// A certificate was issued.
    Issued,
    /// The last attempt failed; see `last_error`.
    Failed,
}

/// ACME state of one domain, stored as JSON in `cdn:acme:{domain}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AcmeState {
    /// Current status.
    #[serde(default)]
    pub status: AcmeStatus,
    /// The error of the last failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Unix seconds of the last status change.
    #[serde(default)]
    pub updated_at: u64,
    /// `not_after` of the last issued certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<u64>,
    /// Job id of the queued or running issuance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// acme-dns registration used for DNS-01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme_dns: Option<AcmeDnsCredentials>,
    /// The last `certificate.expiring` event written: for which
    /// certificate (its `not_after`) and at how many days left (14, 7 or
    /// 1), so each is written once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warned: Option<ExpiryWarning>,
}

/// A `certificate.expiring` event written for one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryWarning {
    /// The certificate's end, in Unix seconds.
    pub not_after: u64,
    /// The days left it warned at: 14, 7 or 1.
    pub days: u64,
}

/// Credentials of an acme-dns registration.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeDnsCredentials {
    /// acme-dns user name.
    pub username: String,
    /// acme-dns password.
    pub password: String,
    /// Subdomain under the acme-dns zone.
    pub subdomain: String,
    /// Full name the customer's `_acme-challenge` CNAME points to.
    pub fulldomain: String,
}

impl fmt::Debug for AcmeDnsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcmeDnsCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("subdomain", &self.subdomain)
            .field("fulldomain", &self.fulldomain)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let b = CertBundle::new("CERT", "SECRETKEY", None);
        assert!(!format!("{b:?}").contains("SECRETKEY"));
        let c = AcmeDnsCredentials {
            username: "u".into(),
            password: "hunter2".into(),
            subdomain: "s".into(),
            fulldomain: "s.acme.example".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
