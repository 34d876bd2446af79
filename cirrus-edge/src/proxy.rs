//! The request path: each phase in order, the built-in behaviour around
//! each hook. Phases take the request ([`request::Req`]) and return what
//! they decided ([`request::Answer`]); this file sequences them, turns a
//! [`ProxyError`] into the answer, and finishes every answer in one place.

use crate::body::{Body, ClientBody, ClientBodyFailure, RequestBody, content_length};
use crate::cache::{CacheOutcome, bypasses};
use crate::edge::Inner;
use crate::error::{ErrorKind, ProxyError};
use crate::head::{Fields, Known, RequestHead};
use crate::headers::{CDN_LOOP_LIMIT, cdn_loop_passes};
use crate::hooks::{EdgeHooks, embedded};
use crate::http1::framing_problem;
use crate::reply::Reply;
use crate::route;
use crate::session::{Conn, RequestId, RequestSummary, Session, Tier};
use crate::shield::Signed;
use cirrus_core::DomainConf;
use http::{Method, Version};
use http_body::Body as _;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod cached;
mod request;
mod shielded;
mod sliced;

use request::{Answer, Req};

/// Answers one request; never fails (a failure is an error page).
pub(crate) async fn handle<H: EdgeHooks>(
    edge: &Arc<Inner<H>>,
    mut head: RequestHead,
    body: RequestBody,
    conn: Conn,
) -> Reply {
    let started = Instant::now();
    let request_id = request_id(&mut head.fields);
    let trace = edge.tracing.as_ref().map(|t| t.start(&head.fields));
    let mut session = Session::new(head, conn, request_id, trace);
    let mut ctx = edge.hooks.new_ctx();
    let (answer, Fetched { upstream, tier }, close) = phases(edge, &mut session, body, &mut ctx).await;
    let (answer, close, error) = match answer {
        Ok(answer) => (answer, close, None),
        Err(e) => {
            let res = edge.hooks.error_response(&session, &e, &mut ctx);
            (Answer::plain(res), close || e.closes_connection(), Some(e))
        }
    };
    let cache = answer.cache.map(|c| c.status);
    let mut res = finish(edge, &session, answer, close, &mut ctx).await;
    if session.from_peer() {
        shield_answer(edge, &session, &mut res);
    }
    if error.is_some() && session.headers().contains(Known::CirrusShield) {
        // This edge's own error page (a refused credential, a domain it
        // does not serve yet, an origin that failed it) tells an edge that
        // asked it as a shield to go on without it: the origin may answer.
        res.head.fields.insert_own(Known::CirrusShield, b"refused");
    }
    let summary = RequestSummary {
        status: res.head.status,
        cache,
        upstream,
        tier: tier.or(cache.map(|_| Tier::Cache)),
        duration: started.elapsed(),
        error,
        body_bytes: res.body.size_hint().exact(),
    };
    edge.observer.record(&session, &summary);
    if let (Some(tracing), Some(trace)) = (&edge.tracing, session.trace()) {
        crate::trace::emit(tracing, trace, || crate::observe::request_span(&session, &summary));
    }
    edge.hooks.logging(&session, &summary, &mut ctx);
    res
}

/// An answer to a peer edge: counted, its body's bytes too.
fn shield_answer<H: EdgeHooks>(edge: &Inner<H>, session: &Session, res: &mut Reply) {
    let host = session.domain().map_or("unknown", |c| c.domain.as_str());
    let bytes = edge.shield.metrics.served(host);
    let body = std::mem::replace(&mut res.body, Body::empty());
    res.body = Body::wrap(crate::body::Counted::new(body, bytes));
}

/// The answer as the client gets it: what the cache made of the request,
/// the request id, `Connection: close` when the connection ends (`close`),
/// the domain's response headers, then the response hook.
async fn finish<H: EdgeHooks>(
    edge: &Inner<H>,
    session: &Session,
    answer: Answer,
    close: bool,
    ctx: &mut H::Ctx,
) -> Reply {
    let Answer { mut res, cache } = answer;
    let fields = &mut res.head.fields;
    fields.reserve(6, 160);
    // The values below are constant tokens or a checked request id: valid.
    if let Some(c) = cache {
        fields.insert_own(Known::XCache, c.status.as_str().as_bytes());
        // After the members of the caches before this one (RFC 9211 §2).
        fields.append_own(Known::CacheStatus, c.cache_status().as_bytes());
    }
    fields.insert_own(Known::XRequestId, session.request_id_value().as_bytes());
    if close {
        fields.insert_own(Known::Connection, b"close");
    }
    // A peer edge applies the domain's response edits itself, to what it
    // stores: an edit such as removing `Cache-Control` must not reach its
    // cache.
    if let Some(conf) = session.domain().filter(|_| !session.from_peer()) {
        route::respond_for_domain(conf, session.is_tls(), fields);
    }
    let clock = session.clock().filter(|_| embedded::<H>());
    edge.hooks.response_filter(session, &mut res.head, ctx).await;
    session.step("hook response_filter", clock);
    res
}

/// The client's `X-Request-Id` when well formed, else a new one; set on the request.
fn request_id(fields: &mut Fields) -> RequestId {
    let given = fields
        .get_str(Known::XRequestId)
        .filter(|v| cirrus_core::model::is_request_id(v))
        .map(Box::<str>::from);
    match given {
        Some(id) if fields.get_all(Known::XRequestId).nth(1).is_none() => RequestId::Given(id),
        // The origin gets one value: the client's alone, or a new one.
        id => {
            let id = id.map_or_else(RequestId::new, RequestId::Given);
            fields.insert_own(Known::XRequestId, id.as_bytes());
            id
        }
    }
}

/// What the phases asked upstream: how long answers took, and which tier
/// gave the one used.
#[derive(Debug, Default)]
struct Fetched {
    upstream: Option<Duration>,
    tier: Option<Tier>,
}

/// The phases: what they answered (or why they failed), what they asked
/// upstream, and whether the client connection closes whatever the answer.
async fn phases<H: EdgeHooks>(
    edge: &Arc<Inner<H>>,
    session: &mut Session,
    body: RequestBody,
    ctx: &mut H::Ctx,
) -> (Result<Answer, ProxyError>, Fetched, bool) {
    let conf = match routed(edge, session, ctx).await {
        Ok(ControlFlow::Continue(conf)) => conf,
        Ok(ControlFlow::Break(res)) => return (Ok(Answer::plain(res)), Fetched::default(), false),
        Err(e) => return (Err(e), Fetched::default(), false),
    };
    let mut req = Req::new(edge, &conf, session, ctx);
    let cacheable =
        matches!(*req.session.method(), Method::GET | Method::HEAD) && !bypasses(&conf.cache, req.session.uri().path());
    if !cacheable {
        let answer = forward(&mut req, body).await;
        return (answer, req.fetched(), false);
    }
    // The body of a GET is never read: close an HTTP/1 connection after
    // the answer rather than parse leftovers as a next request (HTTP/2
    // frames each stream, so dropping the body is enough there).
    let close = !body.is_end_stream() && req.session.version() < Version::HTTP_2;
    drop(body);
    let answer = match conf.slice_size {
        Some(size) => sliced::through_slices(&mut req, size).await,
        None => cached::through_cache(&mut req).await,
    };
    (answer, req.fetched(), close)
}

/// The phases before the origin: framing checked, the domain found, then
/// the redirect to HTTPS and the request hook, either of which may answer.
async fn routed<H: EdgeHooks>(
    edge: &Inner<H>,
    session: &mut Session,
    ctx: &mut H::Ctx,
) -> Result<ControlFlow<Reply, Arc<DomainConf>>, ProxyError> {
    if let Some(why) = framing_problem(session.method(), session.headers()) {
        tracing::info!(peer = %session.peer(), why, "refused request framing");
        return Err(ProxyError::new(ErrorKind::BadRequest, "bad request framing"));
    }
    let passes = cdn_loop_passes(session.headers());
    if passes > CDN_LOOP_LIMIT {
        tracing::info!(peer = %session.peer(), passes, "refused a request that looped through the edges");
        return Err(ProxyError::new(
            ErrorKind::LoopDetected,
            "loop detected: this request already went through Cirrus edges too many times (CDN-Loop)",
        ));
    }
    let conf = route::route(&edge.domains, session)?;
    if let Some(value) = session.headers().get(Known::CirrusShield) {
        let what = Signed {
            method: session.method().as_str(),
            domain: &conf.domain,
            target: session.path_and_query(),
        };
        match edge.shield.admit(value, what) {
            Ok(node) => tracing::debug!(node, "a shield request from a peer edge"),
            Err(why) => {
                tracing::info!(peer = %session.peer(), why, "refused a shield credential");
                return Err(ProxyError::new(
                    ErrorKind::ShieldRefused,
                    format!("shield credential refused: {why}"),
                ));
            }
        }
        session.set_from_peer();
    }
    // A peer speaks plain HTTP to this edge, for a client of its own.
    if !session.from_peer()
        && let Some(redirect) = route::force_https(&conf, session, edge.settings.https_port)
    {
        return Ok(ControlFlow::Break(redirect.into()));
    }
    let clock = session.clock().filter(|_| embedded::<H>());
    let early = edge.hooks.request_filter(session, ctx).await;
    session.step("hook request_filter", clock);
    if let Some(early) = early? {
        return Ok(ControlFlow::Break(early.into()));
    }
    Ok(ControlFlow::Continue(conf))
}

/// Requests that skip the cache: streamed both ways, the body capped.
async fn forward<H: EdgeHooks>(req: &mut Req<'_, H>, body: RequestBody) -> Result<Answer, ProxyError> {
    let (edge, session) = (req.edge, req.session);
    let max = edge.settings.max_body_size;
    let declared = content_length(session.headers());
    if declared.is_some_and(|len| len > max) {
        return Err(ProxyError::new(ErrorKind::BodyTooLarge, "request body too large"));
    }
    let (body, failure) = if body.is_end_stream() {
        (None, ClientBodyFailure::default())
    } else {
        let (body, failure) = ClientBody::new(body, max);
        (Some(Body::wrap(body)), failure)
    };
    let fields = req.forwarded_fields();
    let res = match req
        .ask(session.method().clone(), fields, body, false, None)
        .await?
        .answer()
    {
        Ok(res) => res,
        // The client's body broke the exchange: the client's error, not the origin's.
        Err(e) => return Err(failure.get().map_or(e, |f| f.into())),
    };
    let (head, body) = req.received(res);
    let target = session.path_and_query();
    Box::pin(
        edge.cache
            .after_unsafe(req.conf, session.method(), target, head.status, &head.fields),
    )
    .await;
    let body = if req.is_head() { Body::empty() } else { Body::wrap(body) };
    Ok(Answer::cached(Reply::new(head, body), CacheOutcome::BYPASS))
}
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn new_request_ids_are_128_bits_in_hex_and_never_repeat() {
        let ids: std::collections::HashSet<String> = (0..10_000)
            .map(|_| super::RequestId::new().as_str().to_string())
            .collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            assert!(cirrus_core::model::is_request_id(id));
        }
        // Another thread starts its sequence elsewhere.
        let other = std::thread::spawn(|| super::RequestId::new().as_str().to_string())
            .join()
            .unwrap();
        assert!(!ids.contains(&other));
    }
}
