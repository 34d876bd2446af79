//! Code and document cannot drift: every response the suite receives is
//! recorded on the server side and checked against the OpenAPI document
//! when its harness is dropped — the status is one the operation states,
//! and a JSON body validates against the schema stated for that status.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// One answer of the server.
#[derive(Debug)]
pub struct Recorded {
    method: String,
    path: String,
    status: u16,
    json: bool,
    body: Vec<u8>,
}

/// What a harness records.
pub type Log = Arc<Mutex<Vec<Recorded>>>;

/// `router` recording every answer into `log`.
pub fn recording(router: axum::Router, log: Log) -> axum::Router {
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let log = log.clone();
        async move {
            let (method, path) = (req.method().to_string().to_lowercase(), req.uri().path().to_string());
            let res = next.run(req).await;
            // A live stream never ends: recorded without its body.
            let streaming = res
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            if streaming {
                log.lock().unwrap().push(Recorded {
                    method,
                    path,
                    status: res.status().as_u16(),
                    json: false,
                    body: Vec::new(),
                });
                return res;
            }
            let (parts, body) = res.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let json = parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            log.lock().unwrap().push(Recorded {
                method,
                path,
                status: parts.status.as_u16(),
                json,
                body: bytes.to_vec(),
            });
            Response::from_parts(parts, Body::from(bytes))
        }
    }))
}

/// Every way the recorded answers break the document.
pub fn violations(log: &[Recorded]) -> Vec<String> {
    let doc = serde_json::to_value(cirrus_api::openapi()).unwrap();
    let mut out = Vec::new();
    for r in log {
        let Some(template) = template(&doc, &r.path) else {
            continue;
        }; // unknown routes: 404 fallback
        let Some(op) = doc["paths"][template].get(&r.method) else {
            continue;
        }; // 405
        let at = format!("{} {} -> {}", r.method, r.path, r.status);
        let Some(response) = op["responses"]
            .get(r.status.to_string())
            .or_else(|| op["responses"].get("default"))
        else {
            out.push(format!("{at}: status not in the document ({template})"));
            continue;
        };
        let schema = &response["content"]["application/json"]["schema"];
        if r.json && !r.body.is_empty() {
            if schema.is_null() {
                out.push(format!("{at}: JSON body, but the document states none"));
                continue;
            }
            match serde_json::from_slice::<Value>(&r.body) {
                Ok(body) => {
                    for e in validate(&doc, schema, &body, "$", false) {
                        out.push(format!("{at}: {e}"));
                    }
                }
                Err(e) => out.push(format!("{at}: body is not JSON: {e}")),
            }
        }
    }
    out
}

/// The document's path template matching `path`.
fn template<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"].as_object()?.keys().map(String::as_str).find(|t| {
        let parts: Vec<&str> = t.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
    })
}

/// The subset of JSON Schema the document uses. `loose`: under `allOf`,
/// where each part sees only some of the properties.
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str, loose: bool) -> Vec<String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return validate(doc, &doc["components"]["schemas"][name], v, at, loose);
    }
    if let Some(all) = schema["allOf"].as_array() {
        return all.iter().flat_map(|s| validate(doc, s, v, at, true)).collect();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(any) = schema[key].as_array() {
            // At least one (oneOf is read as anyOf: utoipa's variants may overlap).
            if any.iter().any(|s| validate(doc, s, v, at, loose).is_empty()) {
                return Vec::new();
            }
            return vec![format!("{at}: matches none of {key}")];
        }
    }
    let mut errors = Vec::new();
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        errors.push(format!("{at}: {v} is not one of {allowed:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let is = |t: &str| match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    };
    if !types.is_empty() && !types.iter().any(|t| is(t)) {
        errors.push(format!("{at}: {v} is not {types:?}"));
        return errors;
    }
    if let Some(n) = v.as_f64()
        && (schema["minimum"].as_f64().is_some_and(|m| n < m) || schema["maximum"].as_f64().is_some_and(|m| n > m))
    {
        errors.push(format!("{at}: {n} out of range"));
    }
    if let (Some(items), Some(values)) = (schema.get("items"), v.as_array()) {
        for (i, item) in values.iter().enumerate() {
            errors.extend(validate(doc, items, item, &format!("{at}[{i}]"), false));
        }
    }
    if let Some(map) = v.as_object() {
        let props = schema["properties"].as_object();
        for req in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !map.contains_key(req) {
                errors.push(format!("{at}: missing required {req:?}"));
            }
        }
        for (key, value) in map {
            match props.and_then(|p| p.get(key)) {
                Some(s) => errors.extend(validate(doc, s, value, &format!("{at}.{key}"), false)),
                None if !loose && schema["additionalProperties"] == Value::Bool(false) => {
                    errors.push(format!("{at}: unexpected property {key:?}"));
                }
                None => {
                    if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                        errors.extend(validate(doc, extra, value, &format!("{at}.{key}"), false));
                    }
                }
            }
        }
    }
    errors
}

#[test]
fn the_check_catches_an_undocumented_status_and_a_body_off_its_schema() {
    let answer = |path: &str, status: u16, body: Value| Recorded {
        method: "get".into(),
        path: path.into(),
        status,
        json: true,
        body: serde_json::to_vec(&body).unwrap(),
    };
    let good = serde_json::to_value(cirrus_core::model::DomainView {
        conf: cirrus_core::DomainConf::new("a.test", "http://192.0.2.1".parse().unwrap()),
        dns: None,
    })
    .unwrap();
    assert_eq!(
        violations(&[answer("/api/v1/domains/a.test", 200, good.clone())]),
        Vec::<String>::new()
    );
    let mut wrong = good.clone();
    wrong["enabled"] = Value::from("yes");
    wrong.as_object_mut().unwrap().remove("origins");
    let found = violations(&[
        answer("/api/v1/domains/a.test", 200, wrong),
        answer("/api/v1/domains/a.test", 418, good),
        answer("/api/v1/domains/a.test", 404, serde_json::json!({"oops": 1})),
    ]);
    assert!(found.iter().any(|v| v.contains("$.enabled")), "{found:#?}");
    assert!(
        found.iter().any(|v| v.contains("missing required \"origins\"")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|v| v.contains("418: status not in the document")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|v| v.contains("404") && v.contains("error")),
        "{found:#?}"
    );
}
