//! Compression on the cacheable path (cache/encode.rs): the stored
//! response a request gets is the identity one, or its variant in the
//! encoding the request accepts, made from the identity one on first use
//! (on the blocking pool when large) and stored under a key of its own.

use super::request::Req;
use crate::cache::{CacheKey, CachedResponse, compressible, encoded_key, negotiate, variant};
use crate::hooks::EdgeHooks;
use http::header::{ACCEPT_ENCODING, RANGE};
use std::sync::Arc;

/// Bodies larger than this are compressed off the request's thread.
const INLINE_MAX: usize = 64 * 1024;

/// What to serve for the request from `identity`, stored under `key`.
pub(super) async fn negotiated<H: EdgeHooks>(
    req: &mut Req<'_, H>,
    key: &CacheKey,
    identity: Arc<CachedResponse>,
) -> Arc<CachedResponse> {
    let (edge, conf, session) = (req.edge, req.conf, req.session);
    // Ranges are served from the identity representation.
    if !conf.cache.compress
        || !session.headers().contains_key(ACCEPT_ENCODING)
        || session.headers().contains_key(RANGE)
        || !compressible(identity.status, &identity.headers, identity.body.len())
    {
        return identity;
    }
    let Some(encoding) = negotiate(session.headers()) else {
        return identity;
    };
    let ekey = encoded_key(key, encoding);
    // A variant made from this very fill of the identity response; an
    // older one (the identity was refreshed since) is made again.
    if let Some(found) = edge.cache.lookup_derived(key, &ekey, session.headers()).await
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
    match edge.cache.store_derived(key, &ekey, session.headers(), made.clone()) {
        Some(stored) => stored,
        None => Arc::new(made),
    }
}
