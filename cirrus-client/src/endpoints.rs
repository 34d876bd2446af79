//! One method per endpoint of the API, grouped as the API's tags are.

use crate::client::{Auth, Client, EventQuery, Precondition, SESSION_COOKIE, Versioned, Written};
use crate::error::{Error, Result};
use crate::transport::{api_error, decode, ok};
use cirrus_core::model::{
    AuditList, BatchResult, CertificateList, CertificateStatus, CertificateUpload, CreatedToken, DomainPage,
    DomainStatus, DomainView, EventList, Health, Identity, LoginRequest, LoginResponse, NodeList, PurgeAccepted,
    PurgeList, PurgeSelection, PurgeStatus, TokenList, TokenRequest,
};
use cirrus_core::{DomainConf, Node};
use reqwest::{Method, StatusCode, header};
use serde::Serialize;

impl Client {
    // --- domains ---

    /// One page of domains (`limit` 1-1000, `cursor` from the previous page).
    pub async fn list_domains(&self, limit: Option<usize>, cursor: Option<&str>) -> Result<DomainPage> {
        let mut query = Vec::new();
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        self.json(Method::GET, &["domains"], &query, None::<&()>).await
    }

    /// Every domain, following the pages.
    pub async fn all_domains(&self) -> Result<Vec<DomainConf>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_domains(Some(1000), cursor.as_deref()).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// Creates or replaces up to [`MAX_BATCH`](cirrus_core::model::MAX_BATCH)
    /// domains in one call. Each domain gets its own result, in order: one
    /// refused (invalid, outside the token's domains) does not stop the
    /// others. The domains written are announced as one change.
    pub async fn batch_domains(&self, domains: &[DomainConf]) -> Result<BatchResult> {
        #[derive(Serialize)]
        struct Batch<'a> {
            domains: &'a [DomainConf],
        }
        self.json(Method::POST, &["domains:batch"], &[], Some(&Batch { domains }))
            .await
    }

    /// One domain, with the CNAMEs its owner sets (when the API knows its
    /// zone).
    pub async fn get_domain(&self, domain: &str) -> Result<DomainView> {
        self.json(Method::GET, &["domains", domain], &[], None::<&()>).await
    }

    /// Creates or replaces a domain (idempotent).
    pub async fn put_domain(&self, conf: &DomainConf) -> Result<Written<DomainView>> {
        self.written(Method::PUT, &["domains", &conf.domain], conf, &[]).await
    }

    /// One domain with its version (`ETag`), to change it with
    /// [`Client::put_domain_if`] only if nobody else did meanwhile.
    pub async fn get_domain_versioned(&self, domain: &str) -> Result<Versioned<DomainView>> {
        let res = self.send(Method::GET, &["domains", domain], &[], None::<&()>).await?;
        let etag = res
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Versioned {
            item: decode(res).await?,
            etag,
        })
    }

    /// Creates or replaces a domain only if `precondition` holds; a 412
    /// error ([`Error::is_precondition_failed`]) when it does not.
    pub async fn put_domain_if(&self, conf: &DomainConf, precondition: &Precondition) -> Result<Written<DomainView>> {
        let header = match precondition {
            Precondition::Unchanged(etag) => (header::IF_MATCH, etag.clone()),
            Precondition::Absent => (header::IF_NONE_MATCH, "*".to_string()),
        };
        self.written(Method::PUT, &["domains", &conf.domain], conf, &[header])
            .await
    }

    /// Changes some fields of a domain (JSON merge patch).
    pub async fn patch_domain(&self, domain: &str, patch: &serde_json::Value) -> Result<DomainView> {
        self.json(Method::PATCH, &["domains", domain], &[], Some(patch)).await
    }

    /// Whether a domain is ready: its CNAMEs as the API's resolver sees
    /// them, and its certificate.
    pub async fn domain_status(&self, domain: &str) -> Result<DomainStatus> {
        self.json(Method::GET, &["domains", domain, "status"], &[], None::<&()>)
            .await
    }

    /// Deletes a domain.
    pub async fn delete_domain(&self, domain: &str) -> Result<()> {
        self.empty(Method::DELETE, &["domains", domain]).await
    }

    /// Purges cached objects of a domain on every edge.
    pub async fn purge(&self, domain: &str, selection: &PurgeSelection) -> Result<PurgeAccepted> {
        self.json(Method::POST, &["domains", domain, "purge"], &[], Some(selection))
            .await
    }

    /// Where a purge stands on the edges: who applied it, with the delay,
    /// and who has not yet.
    pub async fn purge_status(&self, id: &str) -> Result<PurgeStatus> {
        self.json(Method::GET, &["purges", id], &[], None::<&()>).await
    }

    /// The purges of the last day, newest first (`limit` 1-1000), only
    /// those some reporting edge has not applied yet when `pending_only`,
    /// only `domain`'s when given.
    pub async fn list_purges(
        &self,
        limit: Option<usize>,
        pending_only: bool,
        domain: Option<&str>,
    ) -> Result<PurgeList> {
        let mut query = Vec::new();
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        if pending_only {
            query.push(("pending", "true".to_string()));
        }
        if let Some(d) = domain {
            query.push(("domain", d.to_string()));
        }
        self.json(Method::GET, &["purges"], &query, None::<&()>).await
    }

    // --- certificates ---

    /// The stored certificates, soonest end first (`limit` 1-1000), only
    /// those ending within `expiring_within_days` days when given.
    pub async fn list_certificates(
        &self,
        expiring_within_days: Option<u64>,
        limit: Option<usize>,
    ) -> Result<CertificateList> {
        let mut query = Vec::new();
        if let Some(days) = expiring_within_days {
            query.push(("expiring_within_days", days.to_string()));
        }
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        self.json(Method::GET, &["certificates"], &query, None::<&()>).await
    }

    /// Requests a certificate (returns the queued or running job).
    pub async fn issue_certificate(&self, domain: &str) -> Result<CertificateStatus> {
        self.json(Method::POST, &["domains", domain, "certificate"], &[], None::<&()>)
            .await
    }

    /// Where a domain's certificate stands.
    pub async fn certificate_status(&self, domain: &str) -> Result<CertificateStatus> {
        self.json(Method::GET, &["domains", domain, "certificate"], &[], None::<&()>)
            .await
    }

    /// Uploads a certificate and its key (PEM).
    pub async fn upload_certificate(&self, domain: &str, upload: &CertificateUpload) -> Result<CertificateStatus> {
        self.json(Method::PUT, &["domains", domain, "certificate"], &[], Some(upload))
            .await
    }

    // --- nodes ---

    /// All nodes with their health.
    pub async fn nodes(&self) -> Result<NodeList> {
        self.json(Method::GET, &["nodes"], &[], None::<&()>).await
    }

    /// One node.
    pub async fn get_node(&self, id: &str) -> Result<Node> {
        self.json(Method::GET, &["nodes", id], &[], None::<&()>).await
    }

    /// Creates or replaces a node's settings (health counters are kept).
    pub async fn put_node(&self, node: &Node) -> Result<Written<Node>> {
        self.written(Method::PUT, &["nodes", &node.id], node, &[]).await
    }

    /// Deletes a node.
    pub async fn delete_node(&self, id: &str) -> Result<()> {
        self.empty(Method::DELETE, &["nodes", id]).await
    }

    /// Puts a node back into service.
    pub async fn enable_node(&self, id: &str) -> Result<Node> {
        self.json(Method::POST, &["nodes", id, "enable"], &[], None::<&()>)
            .await
    }

    /// Quarantines a node.
    pub async fn disable_node(&self, id: &str) -> Result<Node> {
        self.json(Method::POST, &["nodes", id, "disable"], &[], None::<&()>)
            .await
    }

    // --- tokens (master token only) ---

    /// Creates a service token; keep the returned secret, it is not shown again.
    pub async fn create_token(&self, request: &TokenRequest) -> Result<CreatedToken> {
        self.json(Method::POST, &["tokens"], &[], Some(request)).await
    }

    /// Lists service tokens.
    pub async fn tokens(&self) -> Result<TokenList> {
        self.json(Method::GET, &["tokens"], &[], None::<&()>).await
    }

    /// Revokes a service token.
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        self.empty(Method::DELETE, &["tokens", id]).await
    }

    // --- sessions ---

    /// Logs in as a portal user; later calls of this client (and its
    /// clones) use the session cookie and CSRF token.
    pub async fn login(&self, username: &str, password: &str) -> Result<LoginResponse> {
        let body = LoginRequest {
            username: username.into(),
            password: password.into(),
        };
        let res = self.send(Method::POST, &["auth", "login"], &[], Some(&body)).await?;
        let cookie = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next()?.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value.to_string())
            .ok_or_else(|| Error::decode("login answered without a session cookie", None))?;
        let login: LoginResponse = decode(res).await?;
        *self.inner.auth.write().unwrap_or_else(|p| p.into_inner()) = Auth::Session {
            id: cookie,
            csrf: login.csrf_token.clone(),
        };
        Ok(login)
    }

    /// Ends the session opened by [`Client::login`].
    pub async fn logout(&self) -> Result<()> {
        self.empty(Method::POST, &["auth", "logout"]).await?;
        *self.inner.auth.write().unwrap_or_else(|p| p.into_inner()) = Auth::None;
        Ok(())
    }

    /// Who this client is authenticated as.
    pub async fn me(&self) -> Result<Identity> {
        self.json(Method::GET, &["auth", "me"], &[], None::<&()>).await
    }

    // --- operations ---

    /// The newest audit records (`limit` 1-1000).
    pub async fn audit(&self, limit: Option<usize>) -> Result<AuditList> {
        let query: Vec<(&str, String)> = limit.map(|l| ("limit", l.to_string())).into_iter().collect();
        self.json(Method::GET, &["audit"], &query, None::<&()>).await
    }

    /// One page of the event stream after `query.after` (from the oldest
    /// kept when `None`), oldest first, filtered as `query` says. Pass the
    /// answer's `next_after` as the next `after` to follow the stream.
    pub async fn events(&self, query: &EventQuery) -> Result<EventList> {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(a) = &query.after {
            q.push(("after", a.clone()));
        }
        if !query.types.is_empty() {
            let types: Vec<&str> = query.types.iter().map(|t| t.as_str()).collect();
            q.push(("type", types.join(",")));
        }
        if let Some(s) = &query.subject {
            q.push(("subject", s.clone()));
        }
        if let Some(l) = query.limit {
            q.push(("limit", l.to_string()));
        }
        self.json(Method::GET, &["events"], &q, None::<&()>).await
    }

    /// The API's health; a 503 (store unreachable) is an answer too.
    pub async fn health(&self) -> Result<Health> {
        let url = self.root_url(&["healthz"]);
        let res = self.attempts(Method::GET, url, &[], None::<&()>, &[]).await?;
        match res.status() {
            StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE => res
                .json()
                .await
                .map_err(|e| Error::decode("the health answer is not its JSON", Some(e.into()))),
            _ => Err(api_error(res).await),
        }
    }

    /// The Prometheus metrics text.
    pub async fn metrics(&self) -> Result<String> {
        let url = self.root_url(&["metrics"]);
        let res = ok(self.attempts(Method::GET, url, &[], None::<&()>, &[]).await?).await?;
        res.text().await.map_err(Error::transport)
    }

    /// The OpenAPI document.
    pub async fn openapi(&self) -> Result<serde_json::Value> {
        let url = self.root_url(&["openapi.json"]);
        decode(self.attempts(Method::GET, url, &[], None::<&()>, &[]).await?).await
    }
}
