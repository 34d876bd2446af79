//! The OpenAPI document is frozen by a golden file; regenerate it with
//! `CIRRUS_UPDATE_GOLDEN=1 cargo test -p cirrus-api --test api openapi`.

use std::path::Path;

#[test]
fn openapi_document_is_frozen() {
    let doc = serde_json::to_string_pretty(&cirrus_api::openapi()).unwrap() + "\n";
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/openapi.golden.json");
    if std::env::var_os("CIRRUS_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &doc).unwrap();
    }
    let frozen = std::fs::read_to_string(&golden).expect("golden file; set CIRRUS_UPDATE_GOLDEN=1 to create it");
    assert!(
        doc == frozen,
        "the OpenAPI document changed; review and regenerate the golden file"
    );
}

#[test]
fn every_route_is_documented() {
    let doc = serde_json::to_value(cirrus_api::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/domains", &["get"][..]),
        ("/api/v1/domains:batch", &["post"]),
        ("/api/v1/domains/{domain}", &["get", "put", "patch", "delete"]),
        ("/api/v1/domains/{domain}/purge", &["post"]),
        ("/api/v1/domains/{domain}/status", &["get"]),
        ("/api/v1/purges", &["get"]),
        ("/api/v1/purges/{id}", &["get"]),
        ("/api/v1/certificates", &["get"]),
        ("/api/v1/domains/{domain}/certificate", &["get", "post", "put"]),
        ("/api/v1/nodes", &["get"]),
        ("/api/v1/nodes/{id}", &["get", "put", "delete"]),
        ("/api/v1/nodes/{id}/enable", &["post"]),
        ("/api/v1/nodes/{id}/disable", &["post"]),
        ("/api/v1/tokens", &["get", "post"]),
        ("/api/v1/tokens/{id}", &["delete"]),
        ("/api/v1/auth/login", &["post"]),
        ("/api/v1/auth/logout", &["post"]),
        ("/api/v1/auth/me", &["get"]),
        ("/api/v1/audit", &["get"]),
        ("/api/v1/events", &["get"]),
        ("/api/v1/events/stream", &["get"]),
        ("/api/v1/webhooks", &["get", "post"]),
        ("/api/v1/webhooks/{id}", &["get", "put", "delete"]),
        ("/api/v1/webhooks/{id}/rotate-secret", &["post"]),
        ("/api/v1/webhooks/{id}/deliveries", &["get"]),
        ("/api/v1/webhooks/{id}/dead-letters", &["get"]),
        ("/api/v1/webhooks/{id}/deliveries/{delivery}/replay", &["post"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
    ] {
        for m in methods {
            assert!(paths[path][m].is_object(), "{m} {path} is not documented");
        }
    }
    assert_eq!(
        paths.len(),
        30,
        "a route is documented that the list above does not know"
    );
}

#[test]
fn operation_ids_are_unique_and_stable() {
    let doc = serde_json::to_value(cirrus_api::openapi()).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{id}: lowerCamelCase"
            );
            if let Some(other) = seen.insert(id.to_string(), format!("{method} {path}")) {
                panic!("operationId {id} is used by {other} and {method} {path}");
            }
        }
    }
    assert_eq!(seen.len(), 41, "{seen:#?}");
    assert_eq!(seen["getDomain"], "get /api/v1/domains/{domain}");
}

#[test]
fn every_reference_resolves() {
    let doc = serde_json::to_value(cirrus_api::openapi()).unwrap();
    let mut refs = Vec::new();
    fn walk(v: &serde_json::Value, refs: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(|r| r.as_str()) {
                    refs.push(r.to_string());
                }
                map.values().for_each(|v| walk(v, refs));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    walk(&doc, &mut refs);
    assert!(refs.len() > 50, "{}", refs.len());
    for r in &refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "{r} does not resolve");
    }
    for input in ["DomainInput", "NodeInput", "DomainView"] {
        assert!(refs.iter().any(|r| r.ends_with(input)), "{input} is used");
    }
}
