//! One request on its way through the phases ([`Req`]): the edge, the
//! domain it is for, the client's request and the hooks' context, passed
//! whole instead of piece by piece; and the one way every phase asks an
//! origin ([`Req::ask`], [`Req::received`]).

use super::Fetched;
use crate::body::Body;
use crate::cache::CacheKey;
use crate::cache::CacheOutcome;
use crate::edge::Inner;
use crate::error::{ErrorKind, ProxyError};
use crate::head::{Fields, Known, KnownSet, ResponseHead};
use crate::headers::strip_hop_by_hop;
use crate::hooks::{EdgeHooks, embedded};
use crate::reply::Reply;
use crate::route;
use crate::session::Session;
use crate::session::Tier;
use crate::shield::From;
use crate::trace::Detail;
use crate::upstream::{Forwarded, OriginBody, OriginResponse, Targets, origin_fields, upstream_head};
use cirrus_core::DomainConf;
use http::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a phase decided: the response, and what the cache made of the
/// request (`None`: the cache had no part in it).
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) res: Reply,
    pub(super) cache: Option<CacheOutcome>,
}

impl Answer {
    /// `res`, which the cache had no part in.
    pub(super) fn plain(res: impl Into<Reply>) -> Self {
        Self {
            res: res.into(),
            cache: None,
        }
    }

    /// `res`, and what the cache made of the request.
    pub(super) fn cached(res: Reply, cache: CacheOutcome) -> Self {
        Self {
            res,
            cache: Some(cache),
        }
    }
}

/// What asking the origin came to.
pub(super) enum Asked {
    /// Its answer's head (hop-by-hop fields and the response hook not yet
    /// applied: see [`Req::received`]) and body.
    Answered(OriginResponse),
    /// Not asked: every origin failed a moment ago, and the caller said it
    /// has something to serve instead.
    Spared,
    /// No origin answered.
    Failed(ProxyError),
}

impl Asked {
    /// The answer, or why there is none.
    pub(super) fn answer(self) -> Result<OriginResponse, ProxyError> {
        match self {
            Asked::Answered(res) => Ok(res),
            Asked::Failed(e) => Err(e),
            Asked::Spared => Err(all_down()),
        }
    }
}

/// Why an origin was not asked: every one failed a moment ago.
pub(super) fn all_down() -> ProxyError {
    ProxyError::new(ErrorKind::OriginConnect, "every origin is down")
}

/// A request in the phases.
pub(super) struct Req<'a, H: EdgeHooks> {
    pub(super) edge: &'a Arc<Inner<H>>,
    pub(super) conf: &'a Arc<DomainConf>,
    pub(super) session: &'a Session,
    pub(super) ctx: &'a mut H::Ctx,
    /// How long origins took to answer, when one was asked.
    pub(super) upstream: Option<Duration>,
    /// Which tier gave the answer used, when one was asked.
    pub(super) tier: Option<Tier>,
}

impl<'a, H: EdgeHooks> Req<'a, H> {
    pub(super) fn new(
        edge: &'a Arc<Inner<H>>,
        conf: &'a Arc<DomainConf>,
        session: &'a Session,
        ctx: &'a mut H::Ctx,
    ) -> Self {
        Self {
            edge,
            conf,
            session,
            ctx,
            upstream: None,
            tier: None,
        }
    }

    /// What this request asked upstream.
    pub(super) fn fetched(&self) -> Fetched {
        Fetched {
            upstream: self.upstream,
            tier: self.tier,
        }
    }

    /// The client asked for the head only.
    pub(super) fn is_head(&self) -> bool {
        *self.session.method() == Method::HEAD
    }

    /// The client's fields for the origin: hop-by-hop out, forwarding in.
    pub(super) fn forwarded_fields(&self) -> Fields {
        let host = route::host(self.session).unwrap_or(&self.conf.domain);
        let from = Forwarded {
            conn: self.session.conn(),
            peer_edge: self.session.from_peer(),
        };
        let mut fields = origin_fields(self.conf, host, self.session.headers(), from);
        if let Some(trace) = self.session.trace() {
            crate::trace::propagate(trace, &mut fields);
        }
        fields
    }

    /// Records a traced exchange with an origin or a peer edge that
    /// started at `clock`, with its connection's steps when it opened one.
    pub(super) fn exchanged(&self, name: &'static str, clock: Option<Instant>, res: Option<&OriginResponse>) {
        if let Some(trace) = self.session.trace() {
            let opened = res.and_then(|r| r.opened);
            trace.step(name, clock, Detail::Exchange { opened });
        }
    }

    /// The fields of a GET that fills the cache: the forwarded ones
    /// without the client's conditionals, range and method overrides (what
    /// is stored answers a plain GET).
    pub(super) fn fill_fields(&self) -> Fields {
        const NOT_FOR_A_FILL: KnownSet = KnownSet::of(&[
            Known::IfNoneMatch,
            Known::IfModifiedSince,
            Known::IfRange,
            Known::Range,
            // These would let a client turn a cached GET into something else.
            Known::XHttpMethodOverride,
            Known::XHttpMethod,
            Known::XMethodOverride,
        ]);
        let mut fields = self.forwarded_fields();
        fields.remove_all(NOT_FOR_A_FILL);
        fields
    }

    /// Asks an origin (the hook's choice, else the domain's) `method` for
    /// the request's target with `fields` and `body`, through the request
    /// hook. A fill for the cache (`fill`, the object's key) of a domain
    /// with shielding asks the key's owner edges first (shielded.rs).
    /// With `spare`, an origin is not asked when every one failed a
    /// moment ago. An error is the hooks' or the route's; a failed exchange
    /// is [`Asked::Failed`].
    pub(super) async fn ask(
        &mut self,
        method: Method,
        fields: Fields,
        body: Option<Body>,
        spare: bool,
        fill: Option<&CacheKey>,
    ) -> Result<Asked, ProxyError> {
        let conf: &'a DomainConf = self.conf;
        let hooked = embedded::<H>();
        let clock = self.session.clock().filter(|_| hooked);
        let chosen = self.edge.hooks.select_origin(self.session, self.ctx).await;
        self.session.step("hook select_origin", clock);
        let targets = match chosen? {
            Some(origin) => Targets::Only(origin),
            None => Targets::Domain(&conf.origins),
        };
        // A peer's request, or one whose origin a hook chose, is never
        // passed to a third edge.
        let shielded = !conf.shield.is_off() && !self.session.from_peer() && matches!(targets, Targets::Domain(_));
        let shielded_fill = fill.filter(|_| shielded);
        // (A shielded fill asks the peers, which may have it, first.)
        let spared = || spare && self.edge.upstream.all_down(&targets);
        if shielded_fill.is_none() && spared() {
            return Ok(Asked::Spared);
        }
        let mut up = upstream_head(method, self.session.uri(), fields);
        let clock = self.session.clock().filter(|_| hooked);
        let filtered = self
            .edge
            .hooks
            .upstream_request_filter(self.session, &mut up, self.ctx)
            .await;
        self.session.step("hook upstream_request_filter", clock);
        filtered?;
        if let Some(key) = shielded_fill {
            if let Some(res) = Box::pin(self.ask_peers(key, &up)).await {
                self.tier = Some(Tier::Peer);
                return Ok(Asked::Answered(res));
            }
            if spared() {
                return Ok(Asked::Spared);
            }
        }
        // Boxed: the origin exchange's state is most of a request's, and a
        // HIT should not carry (and move) it. Unboxed it saved about 250
        // instructions per MISS but grew every connection's task by 2 KiB,
        // idle keep-alive connections included (docs/performance.md).
        let clock = self.session.clock();
        let sent = Box::pin(self.edge.upstream.send(targets, up, body, &mut self.upstream)).await;
        self.exchanged("origin", clock, sent.as_ref().ok());
        Ok(match sent {
            Ok(mut res) => {
                self.tier = Some(Tier::Origin);
                if shielded_fill.is_some() {
                    let bytes = self.edge.shield.metrics.fetched(&conf.domain, From::Origin);
                    res.body = res.body.counted(bytes);
                }
                Asked::Answered(res)
            }
            Err(e) => Asked::Failed(e),
        })
    }

    /// An origin's answer as the rest of the edge sees it: hop-by-hop
    /// fields out, then the response hook.
    pub(super) fn received(&mut self, res: OriginResponse) -> (ResponseHead, OriginBody) {
        let OriginResponse { mut head, body, .. } = res;
        strip_hop_by_hop(&mut head.fields);
        // A refusal's mark is for the edge that asked, never passed on.
        head.fields.remove(Known::CirrusShield);
        self.edge
            .hooks
            .upstream_response_filter(self.session, &mut head, self.ctx);
        (head, body)
    }
}
