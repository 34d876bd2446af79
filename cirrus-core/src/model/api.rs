//! Bodies of the control-plane API that are not stored models: requests,
//! pages and answers. `cirrus-api` serves them and `cirrus-client` reads
//! them, so both sides share one definition.

use super::access::{Scope, ServiceToken};
use super::domain::DomainConf;
use super::node::Node;
use super::ops::AuditRecord;
use super::tls::AcmeStatus;
use super::validate::FieldError;
use serde::{Deserialize, Serialize};

/// One page of domains, in name order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainPage {
    /// The domains of this page.
    pub items: Vec<DomainConf>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// All edge nodes, sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeList {
    /// The nodes.
    pub items: Vec<Node>,
}

/// All service tokens (metadata only), sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenList {
    /// The tokens.
    pub items: Vec<ServiceToken>,
}

/// The newest audit records, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditList {
    /// The records.
    pub items: Vec<AuditRecord>,
}

/// Recent purges and where each stands on the edges, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurgeList {
    /// The purges.
    pub items: Vec<super::convergence::PurgeStatus>,
}

/// Certificates by the time they end, soonest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateList {
    /// The certificates.
    pub items: Vec<CertificateStatus>,
}

/// A purge accepted and published to the edges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurgeAccepted {
    /// Purge id.
    pub id: String,
    /// Store revision of the purge event.
    pub revision: u64,
}

/// Where a domain's certificate stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateStatus {
    /// The domain.
    pub domain: String,
    /// `none`, `queued`, `running`, `issued` or `failed`.
    pub status: AcmeStatus,
    /// The queued or running issuance job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix seconds after which the current certificate expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<u64>,
    /// Unix seconds of the last status change.
    #[serde(default)]
    pub updated_at: u64,
    /// True when a certificate is stored for the domain.
    pub has_certificate: bool,
}

/// A certificate and key uploaded by the customer (PEM).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CertificateUpload {
    /// Leaf certificate first, then intermediates.
    pub fullchain: String,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

impl std::fmt::Debug for CertificateUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateUpload")
            .field("fullchain_bytes", &self.fullchain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A service token to create.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Human name, e.g. `ci-deploy`.
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
    /// Domains it may touch; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<Vec<String>>,
    /// Unix seconds after which it is refused (at most the end of year
    /// 9999); absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 253_402_300_799_u64))]
    pub expires_at: Option<u64>,
}

/// A created token: the secret is shown here and never again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    /// The token's metadata.
    pub token: ServiceToken,
    /// The bearer secret.
    pub secret: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Portal login.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A session opened by login. The session id travels in the HttpOnly
/// `cirrus_session` cookie; mutating requests echo `csrf_token` in the
/// `x-csrf-token` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// The user logged in.
    pub user: String,
    /// Send back as `x-csrf-token` on POST, PUT, PATCH and DELETE.
    pub csrf_token: String,
    /// Unix seconds when the session ends.
    pub expires_at: u64,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identity {
    /// `master`, `token` or `user`.
    pub kind: String,
    /// Token id or user name (`master` for the master token).
    pub id: String,
    /// Scopes held.
    pub scopes: Vec<Scope>,
    /// Domains it may touch; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<Vec<String>>,
}

/// What `/healthz` and `/readyz` answer, on the API and on every role's
/// admin listener: one contract (docs/operations.md says what each role
/// checks).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`, `degraded` (serving, but a dependency is down: an edge on its
    /// last configuration), `starting` (not serving yet) or `unavailable`.
    /// HTTP 200 for the first two, 503 for the others.
    pub status: String,
    /// Each dependency checked, by name (`store`, `zone`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub checks: std::collections::BTreeMap<String, HealthCheck>,
    /// The store's revision (the API, the worker), or the configuration
    /// revision served (an edge), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// One dependency's state in a [`Health`] answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthCheck {
    /// `up`, `down`, or `unknown` (not checked yet).
    pub state: String,
    /// Milliseconds since it was last checked (0: checked for this answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_ms_ago: Option<u64>,
    /// What it said, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Health {
    /// A health of `status` with no check yet.
    pub fn new(status: impl Into<String>) -> Self {
        Self {
            status: status.into(),
            ..Self::default()
        }
    }

    /// Adds the check `name`.
    pub fn check(mut self, name: &str, check: HealthCheck) -> Self {
        self.checks.insert(name.to_string(), check);
        self
    }

    /// With the revision.
    pub fn revision(mut self, revision: Option<u64>) -> Self {
        self.revision = revision;
        self
    }

    /// True when the answer is a 200 (`ok` or `degraded`).
    pub fn is_serving(&self) -> bool {
        matches!(self.status.as_str(), "ok" | "degraded")
    }
}

impl HealthCheck {
    /// A dependency that answered `ms_ago` milliseconds ago.
    pub fn up(ms_ago: u64) -> Self {
        Self {
            state: "up".into(),
            checked_ms_ago: Some(ms_ago),
            error: None,
        }
    }

    /// A dependency that failed `ms_ago` milliseconds ago with `error`.
    pub fn down(ms_ago: u64, error: Option<String>) -> Self {
        Self {
            state: "down".into(),
            checked_ms_ago: Some(ms_ago),
            error,
        }
    }

    /// A dependency not checked yet.
    pub fn unknown() -> Self {
        Self {
            state: "unknown".into(),
            checked_ms_ago: None,
            error: None,
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_input`, `not_found`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// One entry per invalid field (empty for other errors).
    #[serde(default)]
    pub details: Vec<FieldError>,
}
