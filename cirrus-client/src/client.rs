//! The client: one method per endpoint, retries, error decoding.

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use cirrus_core::model::{
    AuditList, BatchResult, CertificateList, CertificateStatus, CertificateUpload, CreatedToken, DomainPage,
    DomainStatus, DomainView, ErrorBody, Health, Identity, LoginRequest, LoginResponse, NodeList, PurgeAccepted,
    PurgeList, PurgeSelection, PurgeStatus, TokenList, TokenRequest,
};
use cirrus_core::{DomainConf, Node};
use reqwest::{Method, StatusCode, Url, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::{Arc, RwLock};
use std::time::Duration;

const SESSION_COOKIE: &str = "cirrus_session";
const CSRF_HEADER: &str = "x-csrf-token";

/// A typed client for the Cirrus control-plane API. Cheap to clone; clones
/// share connections and the session.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
    auth: RwLock<Auth>,
}

#[derive(Clone, Default)]
enum Auth {
    #[default]
    None,
    Bearer(String),
    Session {
        id: String,
        csrf: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Bearer(_) => "Bearer(<redacted>)",
            Auth::Session { .. } => "Session(<redacted>)",
        })
    }
}

/// Settings of a [`Client`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    base: String,
    token: Option<String>,
    timeout: Duration,
    retry: RetryPolicy,
}

/// Outcome of a create-or-replace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written<T> {
    /// The object as stored.
    pub item: T,
    /// True when it did not exist before (201).
    pub created: bool,
}

/// A value read with its version, for a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Versioned<T> {
    /// The value.
    pub item: T,
    /// Its entity tag (`ETag`), when the API sent one.
    pub etag: Option<String>,
}

/// What must hold for a conditional write to apply (RFC 9110 §13).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precondition {
    /// The object is still the version with this entity tag (`If-Match`).
    Unchanged(String),
    /// The object does not exist: create, never replace (`If-None-Match: *`).
    Absent,
}

impl ClientBuilder {
    /// Authenticates with a bearer token (master or service token).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Timeout of each attempt (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// When to retry (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client> {
        let base = Url::parse(&self.base).map_err(|e| Error::Config(format!("base URL {:?}: {e}", self.base)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Config(format!(
                "base URL {:?} must be http(s)://host[:port]",
                self.base
            )));
        }
        if let Some(t) = &self.token
            && header::HeaderValue::from_str(&format!("Bearer {t}")).is_err()
        {
            return Err(Error::Config(
                "the token contains characters not allowed in a header".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(concat!("cirrus-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                retry: self.retry,
                auth: RwLock::new(self.token.map_or(Auth::None, Auth::Bearer)),
            }),
        })
    }
}

impl Client {
    /// Starts configuring a client for the API at `base_url`, e.g.
    /// `http://127.0.0.1:8000`.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base_url.into(),
            token: None,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }

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

    // --- plumbing ---

    fn root_url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T> {
        decode(self.send(method, path, query, body).await?).await
    }

    /// A create-or-replace, with `extra` request headers (preconditions).
    async fn written<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        body: &B,
        extra: &[(header::HeaderName, String)],
    ) -> Result<Written<T>> {
        let res = self.send_with(method, path, &[], Some(body), extra).await?;
        let created = res.status() == StatusCode::CREATED;
        Ok(Written {
            item: decode(res).await?,
            created,
        })
    }

    async fn empty(&self, method: Method, path: &[&str]) -> Result<()> {
        self.send(method, path, &[], None::<&()>).await.map(drop)
    }

    /// Sends to `/api/v1/{path}`; any non-2xx answer becomes an error.
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<reqwest::Response> {
        self.send_with(method, path, query, body, &[]).await
    }

    /// [`Client::send`] with `extra` request headers.
    async fn send_with<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
        extra: &[(header::HeaderName, String)],
    ) -> Result<reqwest::Response> {
        let mut segments = vec!["api", "v1"];
        segments.extend_from_slice(path);
        let url = self.root_url(&segments);
        ok(self.attempts(method, url, query, body, extra).await?).await
    }

    /// One call with retries, with `extra` request headers (preconditions);
    /// returns the last answer, whatever its status.
    async fn attempts<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        query: &[(&str, String)],
        body: Option<&B>,
        extra: &[(header::HeaderName, String)],
    ) -> Result<reqwest::Response> {
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        let mut retry = 0;
        loop {
            let mut req = self.inner.http.request(method.clone(), url.clone());
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            for (name, value) in extra {
                req = req.header(name, value);
            }
            req = self.authenticate(req, &method);
            let outcome = req.send().await;
            let (retryable, retry_after) = match &outcome {
                Ok(res) => {
                    let s = res.status();
                    let transient = matches!(s.as_u16(), 502..=504) && idempotent;
                    (s == StatusCode::TOO_MANY_REQUESTS || transient, retry_after(res))
                }
                Err(e) => (idempotent && (e.is_connect() || e.is_timeout() || e.is_request()), None),
            };
            let wait = if retryable {
                self.inner.retry.delay(retry, retry_after, rand::random::<f64>())
            } else {
                None
            };
            match (wait, outcome) {
                (Some(wait), _) => {
                    retry += 1;
                    tokio::time::sleep(wait).await;
                }
                (None, Ok(res)) => return Ok(res),
                (None, Err(e)) => return Err(Error::transport(e)),
            }
        }
    }

    fn authenticate(&self, req: reqwest::RequestBuilder, method: &Method) -> reqwest::RequestBuilder {
        let auth = self.inner.auth.read().unwrap_or_else(|p| p.into_inner()).clone();
        match auth {
            Auth::None => req,
            Auth::Bearer(token) => req.bearer_auth(token),
            Auth::Session { id, csrf } => {
                let req = req.header(header::COOKIE, format!("{SESSION_COOKIE}={id}"));
                if matches!(*method, Method::GET | Method::HEAD) {
                    req
                } else {
                    req.header(CSRF_HEADER, csrf)
                }
            }
        }
    }
}

fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    let v = res.headers().get(header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

async fn ok(res: reqwest::Response) -> Result<reqwest::Response> {
    if res.status().is_success() {
        Ok(res)
    } else {
        Err(api_error(res).await)
    }
}

async fn decode<T: DeserializeOwned>(res: reqwest::Response) -> Result<T> {
    let bytes = res.bytes().await.map_err(Error::transport)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::decode("the answer is not the JSON the API promises", Some(e.into())))
}

async fn api_error(res: reqwest::Response) -> Error {
    let status = res.status().as_u16();
    let request_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = res.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(b) => Error::Api {
            status,
            code: b.error.code,
            message: b.error.message,
            details: b.error.details,
            request_id,
        },
        Err(_) => Error::Api {
            status,
            code: format!("http_{status}"),
            message: not_ours(&bytes),
            details: Vec::new(),
            request_id,
        },
    }
}

/// A one-line summary of an error answer that is not the API's JSON (a
/// proxy's HTML page, a plain-text error): never the whole page.
fn not_ours(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let trimmed = text.trim_start();
    if trimmed.starts_with('<') {
        let lower = trimmed.to_ascii_lowercase();
        let title = lower
            .find("<title>")
            .and_then(|start| {
                let rest = &trimmed[start + 7..];
                rest.to_ascii_lowercase()
                    .find("</title>")
                    .map(|end| rest[..end].trim().to_string())
            })
            .filter(|t| !t.is_empty())
            .map(|t| format!(" ({t:?})"))
            .unwrap_or_default();
        return format!("an HTML page{title} instead of the Cirrus API's JSON: is the URL the API's?");
    }
    let line: String = trimmed
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(160)
        .collect();
    if line.trim().is_empty() {
        "an empty answer instead of the Cirrus API's JSON".into()
    } else {
        format!("{} (not the Cirrus API's JSON)", line.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server answering 503 `failures` times, then 200 `{}`; counts requests.
    async fn flaky(failures: usize) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let reply = if n < failures {
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                } else {
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
                };
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        (url, seen)
    }

    fn client(url: &str) -> Client {
        let retry = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        };
        Client::builder(url).retry(retry).build().expect("client")
    }

    #[test]
    fn answers_that_are_not_the_apis_are_summarised() {
        let page = b"<!DOCTYPE html>\n<html><head><TITLE>502 Bad Gateway</TITLE></head><body>...long...</body></html>";
        assert_eq!(
            not_ours(page),
            "an HTML page (\"502 Bad Gateway\") instead of the Cirrus API's JSON: is the URL the API's?"
        );
        assert_eq!(
            not_ours(b"upstream\nconnect error"),
            "upstream connect error (not the Cirrus API's JSON)"
        );
        assert_eq!(not_ours(b""), "an empty answer instead of the Cirrus API's JSON");
        assert!(not_ours("x".repeat(10_000).as_bytes()).len() < 200);
    }

    #[tokio::test]
    async fn idempotent_calls_retry_5xx_and_posts_do_not() {
        let (url, seen) = flaky(2).await;
        let res = client(&url)
            .json::<(), serde_json::Value>(Method::GET, &["x"], &[], None)
            .await;
        assert!(res.is_ok(), "{res:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 3, "two 503s, then the answer");

        let (url, seen) = flaky(2).await;
        let err = client(&url)
            .json::<(), serde_json::Value>(Method::POST, &["x"], &[], None)
            .await
            .expect_err("a POST is not retried on 503");
        assert_eq!((err.status(), seen.load(Ordering::SeqCst)), (Some(503), 1));

        let (url, seen) = flaky(10).await;
        let err = client(&url)
            .json::<(), serde_json::Value>(Method::GET, &["x"], &[], None)
            .await
            .expect_err("gives up");
        assert_eq!(
            (err.status(), seen.load(Ordering::SeqCst)),
            (Some(503), 4),
            "1 try + 3 retries"
        );
    }
}
