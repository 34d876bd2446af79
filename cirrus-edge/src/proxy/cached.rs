//! The cacheable path (GET and HEAD): the lookup, coalescing of concurrent
//! misses (cache/lock.rs), stale serving (cache/stale.rs) with its
//! background refresh, and the origin fetch that fills the cache.

use super::request::{Answer, Asked, Req, all_down};
use crate::cache::{
    CacheKey, CacheOutcome, CachedResponse, Fill, Next, StaleUse, WriteLock, ask_to_validate, may_be_encoded,
    may_serve, vary_on_encoding,
};
use crate::error::ProxyError;
use crate::head::Known;
use crate::hooks::{EdgeHooks, HitDecision};
use http::Method;
use std::sync::Arc;
use std::time::SystemTime;

pub(super) async fn through_cache<H: EdgeHooks>(req: &mut Req<'_, H>) -> Result<Answer, ProxyError> {
    let mut answer = lookup_or_fetch(req).await?;
    // (A peer edge asks for the identity response and encodes it for its
    // own clients, saying so itself: it keeps one copy.)
    if req.conf.cache.compress && !req.session.from_peer() && may_be_encoded(&answer.res.head.fields) {
        // Served compressed or not depending on the request: say so.
        vary_on_encoding(&mut answer.res.head.fields);
    }
    Ok(answer)
}

async fn lookup_or_fetch<H: EdgeHooks>(req: &mut Req<'_, H>) -> Result<Answer, ProxyError> {
    let (edge, conf, session) = (req.edge, req.conf, req.session);
    let now = SystemTime::now();
    let key = edge.hooks.cache_key(session, req.ctx);
    let head = req.is_head();
    let mut stale = None;
    // Concurrent misses for one key make one origin fetch: a waiter looks
    // again once the writer stored, takes over when it failed, and goes
    // to the origin itself otherwise.
    let mut queue = edge.cache.queue(&key);
    let (lock, may_store) = loop {
        let clock = session.clock();
        let found = edge.cache.lookup(&key, session.headers()).await;
        session.step("cache lookup", clock);
        if let Some(found) = found {
            match edge.hooks.cache_hit_filter(session, &found, req.ctx) {
                HitDecision::Serve if found.is_fresh(now) => {
                    let served = edge.cache.encoded(&conf.cache, &key, session.headers(), found).await;
                    let res = edge.cache.serve(&served, session.headers(), head, now);
                    return Ok(Answer::cached(res, CacheOutcome::HIT));
                }
                HitDecision::Miss => {}
                _ => {
                    stale = Some(found);
                    break (None, true);
                }
            }
        }
        match queue.next().await {
            Next::LookAgain => {}
            Next::Fetch { lock, may_store } => break (lock, may_store),
        }
    };
    // (A fresh entry is here only when a hook expired it: it revalidates.)
    if let Some(found) = &stale
        && !found.is_fresh(now)
        && may_serve(found, &conf.cache, StaleUse::WhileRevalidate, now)
    {
        // Stale at once; one background refresh per key.
        if let Some(held) = edge.cache.refresh_lock(&key) {
            refresh(req, key.clone(), found.clone(), held);
        }
        let served = edge
            .cache
            .encoded(&conf.cache, &key, session.headers(), found.clone())
            .await;
        let res = edge.cache.serve(&served, session.headers(), head, now);
        return Ok(Answer::cached(res, CacheOutcome::UPDATING));
    }
    let fetch = Fetch {
        key: &key,
        stale,
        lock,
        may_store,
        now,
    };
    let answer = fetch.run(req).await?;
    // What was just stored is served in the negotiated encoding too.
    if answer.cache.is_some_and(|c| c.stored)
        && conf.cache.compress
        && session.headers().contains(Known::AcceptEncoding)
        && let Some(stored) = edge.cache.lookup(&key, session.headers()).await
    {
        let served = edge
            .cache
            .encoded(&conf.cache, &key, session.headers(), stored.clone())
            .await;
        if !Arc::ptr_eq(&served, &stored) {
            let res = edge.cache.serve(&served, session.headers(), head, now);
            return Ok(Answer { res, ..answer });
        }
    }
    Ok(answer)
}

/// Refreshes `stale` in a task of its own, under `held`.
fn refresh<H: EdgeHooks>(req: &Req<'_, H>, key: CacheKey, stale: Arc<CachedResponse>, held: WriteLock) {
    let (edge, conf, session) = (req.edge.clone(), req.conf.clone(), req.session.detached());
    tokio::spawn(async move {
        let mut ctx = edge.hooks.new_ctx();
        let mut req = Req::new(&edge, &conf, &session, &mut ctx);
        let fetch = Fetch {
            key: &key,
            stale: Some(stale),
            lock: Some(held),
            may_store: true,
            now: SystemTime::now(),
        };
        match fetch.run(&mut req).await {
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
    async fn run<H: EdgeHooks>(self, req: &mut Req<'_, H>) -> Result<Answer, ProxyError> {
        // One GET for the whole response (conditional when a stale one can
        // be revalidated): what is stored answers a plain GET.
        let mut fields = req.fill_fields();
        if let Some(stale) = &self.stale {
            ask_to_validate(&mut fields, stale);
        }
        // Every origin failed a moment ago (refused, timed out): a response
        // that may be served stale on error is, at once, rather than after
        // another wait for the origin. One request per `origin_down_for`
        // tries the origin again.
        let spare = self.stale_allowed(req);
        let res = match req
            .ask(Method::GET, fields, None, spare.is_some(), Some(self.key))
            .await?
        {
            Asked::Answered(res) => res,
            Asked::Spared => {
                return spare
                    .map(|(stale, now)| stale_answer(req, stale, now))
                    .ok_or_else(all_down);
            }
            Asked::Failed(e) => return self.stale_if_error(req).ok_or(e),
        };
        if res.head.status.is_server_error()
            && let Some(answer) = self.stale_if_error(req)
        {
            return Ok(answer);
        }
        let (head, body) = req.received(res);
        let (edge, conf) = (req.edge, req.conf);
        let fill = Fill {
            policy: &conf.cache,
            key: self.key,
            request: req.session.headers(),
            head: req.is_head(),
            stale: self.stale,
            now: self.now,
            max_object_size: edge.settings.max_object_size,
            body_timeout: edge.settings.origin_timeout,
            may_store: self.may_store,
        };
        // Boxed, as the exchange is: a HIT should not carry its state.
        let (res, outcome) = Box::pin(edge.cache.admit(fill, head, body)).await?;
        if let Some(lock) = self.lock {
            lock.finish(outcome.stored);
        }
        Ok(Answer::cached(res, outcome))
    }

    /// The stale response, when it may stand in for an origin's failure now.
    fn stale_allowed<H: EdgeHooks>(&self, req: &Req<'_, H>) -> Option<(&Arc<CachedResponse>, SystemTime)> {
        let stale = self.stale.as_ref()?;
        let now = SystemTime::now();
        may_serve(stale, &req.conf.cache, StaleUse::IfError, now).then_some((stale, now))
    }

    /// The stale response instead of the origin's failure, when allowed.
    fn stale_if_error<H: EdgeHooks>(&self, req: &Req<'_, H>) -> Option<Answer> {
        let (stale, now) = self.stale_allowed(req)?;
        Some(stale_answer(req, stale, now))
    }
}

/// `stale` served in place of the origin's answer.
fn stale_answer<H: EdgeHooks>(req: &Req<'_, H>, stale: &CachedResponse, now: SystemTime) -> Answer {
    let res = req.edge.cache.serve(stale, req.session.headers(), req.is_head(), now);
    Answer::cached(res, CacheOutcome::STALE)
}
