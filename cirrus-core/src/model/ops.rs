//! Background jobs and audit records: what must survive a process being
//! offline goes to a durable queue or stream, never only to pub/sub.

use serde::{Deserialize, Serialize};

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NewJob {
    /// What to do, e.g. `issue_cert`.
    pub kind: String,
    /// The domain it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Free-form arguments.
    #[serde(default)]
    pub payload: serde_json::Value,
}

impl NewJob {
    /// A job of `kind` with no domain and a null payload.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            domain: None,
            payload: serde_json::Value::Null,
        }
    }

    /// Sets the domain.
    pub fn for_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the payload.
    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }
}

/// A job handed to a worker by `claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Job {
    /// Queue id; pass it to `ack`.
    pub id: String,
    /// The job itself.
    pub job: NewJob,
    /// How many times it was handed out, this time included.
    pub attempts: u32,
}

/// One audited change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct AuditRecord {
    /// Unix milliseconds.
    pub at_ms: u64,
    /// Who: `master`, `token:{id}` or `user:{name}`.
    pub actor: String,
    /// What, e.g. `domain.put`.
    pub action: String,
    /// Which resource, e.g. `example.com`.
    pub resource: String,
    /// Request id of the API call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl AuditRecord {
    /// A record of `actor` doing `action` on `resource` at `at_ms`.
    pub fn new(at_ms: u64, actor: impl Into<String>, action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            at_ms,
            actor: actor.into(),
            action: action.into(),
            resource: resource.into(),
            request_id: None,
        }
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}
