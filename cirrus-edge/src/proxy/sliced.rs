//! The cacheable path of a domain with `slice_size` (cache/slice.rs,
//! nginx's slice module): the object is fetched from the origin and stored
//! in aligned slices, each with its own `Range` request and cache entry;
//! a client's range is answered from the slices that hold it, a full GET
//! from all of them, in order. Every slice must be of the same version of
//! the object (complete length and `ETag`, else `Last-Modified`): a
//! mismatch drops every stored slice of the object and the answer starts
//! again (once) or, when its head is already sent, is cut short. An
//! origin that does not answer a slice request with that part (a 200, an
//! error) is passed through as it answered, not stored.

use super::request::{Answer, Req};
use crate::body::{Body, ChannelBody, read_up_to};
use crate::cache::{
    Cache, CacheKey, CacheOutcome, CacheStatus, CachedResponse, Next, Ranged, SliceAnswer, Version, ask_range, bounds,
    content_range, covering, not_modified, slice_key,
};
use crate::error::{ErrorKind, ProxyError};
use crate::head::{Fields, Known, ResponseHead};
use crate::hooks::EdgeHooks;
use crate::reply::Reply;
use http::{Method, StatusCode};
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

/// One slice, or the origin's answer when it did not send that slice.
enum Got {
    Slice {
        entry: Arc<CachedResponse>,
        version: Version,
        hit: bool,
    },
    Answer(Reply),
}

fn protocol(why: &'static str) -> ProxyError {
    ProxyError::new(ErrorKind::OriginProtocol, why)
}

pub(super) async fn through_slices<H: EdgeHooks>(req: &mut Req<'_, H>, size: u64) -> Result<Answer, ProxyError> {
    let (edge, session) = (req.edge, req.session);
    let key = edge.hooks.cache_key(session, req.ctx);
    for attempt in 0..2 {
        // The slice the answer starts in: where the client's range starts
        // when it says; else the first (which also tells the length).
        let start = range_start(&edge.cache, session.headers(), &key).await;
        let first = match fetch(req, &key, start / size, size).await? {
            Got::Answer(res) => return Ok(Answer::cached(res, CacheOutcome::of(CacheStatus::Miss, false))),
            Got::Slice { entry, version, hit } => (entry, version, hit),
        };
        let (entry, version, hit) = first;
        let total = version.total;
        let head = req.is_head();
        let status_of = if hit { CacheStatus::Hit } else { CacheStatus::Miss };
        if not_modified(session.headers(), &entry.headers) {
            let mut res = ResponseHead::new(StatusCode::NOT_MODIFIED);
            res.fields = entry.headers.to_answer();
            res.fields.remove(Known::ContentRange);
            res.fields.remove(Known::ContentLength);
            return Ok(Answer::cached(
                Reply::new(res, Body::empty()),
                CacheOutcome::of(status_of, !hit),
            ));
        }
        let wanted = if head {
            Ranged::Full
        } else {
            ask_range(session.headers(), &entry.headers, total)
        };
        let (status, bytes) = match &wanted {
            Ranged::Unsatisfiable => {
                return Ok(Answer::cached(
                    unsatisfiable(total),
                    CacheOutcome::of(CacheStatus::Hit, false),
                ));
            }
            Ranged::Full => (StatusCode::OK, 0..total),
            Ranged::Part(r) => (StatusCode::PARTIAL_CONTENT, r.clone()),
        };
        let slices = covering(&bytes, size);
        let (entry, version, hit) = if slices.start == start / size || bytes.is_empty() {
            (entry, version, hit)
        } else {
            // The range was not where the request said (a suffix range):
            // start again at its first slice.
            match fetch(req, &key, slices.start, size).await? {
                Got::Slice { entry, version: v, hit } if v == version => (entry, v, hit),
                Got::Slice { .. } if attempt == 0 => {
                    edge.cache.invalidate(&key).await;
                    continue;
                }
                Got::Slice { .. } => return Err(protocol("the object changed while it was read")),
                Got::Answer(res) => return Ok(Answer::plain(res)),
            }
        };
        let status_of = if hit { CacheStatus::Hit } else { CacheStatus::Miss };
        let mut res = ResponseHead::new(status);
        res.fields = entry.headers.to_answer();
        let fields = &mut res.fields;
        fields.remove(Known::ContentRange);
        fields.insert_number(Known::ContentLength, bytes.end - bytes.start);
        let _ = fields.insert(Known::AcceptRanges, "bytes");
        fields.insert_number(Known::Age, entry.age(SystemTime::now()));
        if status == StatusCode::PARTIAL_CONTENT {
            let range = format!("bytes {}-{}/{total}", bytes.start, bytes.end - 1);
            let _ = fields.insert(Known::ContentRange, range);
        }
        let body = if !head && !bytes.is_empty() {
            stream(req, key, entry, version, bytes, size)
        } else {
            Body::empty()
        };
        return Ok(Answer::cached(Reply::new(res, body), CacheOutcome::of(status_of, !hit)));
    }
    Err(protocol("the object changed while it was read"))
}

/// Where the client's range starts, as far as it can be known before the
/// length is: `a-` and `a-b` say; a suffix `-n` needs the length, taken
/// from a stored first slice (else the answer starts at the first slice).
async fn range_start(cache: &Cache, request: &Fields, key: &CacheKey) -> u64 {
    let Some(spec) = request.get_str(Known::Range) else {
        return 0;
    };
    let Some(set) = spec.trim().strip_prefix("bytes=").filter(|s| !s.contains(',')) else {
        return 0;
    };
    match set.trim().split_once('-') {
        Some(("", n)) => {
            let Ok(n) = n.trim().parse::<u64>() else { return 0 };
            match cache.sliced_length(key, request).await {
                Some(total) => total.saturating_sub(n),
                None => 0,
            }
        }
        Some((a, _)) => a.trim().parse::<u64>().unwrap_or(0),
        None => 0,
    }
}

/// Slice `index` of `key`: stored and fresh, else fetched and stored.
async fn fetch<H: EdgeHooks>(req: &mut Req<'_, H>, key: &CacheKey, index: u64, size: u64) -> Result<Got, ProxyError> {
    let skey = slice_key(key, index);
    let now = SystemTime::now();
    // Concurrent misses of one slice make one origin fetch, as for whole
    // objects (proxy/cached.rs): a waiter looks again once it is stored.
    // (A slice is stored whenever it can be, even past a writer that is
    // still at it: slices of one version are interchangeable.)
    let cache = &req.edge.cache;
    let mut queue = cache.queue(&skey);
    let lock = loop {
        if let Some((found, version)) = cache.lookup_slice(key, &skey, req.session.headers(), now).await {
            return Ok(Got::Slice {
                entry: found,
                version,
                hit: true,
            });
        }
        match queue.next().await {
            Next::LookAgain => {}
            Next::Fetch { lock, .. } => break lock,
        }
    };
    let got = from_origin(req, key, &skey, index, size).await;
    // On an error the lock is dropped unfinished: the waiters learn it failed.
    if let (Some(held), Ok((_, stored))) = (lock, &got) {
        held.finish(*stored);
    }
    got.map(|(got, _)| got)
}

/// Slice `index` of `key` (stored under `skey`) from the origin, and
/// whether it was stored.
async fn from_origin<H: EdgeHooks>(
    req: &mut Req<'_, H>,
    key: &CacheKey,
    skey: &CacheKey,
    index: u64,
    size: u64,
) -> Result<(Got, bool), ProxyError> {
    let now = SystemTime::now();
    let mut fields = req.fill_fields();
    let want = bounds(index, size);
    let spec = format!("bytes={}-{}", want.start, want.end - 1);
    fields.insert(Known::Range, spec).map_err(|_| protocol("bad range"))?;
    // The object's key: every slice of it has the same owner edge.
    let res = req.ask(Method::GET, fields, None, false, Some(key)).await?.answer()?;
    let (head, body) = req.received(res);
    let part = (head.status == StatusCode::PARTIAL_CONTENT)
        .then(|| content_range(&head.fields))
        .flatten()
        .filter(|(got, total)| got.start == want.start && got.end == want.end.min(*total));
    let Some((got, total)) = part else {
        let body = if req.is_head() { Body::empty() } else { Body::wrap(body) };
        return Ok((Got::Answer(Reply::new(head, body)), false));
    };
    let (edge, conf, session) = (req.edge, req.conf, req.session);
    let bytes = read_up_to(body, size, edge.settings.origin_timeout)
        .await
        .map_err(|_| protocol("a slice's body failed or overran"))?;
    if bytes.len() as u64 != got.end - got.start {
        return Err(protocol("a slice's body does not match its Content-Range"));
    }
    let version = Version::of(&head.fields, total);
    let slice = SliceAnswer {
        key,
        slice: skey,
        head,
        bytes,
    };
    let (entry, kept) = edge.cache.admit_slice(&conf.cache, session.headers(), slice, now);
    Ok((
        Got::Slice {
            entry,
            version,
            hit: false,
        },
        kept,
    ))
}

/// A 416 for an object of `total` bytes.
fn unsatisfiable(total: u64) -> Reply {
    let mut res = ResponseHead::new(StatusCode::RANGE_NOT_SATISFIABLE);
    let _ = res.fields.insert(Known::ContentRange, format!("bytes */{total}"));
    Reply::new(res, Body::empty())
}

/// The body for `bytes`: `first` (the slice they start in), then each
/// following slice, fetched by a task as the client reads.
fn stream<H: EdgeHooks>(
    req: &Req<'_, H>,
    key: CacheKey,
    first: Arc<CachedResponse>,
    version: Version,
    bytes: Range<u64>,
    size: u64,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let len = bytes.end - bytes.start;
    let (edge, conf, session) = (req.edge.clone(), req.conf.clone(), req.session.detached());
    tokio::spawn(async move {
        let mut ctx = edge.hooks.new_ctx();
        let mut req = Req::new(&edge, &conf, &session, &mut ctx);
        let slices = covering(&bytes, size);
        for index in slices {
            let entry = if index == bytes.start / size {
                first.clone()
            } else {
                match fetch(&mut req, &key, index, size).await {
                    Ok(Got::Slice { entry, version: v, .. }) if v == version => entry,
                    Ok(Got::Slice { .. }) => {
                        // Another version: what was sent cannot be taken back.
                        tracing::warn!(key = key.text(), index, "slice of another version; answer cut short");
                        edge.cache.invalidate(&key).await;
                        let _ = tx.send(Err("the object changed while it was sent".into())).await;
                        return;
                    }
                    Ok(Got::Answer(res)) => {
                        tracing::warn!(key = key.text(), index, status = %res.head.status, "origin did not send a slice");
                        let _ = tx.send(Err("the origin did not send a slice".into())).await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string().into())).await;
                        return;
                    }
                }
            };
            let at = bounds(index, size).start;
            let from = usize::try_from(bytes.start.max(at) - at).unwrap_or(0);
            let to = usize::try_from(bytes.end.min(at + entry.body.len() as u64) - at).unwrap_or(0);
            if from > to || tx.send(Ok(entry.body.slice(from..to))).await.is_err() {
                return;
            }
        }
    });
    Body::wrap(ChannelBody::new(rx, len))
}
