//! Connections to origins: HTTP/1.1 keep-alive connections kept per origin
//! (and, for HTTPS, per TLS server name: a connection made for one name is
//! never handed to another), newest first.
//!
//! The edge keeps its own pool on hyper's connection API rather than
//! hyper-util's legacy client, for what that client does not give: a
//! request a closing connection never took comes back and goes to the next
//! connection (so whatever its method it is sent at most once), and a
//! request left queued on a connection whose task has ended is noticed at
//! once and taken back. With the legacy client, under CPU load, 1 to 5 in
//! 10,000 requests of the keep-alive race test hung that way until the
//! origin timeout.

use crate::body::Body;
use crate::error::{ErrorKind, ProxyError};
use crate::settings::EdgeSettings;
use cirrus_core::model::{Origin, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::rt::{Read, Write};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls_pki_types::ServerName;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};
use tower_service::Service;

/// Idle connections kept per origin; more are closed when they come back.
const MAX_IDLE_PER_ORIGIN: usize = 256;

type Https = HttpsConnector<HttpConnector>;

/// A failed exchange: why, and whether the connection had served a
/// request before (a reused connection dying is the keep-alive race).
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: ProxyError,
    pub(crate) reused: bool,
}

/// Every origin connection an edge has.
#[derive(Debug)]
pub(crate) struct Pools {
    http: HttpConnector,
    https: RwLock<HashMap<String, Https>>,
    idle: Arc<IdleSet>,
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
}

/// Idle connections by key, each list oldest first.
#[derive(Debug)]
struct IdleSet {
    lists: Mutex<HashMap<String, Vec<Idle>>>,
    timeout: Duration,
    sweeping: AtomicBool,
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

impl Pools {
    pub(crate) fn new(settings: &EdgeSettings, tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            http: connector(settings.origin_connect_timeout, false),
            https: RwLock::new(HashMap::new()),
            idle: Arc::new(IdleSet {
                lists: Mutex::new(HashMap::new()),
                timeout: settings.origin_idle_timeout,
                sweeping: AtomicBool::new(false),
            }),
            tls,
            connect_timeout: settings.origin_connect_timeout,
        }
    }

    /// Sends `req` (origin-form target, `Host` set) to `origin`: on an idle
    /// connection unless `fresh`, else on a new one. A connection that
    /// closes before taking the request passes it on to the next.
    pub(crate) async fn send(
        &self,
        origin: &Origin,
        mut req: Request<Body>,
        fresh: bool,
    ) -> Result<Response<Incoming>, Failed> {
        let key = key(origin);
        loop {
            let idle = if fresh { None } else { self.idle.take(&key) };
            let (mut sender, reused) = match idle {
                Some(sender) => (sender, true),
                None => match self.connect(origin).await {
                    Ok(sender) => (sender, false),
                    Err(error) => return Err(Failed { error, reused: false }),
                },
            };
            // The answer does not borrow the connection's handle.
            let mut answer = std::pin::pin!(sender.try_send_request(req));
            let answered = tokio::select! {
                biased;
                r = &mut answer => Some(r),
                Err(_) = sender.ready() => None,
            };
            let (result, sender) = match answered {
                Some(r) => (r, Some(sender)),
                // The connection went away with the request still queued
                // on it (a hyper quirk): it comes back once every handle on
                // the connection is dropped.
                None => {
                    drop(sender);
                    (answer.await, None)
                }
            };
            match result {
                Ok(res) => {
                    if let Some(sender) = sender {
                        IdleSet::recycle(&self.idle, key, sender);
                    }
                    return Ok(res);
                }
                Err(mut e) => match e.take_message() {
                    // Never sent: the connection was closing.
                    Some(unsent) if reused => req = unsent,
                    _ => {
                        let error = classify(&e.into_error());
                        return Err(Failed { error, reused });
                    }
                },
            }
        }
    }

    /// A new connection to `origin`, its I/O driven by a spawned task.
    async fn connect(&self, origin: &Origin) -> Result<SendRequest<Body>, ProxyError> {
        let uri = origin_uri(origin)?;
        let unreachable = |e: Box<dyn std::error::Error + Send + Sync>| {
            tracing::debug!(origin = %origin, error = %e, "origin: connect failed");
            ProxyError::new(ErrorKind::OriginConnect, "origin unreachable")
        };
        match origin.scheme {
            Scheme::Https => {
                let io = self.https(origin)?.call(uri).await.map_err(unreachable)?;
                handshake(io).await
            }
            _ => {
                let io = self.http.clone().call(uri).await.map_err(|e| unreachable(e.into()))?;
                handshake(io).await
            }
        }
    }

    /// The TLS connector for an HTTPS origin, by the server name it is sent
    /// (`sni`, else `host_header`, else `host`).
    fn https(&self, origin: &Origin) -> Result<Https, ProxyError> {
        let name = tls_name(origin);
        if let Some(c) = self.https.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(c.clone());
        }
        let server_name = ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']').to_string())
            .map_err(|_| ProxyError::new(ErrorKind::OriginTlsName, "origin tls name invalid"))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_only()
            .with_server_name_resolver(FixedServerNameResolver::new(server_name))
            .enable_http1()
            .wrap_connector(connector(self.connect_timeout, true));
        let mut all = self.https.write().unwrap_or_else(|p| p.into_inner());
        Ok(all.entry(name.to_string()).or_insert(connector).clone())
    }
}

impl IdleSet {
    /// The newest idle connection for `key` that can take a request.
    fn take(&self, key: &str) -> Option<SendRequest<Body>> {
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        let list = lists.get_mut(key)?;
        while let Some(idle) = list.pop() {
            if idle.since.elapsed() >= self.timeout {
                // Everything older is expired too.
                list.clear();
                break;
            }
            if idle.sender.is_ready() {
                return Some(idle.sender);
            }
        }
        None
    }

    /// Puts `sender` back once its connection is free again (the answer's
    /// body read to its end); a connection that closes meanwhile is dropped.
    fn recycle(this: &Arc<Self>, key: String, mut sender: SendRequest<Body>) {
        if sender.is_ready() {
            this.put(key, sender);
            return;
        }
        let idle = Arc::downgrade(this);
        tokio::spawn(async move {
            if sender.ready().await.is_ok()
                && let Some(set) = idle.upgrade()
            {
                set.put(key, sender);
            }
        });
    }

    fn put(self: &Arc<Self>, key: String, sender: SendRequest<Body>) {
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        let list = lists.entry(key).or_default();
        if list.len() >= MAX_IDLE_PER_ORIGIN {
            list.remove(0);
        }
        list.push(Idle {
            sender,
            since: Instant::now(),
        });
        drop(lists);
        if !self.sweeping.swap(true, Ordering::Relaxed) {
            tokio::spawn(sweep(Arc::downgrade(self)));
        }
    }
}

/// Closes connections idle past the timeout, until the pool is dropped.
async fn sweep(set: Weak<IdleSet>) {
    let every = set
        .upgrade()
        .map_or(Duration::from_secs(1), |s| s.timeout / 2)
        .max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let Some(set) = set.upgrade() else { return };
        let mut lists = set.lists.lock().unwrap_or_else(|p| p.into_inner());
        lists.retain(|_, list| {
            list.retain(|idle| idle.since.elapsed() < set.timeout && !idle.sender.is_closed());
            !list.is_empty()
        });
    }
}

/// What a failed exchange means: a connection that died before any byte
/// of the answer (closed, reset), or a broken answer.
fn classify(e: &hyper::Error) -> ProxyError {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return ProxyError::new(ErrorKind::OriginClosed, "origin closed the connection");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
            )
        {
            return ProxyError::new(ErrorKind::OriginClosed, "origin reset the connection");
        }
        source = cause.source();
    }
    ProxyError::new(ErrorKind::OriginProtocol, "origin answered badly")
}

/// The HTTP/1.1 handshake on `io`; the connection's task runs until it closes.
async fn handshake<T>(io: T) -> Result<SendRequest<Body>, ProxyError>
where
    T: Read + Write + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(io).await.map_err(|e| {
        tracing::debug!(error = %e, "origin: handshake failed");
        ProxyError::new(ErrorKind::OriginConnect, "origin unreachable")
    })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "origin connection closed with an error");
        }
    });
    Ok(sender)
}

/// The pool key: where the connection goes, and with which TLS name.
fn key(origin: &Origin) -> String {
    match origin.scheme {
        Scheme::Https => format!("{origin}#{}", tls_name(origin)),
        _ => origin.to_string(),
    }
}

fn tls_name(origin: &Origin) -> &str {
    origin
        .sni
        .as_deref()
        .or(origin.host_header.as_deref())
        .unwrap_or(&origin.host)
}

/// `scheme://host:port` for the connector.
fn origin_uri(origin: &Origin) -> Result<Uri, ProxyError> {
    origin
        .to_string()
        .parse()
        .map_err(|_| ProxyError::new(ErrorKind::OriginConnect, "origin address invalid"))
}

/// Plain TCP to origins; `https` lets `https://` URIs through for a TLS wrapper.
fn connector(connect_timeout: Duration, https: bool) -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    connector.enforce_http(!https);
    connector
}
