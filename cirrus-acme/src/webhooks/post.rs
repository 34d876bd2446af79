//! One attempt to post one event: signed per Standard Webhooks, bounded by
//! a timeout and a response-body limit, no redirects, no proxy, and (unless
//! the operator allows them) never to a private, loopback or link-local
//! address, however the URL's host resolves at the time.

use cirrus_core::model::{DeliveryOutcome, EventRecord, Webhook, WebhookSecrets, WebhookUrl, is_public_ip};
use cirrus_core::webhook::signature_header;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::time::{Duration, Instant};

/// What one attempt came to.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) outcome: DeliveryOutcome,
    pub(crate) status: Option<u16>,
    pub(crate) error: Option<String>,
    pub(crate) took: Duration,
}

/// A resolver that keeps only public addresses, so a host that resolves
/// (or later re-resolves) to an internal one is never connected to.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> = found.into_iter().filter(|a| is_public_ip(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address (private ones are not allowed)").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Posts events: one HTTP client shared by every endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Poster {
    client: reqwest::Client,
    allow_private: bool,
    body_limit: usize,
}

impl Poster {
    pub(crate) fn new(timeout: Duration, allow_private: bool, body_limit: usize) -> reqwest::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(2)
            .user_agent(concat!("Cirrus-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(PublicOnly);
        }
        Ok(Self {
            client: builder.build()?,
            allow_private,
            body_limit,
        })
    }

    /// Posts `event` to `hook`, signed with the secrets active at `now`
    /// (Unix seconds).
    pub(crate) async fn post(
        &self,
        hook: &Webhook,
        secrets: &WebhookSecrets,
        event: &EventRecord,
        now: u64,
    ) -> Attempt {
        let started = Instant::now();
        let failed = |error: String| Attempt {
            outcome: DeliveryOutcome::Failed,
            status: None,
            error: Some(error),
            took: started.elapsed(),
        };
        // The host as the client reads it: an address literal is connected
        // to without the resolver, so it is checked here.
        let checked =
            WebhookUrl::parse(&hook.url).and_then(|_| reqwest::Url::parse(&hook.url).map_err(|e| e.to_string()));
        let url = match checked {
            Ok(u) => u,
            Err(e) => return failed(format!("bad URL: {e}")),
        };
        let literal = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<std::net::IpAddr>().ok());
        if let Some(ip) = literal.filter(|ip| !self.allow_private && !is_public_ip(*ip)) {
            return failed(format!("{ip} is not a public address (private ones are not allowed)"));
        }
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(e) => return failed(format!("event not encoded: {e}")),
        };
        let signature = match signature_header(&secrets.active(now), &event.id, now, &body) {
            Ok(s) => s,
            Err(e) => return failed(e.to_string()),
        };
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => return failed(describe(&e)),
        };
        let status = response.status();
        // Read a little of the answer (to reuse the connection, and to show
        // why it failed), never more than the limit.
        let mut excerpt = Vec::new();
        let mut read = 0usize;
        while read <= self.body_limit {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    if excerpt.len() < 200 {
                        excerpt.extend_from_slice(&chunk[..chunk.len().min(200 - excerpt.len())]);
                    }
                }
                Ok(None) => break,
                Err(e) if status.is_success() => {
                    tracing::debug!(error = %describe(&e), "webhook answer not read to its end");
                    break;
                }
                Err(e) => return failed(format!("status {}; answer not read: {}", status.as_u16(), describe(&e))),
            }
        }
        let outcome = if status.is_success() {
            DeliveryOutcome::Delivered
        } else if status == reqwest::StatusCode::GONE {
            DeliveryOutcome::Gone
        } else {
            DeliveryOutcome::Failed
        };
        let error = (!status.is_success()).then(|| {
            let text = String::from_utf8_lossy(&excerpt);
            let text: String = text.chars().filter(|c| !c.is_control()).collect();
            let redirect = if status.is_redirection() {
                " (redirects are not followed)"
            } else {
                ""
            };
            format!("status {}{redirect}: {}", status.as_u16(), text.trim())
        });
        Attempt {
            outcome,
            status: Some(status.as_u16()),
            error,
            took: started.elapsed(),
        }
    }
}

/// An error with its causes (reqwest's own text is often just "error
/// sending request").
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(300).collect()
}
