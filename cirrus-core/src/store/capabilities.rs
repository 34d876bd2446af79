//! The store's capabilities: one small trait per kind of state, so a
//! role or a function takes only what it uses (`&dyn DomainStore`, or
//! `S: NodeStore + LockStore`), and a backend implements them one file
//! each. [`Store`](super::Store) is all of them.

use super::Write;
use super::events::{ChangesSince, SubscribeOptions, Subscription};
use super::keys::Lock;
use crate::Result;
use crate::model::{
    AcmeState, AuditRecord, CertBundle, Delivery, DomainConf, EdgeReport, EventId, EventRecord, Job, NewEvent, NewJob,
    Node, NodeHealth, PurgeRecord, PurgeRequest, ServiceToken, Session, User, Webhook, WebhookProgress, WebhookSecrets,
};
use std::time::Duration;

/// What every capability has: the store answers, or not.
#[async_trait::async_trait]
pub trait Ping: Send + Sync + std::fmt::Debug + 'static {
    /// Checks that the store answers.
    async fn ping(&self) -> Result<()>;
}

/// The store-wide revision, the change log and the event subscription:
/// every configuration write bumps the revision and is announced.
#[async_trait::async_trait]
pub trait ChangeFeed: Ping {
    /// The current store-wide revision (0 before the first change).
    async fn revision(&self) -> Result<u64>;
    /// Changes recorded after `revision`, for resync. `complete` is false
    /// when the change log no longer reaches back that far.
    async fn changes_since(&self, revision: u64) -> Result<ChangesSince>;
    /// Subscribes to purge, cname-dirty and config-changed events. Missed
    /// events (disconnects, lag) are replayed from the change log, or
    /// announced as [`Event::Resync`](super::Event::Resync) when they cannot be.
    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription>;
    /// Asks DNS servers to rebuild their zone.
    async fn mark_cname_dirty(&self, reason: &str) -> Result<u64>;
    /// Records that node `node` serves revision `kept`, above the store's:
    /// the store's history went back (lost, or restored from an older copy).
    async fn report_regression(&self, node: &str, kept: u64) -> Result<()>;
    /// The nodes that found the store behind them, with the revision each kept.
    async fn regressions(&self) -> Result<Vec<(String, u64)>>;
    /// An operator takes the store as it is: its revision moves past every
    /// reported one and a change is announced (so edges reload from it), and
    /// the reports are cleared. Returns the new revision.
    async fn adopt_history(&self) -> Result<u64>;
}

/// Customer domains (revisioned and announced).
#[async_trait::async_trait]
pub trait DomainStore: Ping {
    /// All domain names, sorted.
    async fn domain_names(&self) -> Result<Vec<String>>;
    /// One page of domain names in name order: at most `limit`, after
    /// `after` (exclusive) when given. Costs the page, not every domain.
    async fn domain_names_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>>;
    /// One domain's configuration.
    async fn get_domain(&self, name: &str) -> Result<Option<DomainConf>>;
    /// The configurations of `names`, in their order, in one round trip
    /// (one deleted meanwhile is left out).
    async fn get_domains(&self, names: &[String]) -> Result<Vec<DomainConf>>;
    /// Every domain's configuration, sorted by name, read a page of 1,000 at
    /// a time (one deleted meanwhile is left out).
    async fn domains(&self) -> Result<Vec<DomainConf>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let names = self.domain_names_after(after.as_deref(), 1000).await?;
            all.extend(self.get_domains(&names).await?);
            match names.last() {
                Some(last) if names.len() == 1000 => after = Some(last.clone()),
                _ => return Ok(all),
            }
        }
    }
    /// Creates or replaces a domain (validated first).
    async fn put_domain(&self, conf: &DomainConf) -> Result<Write>;
    /// Creates or replaces many domains, in as few round trips as possible.
    /// Returns the last revision.
    async fn put_domains(&self, confs: &[DomainConf]) -> Result<u64>;
    /// Deletes a domain (and its recorded readiness); `None` when it did not exist.
    async fn delete_domain(&self, name: &str) -> Result<Option<u64>>;
    /// Records whether the onboarding check found the domain ready, and
    /// answers what was recorded before (`None`: never checked), in one
    /// atomic step: of two checks at once, one sees the change.
    async fn record_readiness(&self, name: &str, ready: bool) -> Result<Option<bool>>;
}

/// Edge nodes: operator settings, health, and what each edge serves.
#[async_trait::async_trait]
pub trait NodeStore: Ping {
    /// All nodes, sorted by id.
    async fn nodes(&self) -> Result<Vec<Node>>;
    /// One node.
    async fn get_node(&self, id: &str) -> Result<Option<Node>>;
    /// Creates or replaces a node's operator settings (addresses, weight,
    /// enabled). Health counters are kept; `active` is taken from `node`
    /// only when the node is new.
    async fn put_node(&self, node: &Node) -> Result<Write>;
    /// Deletes a node; `None` when it did not exist.
    async fn delete_node(&self, id: &str) -> Result<Option<u64>>;
    /// Records a health probe result. When `active` flips, the revision is
    /// bumped and cname-dirty published: returns that revision. `None` when
    /// nothing flipped or the node no longer exists.
    async fn record_node_health(
        &self,
        id: &str,
        health: &NodeHealth,
        active: bool,
        last_seen: Option<u64>,
    ) -> Result<Option<u64>>;
    /// Records what the edge on node `id` serves. `false` when no such
    /// node is registered (nothing is written).
    async fn report_edge(&self, id: &str, report: &EdgeReport) -> Result<bool>;
    /// The secret the edges of this store sign their requests to each
    /// other with (shielding, docs/shielding.md): 32 random bytes as hex,
    /// made by the first caller and the same for every later one.
    async fn cluster_secret(&self) -> Result<String>;
}

/// Purges: published to every edge, recorded a day for their
/// acknowledgements.
#[async_trait::async_trait]
pub trait PurgeLog: Ping {
    /// Publishes a purge on `cdn:purge` (revisioned, so it is replayed to
    /// edges that were disconnected). A purge with an id is also recorded
    /// for a day, for the edges' acknowledgements ([`PurgeLog::ack_purge`]).
    async fn publish_purge(&self, purge: &PurgeRequest) -> Result<u64>;
    /// Records that the edge on node `node` applied the purge `id` at
    /// `applied_ms`. `false` when the purge is unknown (published without
    /// an id, or recorded more than a day ago).
    async fn ack_purge(&self, id: &str, node: &str, applied_ms: u64) -> Result<bool>;
    /// A recorded purge and its acknowledgements.
    async fn purge_record(&self, id: &str) -> Result<Option<PurgeRecord>>;
    /// The purges recorded in the last day, newest first, at most `limit`
    /// (the store keeps at most 10,000).
    async fn recent_purges(&self, limit: usize) -> Result<Vec<PurgeRecord>>;
}

/// Certificates, ACME account and state, and the DNS-01 challenge values.
#[async_trait::async_trait]
pub trait CertStore: Ping {
    /// Sets the DNS-01 challenge TXT values served for `domain` (at its
    /// challenge name in the CDN's zone); an empty list removes them.
    /// Announced as cname-dirty, so DNS servers rebuild the zone.
    async fn put_challenge(&self, domain: &str, values: &[String]) -> Result<u64>;
    /// Every domain's DNS-01 challenge TXT values.
    async fn challenges(&self) -> Result<std::collections::BTreeMap<String, Vec<String>>>;
    /// A domain's certificate.
    async fn get_cert(&self, domain: &str) -> Result<Option<CertBundle>>;
    /// Stores a domain's certificate (announced to edges).
    async fn put_cert(&self, domain: &str, cert: &CertBundle) -> Result<u64>;
    /// Removes a domain's certificate; `None` when there was none.
    async fn delete_cert(&self, domain: &str) -> Result<Option<u64>>;
    /// Each configured domain's certificate end (`notAfter`, Unix seconds),
    /// for the domains holding a certificate that names one, by domain.
    async fn cert_expiries(&self) -> Result<Vec<(String, u64)>>;
    /// A domain's ACME state.
    async fn get_acme_state(&self, domain: &str) -> Result<Option<AcmeState>>;
    /// Stores a domain's ACME state.
    async fn put_acme_state(&self, domain: &str, state: &AcmeState) -> Result<()>;
    /// The global ACME account credentials.
    async fn get_acme_account(&self) -> Result<Option<String>>;
    /// Stores the global ACME account credentials.
    async fn put_acme_account(&self, credentials: &str) -> Result<()>;
    /// The certificate private key reused across renewals of a domain.
    async fn get_cert_key(&self, domain: &str) -> Result<Option<String>>;
    /// Stores the certificate private key of a domain.
    async fn put_cert_key(&self, domain: &str, pem: &str) -> Result<()>;
}

/// Named locks with an owner and a TTL, across processes.
#[async_trait::async_trait]
pub trait LockStore: Ping {
    /// Takes `lock` for `owner` for `ttl` unless someone holds it.
    async fn try_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool>;
    /// Makes `lock` last `ttl` from now if `owner` still holds it (a
    /// heartbeat for long work); false otherwise.
    async fn extend_lock(&self, lock: &Lock, owner: &str, ttl: Duration) -> Result<bool>;
    /// Releases `lock` if `owner` holds it; false otherwise.
    async fn unlock(&self, lock: &Lock, owner: &str) -> Result<bool>;
    /// Who holds `lock`, if anyone.
    async fn lock_owner(&self, lock: &Lock) -> Result<Option<String>>;
}

/// Service tokens, portal users and their sessions.
#[async_trait::async_trait]
pub trait AccessStore: Ping {
    /// Stores a token's metadata and the SHA-256 of its secret.
    async fn put_token(&self, token: &ServiceToken, secret_hash: &str) -> Result<()>;
    /// One token by id.
    async fn get_token(&self, id: &str) -> Result<Option<ServiceToken>>;
    /// The token whose secret hashes to `secret_hash`.
    async fn token_by_secret_hash(&self, secret_hash: &str) -> Result<Option<ServiceToken>>;
    /// All tokens, sorted by id.
    async fn tokens(&self) -> Result<Vec<ServiceToken>>;
    /// Revokes a token; false when it did not exist.
    async fn delete_token(&self, id: &str) -> Result<bool>;
    /// Creates or replaces a user.
    async fn put_user(&self, user: &User) -> Result<()>;
    /// One user.
    async fn get_user(&self, name: &str) -> Result<Option<User>>;
    /// All user names, sorted.
    async fn user_names(&self) -> Result<Vec<String>>;
    /// Deletes a user; false when it did not exist.
    async fn delete_user(&self, name: &str) -> Result<bool>;
    /// Stores a session that expires after `ttl`.
    async fn put_session(&self, session: &Session, ttl: Duration) -> Result<()>;
    /// A live session.
    async fn get_session(&self, id: &str) -> Result<Option<Session>>;
    /// Ends a session; false when it did not exist.
    async fn delete_session(&self, id: &str) -> Result<bool>;
}

/// The durable job queue (at least once: a job is handed out again until
/// it is acked).
#[async_trait::async_trait]
pub trait JobQueue: Ping {
    /// Appends a job to the durable queue; returns its id.
    async fn enqueue(&self, job: &NewJob) -> Result<String>;
    /// Hands the oldest available job to `consumer`: a job claimed by a
    /// worker that did not ack it within `visibility` comes back first.
    async fn claim(&self, consumer: &str, visibility: Duration) -> Result<Option<Job>>;
    /// Gives a claimed job back, to be handed out again no sooner than
    /// `delay` from now (a retry's backoff), its attempts so far counted;
    /// false when it was no longer in the queue (acked meanwhile).
    async fn retry_later(&self, job: &Job, delay: Duration) -> Result<bool>;
    /// Marks a job done; false when it was not in the queue.
    async fn ack(&self, id: &str) -> Result<bool>;
    /// Jobs not yet acked, those waiting to be retried included.
    async fn queue_depth(&self) -> Result<u64>;
}

/// The event stream: what happened, in order, kept up to a length and an
/// age (both from the store's builder).
#[async_trait::async_trait]
pub trait EventLog: Ping {
    /// Appends `event`, stamped with the next id and the time; returns
    /// it as written.
    async fn append_event(&self, event: &NewEvent) -> Result<EventRecord>;
    /// Appends `events` in their order, in one round trip where the
    /// backend allows (a batch of domains' events); returns them as written.
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<EventRecord>>;
    /// Up to `limit` events after `after` (exclusive; from the oldest kept
    /// when `None`), oldest first.
    async fn events_after(&self, after: Option<EventId>, limit: usize) -> Result<Vec<EventRecord>>;
    /// The id of the newest event kept (`None` when the stream is empty):
    /// where a reader that wants only what comes next starts.
    async fn newest_event(&self) -> Result<Option<EventId>>;
}

/// Webhook endpoints, their secrets, where delivery to each stands, and
/// each one's delivery log, dead letters and replays. The log and the dead
/// letters keep the newest [`DELIVERY_LOG_LEN`](super::DELIVERY_LOG_LEN) each.
#[async_trait::async_trait]
pub trait WebhookStore: Ping {
    /// Stores a new endpoint with its secrets and starting point, at once.
    async fn create_webhook(&self, hook: &Webhook, secrets: &WebhookSecrets, progress: &WebhookProgress) -> Result<()>;
    /// Replaces an endpoint's settings; false when there is no such endpoint.
    async fn update_webhook(&self, hook: &Webhook) -> Result<bool>;
    /// One endpoint.
    async fn get_webhook(&self, id: &str) -> Result<Option<Webhook>>;
    /// Every endpoint, by id.
    async fn webhooks(&self) -> Result<Vec<Webhook>>;
    /// Deletes an endpoint and all that is kept for it; false when there was none.
    async fn delete_webhook(&self, id: &str) -> Result<bool>;
    /// An endpoint's signing secrets.
    async fn webhook_secrets(&self, id: &str) -> Result<Option<WebhookSecrets>>;
    /// Replaces an endpoint's secrets; false when there is no such endpoint.
    async fn put_webhook_secrets(&self, id: &str, secrets: &WebhookSecrets) -> Result<bool>;
    /// Where delivery to an endpoint stands.
    async fn webhook_progress(&self, id: &str) -> Result<Option<WebhookProgress>>;
    /// Records where delivery stands (ignored once the endpoint is deleted).
    async fn put_webhook_progress(&self, id: &str, progress: &WebhookProgress) -> Result<()>;
    /// Logs an attempt and where delivery stands after it, at once; a
    /// [`Dead`](crate::model::DeliveryOutcome::Dead) one also goes to the
    /// dead letters (nothing is kept once the endpoint is deleted).
    async fn record_delivery(&self, id: &str, delivery: &Delivery, progress: &WebhookProgress) -> Result<()>;
    /// The newest attempts, newest first.
    async fn deliveries(&self, id: &str, limit: usize) -> Result<Vec<Delivery>>;
    /// The newest events given up on, newest first.
    async fn dead_letters(&self, id: &str, limit: usize) -> Result<Vec<Delivery>>;
    /// Queues an earlier attempt's event to be posted once more, out of order.
    async fn queue_replay(&self, id: &str, delivery: &Delivery) -> Result<()>;
    /// The replays waiting, oldest first.
    async fn replays(&self, id: &str) -> Result<Vec<Delivery>>;
    /// Drops a replay once posted; false when it was not queued.
    async fn remove_replay(&self, id: &str, delivery_id: &str) -> Result<bool>;
}

/// The capped audit stream.
#[async_trait::async_trait]
pub trait AuditLog: Ping {
    /// Appends to the capped audit stream.
    async fn append_audit(&self, record: &AuditRecord) -> Result<()>;
    /// The newest records, newest first.
    async fn recent_audit(&self, limit: usize) -> Result<Vec<AuditRecord>>;
}
