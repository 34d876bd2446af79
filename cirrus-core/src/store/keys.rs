//! The Redis key layout (DESIGN.md, "State: the store"). Operators read these
//! keys with `redis-cli`; a golden test freezes them.

/// A named lock or marker with a TTL and an owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lock {
    /// Certificate issuance for a domain: `cdn:acme:lock:{domain}`.
    AcmeIssue(String),
    /// A queued issuance task for a domain (owner: job id): `cdn:acme:task:{domain}`.
    AcmeTask(String),
    /// Health checking of a node, shared by regional checkers: `cdn:lock:health:{id}`.
    NodeHealth(String),
    /// Delivery to a webhook endpoint, one worker at a time: `cdn:lock:webhook:{id}`.
    Webhook(String),
}

impl Lock {
    /// The key holding the lock.
    pub fn key(&self) -> String {
        match self {
            Lock::AcmeIssue(d) => format!("cdn:acme:lock:{d}"),
            Lock::AcmeTask(d) => format!("cdn:acme:task:{d}"),
            Lock::NodeHealth(id) => format!("cdn:lock:health:{id}"),
            Lock::Webhook(id) => format!("cdn:lock:webhook:{id}"),
        }
    }
}

pub(crate) const DOMAINS: &str = "cdn:domains";
/// The domain names again, as a sorted set (score 0, lexical order), so a
/// page of the listing costs the page.
pub(crate) const DOMAIN_INDEX: &str = "cdn:domains:index";
/// What the last onboarding check found per domain (`"1"` ready, `"0"` not).
pub(crate) const DOMAINS_READY: &str = "cdn:domains:ready";
/// Nodes that found the store's revision behind the one they serve: node → revision kept.
pub(crate) const REGRESSED: &str = "cdn:regressed";
pub(crate) const NODES: &str = "cdn:nodes";
pub(crate) const TOKENS: &str = "cdn:tokens";
pub(crate) const USERS: &str = "cdn:users";
pub(crate) const REVISION: &str = "cdn:rev";
pub(crate) const CHANGES: &str = "cdn:changes";
pub(crate) const JOBS: &str = "cdn:jobs";
pub(crate) const JOB_GROUP: &str = "cirrus-workers";
/// Jobs given back to wait before their next attempt: a sorted set scored
/// by when they are due (Unix ms), members `{id, attempts, job}` in JSON.
pub(crate) const JOBS_DELAYED: &str = "cdn:jobs:delayed";
pub(crate) const AUDIT: &str = "cdn:audit";
/// The event stream (a Redis Stream).
pub(crate) const EVENTS: &str = "cdn:events";
pub(crate) const ACME_ACCOUNT: &str = "cdn:acmeacct:global";
/// The edges' shared secret for shield requests ([`NodeStore::cluster_secret`](super::NodeStore::cluster_secret)).
pub(crate) const CLUSTER_SECRET: &str = "cdn:cluster:secret";
/// Purge ids of the last day scored by publication time (Unix ms).
pub(crate) const PURGES: &str = "cdn:purges";
pub(crate) const ACME_CHALLENGES: &str = "cdn:acme:challenges";
/// Webhook endpoint ids (a set).
pub(crate) const WEBHOOKS: &str = "cdn:webhooks";

/// A webhook endpoint's keys: `cdn:webhook:{id}` (its settings, JSON) and
/// `cdn:webhook:{id}:{part}` for `secrets`, `progress` (strings, JSON),
/// `log`, `dead` (lists, newest first) and `replays` (a list, oldest first).
pub(crate) fn webhook(id: &str, part: Option<&str>) -> String {
    match part {
        Some(p) => format!("cdn:webhook:{id}:{p}"),
        None => format!("cdn:webhook:{id}"),
    }
}

pub(crate) fn domain(name: &str) -> String {
    format!("cdn:dom:{name}")
}
pub(crate) fn node(id: &str) -> String {
    format!("cdn:node:{id}")
}
pub(crate) fn cert(domain: &str) -> String {
    format!("cdn:cert:{domain}")
}
pub(crate) fn acme(domain: &str) -> String {
    format!("cdn:acme:{domain}")
}
pub(crate) fn cert_key(domain: &str) -> String {
    format!("cdn:acmecertkey:{domain}")
}
pub(crate) fn token(id: &str) -> String {
    format!("cdn:token:{id}")
}
pub(crate) fn token_hash(hash: &str) -> String {
    format!("cdn:token_hash:{hash}")
}
pub(crate) fn user(name: &str) -> String {
    format!("cdn:user:{name}")
}
pub(crate) fn session(id: &str) -> String {
    format!("cdn:session:{id}")
}
pub(crate) fn purge(id: &str) -> String {
    format!("cdn:purge:{id}")
}
