//! The upstream phase: the request head sent to origins (hop-by-hop
//! headers out, forwarding headers in, the domain's edits), the order in
//! which origins are tried, and the exchange with retries. Failures come
//! back as [`ProxyError`]s; whether to try again is decided from them.

mod body;
mod choice;
mod conn;
mod key;
mod pool;

use crate::body::Body;
use crate::error::{ErrorKind, ProxyError};
use crate::head::{Fields, Known, RequestHead, ResponseHead};
use crate::headers::{CDN_LOOP_ID, apply_edits, strip_hop_by_hop};
use crate::observe::UpstreamMetrics;
use crate::session::Conn;
use crate::settings::EdgeSettings;
pub(crate) use body::OriginBody;
use choice::OriginHealth;
use cirrus_core::DomainConf;
use cirrus_core::model::Origin;
use http::Method;
pub(crate) use pool::set_worker;
use pool::{Failed, Pools};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const VIA_VALUE: &str = "1.1 cirrus";

/// Who a request came from, for the forwarding fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forwarded {
    pub(crate) conn: Conn,
    /// A peer edge asked (its credential verified): the chain of client
    /// addresses and the scheme it sent are its client's, and kept.
    pub(crate) peer_edge: bool,
}

/// The fields sent to the origin: the client's `headers`, minus hop-by-hop
/// ones, with forwarding fields and the domain's edits.
pub(crate) fn origin_fields(conf: &DomainConf, host: &str, headers: &Fields, from: Forwarded) -> Fields {
    let conn = from.conn;
    // Room for what is added below, in one allocation: five fields, the
    // prior forwarding chain, an address, the host and the edits.
    let prior = headers.get(Known::XForwardedFor).map_or(0, <[u8]>::len);
    let edits: usize = conf.request_headers.set.iter().map(|(n, v)| n.len() + v.len()).sum();
    let mut fields = headers.clone_with_room(5 + conf.request_headers.set.len(), 112 + prior + host.len() + edits);
    strip_hop_by_hop(&mut fields);
    // A shield request's credential: between two edges only.
    fields.remove(Known::CirrusShield);
    let mut ip = [0u8; 45];
    let peer = ip_text(conn.peer.ip(), &mut ip);
    // A prior value that is not text is replaced, as one that is invalid.
    // The values are an address, a scheme, the routed host name (read
    // from a parsed head) and a constant: valid.
    match fields.get_str(Known::XForwardedFor) {
        // A peer edge already added its client's address last.
        Some(_) if from.peer_edge => {}
        Some(prior) => {
            let chain = [prior.as_bytes(), b", ", peer].concat();
            fields.insert_own(Known::XForwardedFor, &chain);
        }
        None => fields.insert_own(Known::XForwardedFor, peer),
    }
    let kept_proto = from.peer_edge && matches!(fields.get(Known::XForwardedProto), Some(b"https" | b"http"));
    if !kept_proto {
        let proto: &[u8] = if conn.tls { b"https" } else { b"http" };
        fields.insert_own(Known::XForwardedProto, proto);
    }
    fields.insert_own(Known::XForwardedHost, host.as_bytes());
    fields.append_own(Known::Via, VIA_VALUE.as_bytes());
    apply_edits(&mut fields, &conf.request_headers);
    // After the client's members (another CDN in front), as RFC 8586
    // asks, and after the domain's edits, which may not remove it.
    fields.append_own(Known::CdnLoop, CDN_LOOP_ID);
    fields
}

/// `ip` as text in `buf`: an IPv4 address digit by digit (every MISS
/// writes the client's), an IPv6 one through its `Display`.
fn ip_text(ip: std::net::IpAddr, buf: &mut [u8; 45]) -> &[u8] {
    use std::io::Write;
    let mut at = 0;
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[at] = b'.';
                    at += 1;
                }
                if octet >= 100 {
                    buf[at] = b'0' + octet / 100;
                    at += 1;
                }
                if octet >= 10 {
                    buf[at] = b'0' + octet / 10 % 10;
                    at += 1;
                }
                buf[at] = b'0' + octet % 10;
                at += 1;
            }
        }
        std::net::IpAddr::V6(v6) => {
            let mut w = &mut buf[..];
            // 45 bytes hold the longest IPv6 text.
            let _ = write!(w, "{v6}");
            at = 45 - w.len();
        }
    }
    &buf[..at]
}

/// The head of a request to the origin: `method`, the origin-form of
/// `target` (path and query), `fields`.
pub(crate) fn upstream_head(method: Method, target: &http::Uri, fields: Fields) -> RequestHead {
    let mut head = RequestHead::new(method, http::Uri::from_static("/"));
    if let Some(pq) = target.path_and_query() {
        head.uri = http::Uri::from(pq.clone());
    }
    head.fields = fields;
    head
}

/// An origin's answer: its head (hop-by-hop fields still in) and body.
#[derive(Debug)]
pub(crate) struct OriginResponse {
    pub(crate) head: ResponseHead,
    pub(crate) body: OriginBody,
    /// When its connection was opened for it: connect and TLS timings
    /// for a traced request.
    pub(crate) opened: Option<crate::trace::Opened>,
}

/// Which origins a request may go to.
#[derive(Debug)]
pub(crate) enum Targets<'a> {
    /// The domain's, by weight and health, with failover.
    Domain(&'a [Origin]),
    /// One origin a hook chose: no failover.
    Only(Origin),
}

/// Everything the edge needs to talk to origins.
#[derive(Debug)]
pub(crate) struct Upstream {
    pools: Pools,
    health: OriginHealth,
    down_for: Duration,
    metrics: UpstreamMetrics,
}

impl Upstream {
    pub(crate) fn new(settings: &EdgeSettings, tls: Arc<rustls::ClientConfig>, metrics: UpstreamMetrics) -> Self {
        Self {
            pools: Pools::new(settings, tls),
            health: OriginHealth::default(),
            down_for: settings.origin_down_for,
            metrics,
        }
    }

    /// Whether `origin` (a peer edge, say) failed recently, as
    /// [`Upstream::all_down`] says of one origin.
    pub(crate) fn is_down(&self, origin: &Origin) -> bool {
        self.health.all_down(std::slice::from_ref(origin), self.down_for)
    }

    /// Whether every origin of `targets` failed recently (connect error or
    /// timeout within `origin_down_for`, and none answered since).
    pub(crate) fn all_down(&self, targets: &Targets<'_>) -> bool {
        match targets {
            Targets::Domain(origins) => self.health.all_down(origins, self.down_for),
            Targets::Only(origin) => self.is_down(origin),
        }
    }

    /// Sends `head` (with an origin-form target) and `body` until an origin
    /// answers. An idempotent request without a body goes to the next
    /// origin after an error that allows a retry, and once more on a new
    /// connection to the same origin when a reused one died before any byte
    /// of the answer (the keep-alive race); any other request is sent once.
    /// `waited` accumulates the time spent waiting for answers.
    pub(crate) async fn send(
        &self,
        targets: Targets<'_>,
        head: RequestHead,
        body: Option<Body>,
        waited: &mut Option<Duration>,
    ) -> Result<OriginResponse, ProxyError> {
        let ordered = match &targets {
            Targets::Domain(origins) => self.health.order(origins, rand::random::<f64>()),
            Targets::Only(origin) => vec![origin],
        };
        let replayable = idempotent(&head.method) && body.is_none();
        let tries = if replayable { ordered.len() } else { 1 };
        let mut body = body;
        let mut last = None;
        let mut raced = false;
        let attempts = ordered.into_iter().take(tries).flat_map(|o| [(o, false), (o, true)]);
        for (origin, fresh) in attempts {
            if fresh && !(replayable && raced) {
                continue;
            }
            let host = host_for(origin, &head.fields);
            // One clock read for the deadline (the pool's) and the timing.
            let asked = tokio::time::Instant::now();
            let outcome = self.pools.send(origin, &head, &host, body.take(), fresh, asked).await;
            let took = asked.elapsed();
            *waited = Some(waited.unwrap_or_default() + took);
            self.metrics.response.observe(took.as_secs_f64());
            let Failed { error, reused } = match outcome {
                Ok(res) => {
                    self.health.mark_up(origin);
                    return Ok(res);
                }
                Err(failed) => failed,
            };
            tracing::warn!(origin = %origin, error = %error, fresh, reused, "origin request failed");
            self.failed(origin, &error);
            raced = reused && error.kind() == ErrorKind::OriginClosed;
            let retry = error.retryable();
            last = Some(error);
            if !retry {
                break;
            }
        }
        Err(last.unwrap_or_else(|| ProxyError::new(ErrorKind::OriginConnect, "no origin answered")))
    }

    /// Counts a failed exchange with `origin`, and marks it down for a
    /// while when it could not be reached or timed out.
    fn failed(&self, origin: &Origin, error: &ProxyError) {
        match error.kind() {
            ErrorKind::OriginTimeout => self.metrics.timeouts.inc(),
            _ => self.metrics.errors.inc(),
        }
        if matches!(error.kind(), ErrorKind::OriginConnect | ErrorKind::OriginTimeout) {
            self.health.mark_down(origin, self.down_for);
        }
    }

    /// Sends a GET without a body, `head`, to the peer edge `peer`, once
    /// more on a new connection when a reused one died before any byte of
    /// the answer; a peer that cannot be reached or times out is marked
    /// down like an origin. Kept apart from [`Upstream::send`] so that
    /// the MISS path's one call of it stays inlined (a second call site
    /// cost 136 instructions per MISS, callgrind).
    pub(crate) async fn send_to_peer(
        &self,
        peer: &Origin,
        head: RequestHead,
        waited: &mut Option<Duration>,
    ) -> Result<OriginResponse, ProxyError> {
        let host = host_for(peer, &head.fields);
        let mut fresh = false;
        loop {
            let asked = tokio::time::Instant::now();
            let outcome = self.pools.send(peer, &head, &host, None, fresh, asked).await;
            let took = asked.elapsed();
            *waited = Some(waited.unwrap_or_default() + took);
            self.metrics.response.observe(took.as_secs_f64());
            let Failed { error, reused } = match outcome {
                Ok(res) => {
                    self.health.mark_up(peer);
                    return Ok(res);
                }
                Err(failed) => failed,
            };
            self.failed(peer, &error);
            if fresh || !(reused && error.kind() == ErrorKind::OriginClosed) {
                return Err(error);
            }
            fresh = true;
        }
    }
}

/// The `Host` sent to `origin`: its `host_header`, else the client's (as
/// forwarded in `X-Forwarded-Host`), else the origin's address. Inlined
/// into both callers: called out of line from two, a MISS cost 65 more
/// instructions (callgrind).
#[inline(always)]
fn host_for<'a>(origin: &'a Origin, fields: &'a Fields) -> Cow<'a, [u8]> {
    if let Some(h) = origin.host_header.as_deref().filter(|h| valid_host(h.as_bytes())) {
        return Cow::Borrowed(h.as_bytes());
    }
    if let Some(h) = fields.get(Known::XForwardedHost) {
        return Cow::Borrowed(h);
    }
    let o = origin.to_string();
    let authority = o.split_once("://").map_or(o.as_str(), |(_, authority)| authority);
    if valid_host(authority.as_bytes()) {
        Cow::Owned(authority.as_bytes().to_vec())
    } else {
        Cow::Borrowed(b"localhost")
    }
}

/// A value that may be written as a field value (no control byte).
fn valid_host(h: &[u8]) -> bool {
    http::HeaderValue::from_bytes(h).is_ok()
}

fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::IpAddr;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let mut cases: Vec<IpAddr> = ["0.0.0.0", "255.255.255.255", "10.0.100.9", "1.20.199.7", "::", "::1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        cases.push(IpAddr::V6(std::net::Ipv6Addr::new(
            0xffff, 0xabcd, 1, 2, 3, 4, 5, 0xffff,
        )));
        for _ in 0..1000 {
            cases.push(IpAddr::V4(rand::random::<u32>().into()));
            cases.push(IpAddr::V6(rand::random::<u128>().into()));
        }
        for ip in cases {
            let mut buf = [0u8; 45];
            assert_eq!(super::ip_text(ip, &mut buf), ip.to_string().as_bytes(), "{ip}");
        }
    }
}
