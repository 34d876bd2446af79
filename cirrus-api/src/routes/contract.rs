//! Completes the OpenAPI document with what every operation shares, so it
//! states each status an operation can return and the format of each path
//! parameter, without repeating them on every handler.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Schema};

/// The [`Modify`] adding the shared statuses and parameter formats.
pub(crate) struct Contract;

/// Statuses of every `/api/v1` operation: the auth guard, the per-caller
/// rate limit, the store.
const EVERY: &[(&str, &str)] = &[
    ("401", "Not authenticated: no or an unknown token or session"),
    (
        "403",
        "Authenticated, but the token lacks the scope or the domain, or the CSRF token is missing",
    ),
    ("429", "Rate limited; `Retry-After` says when to try again"),
    ("503", "The store is unavailable; retry later"),
];
/// Statuses of operations taking a JSON body.
const WITH_BODY: &[(&str, &str)] = &[
    ("400", "Malformed JSON"),
    ("413", "The body is larger than the API's limit"),
    ("415", "The body is not `application/json`"),
    ("422", "The body is valid JSON but invalid; `details` names each field"),
];
/// Statuses of operations on one resource named in the path.
const WITH_PATH: &[(&str, &str)] = &[
    ("404", "No such resource"),
    ("422", "The name or id in the path is malformed"),
];
/// Statuses of operations taking query parameters.
const WITH_QUERY: &[(&str, &str)] = &[
    ("400", "An unknown or malformed query parameter"),
    ("422", "A query parameter out of its range"),
];

impl Modify for Contract {
    fn modify(&self, doc: &mut OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                if !path.starts_with("/api/v1/") {
                    continue;
                }
                add(op, EVERY);
                if op.request_body.is_some() {
                    add(op, WITH_BODY);
                }
                let params = op.parameters.iter().flatten();
                let (mut in_path, mut in_query) = (false, false);
                for p in params {
                    in_path |= p.parameter_in == ParameterIn::Path;
                    in_query |= p.parameter_in == ParameterIn::Query;
                }
                if in_path {
                    add(op, WITH_PATH);
                }
                if in_query {
                    add(op, WITH_QUERY);
                }
                for p in op.parameters.iter_mut().flatten() {
                    if p.parameter_in == ParameterIn::Path {
                        p.schema = path_schema(&p.name).or(p.schema.take());
                    }
                }
            }
        }
    }
}

/// Adds each status the operation does not state yet, with the error body.
fn add(op: &mut Operation, statuses: &[(&str, &str)]) {
    for (status, why) in statuses {
        op.responses.responses.entry((*status).to_string()).or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(*why)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        });
    }
}

/// The format of a path parameter, by its name.
fn path_schema(name: &str) -> Option<RefOr<Schema>> {
    let object = match name {
        "domain" => ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::Custom("hostname".into())))
            .min_length(Some(1))
            .max_length(Some(253))
            .description(Some(
                "A domain name (IDNs as Unicode or punycode; normalized to lowercase)",
            )),
        "id" => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[a-z0-9][a-z0-9._-]{0,63}$"))
            .description(Some("A node or token id")),
        _ => return None,
    };
    Some(RefOr::T(Schema::Object(object.build())))
}
