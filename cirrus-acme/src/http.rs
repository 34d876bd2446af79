//! The HTTP client instant-acme talks to the CA with: reqwest (already the
//! crate's client for acme-dns), trusting the platform's roots plus an
//! optional private root (Pebble's), and remembering the `Retry-After` of
//! the CA's last "come back later" (429, 503), which instant-acme's errors
//! do not carry, so a retry waits as long as the CA asked.

use crate::error::{Error, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How long a request to the CA may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An [`HttpClient`] for instant-acme that keeps the CA's last `Retry-After`.
#[derive(Debug, Clone)]
pub(crate) struct CaClient {
    http: reqwest::Client,
    retry_at: Arc<Mutex<Option<SystemTime>>>,
}

impl CaClient {
    /// A client trusting the platform's roots and, if given, the PEM root at `root`.
    pub(crate) fn new(root: Option<&Path>) -> Result<Self> {
        let mut builder = reqwest::Client::builder().timeout(TIMEOUT);
        if let Some(root) = root {
            let what = || format!("the CA root {}", root.display());
            let pem = std::fs::read(root).map_err(|e| Error::local(what(), e))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| Error::local(what(), e))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| Error::local("HTTP client", e))?;
        Ok(Self {
            http,
            retry_at: Arc::default(),
        })
    }

    /// How long the CA last asked us to wait, from now, forgetting it.
    pub(crate) fn take_retry_after(&self) -> Option<Duration> {
        let at = self.retry_at.lock().ok()?.take()?;
        Some(at.duration_since(SystemTime::now()).unwrap_or_default())
    }
}

/// Refuses a directory that is not `https://`, but for one on loopback
/// (a test CA): RFC 8555 §6.1 requires TLS.
pub(crate) fn check_directory(url: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Error::local(format!("the directory URL {url:?}"), e))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(Error::Ca(format!(
            "the directory URL {url:?} must be https:// (plain http only on loopback)"
        ))),
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3): seconds, or an HTTP date.
fn parse_retry_after(value: &str) -> Option<SystemTime> {
    let value = value.trim();
    match value.parse::<u64>() {
        Ok(secs) => SystemTime::now().checked_add(Duration::from_secs(secs)),
        Err(_) => httpdate::parse_http_date(value).ok(),
    }
}

fn other(e: impl std::error::Error + Send + Sync + 'static) -> instant_acme::Error {
    instant_acme::Error::Other(Box::new(e))
}

impl HttpClient for CaClient {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let http = self.http.clone();
        let retry_at = self.retry_at.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let rsp = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(other)?;
            let status = rsp.status();
            let headers = rsp.headers().clone();
            let body = rsp.bytes().await.map_err(other)?;
            if matches!(status.as_u16(), 429 | 503) {
                let at = headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                if let (Some(at), Ok(mut slot)) = (at, retry_at.lock()) {
                    *slot = Some(at);
                }
            }
            let mut out = http::Response::new(Full::new(body));
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(BytesResponse::from(out))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{check_directory, parse_retry_after};
    use std::time::{Duration, SystemTime};

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = SystemTime::now();
        let in_two_minutes = parse_retry_after(" 120 ").unwrap();
        let wait = in_two_minutes.duration_since(now).unwrap();
        assert!(
            wait > Duration::from_secs(119) && wait <= Duration::from_secs(121),
            "{wait:?}"
        );
        let date = parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT").unwrap();
        assert_eq!(
            date,
            httpdate::parse_http_date("Fri, 31 Dec 1999 23:59:59 GMT").unwrap()
        );
        assert!(parse_retry_after("soon").is_none());
    }

    #[test]
    fn the_directory_is_https_but_on_loopback() {
        assert!(check_directory("https://acme.example/dir").is_ok());
        assert!(check_directory("http://127.0.0.1:14000/dir").is_ok());
        assert!(check_directory("http://[::1]:14000/dir").is_ok());
        assert!(check_directory("http://localhost/dir").is_ok());
        let refused = check_directory("http://acme.example/dir").unwrap_err().to_string();
        assert!(refused.contains("must be https://"), "{refused}");
        assert!(check_directory("not a url").is_err());
    }
}
