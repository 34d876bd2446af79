//! Conditional writes of a domain (RFC 9110 §13): its `ETag` is a hash of
//! its stored configuration, `If-Match` makes a PUT or PATCH apply only to
//! the version the caller read (412 otherwise), `If-None-Match: *` makes a
//! PUT create only. The check and the write are two store calls, so two
//! writers racing within one round trip can still both pass.

use crate::error::ApiError;
use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use cirrus_core::DomainConf;

/// The strong entity tag of a stored configuration.
pub(crate) fn etag(conf: &DomainConf) -> String {
    let json = serde_json::to_vec(conf).unwrap_or_default();
    format!("\"{:016x}\"", cirrus_core::stable_hash(&json))
}

/// Sets the `ETag` of `conf` on `res`.
pub(crate) fn with_etag(mut res: Response, conf: &DomainConf) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(conf)) {
        res.headers_mut().insert(ETAG, v);
    }
    res
}

/// Checks `If-Match` and `If-None-Match` against the current
/// configuration (`None`: the domain does not exist).
pub(crate) fn check(headers: &HeaderMap, current: Option<&DomainConf>) -> Result<(), ApiError> {
    let tag = current.map(etag);
    if let Some(wanted) = list(headers, IF_MATCH) {
        let matches = match &tag {
            None => false,
            Some(t) => wanted.iter().any(|w| w == "*" || w == t),
        };
        if !matches {
            return Err(failed(match tag {
                None => "the domain does not exist (If-Match)".to_string(),
                Some(t) => format!("the domain changed since it was read: it is now {t} (If-Match); read it again"),
            }));
        }
    }
    if let Some(unwanted) = list(headers, IF_NONE_MATCH)
        && let Some(t) = &tag
        && unwanted.iter().any(|w| w == "*" || w == t)
    {
        return Err(failed(
            "the domain exists (If-None-Match); replace it without the precondition or change it with PATCH".into(),
        ));
    }
    Ok(())
}

/// The entity tags listed in `name`, `None` when it is absent. Weak tags
/// never match (strong comparison, §8.8.3.2).
fn list(headers: &HeaderMap, name: axum::http::header::HeaderName) -> Option<Vec<String>> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    Some(
        values
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty() && !t.starts_with("W/"))
            .collect(),
    )
}

fn failed(message: String) -> ApiError {
    ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn preconditions() {
        let conf = DomainConf::new("a.example", "http://192.0.2.1".parse().expect("origin"));
        let tag = etag(&conf);
        assert!(check(&headers(&[]), Some(&conf)).is_ok());
        assert!(check(&headers(&[("if-match", &tag)]), Some(&conf)).is_ok());
        assert!(check(&headers(&[("if-match", &format!("\"x\", {tag}"))]), Some(&conf)).is_ok());
        assert!(check(&headers(&[("if-match", "*")]), Some(&conf)).is_ok());
        assert!(check(&headers(&[("if-match", "*")]), None).is_err());
        assert!(check(&headers(&[("if-match", "\"other\"")]), Some(&conf)).is_err());
        assert!(check(&headers(&[("if-match", &format!("W/{tag}"))]), Some(&conf)).is_err());
        assert!(check(&headers(&[("if-none-match", "*")]), None).is_ok());
        assert!(check(&headers(&[("if-none-match", "*")]), Some(&conf)).is_err());
        let mut changed = conf.clone();
        changed.enabled = false;
        assert_ne!(etag(&changed), tag);
    }
}
