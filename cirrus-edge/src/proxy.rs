//! The request path: each phase in order, the built-in behaviour around
//! each hook. Phases take the components they use; this file only
//! sequences them and turns a [`ProxyError`] into the answer.

use crate::body::{Body, ClientBody, ClientBodyFailure, RequestBody, content_length};
use crate::cache::{self, CacheOutcome, bypasses};
use crate::edge::Inner;
use crate::error::{ErrorKind, ProxyError};
use crate::headers::strip_hop_by_hop;
use crate::hooks::EdgeHooks;
use crate::http1::framing_problem;
use crate::route;
use crate::session::{Conn, RequestSummary, Session};
use crate::upstream::{Targets, origin_headers, upstream_head};
use cirrus_core::DomainConf;
use http::header::CONNECTION;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Version};
use http_body::Body as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod cached;
mod encoded;
mod sliced;

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Headers that would let a client turn a cached GET into something else.
const METHOD_OVERRIDES: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

/// What the phases learn on the way, for the response and the summary.
#[derive(Debug, Default)]
struct Facts {
    upstream: Option<Duration>,
    cache: Option<CacheOutcome>,
    /// Close the client connection after the answer.
    close: bool,
}

/// Answers one request; never fails (a failure is an error page).
pub(crate) async fn handle<H: EdgeHooks>(
    edge: &Arc<Inner<H>>,
    req: Request<RequestBody>,
    conn: Conn,
) -> Response<Body> {
    let started = Instant::now();
    let (mut head, body) = req.into_parts();
    let request_id = request_id(&mut head.headers);
    let mut session = Session::new(head, conn, request_id);
    let mut ctx = edge.hooks.new_ctx();
    let mut facts = Facts::default();
    let (mut res, error) = match phases(edge, &mut session, body, &mut ctx, &mut facts).await {
        Ok(res) => (res, None),
        Err(e) => {
            facts.close |= e.closes_connection();
            (edge.hooks.error_response(&session, &e, &mut ctx), Some(e))
        }
    };
    let headers = res.headers_mut();
    if let Some(c) = facts.cache {
        headers.insert(X_CACHE, HeaderValue::from_static(c.status.as_str()));
        headers.insert(CACHE_STATUS, HeaderValue::from_static(c.cache_status()));
    }
    headers.insert(X_REQUEST_ID, session.request_id_value().clone());
    if facts.close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(conf) = session.domain() {
        route::respond_for_domain(conf, session.is_tls(), headers);
    }
    edge.hooks.response_filter(&session, &mut res, &mut ctx).await;
    let summary = RequestSummary {
        status: res.status(),
        cache: facts.cache.map(|c| c.status),
        upstream: facts.upstream,
        duration: started.elapsed(),
        error,
        body_bytes: res.body().size_hint().exact(),
    };
    edge.observer.record(&session, &summary);
    edge.hooks.logging(&session, &summary, &mut ctx);
    res
}

/// The client's `X-Request-Id` when well formed, else a new one; set on the request.
fn request_id(headers: &mut HeaderMap) -> HeaderValue {
    let id = headers
        .get(&X_REQUEST_ID)
        .filter(|v| v.to_str().is_ok_and(cirrus_core::model::is_request_id))
        .cloned()
        .unwrap_or_else(new_request_id);
    headers.insert(X_REQUEST_ID, id.clone());
    id
}

/// 128 random bits in lowercase hex (the thread's generator: no system
/// call per request, unlike the OS generator behind `auth::random_hex`).
fn new_request_id() -> HeaderValue {
    let hex = cirrus_core::auth::hex(&rand::random::<[u8; 16]>());
    HeaderValue::try_from(hex).unwrap_or(HeaderValue::from_static("-"))
}

async fn phases<H: EdgeHooks>(
    edge: &Arc<Inner<H>>,
    session: &mut Session,
    body: RequestBody,
    ctx: &mut H::Ctx,
    facts: &mut Facts,
) -> Result<Response<Body>, ProxyError> {
    if let Some(why) = framing_problem(session.method(), session.headers()) {
        tracing::info!(peer = %session.peer(), why, "refused request framing");
        return Err(ProxyError::new(ErrorKind::BadRequest, "bad request framing"));
    }
    let conf = route::route(&edge.domains, session)?;
    if let Some(redirect) = route::force_https(&conf, session, edge.settings.https_port) {
        return Ok(redirect);
    }
    if let Some(early) = edge.hooks.request_filter(session, ctx).await? {
        return Ok(early);
    }
    let cacheable =
        matches!(*session.method(), Method::GET | Method::HEAD) && !bypasses(&conf.cache, session.uri().path());
    if !cacheable {
        return forward(edge, &conf, session, body, ctx, facts).await;
    }
    // The body of a GET is never read: close an HTTP/1 connection after
    // the answer rather than parse leftovers as a next request (HTTP/2
    // frames each stream, so dropping the body is enough there).
    facts.close = !body.is_end_stream() && session.version() < Version::HTTP_2;
    drop(body);
    match conf.slice_size {
        Some(size) => sliced::through_slices(edge, &conf, session, ctx, facts, size).await,
        None => cached::through_cache(edge, &conf, session, ctx, facts).await,
    }
}

/// The origins the request may go to: the hook's choice, else the domain's.
async fn targets<'a, H: EdgeHooks>(
    edge: &Inner<H>,
    conf: &'a DomainConf,
    session: &Session,
    ctx: &mut H::Ctx,
) -> Result<Targets<'a>, ProxyError> {
    Ok(match edge.hooks.select_origin(session, ctx).await? {
        Some(origin) => Targets::Only(origin),
        None => Targets::Domain(&conf.origins),
    })
}

/// The headers for the origin: the client's, hop-by-hop out, forwarding in.
fn forwarded_headers(conf: &DomainConf, session: &Session) -> HeaderMap {
    let host = route::host(session).unwrap_or(&conf.domain);
    origin_headers(conf, host, session.headers().clone(), session.conn())
}

/// Requests that skip the cache: streamed both ways, the body capped.
async fn forward<H: EdgeHooks>(
    edge: &Inner<H>,
    conf: &DomainConf,
    session: &Session,
    body: RequestBody,
    ctx: &mut H::Ctx,
    facts: &mut Facts,
) -> Result<Response<Body>, ProxyError> {
    let max = edge.settings.max_body_size;
    if content_length(session.headers()).is_some_and(|len| len > max) {
        return Err(ProxyError::new(ErrorKind::BodyTooLarge, "request body too large"));
    }
    let (body, failure) = if body.is_end_stream() {
        (None, ClientBodyFailure::default())
    } else {
        let (body, failure) = ClientBody::new(body, max);
        (Some(Body::wrap(body)), failure)
    };
    let targets = targets(edge, conf, session, ctx).await?;
    let mut up = upstream_head(
        session.method().clone(),
        session.uri(),
        forwarded_headers(conf, session),
    );
    edge.hooks.upstream_request_filter(session, &mut up, ctx).await?;
    let res = match Box::pin(edge.upstream.send(targets, up, body, &mut facts.upstream)).await {
        Ok(res) => res,
        // The client's body broke the exchange: the client's error, not the origin's.
        Err(e) => return Err(failure.get().map_or(e, |f| f.into())),
    };
    let (mut parts, body) = res.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    edge.hooks.upstream_response_filter(session, &mut parts, ctx);
    let target = session.path_and_query();
    Box::pin(cache::after_unsafe(
        &edge.cache,
        conf,
        session.method(),
        target,
        parts.status,
        &parts.headers,
    ))
    .await;
    facts.cache = Some(CacheOutcome::BYPASS);
    let body = if *session.method() == Method::HEAD {
        Body::empty()
    } else {
        Body::wrap(body)
    };
    Ok(Response::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_request_ids_are_128_random_bits_in_hex() {
        let (a, b) = (super::new_request_id(), super::new_request_id());
        let a = a.to_str().unwrap_or_default();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert!(cirrus_core::model::is_request_id(a));
        assert_ne!(Some(a), b.to_str().ok());
    }
}
