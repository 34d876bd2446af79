//! Connections to origins: HTTP/1.1 keep-alive connections kept per origin
//! (and, for HTTPS, per TLS server name: a connection made for one name is
//! never handed to another), newest first.
//!
//! The pool holds the connections themselves, not handles to tasks that
//! drive them: a request takes one, drives it in its own task (see
//! [`super::conn`]) and its body puts it back when done. An idle
//! connection is checked before it is used (closed by the origin, or with
//! bytes nobody asked for: dropped) without a syscall unless the socket
//! became readable.

use super::OriginResponse;
use super::body::{Home, OriginBody};
use super::conn::{Connection, Failure, Stream};
use super::key::{Key, tls_name};
use crate::body::Body;
use crate::error::{ErrorKind, ProxyError};
use crate::hashing::{Hasher, Map};
use crate::head::RequestHead;
use crate::settings::EdgeSettings;
use crate::trace::Opened;
use cirrus_core::model::{Origin, Scheme};
use rustls_pki_types::ServerName;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Idle connections kept per origin; more are closed when they come back.
const MAX_IDLE_PER_ORIGIN: usize = 256;

/// A failed exchange: why, and whether the connection had served a
/// request before (a reused connection dying is the keep-alive race).
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: ProxyError,
    pub(crate) reused: bool,
}

/// Every origin connection an edge has.
pub(crate) struct Pools {
    idle: Arc<IdleSet>,
    tls: TlsConnector,
    connect_timeout: Duration,
    /// How long an origin has to answer (`origin_timeout`).
    timeout: Duration,
}

/// Idle connections by the hash of their key, each list oldest first.
#[derive(Debug)]
pub(crate) struct IdleSet {
    lists: Mutex<Map<u64, Vec<Idle>>>,
    hasher: Hasher,
    timeout: Duration,
    sweeping: AtomicBool,
}

#[derive(Debug)]
struct Idle {
    conn: Connection,
    since: Instant,
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pools")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl Pools {
    pub(crate) fn new(settings: &EdgeSettings, tls: Arc<rustls::ClientConfig>) -> Self {
        let mut tls = (*tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            idle: Arc::new(IdleSet {
                lists: Mutex::new(Map::default()),
                hasher: Hasher::new(),
                timeout: settings.origin_idle_timeout,
                sweeping: AtomicBool::new(false),
            }),
            tls: TlsConnector::from(Arc::new(tls)),
            connect_timeout: settings.origin_connect_timeout,
            timeout: settings.origin_timeout,
        }
    }

    /// Sends `head` (origin-form target) with `host` as its `Host`, and
    /// `body`, to `origin`: on an idle connection unless `fresh`, else on
    /// a new one. `asked` is the caller's clock reading, when it asked:
    /// the answer's head must come within the origin timeout from then.
    pub(crate) async fn send(
        &self,
        origin: &Origin,
        head: &RequestHead,
        host: &[u8],
        body: Option<Body>,
        fresh: bool,
        asked: tokio::time::Instant,
    ) -> Result<OriginResponse, Failed> {
        let (now, deadline) = (asked.into_std(), asked + self.timeout);
        let idle = if fresh { None } else { self.idle.take(origin, now) };
        let reused = idle.is_some();
        let mut opened = None;
        let mut conn = match idle {
            Some(conn) => conn,
            // Boxed: a TLS handshake's state is large, and most requests
            // take a pooled connection.
            None => match tokio::time::timeout_at(deadline, Box::pin(self.connect(origin, now))).await {
                Ok(made) => {
                    let (conn, steps) = made.map_err(|error| Failed { error, reused })?;
                    opened = Some(steps);
                    conn
                }
                Err(_) => return Err(timed_out()),
            },
        };
        conn.sent_at = now;
        // The connection's own timer: no timer registered per request.
        let mut timer = std::mem::take(&mut conn.timer);
        let exchanged = timer.within(deadline, conn.exchange(head, host, body)).await;
        conn.timer = timer;
        let Some(exchanged) = exchanged else {
            return Err(timed_out());
        };
        match exchanged {
            Ok(received) => {
                let body = OriginBody::new(conn, &received, self.idle.clone());
                Ok(OriginResponse {
                    head: received.head,
                    body,
                    opened,
                })
            }
            Err(Failure { error, answered }) => Err(Failed {
                error,
                reused: reused && !answered,
            }),
        }
    }

    /// A new connection to `origin` (made within the deadline of the
    /// request that asked for it).
    async fn connect(&self, origin: &Origin, now: Instant) -> Result<(Connection, Opened), ProxyError> {
        let unreachable = |e: std::io::Error| {
            tracing::debug!(origin = %origin, error = %e, "origin: connect failed");
            ProxyError::new(ErrorKind::OriginConnect, "origin unreachable")
        };
        let tcp = tokio::time::timeout(self.connect_timeout, tcp(&origin.host, origin.effective_port()))
            .await
            .map_err(|_| ProxyError::new(ErrorKind::OriginConnect, "origin connect timed out"))?
            .map_err(unreachable)?;
        tcp.set_nodelay(true).map_err(unreachable)?;
        let connected = Instant::now();
        let mut tls_done = None;
        let stream = match origin.scheme {
            Scheme::Https => {
                let name = tls_name(origin).trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(name.to_string())
                    .map_err(|_| ProxyError::new(ErrorKind::OriginTlsName, "origin tls name invalid"))?;
                let tls = self.tls.connect(name, tcp).await.map_err(unreachable)?;
                tls_done = Some(Instant::now());
                Stream::Tls(Box::new(tls))
            }
            _ => Stream::Plain(tcp),
        };
        let opened = Opened {
            started: now,
            connected,
            tls_done,
        };
        Ok((Connection::new(stream, Arc::new(Key::of(origin)), now), opened))
    }
}

/// No answer before the deadline.
fn timed_out() -> Failed {
    Failed {
        error: ProxyError::new(ErrorKind::OriginTimeout, "origin timed out"),
        reused: false,
    }
}

/// A TCP connection to the first of `host`'s addresses that accepts one.
async fn tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address")))
}

thread_local! {
    /// The per-core worker this thread is (0: none); see [`set_worker`].
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks this thread as per-core worker `n` (from 1): its origin
/// connections, registered with its own runtime, are kept apart from the
/// other workers' and only used again on this thread.
pub(crate) fn set_worker(n: usize) {
    WORKER.set(n);
}

impl IdleSet {
    fn hash(&self, scheme: Scheme, host: &str, port: u16) -> u64 {
        self.hasher
            .hash_one((scheme == Scheme::Https, host, port, WORKER.get()))
    }

    /// The newest idle connection for `origin` that can take a request
    /// `now`.
    fn take(&self, origin: &Origin, now: Instant) -> Option<Connection> {
        let hash = self.hash(origin.scheme, &origin.host, origin.effective_port());
        loop {
            let mut idle = {
                let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
                let list = lists.get_mut(&hash)?;
                let at = list.iter().rposition(|i| i.conn.key.matches(origin))?;
                list.remove(at)
            };
            if now.saturating_duration_since(idle.since) < self.timeout && idle.conn.is_usable() {
                return Some(idle.conn);
            }
        }
    }
}

impl Home for IdleSet {
    fn put(self: Arc<Self>, conn: Connection) {
        let hash = self.hash(conn.key.scheme, &conn.key.host, conn.key.port);
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        let list = lists.entry(hash).or_default();
        if list.len() >= MAX_IDLE_PER_ORIGIN {
            list.remove(0);
        }
        let since = conn.sent_at;
        list.push(Idle { conn, since });
        drop(lists);
        if !self.sweeping.swap(true, Ordering::Relaxed) {
            tokio::spawn(sweep(Arc::downgrade(&self)));
        }
    }
}

/// Closes connections idle past the timeout or closed by their origin,
/// until the pool is dropped.
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
            list.retain_mut(|idle| idle.since.elapsed() < set.timeout && idle.conn.is_usable());
            !list.is_empty()
        });
    }
}
