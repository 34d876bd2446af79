//! Connections to origins: one keep-alive pool for plain HTTP, one per TLS
//! server name for HTTPS (a connection made for one name is never handed
//! to another), and beside each a client that always opens a new
//! connection, for the one retry after a reused connection died.

use crate::body::Body;
use crate::error::{ErrorKind, ProxyError};
use crate::settings::EdgeSettings;
use cirrus_core::model::{Origin, Scheme};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::ServerName;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A pooled client and its always-new twin.
#[derive(Clone, Debug)]
struct Pair<C> {
    pooled: Client<C, Body>,
    fresh: Client<C, Body>,
}

impl<C: Connect + Clone + Send + Sync + 'static> Pair<C> {
    fn new(connector: C, idle: Duration) -> Self {
        let pooled = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(idle)
            .pool_timer(TokioTimer::new())
            .build(connector.clone());
        let fresh = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Self { pooled, fresh }
    }

    fn request(&self, req: http::Request<Body>, fresh: bool) -> ResponseFuture {
        if fresh {
            self.fresh.request(req)
        } else {
            self.pooled.request(req)
        }
    }
}

type Https = HttpsConnector<HttpConnector>;

/// Every origin connection an edge has.
#[derive(Debug)]
pub(crate) struct Pools {
    http: Pair<HttpConnector>,
    https: RwLock<HashMap<String, Pair<Https>>>,
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    idle: Duration,
}

impl Pools {
    pub(crate) fn new(settings: &EdgeSettings, tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            http: Pair::new(
                connector(settings.origin_connect_timeout, false),
                settings.origin_idle_timeout,
            ),
            https: RwLock::new(HashMap::new()),
            tls,
            connect_timeout: settings.origin_connect_timeout,
            idle: settings.origin_idle_timeout,
        }
    }

    /// Sends `req` to `origin`; `fresh` asks for a new connection.
    pub(crate) fn request(
        &self,
        origin: &Origin,
        req: http::Request<Body>,
        fresh: bool,
    ) -> Result<ResponseFuture, ProxyError> {
        match origin.scheme {
            Scheme::Https => Ok(self.https(origin)?.request(req, fresh)),
            _ => Ok(self.http.request(req, fresh)),
        }
    }

    /// The clients for an HTTPS origin, by the TLS server name it is sent
    /// (`sni`, else `host_header`, else `host`).
    fn https(&self, origin: &Origin) -> Result<Pair<Https>, ProxyError> {
        let name = origin
            .sni
            .as_deref()
            .or(origin.host_header.as_deref())
            .unwrap_or(&origin.host);
        if let Some(pair) = self.https.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(pair.clone());
        }
        let server_name = ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']').to_string())
            .map_err(|_| ProxyError::new(ErrorKind::OriginTlsName, "origin tls name invalid"))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_only()
            .with_server_name_resolver(FixedServerNameResolver::new(server_name))
            .enable_http1()
            .wrap_connector(connector(self.connect_timeout, true));
        let pair = Pair::new(connector, self.idle);
        let mut clients = self.https.write().unwrap_or_else(|p| p.into_inner());
        Ok(clients.entry(name.to_string()).or_insert(pair).clone())
    }
}

/// Plain TCP to origins; `https` lets `https://` URIs through for a TLS wrapper.
fn connector(connect_timeout: Duration, https: bool) -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    connector.enforce_http(!https);
    connector
}
