//! The data model shared by the store, the API, the client and the edge.
//! Plain serde types; validation normalizes names and reports every problem.

mod access;
mod allow;
mod api;
mod batch;
mod cache_policy;
mod convergence;
mod domain;
mod event;
mod glob;
mod node;
mod onboarding;
mod ops;
mod origin;
mod purge;
mod shield;
mod tls;
mod validate;
mod webhook;

pub use access::{Scope, ServiceToken, Session, User};
pub use allow::AllowList;
pub use api::{
    AuditList, CertificateList, CertificateStatus, CertificateUpload, CreatedToken, DomainPage, ErrorBody, ErrorDetail,
    Health, HealthCheck, Identity, LoginRequest, LoginResponse, NodeList, PurgeAccepted, PurgeList, TokenList,
    TokenRequest,
};
pub use batch::{BatchItem, BatchOutcome, BatchResult, MAX_BATCH};
pub use convergence::{
    EDGE_REPORT_EVERY_MS, EDGE_SILENT_AFTER_MS, EdgeConvergence, EdgeReport, PurgeAck, PurgeRecord, PurgeStatus, now_ms,
};
pub use domain::{
    CacheKeyOptions, CachePolicy, CacheRule, DEFAULT_TAG_HEADERS, DomainConf, HeaderEdits, Hsts, MAX_SHIELD_NODES,
    MAX_TTL_SECS, Origin, PathMatch, QueryKey, Scheme, ShieldMode, ShieldPolicy, TlsMode, TlsPolicy,
};
pub use event::{EVENT_VERSION, EventId, EventList, EventRecord, EventType, NewEvent};
pub use glob::{MAX_GLOB_LEN, MAX_GLOB_WILDCARDS};
pub use node::{Node, NodeHealth};
pub use onboarding::{Delegation, DelegationCheck, DomainDns, DomainStatus, DomainView, target_label};
pub use ops::{AuditRecord, Job, NewJob};
pub use purge::{MAX_TAG_LEN, PurgeRequest, PurgeSelection};
pub use tls::{AcmeDnsCredentials, AcmeState, AcmeStatus, CertBundle, ExpiryWarning};
pub use validate::{FieldError, ValidationErrors, is_request_id, normalize_domain, normalize_host};
pub use webhook::{
    CreatedWebhook, Delivery, DeliveryList, DeliveryOutcome, MAX_WEBHOOK_DOMAINS, MAX_WEBHOOK_URL, RotatedSecret,
    SecretRotation, Webhook, WebhookList, WebhookProgress, WebhookSecrets, WebhookSpec, WebhookUrl, is_public_ip,
    is_webhook_id,
};
