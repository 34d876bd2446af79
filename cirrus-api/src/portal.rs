//! The admin portal's files, embedded in the binary: the page at `/` and
//! its scripts and style at `/assets/{name}`, under names that carry a hash
//! of their content (cached for a year; a new build has new names). The
//! portal is a client of `/api/v1` like cirrusctl: nothing here reads the
//! store. docs/portal.md says what it shows and why it is built this way.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::OnceLock;

const INDEX: &str = include_str!("../portal/index.html");
/// The page's scripts (run in this order: helpers, screens, routes) and
/// its style sheet.
const SOURCES: [(&str, &str, &str); 5] = [
    ("lib.js", JS, include_str!("../portal/lib.js")),
    ("domains.js", JS, include_str!("../portal/domains.js")),
    ("operations.js", JS, include_str!("../portal/operations.js")),
    ("main.js", JS, include_str!("../portal/main.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("../portal/app.css")),
];
const JS: &str = "text/javascript; charset=utf-8";

/// No script or style but the portal's own files, no framing, no
/// referrer, the API as the only thing to talk to.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

struct Asset {
    name: String,
    content_type: &'static str,
    body: &'static str,
}

struct Files {
    index: String,
    assets: Vec<Asset>,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut index = INDEX.to_string();
        let assets = SOURCES
            .iter()
            .map(|&(source, content_type, body)| {
                let (stem, ext) = source.split_once('.').unwrap_or((source, ""));
                let name = format!("{stem}.{:016x}.{ext}", cirrus_core::stable_hash(body.as_bytes()));
                index = index.replace(&format!("{{{{{source}}}}}"), &name);
                Asset {
                    name,
                    content_type,
                    body,
                }
            })
            .collect();
        Files { index, assets }
    })
}

/// `/` and `/assets/{name}`.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(index)).route("/assets/{name}", get(asset))
}

fn secured(mut res: Response) -> Response {
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    res
}

async fn index() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    secured((headers, files().index.as_str()).into_response())
}

async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = files().assets.iter().find(|a| a.name == name) else {
        return secured(
            (
                StatusCode::NOT_FOUND,
                "no such asset (the portal was updated: reload)\n",
            )
                .into_response(),
        );
    };
    let headers = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
    ];
    secured((headers, asset.body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_asset_by_its_hash() {
        let f = files();
        assert!(!f.index.contains("{{"), "{}", f.index);
        for a in &f.assets {
            assert!(f.index.contains(&format!("/assets/{}", a.name)), "{}", a.name);
            let (stem, ext) = a.name.split_once('.').unwrap_or_default();
            let ext = ext.rsplit('.').next().unwrap_or_default();
            assert_eq!(a.name.len(), stem.len() + 1 + 16 + 1 + ext.len(), "{}", a.name);
        }
    }
}
