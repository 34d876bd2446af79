//! The cacheable path (GET and HEAD): the lookup, coalescing of concurrent
//! misses (cache/lock.rs), stale serving (cache/stale.rs) with its
//! background refresh, and the origin fetch that fills the cache.

use super::encoded::negotiated;
use super::{Facts, METHOD_OVERRIDES, forwarded_headers, targets};
use crate::body::Body;
use crate::cache::{
    CacheKey, CacheOutcome, CachedResponse, Fill, Outcome, StaleUse, Turn, WriteLock, ask_to_validate, from_cache,
    may_serve,
};
use crate::cache::{may_be_encoded, vary_on_encoding};
use crate::edge::Inner;
use crate::error::ProxyError;
use crate::headers::{remove_where, strip_hop_by_hop};
use crate::hooks::{EdgeHooks, HitDecision};
use crate::session::Session;
use crate::upstream::upstream_head;
use cirrus_core::DomainConf;
use http::header::{ACCEPT_ENCODING, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, RANGE};
use http::{Method, Response};
use std::sync::Arc;
use std::time::SystemTime;

pub(super) async fn through_cache<H: EdgeHooks>(
    edge: &Arc<Inner<H>>,
    conf: &Arc<DomainConf>,
    session: &Session,
    ctx: &mut H::Ctx,
    facts: &mut Facts,
) -> Result<Response<Body>, ProxyError> {
    let mut res = lookup_or_fetch(edge, conf, session, ctx, facts).await?;
    if conf.cache.compress && may_be_encoded(res.headers()) {
        // Served compressed or not depending on the request: say so.
        vary_on_encoding(res.headers_mut());
    }
    Ok(res)
}

async fn lookup_or_fetch<H: EdgeHooks>(
    edge: &Arc<Inner<H>>,
    conf: &Arc<DomainConf>,
    session: &Session,
    ctx: &mut H::Ctx,
    facts: &mut Facts,
) -> Result<Response<Body>, ProxyError> {
    let now = SystemTime::now();
    let key = edge.hooks.cache_key(session, ctx);
    let head = *session.method() == Method::HEAD;
    let mut stale = None;
    let mut lock = None;
    let mut may_store = true;
    // Concurrent misses for one key make one origin fetch: a waiter looks
    // again once the writer stored, takes over when it failed, and goes
    // to the origin itself otherwise.
    for round in 0..3 {
        if let Some(found) = edge.cache.lookup(&key, session.headers()).await {
            match edge.hooks.cache_hit_filter(session, &found, ctx) {
                HitDecision::Serve if found.is_fresh(now) => {
                    facts.cache = Some(CacheOutcome::HIT);
                    let served = negotiated(edge, conf, session, &key, found).await;
                    return Ok(from_cache(&served, session.headers(), head, now));
                }
                HitDecision::Miss => {}
                _ => stale = Some(found),
            }
        }
        if stale.is_some() || round == 2 {
            break;
        }
        match edge.locks.turn(key.text()).await {
            Turn::Write(held) => {
                lock = Some(held);
                break;
            }
            Turn::Waited(Outcome::Stored | Outcome::Failed) => {}
            Turn::Waited(Outcome::Pending) => {
                may_store = false;
                break;
            }
            Turn::Waited(Outcome::NotStored) | Turn::Alone => break,
        }
    }
    // (A fresh entry is here only when a hook expired it: it revalidates.)
    if let Some(found) = &stale
        && !found.is_fresh(now)
        && may_serve(found, &conf.cache, StaleUse::WhileRevalidate, now)
    {
        // Stale at once; one background refresh per key.
        if let Some(held) = edge.locks.try_write(key.text()) {
            refresh(edge, conf, session, key.clone(), found.clone(), held);
        }
        facts.cache = Some(CacheOutcome::UPDATING);
        let served = negotiated(edge, conf, session, &key, found.clone()).await;
        return Ok(from_cache(&served, session.headers(), head, now));
    }
    let fetch = Fetch {
        key: &key,
        stale,
        lock,
        may_store,
        now,
    };
    let res = fetch.run(edge, conf, session, ctx, facts).await?;
    // What was just stored is served in the negotiated encoding too.
    if facts.cache.is_some_and(|c| c.stored)
        && conf.cache.compress
        && session.headers().contains_key(ACCEPT_ENCODING)
        && let Some(stored) = edge.cache.lookup(&key, session.headers()).await
    {
        let served = negotiated(edge, conf, session, &key, stored.clone()).await;
        if !Arc::ptr_eq(&served, &stored) {
            return Ok(from_cache(&served, session.headers(), head, now));
        }
    }
    Ok(res)
}

/// Refreshes `stale` in a task of its own, under `held`.
fn refresh<H: EdgeHooks>(
    edge: &Arc<Inner<H>>,
    conf: &Arc<DomainConf>,
    session: &Session,
    key: CacheKey,
    stale: Arc<CachedResponse>,
    held: WriteLock,
) {
    let (edge, conf, session) = (edge.clone(), conf.clone(), session.detached());
    tokio::spawn(async move {
        let mut ctx = edge.hooks.new_ctx();
        let mut facts = Facts::default();
        let fetch = Fetch {
            key: &key,
            stale: Some(stale),
            lock: Some(held),
            may_store: true,
            now: SystemTime::now(),
        };
        match fetch.run(&edge, &conf, &session, &mut ctx, &mut facts).await {
            Ok(_) => tracing::debug!(key = key.text(), "refreshed in the background"),
            Err(e) => tracing::info!(key = key.text(), error = %e, "background refresh failed"),
        }
    });
}

/// One GET to the origin for a key, and what the cache makes of it.
struct Fetch<'a> {
    key: &'a CacheKey,
    /// The stored response that was stale (or set aside), if any.
    stale: Option<Arc<CachedResponse>>,
    /// The coalescing lock this fetch holds, if any.
    lock: Option<WriteLock>,
    may_store: bool,
    now: SystemTime,
}

impl Fetch<'_> {
    async fn run<H: EdgeHooks>(
        self,
        edge: &Inner<H>,
        conf: &DomainConf,
        session: &Session,
        ctx: &mut H::Ctx,
        facts: &mut Facts,
    ) -> Result<Response<Body>, ProxyError> {
        let head = *session.method() == Method::HEAD;
        // One GET for the whole response (conditional when a stale one can
        // be revalidated): what is stored answers a plain GET.
        let mut headers = forwarded_headers(conf, session);
        remove_where(&mut headers, |name| {
            [IF_NONE_MATCH, IF_MODIFIED_SINCE, IF_RANGE, RANGE].contains(name)
                || METHOD_OVERRIDES.contains(&name.as_str())
        });
        if let Some(stale) = &self.stale {
            ask_to_validate(&mut headers, stale);
        }
        let targets = targets(edge, conf, session, ctx).await?;
        // Every origin failed a moment ago (refused, timed out): a response
        // that may be served stale on error is, at once, rather than after
        // another wait for the origin. One request per `origin_down_for`
        // tries the origin again.
        if edge.upstream.all_down(&targets)
            && let Some(res) = self.stale_if_error(conf, session, facts)
        {
            return Ok(res);
        }
        let mut up = upstream_head(Method::GET, session.uri(), headers);
        edge.hooks.upstream_request_filter(session, &mut up, ctx).await?;
        // The origin exchange and the fill are boxed: their state is most
        // of a request's, and a HIT should not carry (and move) it.
        let res = match Box::pin(edge.upstream.send(targets, up, None, &mut facts.upstream)).await {
            Ok(res) => res,
            Err(e) => return self.stale_if_error(conf, session, facts).ok_or(e),
        };
        let (mut parts, body) = res.into_parts();
        if parts.status.is_server_error()
            && let Some(res) = self.stale_if_error(conf, session, facts)
        {
            return Ok(res);
        }
        strip_hop_by_hop(&mut parts.headers);
        edge.hooks.upstream_response_filter(session, &mut parts, ctx);
        let fill = Fill {
            tiers: &edge.cache,
            policy: &conf.cache,
            key: self.key,
            request: session.headers(),
            head,
            stale: self.stale,
            now: self.now,
            max_object_size: edge.settings.max_object_size,
            body_timeout: edge.settings.origin_timeout,
            may_store: self.may_store,
        };
        let (res, outcome) = Box::pin(fill.answer(parts, body)).await?;
        if let Some(lock) = self.lock {
            lock.finish(outcome.stored);
        }
        facts.cache = Some(outcome);
        Ok(res)
    }

    /// The stale response instead of the origin's failure, when allowed.
    fn stale_if_error(&self, conf: &DomainConf, session: &Session, facts: &mut Facts) -> Option<Response<Body>> {
        let stale = self.stale.as_ref()?;
        let now = SystemTime::now();
        if !may_serve(stale, &conf.cache, StaleUse::IfError, now) {
            return None;
        }
        facts.cache = Some(CacheOutcome::STALE);
        Some(from_cache(
            stale,
            session.headers(),
            *session.method() == Method::HEAD,
            now,
        ))
    }
}
