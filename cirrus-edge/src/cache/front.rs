//! The cache as the request path uses it, one component: look up (whole
//! objects, slices), take a turn at a key (coalescing), admit what an
//! origin answered, serve a stored response (in the encoding the request
//! accepts), invalidate (by key here; after an unsafe method, in
//! invalidate.rs). The tiers, the locks and the policy code behind it stay
//! private to the cache.

use super::encode::{compressible, encoded_key, negotiate, variant};
use super::entry::CachedResponse;
use super::key::CacheKey;
use super::lock::{CacheLocks, Queue, WriteLock};
use super::policy::{Exchange, Storability};
use super::serve::{Fill, entry_of, from_cache};
use super::slice::{Version, content_range, slice_key};
use super::status::CacheOutcome;
use super::tiers::Tiers;
use crate::body::BoxError;
use crate::error::ProxyError;
use crate::head::{Fields, Known, ResponseHead};
use crate::reply::Reply;
use bytes::Bytes;
use cirrus_core::model::CachePolicy;
use http::{Method, StatusCode};
use std::sync::Arc;
use std::time::SystemTime;

/// Bodies larger than this are compressed off the request's thread.
const INLINE_MAX: usize = 64 * 1024;

/// A slice an origin sent: of which object, under which key
/// ([`slice_key`]), its head and bytes.
#[derive(Debug)]
pub(crate) struct SliceAnswer<'a> {
    pub(crate) key: &'a CacheKey,
    pub(crate) slice: &'a CacheKey,
    pub(crate) head: ResponseHead,
    pub(crate) bytes: Bytes,
}

/// An edge's cache: its tiers and its coalescing locks.
#[derive(Debug)]
pub(crate) struct Cache {
    tiers: Arc<Tiers>,
    locks: Arc<CacheLocks>,
}

impl Cache {
    pub(crate) fn new(tiers: Arc<Tiers>, locks: CacheLocks) -> Self {
        Self {
            tiers,
            locks: Arc::new(locks),
        }
    }

    /// The tiers, for purges, health and metrics.
    pub(crate) fn tiers(&self) -> &Arc<Tiers> {
        &self.tiers
    }

    /// The stored response for a request with `request` headers to `key`,
    /// fresh or not.
    pub(crate) async fn lookup(&self, key: &CacheKey, request: &Fields) -> Option<Arc<CachedResponse>> {
        self.tiers.lookup(key, request).await
    }

    /// The slice of `key` stored under `slice` ([`slice_key`]) when it is
    /// fresh at `now` and a part: with the version of the object it is of.
    pub(crate) async fn lookup_slice(
        &self,
        key: &CacheKey,
        slice: &CacheKey,
        request: &Fields,
        now: SystemTime,
    ) -> Option<(Arc<CachedResponse>, Version)> {
        let found = self.tiers.lookup_derived(key, slice, request).await?;
        let (_, total) = content_range(&found.headers).filter(|_| found.is_fresh(now))?;
        let version = Version::of(&found.headers, total);
        Some((found, version))
    }

    /// The complete length of `key`'s object, when its first slice is stored.
    pub(crate) async fn sliced_length(&self, key: &CacheKey, request: &Fields) -> Option<u64> {
        let first = self.tiers.lookup(&slice_key(key, 0), request).await?;
        content_range(&first.headers).map(|(_, total)| total)
    }

    /// The coalescing rounds of a request for `key` (see [`Queue`]).
    pub(crate) fn queue<'a>(&'a self, key: &'a CacheKey) -> Queue<'a> {
        self.locks.queue(key.text())
    }

    /// The writer's lock on `key` for a background refresh, unless another
    /// request holds it.
    pub(crate) fn refresh_lock(&self, key: &CacheKey) -> Option<WriteLock> {
        self.locks.try_write(key.text())
    }

    /// Decides on an origin's answer to `fill`'s request: a 304 refreshes
    /// the stale entry, a storable answer is read whole and stored,
    /// anything else streams through.
    pub(crate) async fn admit<B>(
        &self,
        fill: Fill<'_>,
        head: ResponseHead,
        body: B,
    ) -> Result<(Reply, CacheOutcome), ProxyError>
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        fill.answer(&self.tiers, head, body).await
    }

    /// Stores `slice` as its whole response would be stored (a 206 never
    /// is otherwise); returns the entry, and whether it was stored.
    pub(crate) fn admit_slice(
        &self,
        policy: &CachePolicy,
        request: &Fields,
        slice: SliceAnswer<'_>,
        now: SystemTime,
    ) -> (Arc<CachedResponse>, bool) {
        let SliceAnswer {
            key,
            slice,
            head,
            bytes,
        } = slice;
        let exchange = Exchange {
            method: &Method::GET,
            path: key.path(),
            request,
            status: StatusCode::OK,
            response: &head.fields,
        };
        let decision = Storability::of(policy, &exchange, now);
        let (status, headers) = (head.status, head.fields.detached());
        let stored = entry_of(
            &self.tiers,
            policy,
            decision,
            status,
            headers.clone(),
            bytes.clone(),
            now,
        )
        .and_then(|entry| self.tiers.store_derived(key, slice, request, entry));
        let kept = stored.is_some();
        let entry = stored.unwrap_or_else(|| Arc::new(CachedResponse::new(status, headers, bytes, now, 0, 0)));
        (entry, kept)
    }

    /// A stored response as the answer to a request with `request` headers
    /// (`Age`, conditionals, one byte range); `head`: no body.
    pub(crate) fn serve(&self, entry: &CachedResponse, request: &Fields, head: bool, now: SystemTime) -> Reply {
        from_cache(entry, request, head, now)
    }

    /// What to serve for a request with `request` headers from `identity`,
    /// stored under `key`: itself, or its variant in an encoding the request
    /// accepts, made from it on first use (on the blocking pool when large)
    /// and stored under a key of its own.
    pub(crate) async fn encoded(
        &self,
        policy: &CachePolicy,
        key: &CacheKey,
        request: &Fields,
        identity: Arc<CachedResponse>,
    ) -> Arc<CachedResponse> {
        // Ranges are served from the identity representation.
        if !policy.compress
            || !request.contains(Known::AcceptEncoding)
            || request.contains(Known::Range)
            || !compressible(identity.status, &identity.headers, identity.body.len())
        {
            return identity;
        }
        let Some(encoding) = negotiate(request) else {
            return identity;
        };
        let ekey = encoded_key(key, encoding);
        // A variant made from this very fill of the identity response; an
        // older one (the identity was refreshed since) is made again.
        if let Some(found) = self.tiers.lookup_derived(key, &ekey, request).await
            && found.stored_at == identity.stored_at
        {
            return found;
        }
        let made = if identity.body.len() > INLINE_MAX {
            let source = identity.clone();
            match tokio::task::spawn_blocking(move || variant(&source, encoding)).await {
                Ok(made) => made,
                Err(_) => return identity,
            }
        } else {
            variant(&identity, encoding)
        };
        match self.tiers.store_derived(key, &ekey, request, made.clone()) {
            Some(stored) => stored,
            None => Arc::new(made),
        }
    }

    /// Drops every stored response of the resource `key`.
    pub(crate) async fn invalidate(&self, key: &CacheKey) -> usize {
        self.tiers.invalidate(key).await
    }
}
