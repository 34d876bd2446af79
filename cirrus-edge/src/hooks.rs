//! The embedding seam: [`EdgeHooks`], one method per request phase, each
//! defaulted to what the edge does by itself. The edge's own behaviour
//! runs through the same phases with [`DefaultHooks`].

use crate::body::Body;
use crate::cache::{CacheKey, CachedResponse};
use crate::error::ProxyError;
use crate::head::{Known, RequestHead, ResponseHead};
use crate::session::{RequestSummary, Session};
use cirrus_core::model::Origin;
use http::Response;
use std::future::Future;

/// What to do with a stored response found for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HitDecision {
    /// Use it as the cache says: served while fresh, revalidated once stale.
    Serve,
    /// Treat it as expired: revalidate it with the origin now.
    Expire,
    /// Ignore it: fetch a new response as if nothing were stored.
    Miss,
}

/// Logic an embedder adds to the edge, phase by phase, in request order.
///
/// Every method has a default that keeps the edge's own behaviour, so an
/// implementation overrides only what it changes. The operator's
/// per-domain settings (routing, `force_https`, HSTS, header edits) and
/// the metrics are applied around the hooks and cannot be lost by
/// overriding one. Hooks run on the request's task: keep them quick and
/// never block.
///
/// ```
/// use cirrus_edge::head::ResponseHead;
/// use cirrus_edge::{Body, EdgeHooks, ProxyError, Session};
/// use http::{Response, StatusCode};
///
/// /// Refuses `/admin` and tags every answer.
/// struct Guard;
///
/// impl EdgeHooks for Guard {
///     type Ctx = ();
///     fn new_ctx(&self) {}
///
///     async fn request_filter(&self, s: &mut Session, _: &mut ()) -> Result<Option<Response<Body>>, ProxyError> {
///         if s.uri().path().starts_with("/admin") {
///             let mut res = Response::new(Body::full("no\n"));
///             *res.status_mut() = StatusCode::FORBIDDEN;
///             return Ok(Some(res));
///         }
///         Ok(None)
///     }
///
///     async fn response_filter(&self, _: &Session, res: &mut ResponseHead, _: &mut ()) {
///         res.fields.insert("x-guarded", "1").expect("a valid field");
///     }
/// }
/// ```
pub trait EdgeHooks: Send + Sync + 'static {
    /// State carried through one request's phases.
    type Ctx: Send + 'static;

    /// A new context, at the start of each request.
    fn new_ctx(&self) -> Self::Ctx;

    /// Right after routing (the session has its domain). Answer early with
    /// `Ok(Some(response))` (a block, a redirect), refuse with an error
    /// (answered by [`EdgeHooks::error_response`]), or go on with `Ok(None)`.
    /// Default: go on.
    fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Self::Ctx,
    ) -> impl Future<Output = Result<Option<Response<Body>>, ProxyError>> + Send {
        let _ = (session, ctx);
        async { Ok(None) }
    }

    /// The key a cacheable request (GET, HEAD) is stored and looked up
    /// under. Default: [`CacheKey::for_session`], the domain's key options.
    fn cache_key(&self, session: &Session, ctx: &mut Self::Ctx) -> CacheKey {
        let _ = ctx;
        CacheKey::for_session(session)
    }

    /// When a stored response is found: serve it, treat it as expired, or
    /// ignore it. Default: [`HitDecision::Serve`].
    fn cache_hit_filter(&self, session: &Session, hit: &CachedResponse, ctx: &mut Self::Ctx) -> HitDecision {
        let _ = (session, hit, ctx);
        HitDecision::Serve
    }

    /// The origin to ask. `Ok(Some(origin))` sends there alone (no
    /// failover); `Ok(None)` (the default) takes the domain's origins by
    /// weight, backups after primaries, failed ones last.
    fn select_origin(
        &self,
        session: &Session,
        ctx: &mut Self::Ctx,
    ) -> impl Future<Output = Result<Option<Origin>, ProxyError>> + Send {
        let _ = (session, ctx);
        async { Ok(None) }
    }

    /// The request head about to go to the origin (origin-form target,
    /// forwarding headers and the domain's edits already applied).
    /// Default: unchanged.
    fn upstream_request_filter(
        &self,
        session: &Session,
        request: &mut RequestHead,
        ctx: &mut Self::Ctx,
    ) -> impl Future<Output = Result<(), ProxyError>> + Send {
        let _ = (session, request, ctx);
        async { Ok(()) }
    }

    /// The origin's response head (hop-by-hop fields removed), before the
    /// cache decides on it: what this leaves is what gets stored. Default:
    /// unchanged.
    fn upstream_response_filter(&self, session: &Session, response: &mut ResponseHead, ctx: &mut Self::Ctx) {
        let _ = (session, response, ctx);
    }

    /// The head of every response about to go to the client, hits and
    /// error pages included (the domain's response header edits, `Via`
    /// and HSTS already applied). Default: unchanged.
    fn response_filter(
        &self,
        session: &Session,
        response: &mut ResponseHead,
        ctx: &mut Self::Ctx,
    ) -> impl Future<Output = ()> + Send {
        let _ = (session, response, ctx);
        async {}
    }

    /// The page sent when the request could not be proxied. Default:
    /// [`ProxyError::default_response`], the status with a one-line text.
    fn error_response(&self, session: &Session, error: &ProxyError, ctx: &mut Self::Ctx) -> Response<Body> {
        let _ = (session, ctx);
        error.default_response()
    }

    /// Last, once the response head is sent on its way (the access log
    /// line is written before). Default: nothing.
    fn logging(&self, session: &Session, summary: &RequestSummary, ctx: &mut Self::Ctx) {
        let _ = (session, summary, ctx);
    }
}

impl CacheKey {
    /// The key the edge uses by default for `session`: its domain's key
    /// options over the request's path, query and headers. A session
    /// without a domain (never the case once routed) keys by its `Host`.
    pub fn for_session(session: &Session) -> Self {
        let default = cirrus_core::model::CacheKeyOptions::default();
        let (host, options) = match session.domain() {
            Some(conf) => (conf.domain.as_str(), &conf.cache.key),
            None => (session.headers().get_str(Known::Host).unwrap_or(""), &default),
        };
        Self::new(host, session.path_and_query(), session.headers(), options)
    }
}

/// The edge's own behaviour: every phase at its default.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultHooks;

impl EdgeHooks for DefaultHooks {
    type Ctx = ();
    fn new_ctx(&self) {}
}

/// Whether `H`'s hooks are an embedder's (traced as steps of a sampled
/// request) rather than the defaults, which do nothing worth a span.
pub(crate) fn embedded<H: EdgeHooks>() -> bool {
    std::any::TypeId::of::<H>() != std::any::TypeId::of::<DefaultHooks>()
}
