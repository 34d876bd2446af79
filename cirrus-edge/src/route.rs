//! The routing phase and the domain's settings around the hooks: which
//! domain serves a request (the `Host` rules of RFC 9112 §3.2), the
//! `force_https` redirect, and on the way back the domain's response
//! header edits, `Via` and HSTS. It reads the domain table only.

use crate::body::{Body, text};
use crate::domains::DomainTable;
use crate::error::{ErrorKind, ProxyError};
use crate::head::{Fields, Known};
use crate::headers::apply_edits;
use crate::session::Session;
use crate::upstream::VIA_VALUE;
use cirrus_core::DomainConf;
use http::header::LOCATION;
use http::{HeaderValue, Method, Response, StatusCode};
use std::sync::Arc;

/// The host a request names: the target's authority, which wins over
/// `Host` (RFC 9112 §3.2.2; HTTP/2 requests carry only `:authority`).
/// A request with more than one `Host`, none at all, or one that is not
/// text is refused.
pub(crate) fn host(session: &Session) -> Result<&str, ProxyError> {
    let mut hosts = session.headers().get_all(Known::Host);
    let (first, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return Err(ProxyError::new(ErrorKind::BadRequest, "more than one Host header"));
    }
    if let Some(authority) = session.uri().authority() {
        return Ok(authority.as_str());
    }
    match first.map(std::str::from_utf8) {
        Some(Ok(host)) if !host.is_empty() && host.is_ascii() => Ok(host),
        Some(_) => Err(ProxyError::new(ErrorKind::BadRequest, "malformed Host header")),
        None => Err(ProxyError::new(ErrorKind::BadRequest, "missing Host header")),
    }
}

/// The domain serving `session`, which it is given from now on.
pub(crate) fn route(domains: &DomainTable, session: &mut Session) -> Result<Arc<DomainConf>, ProxyError> {
    let host = host(session)?;
    let Some(conf) = domains.get(host) else {
        tracing::info!(host, "router: no conf for host");
        return Err(ProxyError::new(ErrorKind::UnknownHost, "unknown host"));
    };
    session.set_domain(conf.clone());
    if !conf.enabled {
        return Err(ProxyError::new(ErrorKind::DomainDisabled, "domain disabled"));
    }
    Ok(conf)
}

/// The redirect of a plain-HTTP request to HTTPS when the domain forces
/// it: 301 for GET and HEAD, 308 (method and body kept) for the rest.
pub(crate) fn force_https(conf: &DomainConf, session: &Session, https_port: u16) -> Option<Response<Body>> {
    if !conf.tls.force_https || session.is_tls() {
        return None;
    }
    let host = host(session).ok()?;
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    let target = session.path_and_query();
    let location = if https_port == 443 {
        format!("https://{name}{target}")
    } else {
        format!("https://{name}:{https_port}{target}")
    };
    let status = if matches!(*session.method(), Method::GET | Method::HEAD) {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let mut res = text(status, "use https\n");
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(LOCATION, v);
    }
    Some(res)
}

/// The domain's part of every response: its own targeted cache field
/// removed (it is meant for this edge), its response header edits, `Via`,
/// and HSTS over TLS.
pub(crate) fn respond_for_domain(conf: &DomainConf, tls: bool, headers: &mut Fields) {
    if let Some(field) = &conf.cache.targeted_field {
        headers.remove(field.as_str());
    }
    apply_edits(headers, &conf.response_headers);
    headers.append_own(Known::Via, VIA_VALUE.as_bytes());
    if tls && let Some(hsts) = &conf.tls.hsts {
        let mut value = format!("max-age={}", hsts.max_age);
        if hsts.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if hsts.preload {
            value.push_str("; preload");
        }
        let _ = headers.insert(Known::StrictTransportSecurity, value);
    }
}
