//! The router, the request-id/metrics/log layer, and the OpenAPI document
//! generated from the handlers' annotations.

mod batch;
mod certs;
mod conditional;
mod contract;
mod deliveries;
mod domains;
mod events;
mod nodes;
mod onboarding;
mod ops;
mod purges;
mod session;
mod tokens;
mod webhooks;

use crate::auth;
use crate::error::ApiError;
use crate::state::{RequestId, Shared};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cirrus_core::auth::random_hex;
use contract::Contract;
use std::time::Instant;
use tracing::Instrument;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

pub(crate) use certs::status_of as certificate_status;
pub(crate) use purges::edges_serving;

pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The OpenAPI document of the control plane.
#[derive(OpenApi)]
#[openapi(
    info(title = "Cirrus control plane", description = "Domains, purge, certificates, nodes, tokens and sessions of a Cirrus CDN. \
        Authenticate with `Authorization: Bearer <token>` (master or service token) or a portal session cookie; \
        cookie-authenticated POST, PUT, PATCH and DELETE need the login's CSRF token in `x-csrf-token`. \
        Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`."),
    paths(
        domains::list, batch::batch, domains::get, domains::put, domains::patch, domains::delete, domains::purge, purges::list, purges::get, onboarding::status,
        certs::list, certs::issue, certs::status, certs::upload,
        nodes::list, nodes::get, nodes::put, nodes::delete, nodes::enable, nodes::disable,
        tokens::create, tokens::list, tokens::revoke,
        session::login, session::logout, session::me,
        webhooks::create, webhooks::list, webhooks::get, webhooks::replace, webhooks::delete, webhooks::rotate,
        deliveries::list, deliveries::dead_letters, deliveries::replay,
        ops::audit, events::list, events::stream, ops::healthz, ops::readyz, ops::metrics,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&Security, &Contract, &Shapes),
    tags(
        (name = "domains", description = "Customer domains and cache purge"),
        (name = "certificates", description = "TLS certificates: ACME issuance and uploads"),
        (name = "nodes", description = "Edge nodes and quarantine"),
        (name = "tokens", description = "Service tokens (the master token or a portal session)"),
        (name = "auth", description = "Portal sessions"),
        (name = "webhooks", description = "Webhook endpoints, their secrets and delivery logs"),
        (name = "operations", description = "Health, metrics, audit"),
    )
)]
pub(crate) struct ApiDoc;

/// Schemas the derive cannot write, patched into the document as JSON:
///
/// - `DomainView` is a `DomainConf` (a closed object: unknown fields are
///   refused) plus `dns`. The derived `allOf` of the two would call `dns`
///   an unexpected property of the first part, so the view is one closed
///   object with every property of the configuration and a read-only `dns`.
/// - The PUT bodies: `DomainInput` (the configuration, plus a `dns` sent
///   back from a GET, ignored whatever it holds) and `NodeInput` (a node
///   whose server-owned fields are ignored whatever they hold). Declaring
///   those fields `readOnly` instead would make sending them invalid,
///   while the API deliberately takes a GET's body back.
struct Shapes;

impl Modify for Shapes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaType};
        use utoipa::openapi::{Ref, RefOr};
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        let object = |name: &str| match components.schemas.get(name) {
            Some(RefOr::T(Schema::Object(o))) => Some(o.clone()),
            _ => None,
        };
        let (Some(conf), Some(node)) = (object("DomainConf"), object("Node")) else {
            return;
        };
        // Any JSON value (a schema with no type): what an ignored field may hold.
        let ignored = |what: &str| -> RefOr<Schema> {
            let any = ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some(format!("{what}: ignored when sent")));
            RefOr::T(Schema::Object(any.build()))
        };
        let input = |mut o: Object, key: &str, description: &str| {
            o.required.retain(|r| r != key);
            o.description = Some(description.into());
            o
        };
        let mut domain_input = input(
            conf.clone(),
            "domain",
            "A domain's configuration as a PUT takes it; `domain` may be left out (the path names it).",
        );
        domain_input
            .properties
            .insert("dns".into(), ignored("What a GET shows in the customer's DNS"));
        let mut node_input = input(
            node,
            "id",
            "A node as a PUT takes it: the operator's settings; `id` may be left out.",
        );
        for field in nodes::SERVER_OWNED {
            node_input.properties.insert((*field).into(), ignored("Server-owned"));
        }
        let mut view = conf;
        view.description = Some(
            "A domain as the API shows it: its configuration and, read-only, the records its owner sets (`dns`, \
             absent when the API was started without a zone)."
                .into(),
        );
        let dns = serde_json::json!({
            "allOf": [{"$ref": "#/components/schemas/DomainDns"}],
            "readOnly": true,
            "description": "What to set in the customer's DNS.",
        });
        if let Ok(dns) = serde_json::from_value(dns) {
            view.properties.insert("dns".into(), dns);
        }
        for (name, schema) in [
            ("DomainView", view),
            ("DomainInput", domain_input),
            ("NodeInput", node_input),
        ] {
            components.schemas.insert(name.into(), RefOr::T(Schema::Object(schema)));
        }
        for (path, schema) in [
            ("/api/v1/domains/{domain}", "DomainInput"),
            ("/api/v1/nodes/{id}", "NodeInput"),
        ] {
            let body = doc
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.put.as_mut())
                .and_then(|op| op.request_body.as_mut())
                .and_then(|body| body.content.get_mut("application/json"));
            if let Some(content) = body {
                content.schema = Some(RefOr::Ref(Ref::from_schema_name(schema)));
            }
        }
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
    }
}

pub(crate) fn router(state: Shared) -> Router {
    let v1 = Router::new()
        .route("/domains", get(domains::list))
        .route("/domains:batch", post(batch::batch))
        .route(
            "/domains/{domain}",
            get(domains::get)
                .put(domains::put)
                .patch(domains::patch)
                .delete(domains::delete),
        )
        .route("/domains/{domain}/purge", post(domains::purge))
        .route("/domains/{domain}/status", get(onboarding::status))
        .route("/purges", get(purges::list))
        .route("/purges/{id}", get(purges::get))
        .route("/certificates", get(certs::list))
        .route(
            "/domains/{domain}/certificate",
            post(certs::issue).get(certs::status).put(certs::upload),
        )
        .route("/nodes", get(nodes::list))
        .route("/nodes/{id}", get(nodes::get).put(nodes::put).delete(nodes::delete))
        .route("/nodes/{id}/enable", post(nodes::enable))
        .route("/nodes/{id}/disable", post(nodes::disable))
        .route("/tokens", post(tokens::create).get(tokens::list))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/auth/login", post(session::login))
        .route("/auth/logout", post(session::logout))
        .route("/auth/me", get(session::me))
        .route("/audit", get(ops::audit))
        .route("/events", get(events::list))
        .route("/events/stream", get(events::stream))
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/webhooks/{id}",
            get(webhooks::get).put(webhooks::replace).delete(webhooks::delete),
        )
        .route("/webhooks/{id}/rotate-secret", post(webhooks::rotate))
        .route("/webhooks/{id}/deliveries", get(deliveries::list))
        .route("/webhooks/{id}/dead-letters", get(deliveries::dead_letters))
        .route("/webhooks/{id}/deliveries/{delivery}/replay", post(deliveries::replay))
        .route_layer(from_fn_with_state(state.clone(), auth::guard));
    let body_limit = state.config.body_limit;
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest("/api/v1", v1)
        .merge(crate::portal::router())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(state.clone(), refuse_oversized))
        .layer(from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// 413 at once for a request whose `Content-Length` is over the body
/// limit, before any body byte is awaited: a client that declares 100 GB
/// and sends two bytes would otherwise hold the connection until it gives up.
async fn refuse_oversized(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let limit = state.config.body_limit;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(len) if len > limit as u64 => ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body of {len} bytes is over the limit of {limit} bytes"),
        )
        .into_response(),
        _ => next.run(req).await,
    }
}

/// Request id (passed through when sane, else generated) on the request,
/// the response and the log line; metrics by route, method and status.
async fn observe(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| cirrus_core::model::is_request_id(v))
        .map_or_else(|| random_hex(16), str::to_string);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    // Extension methods would let callers mint label values: fold them.
    let method = match *req.method() {
        Method::GET | Method::HEAD | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::OPTIONS => {
            req.method().as_str().to_string()
        }
        _ => "other".to_string(),
    };
    req.extensions_mut().insert(RequestId(id.clone()));
    // (`otel.*`: the span's name and kind once exported as a trace.)
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.response.status_code = tracing::field::Empty,
    );
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    span.record("http.response.status_code", status);
    let elapsed = start.elapsed();
    state.metrics.observe(&route, &method, status, elapsed.as_secs_f64());
    span.in_scope(|| tracing::info!(status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "answered"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}
