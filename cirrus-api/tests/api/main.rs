//! Integration tests of the control plane: a real server on 127.0.0.1:0,
//! driven through the typed client (and raw HTTP where the client would
//! refuse to send the bad input), over a private redis-server and over the
//! embedded store. One suite, both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

/// Runs each listed test of the calling module against both backends.
macro_rules! battery {
    ($($name:ident),* $(,)?) => {
        mod battery {
            $(
                mod $name {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn redis() {
                        super::super::$name(crate::Backend::Redis).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn embedded() {
                        super::super::$name(crate::Backend::Embedded).await;
                    }
                }
            )*
        }
    };
}

mod auth;
mod batch;
mod contract;
mod convergence;
mod events;
mod login;
mod onboarding;
mod openapi;
mod redis_only;
mod suite;
mod webhooks;

use cirrus_api::{Api, ApiBuilder};
use cirrus_client::{Client, RetryPolicy};
use cirrus_core::{EmbeddedStore, RedisStore, Store};
use cirrus_test_support::RedisServer;
use std::sync::Arc;

pub const MASTER: &str = "test-master-token-0123456789";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Redis,
    Embedded,
}

/// A running API over a fresh store, and a client holding the master token.
#[allow(missing_debug_implementations)]
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub url: String,
    pub master: Client,
    /// The served API (a clone), for what only an embedder can reach.
    pub api: Api,
    pub redis: Option<RedisServer>,
    _dir: Option<tempfile::TempDir>,
    _server: tokio::task::JoinHandle<()>,
    /// Every answer served, checked against the OpenAPI document on drop.
    answers: contract::Log,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let log = std::mem::take(&mut *self.answers.lock().unwrap());
        let violations = contract::violations(&log);
        assert!(
            violations.is_empty(),
            "{} of {} answers break the OpenAPI document:\n{}",
            violations.len(),
            log.len(),
            violations.join("\n")
        );
    }
}

impl Harness {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |b| b).await
    }

    pub async fn start_with(backend: Backend, configure: impl FnOnce(ApiBuilder) -> ApiBuilder) -> Self {
        let (store, redis, dir): (Arc<dyn Store>, _, _) = match backend {
            Backend::Redis => {
                let server = RedisServer::start();
                (
                    Arc::new(RedisStore::connect(&server.url()).unwrap()),
                    Some(server),
                    None,
                )
            }
            Backend::Embedded => {
                let dir = tempfile::tempdir().unwrap();
                (Arc::new(EmbeddedStore::open(dir.path()).unwrap()), None, Some(dir))
            }
        };
        let builder = Api::builder(store.clone())
            .master_token(MASTER)
            .secure_cookies(false)
            .rate_limit(None);
        let api = configure(builder).build().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answers = contract::Log::default();
        let app = contract::recording(api.router(), answers.clone());
        let following = api.clone();
        tokio::spawn(async move { following.follow_purges(std::future::pending()).await });
        let server = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
        let master = Client::builder(&url)
            .token(MASTER)
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        Self {
            store,
            url,
            master,
            api,
            redis,
            _dir: dir,
            _server: server,
            answers,
        }
    }

    /// A client with `token` and no retries.
    pub fn client(&self, token: &str) -> Client {
        Client::builder(&self.url)
            .token(token)
            .retry(RetryPolicy::none())
            .build()
            .unwrap()
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client {
        Client::builder(&self.url).retry(RetryPolicy::none()).build().unwrap()
    }

    /// Raw HTTP, for input the typed client cannot produce.
    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(MASTER)
    }
}

/// A domain configuration for tests.
pub fn domain(name: &str) -> cirrus_core::DomainConf {
    cirrus_core::DomainConf::new(name, "https://192.0.2.10".parse().unwrap())
}

/// A self-signed certificate for `names` and its key, as PEM.
pub fn self_signed(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).unwrap();
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}
