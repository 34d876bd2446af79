//! How a call travels: the URL, the token or session, retries with
//! backoff on 429 and 5xx (idempotent calls only for 5xx), and the API's
//! error body read into [`Error`].

use crate::client::{Auth, CSRF_HEADER, Client, SESSION_COOKIE, Written};
use crate::error::{Error, Result};
use cirrus_core::model::ErrorBody;
use reqwest::{Method, StatusCode, Url, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

impl Client {
    pub(crate) fn root_url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    pub(crate) async fn json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T> {
        decode(self.send(method, path, query, body).await?).await
    }

    /// A create-or-replace, with `extra` request headers (preconditions).
    pub(crate) async fn written<B: Serialize, T: DeserializeOwned>(
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

    pub(crate) async fn empty(&self, method: Method, path: &[&str]) -> Result<()> {
        self.send(method, path, &[], None::<&()>).await.map(drop)
    }

    /// Sends to `/api/v1/{path}`; any non-2xx answer becomes an error.
    pub(crate) async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<reqwest::Response> {
        self.send_with(method, path, query, body, &[]).await
    }

    /// [`Client::send`] with `extra` request headers.
    pub(crate) async fn send_with<B: Serialize + ?Sized>(
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
    pub(crate) async fn attempts<B: Serialize + ?Sized>(
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

    pub(crate) fn authenticate(&self, req: reqwest::RequestBuilder, method: &Method) -> reqwest::RequestBuilder {
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

pub(crate) fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    let v = res.headers().get(header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

pub(crate) async fn ok(res: reqwest::Response) -> Result<reqwest::Response> {
    if res.status().is_success() {
        Ok(res)
    } else {
        Err(api_error(res).await)
    }
}

pub(crate) async fn decode<T: DeserializeOwned>(res: reqwest::Response) -> Result<T> {
    let bytes = res.bytes().await.map_err(Error::transport)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::decode("the answer is not the JSON the API promises", Some(e.into())))
}

pub(crate) async fn api_error(res: reqwest::Response) -> Error {
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
pub(crate) fn not_ours(body: &[u8]) -> String {
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
    use crate::retry::RetryPolicy;
    use std::sync::Arc;
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
