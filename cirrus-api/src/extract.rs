//! Extractors that answer bad input with our error shape: JSON bodies
//! (content type, size limit, syntax, and the path of a mistyped or
//! unknown field), query strings and path segments.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON body decoded into `T`.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        check_content_type(req.headers())?;
        let bytes = body_bytes(req, state).await?;
        json(&bytes)
    }
}

/// An optional JSON body: none when the request has no body at all, or
/// the JSON `null`.
impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let typed = req.headers().contains_key(CONTENT_TYPE);
        if typed {
            check_content_type(req.headers())?;
        }
        let bytes = body_bytes(req, state).await?;
        if bytes.is_empty() && !typed {
            return Ok(None);
        }
        if !typed {
            check_content_type(&HeaderMap::new())?;
        }
        let value = parse(&bytes)?;
        if value.is_null() {
            return Ok(None);
        }
        decode(value).map(|v| Some(JsonBody(v)))
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large",
            )
        } else {
            ApiError::bad_request(format!("could not read the request body: {rejection}"))
        }
    })
}

fn parse(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("malformed JSON: {e}")))
}

fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<JsonBody<T>, ApiError> {
    decode(parse(bytes)?).map(JsonBody)
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ))
    }
}

/// Decodes a JSON value into `T`, naming the field that did not fit.
pub(crate) fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        // The path names the field, unknown ones included; "." is the body.
        let path = e.path().to_string();
        let field = if path == "." { "body".to_string() } else { path };
        ApiError::invalid_field(field, e.into_inner().to_string())
    })
}

/// A PUT body whose `key` (`domain`, `id`) may be left out, then taken
/// from the path, or must name the same object as the path (`same`).
pub(crate) fn with_path_key(
    mut body: serde_json::Value,
    key: &str,
    from_path: &str,
    same: impl Fn(&str) -> bool,
) -> Result<serde_json::Value, ApiError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    };
    match obj.get(key) {
        None => {
            obj.insert(key.into(), from_path.into());
        }
        Some(v) if v.as_str().is_some_and(&same) => {}
        Some(_) => {
            return Err(ApiError::invalid_field(
                key,
                format!("must match the {key} in the path"),
            ));
        }
    }
    Ok(body)
}

/// A query string decoded into `T`.
pub(crate) struct QueryArgs<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| QueryArgs(q.0))
            .map_err(|e| ApiError::bad_request(format!("invalid query string {query:?}: {}", e.body_text())))
    }
}

/// One path segment, e.g. a domain or node id.
pub(crate) struct Segment(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| Segment(p.0))
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))
    }
}

/// Two path segments, e.g. a webhook id and a delivery id.
pub(crate) struct Segments(pub(crate) String, pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Segments {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|p| Segments(p.0.0, p.0.1))
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cirrus_core::DomainConf;

    fn refused(value: serde_json::Value) -> String {
        let err = decode::<DomainConf>(value).expect_err("refused");
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        format!("{err:?}")
    }

    #[test]
    fn mistyped_and_unknown_fields_are_named() {
        let e = refused(serde_json::json!({"domain": "a.com", "origins": [{"host": "o.com", "port": "eighty"}]}));
        assert!(e.contains("field: \"origins[0].port\""), "{e}");
        let e = refused(serde_json::json!({"domain": "a.com", "origins": [{"host": "o.com"}], "colour": 1}));
        assert!(e.contains("field: \"colour\""), "{e}");
        let e = refused(serde_json::json!({"domain": "a.com", "origins": [{"host": "o.com", "x": 1}]}));
        assert!(e.contains("field: \"origins[0].x\""), "{e}");
        let e = refused(serde_json::json!({"domain": 5, "origins": []}));
        assert!(e.contains("field: \"domain\""), "{e}");
    }
}
