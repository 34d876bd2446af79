//! The cache's part of a request: answering from a stored response (with
//! `Age` and conditional requests), asking the origin to validate a stale
//! one, and deciding on the origin's answer (refresh on 304, store, or
//! pass through).

use super::age;
use super::entry::CachedResponse;
use super::key::CacheKey;
use super::policy::{Exchange, Storability};
use super::range::{self, Ranged};
use super::status::{CacheOutcome, CacheStatus};
use super::tiers::Tiers;
use crate::body::{Body, BoxError, Overflow, content_length, read_up_to};
use crate::error::{ErrorKind, ProxyError};
use crate::head::{Fields, Known, ResponseHead};
use crate::reply::Reply;
use bytes::Bytes;
use cirrus_core::model::CachePolicy;
use http::{Method, StatusCode};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Answers from a stored response: `Age` is its age now, a matching
/// `If-None-Match` is answered 304, one byte range of a 200 with 206 or 416
/// (cache/range.rs).
pub(crate) fn from_cache(entry: &CachedResponse, request: &Fields, head: bool, now: SystemTime) -> Reply {
    let not_modified = not_modified(request, &entry.headers);
    let len = entry.body.len() as u64;
    let ranged = if !not_modified && !head && entry.status == StatusCode::OK && request.contains(Known::Range) {
        range::ask(request, &entry.headers, len)
    } else {
        Ranged::Full
    };
    // The status, the body, and for a range its `Content-Range` and length.
    let (status, body, range) = match ranged {
        Ranged::Part(r) => {
            let part = usize::try_from(r.start).unwrap_or(0)..usize::try_from(r.end).unwrap_or(0);
            let content_range = format!("bytes {}-{}/{len}", r.start, r.end - 1);
            let part_len = r.end - r.start;
            let body = Body::full(entry.body.slice(part));
            (StatusCode::PARTIAL_CONTENT, body, Some((content_range, part_len)))
        }
        Ranged::Unsatisfiable => {
            let range = (format!("bytes */{len}"), 0);
            (StatusCode::RANGE_NOT_SATISFIABLE, Body::empty(), Some(range))
        }
        Ranged::Full if not_modified => (StatusCode::NOT_MODIFIED, Body::empty(), None),
        Ranged::Full if head => (entry.status, Body::empty(), None),
        Ranged::Full => (entry.status, Body::full(entry.body.clone()), None),
    };
    let mut res = ResponseHead::new(status);
    res.fields = entry.headers.to_answer();
    let fields = &mut res.fields;
    match range {
        Some((content_range, part_len)) => {
            // Digits, spaces, a dash and a slash: a valid value.
            let _ = fields.insert(Known::ContentRange, content_range);
            fields.insert_number(Known::ContentLength, part_len);
        }
        None if not_modified => {
            fields.remove(Known::ContentLength);
        }
        None => {}
    }
    fields.insert_number(Known::Age, entry.age(now));
    Reply::new(res, body)
}

/// True when the request's `If-None-Match` matches the stored `ETag`.
pub(crate) fn not_modified(request: &Fields, stored: &Fields) -> bool {
    match (request.get_str(Known::IfNoneMatch), stored.get_str(Known::Etag)) {
        (Some(inm), Some(etag)) => etag_matches(inm, etag),
        _ => false,
    }
}

/// Weak comparison (RFC 9110 §13.1.2): `*`, or any listed tag equal to the
/// stored one once `W/` is dropped.
fn etag_matches(list: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let etag = strip(etag);
    list.split(',').any(|t| t.trim() == "*" || strip(t) == etag)
}

/// Makes the request to the origin conditional on `stale`'s validators.
pub(crate) fn ask_to_validate(fields: &mut Fields, stale: &CachedResponse) {
    // Stored values are valid field values.
    if let Some(etag) = stale.headers.get(Known::Etag) {
        let _ = fields.insert(Known::IfNoneMatch, etag);
    }
    if let Some(lm) = stale.headers.get(Known::LastModified) {
        let _ = fields.insert(Known::IfModifiedSince, lm);
    }
}

/// The entry `decision` makes of a response (`None`: not to be stored),
/// its tags read from the domain's tag fields (the ignored ones counted).
/// `headers` are kept as they are: detached from any read buffer
/// ([`Fields::detached`]) by the caller.
pub(crate) fn entry_of(
    tiers: &Tiers,
    policy: &CachePolicy,
    decision: Storability,
    status: StatusCode,
    headers: Fields,
    body: bytes::Bytes,
    now: SystemTime,
) -> Option<CachedResponse> {
    let Storability::Store { ttl, age, revalidate } = decision else {
        return None;
    };
    let (tags, ignored) = super::tags::extract(&headers, &policy.tag_headers);
    tiers.ignore_tags(ignored);
    let entry = CachedResponse::new(status, headers, body, now, ttl, age)
        .revalidated_when_stale(revalidate)
        .with_tags(tags);
    Some(entry)
}

/// What the cache knows of a request whose answer comes from the origin.
pub(crate) struct Fill<'a> {
    pub(crate) policy: &'a CachePolicy,
    pub(crate) key: &'a CacheKey,
    /// The client's request headers (for `Vary` and storability).
    pub(crate) request: &'a Fields,
    pub(crate) head: bool,
    /// The stored response that was stale (or set aside), if any.
    pub(crate) stale: Option<Arc<CachedResponse>>,
    pub(crate) now: SystemTime,
    pub(crate) max_object_size: u64,
    pub(crate) body_timeout: Duration,
    /// False for a request that gave up waiting for another's fetch of
    /// the key: its answer is passed on, not stored.
    pub(crate) may_store: bool,
}

impl Fill<'_> {
    fn status(&self, stored: bool) -> CacheOutcome {
        let status = if self.stale.is_some() {
            CacheStatus::Expired
        } else {
            CacheStatus::Miss
        };
        CacheOutcome::of(status, stored)
    }

    /// Whether a response with `status` and `headers` may be stored.
    fn decide(&self, status: StatusCode, headers: &Fields) -> Storability {
        let exchange = Exchange {
            method: &Method::GET,
            path: self.key.path(),
            request: self.request,
            status,
            response: headers,
        };
        Storability::of(self.policy, &exchange, self.now)
    }

    /// Stores the response as `decision` says, its headers in a buffer
    /// of their own; returns it as stored.
    fn keep(
        &self,
        tiers: &Tiers,
        decision: Storability,
        status: StatusCode,
        headers: &Fields,
        body: bytes::Bytes,
    ) -> Option<Arc<CachedResponse>> {
        if !matches!(decision, Storability::Store { .. }) || !self.may_store {
            return None;
        }
        let mut headers = headers.detached();
        // Ranges are served from what is stored (cache/range.rs): said once, here.
        if status == StatusCode::OK && !headers.contains(Known::AcceptRanges) {
            let _ = headers.append(Known::AcceptRanges, "bytes");
        }
        let entry = entry_of(tiers, self.policy, decision, status, headers, body, self.now)?;
        tiers.store(self.key, self.request, entry)
    }

    /// Decides on the origin's answer: a 304 for a stale entry refreshes
    /// it; a storable answer is read whole and stored; anything else
    /// streams through.
    pub(crate) async fn answer<B>(
        self,
        tiers: &Tiers,
        mut head: ResponseHead,
        body: B,
    ) -> Result<(Reply, CacheOutcome), ProxyError>
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        if let (Some(stale), StatusCode::NOT_MODIFIED) = (&self.stale, head.status) {
            return Ok(self.revalidated(tiers, stale.clone(), &head.fields));
        }
        forward_age(&mut head.fields);
        let decision = self.decide(head.status, &head.fields);
        let storable = matches!(decision, Storability::Store { .. });
        let declared = content_length(&head.fields);
        if !storable || declared.is_some_and(|len| len > self.max_object_size) {
            let body = if self.head { Body::empty() } else { Body::wrap(body) };
            return Ok((Reply::new(head, body), self.status(false)));
        }
        let bytes = match read_up_to(body, self.max_object_size, self.body_timeout).await {
            Ok(bytes) => bytes,
            Err(Overflow::Body(rest)) => {
                // Larger than a cacheable object: passed through, not stored.
                let body = if self.head { Body::empty() } else { rest };
                return Ok((Reply::new(head, body), self.status(false)));
            }
            Err(Overflow::Failed) => return Err(ProxyError::new(ErrorKind::OriginProtocol, "origin body failed")),
        };
        if declared.is_none() {
            // Stored with its real length; the chunked framing was hop-by-hop.
            head.fields.insert_number(Known::ContentLength, bytes.len() as u64);
        }
        // Only the added Content-Length differs from what was decided on.
        let kept = self.keep(tiers, decision, head.status, &head.fields, bytes.clone());
        if let Some(entry) = &kept
            && self.request.contains(Known::Range)
        {
            return Ok((from_cache(entry, self.request, self.head, self.now), self.status(true)));
        }
        let kept = kept.is_some();
        let body = if self.head { Body::empty() } else { Body::full(bytes) };
        Ok((Reply::new(head, body), self.status(kept)))
    }

    /// The stored body with the origin's fresh headers (RFC 9111 §3.2),
    /// except those that describe the body itself.
    fn revalidated(&self, tiers: &Tiers, stale: Arc<CachedResponse>, fresh: &Fields) -> (Reply, CacheOutcome) {
        let mut merged = stale.headers.clone();
        let fresh_lines = || {
            fresh
                .iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case(b"content-length"))
        };
        for (name, _) in fresh_lines() {
            merged.remove(name);
        }
        for (name, value) in fresh_lines() {
            // Parsed from the origin: valid names and values.
            let _ = merged.append(name, value);
        }
        let decision = self.decide(stale.status, &merged);
        if let Some(refreshed) = self.keep(tiers, decision, stale.status, &merged, stale.body.clone()) {
            let res = from_cache(&refreshed, self.request, self.head, self.now);
            return (res, CacheOutcome::of(CacheStatus::Revalidated, true));
        }
        let body = if self.head {
            Body::empty()
        } else {
            Body::full(stale.body.clone())
        };
        let mut head = ResponseHead::new(stale.status);
        head.fields = stale.headers.to_answer();
        (Reply::new(head, body), CacheOutcome::of(CacheStatus::Expired, false))
    }
}

/// The origin's `Age` goes on as received (the edge adds nothing: the
/// response is new); an unusable one is dropped, an overflowing one capped.
fn forward_age(headers: &mut Fields) {
    match age::received(headers) {
        Some(a) => headers.insert_number(Known::Age, a),
        None => {
            headers.remove(Known::Age);
        }
    }
}
