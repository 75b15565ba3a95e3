//! The OpenAPI 3.1 document served at `/api/openapi.json`, generated from the route table
//! ([`crate::routes::ROUTES`]) and the schemas of the `boreas-api-types` bodies.
//!
//! Responses are described as the types serialize, request bodies and query parameters as they
//! deserialize; a type both sides use must look the same both ways (see [`generate`]).
//! `functions/api/openapi.json` is the document as a file, for tools that read one (the
//! dashboard's type generator, spec validators); `tests/openapi.rs` fails when it is stale.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use boreas_api_types::ErrorBody;
use boreas_aws::store::MAX_PAGE;
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::call::Call;
use crate::routes::{ROUTES, Route};
use crate::{Api, DEFAULT_LIMIT, Error, MAX_BODY};

/// An OpenAPI document.
pub type Document = Map<String, Value>;

/// The generated document and the schema names its two contracts disagree on.
#[derive(Debug)]
pub struct Generated {
    /// The document.
    pub document: Document,
    /// Schemas whose request (deserialize) form differs from their response (serialize) form;
    /// the document holds the response form. Must be empty.
    pub conflicts: Vec<String>,
}

/// The document, generated once.
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| generate().document)
}

/// The document as the committed file holds it.
pub fn text() -> String {
    let mut text = serde_json::to_string_pretty(document()).unwrap_or_default();
    text.push('\n');
    text
}

pub(crate) async fn serve(_: &Api, _: &Call<'_>) -> Result<Document, Error> {
    Ok(document().clone())
}

/// Errors any route may answer, and those any route with a role may answer.
const COMMON_ERRORS: &[(u16, &str)] = &[
    (
        500,
        "A failure of the store, Step Functions or SSM (`internal`).",
    ),
    (
        503,
        "AWS throttled a call (`throttled`) or answered with a server error (`unavailable`); retry later.",
    ),
];
const AUTHORIZED_ERRORS: &[(u16, &str)] = &[
    (401, "Missing or invalid bearer token."),
    (403, "The token's role is too low."),
];

fn generator(settings: SchemaSettings) -> SchemaGenerator {
    settings
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator()
}

/// Generates the document.
pub fn generate() -> Generated {
    let mut responses = generator(SchemaSettings::draft2020_12().for_serialize());
    let mut requests = generator(SchemaSettings::draft2020_12().for_deserialize());
    let error = Value::from(responses.subschema_for::<ErrorBody>());
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for route in ROUTES {
        let op = operation(route, &mut responses, &mut requests, &error);
        paths
            .entry(route.path)
            .or_default()
            .insert(route.method.to_lowercase(), op);
    }
    let mut schemas = responses.take_definitions(true);
    let mut conflicts = Vec::new();
    for (name, schema) in requests.take_definitions(true) {
        match schemas.get(&name) {
            Some(existing) if *existing != schema => conflicts.push(name),
            Some(_) => {}
            None => {
                schemas.insert(name, schema);
            }
        }
    }
    let document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Boreas API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Status and control of Boreas deployments. Every answer is JSON; \
                errors are `{\"error\": code, \"message\": text}` (`Error`). Lists take `limit` \
                and an opaque `cursor`. Calls need `Authorization: Bearer <token>` with a role: \
                viewer < deployer < approver < admin.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "limit": {
                    "name": "limit",
                    "in": "query",
                    "description": "Most items in the page.",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PAGE,
                        "default": DEFAULT_LIMIT,
                    },
                },
                "cursor": {
                    "name": "cursor",
                    "in": "query",
                    "description": "`next_cursor` of the previous page.",
                    "schema": {"type": "string"},
                },
            },
            "schemas": schemas,
        },
    });
    Generated {
        document: match document {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        conflicts,
    }
}

fn json_content(schema: &Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn operation(
    route: &Route,
    responses: &mut SchemaGenerator,
    requests: &mut SchemaGenerator,
    error: &Value,
) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), route.summary.into());
    match route.role {
        Some(role) => {
            op.insert(
                "description".into(),
                format!("Needs role `{role}` or higher.").into(),
            );
            op.insert("security".into(), json!([{"bearer": []}]));
            // The same, for tools: the API fuzz test checks every role against it.
            op.insert("x-boreas-role".into(), role.to_string().into());
        }
        None => {
            op.insert("description".into(), "Public: needs no token.".into());
            op.insert("security".into(), json!([]));
        }
    }

    let mut parameters = Vec::new();
    // `routes` tests that these are the template's parameters, in order.
    for p in route.params {
        parameters.push(json!({
            "name": p.name,
            "in": "path",
            "required": true,
            "description": p.description,
            "schema": Value::from((p.schema)(requests)),
        }));
    }
    for p in route.query {
        parameters.push(json!({
            "name": p.name,
            "in": "query",
            "description": p.description,
            "schema": Value::from((p.schema)(requests)),
        }));
    }
    if route.paged {
        parameters.push(json!({"$ref": "#/components/parameters/limit"}));
        parameters.push(json!({"$ref": "#/components/parameters/cursor"}));
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), parameters.into());
    }

    if let Some((schema, required)) = route.endpoint.request {
        op.insert(
            "requestBody".into(),
            json!({
                "required": required,
                "content": json_content(&(schema)(requests).into()),
            }),
        );
    }

    let ok = Value::from((route.endpoint.response)(responses));
    let mut answers: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for (status, description) in route.ok {
        answers.entry(*status).or_default().push(description);
    }
    let bad_request = format!(
        "A query parameter the route does not take{} (`bad_query`), or a body over {} MiB \
         (`bad_request`).",
        if route.paged {
            ", a bad `limit` or `cursor`"
        } else {
            ""
        },
        MAX_BODY / (1024 * 1024)
    );
    let authorized = if route.role.is_some() {
        AUTHORIZED_ERRORS
    } else {
        &[]
    };
    let bad_request = [(400, bad_request.as_str())];
    let errors = route
        .errors
        .iter()
        .chain(authorized)
        .chain(&bad_request)
        .chain(COMMON_ERRORS);
    for (status, description) in errors {
        answers.entry(*status).or_default().push(description);
    }
    let mut out = Map::new();
    for (status, descriptions) in answers {
        let schema = if status < 400 { &ok } else { error };
        out.insert(
            status.to_string(),
            json!({
                "description": descriptions.join(" "),
                "content": json_content(schema),
            }),
        );
    }
    op.insert("responses".into(), out.into());
    op.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_agree_on_every_shared_schema() {
        assert_eq!(generate().conflicts, Vec::<String>::new());
    }

    #[test]
    fn documented_security_matches_the_route_roles() {
        let doc = document();
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.to_lowercase()];
            let public = op["security"].as_array().is_some_and(Vec::is_empty);
            assert_eq!(public, r.role.is_none(), "{} {}", r.method, r.path);
            if let Some(role) = r.role {
                let described = op["description"].as_str().unwrap_or_default();
                assert!(
                    described.contains(&format!("`{role}`")),
                    "{} {}",
                    r.method,
                    r.path
                );
                assert!(op["responses"]["401"].is_object() && op["responses"]["403"].is_object());
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        match (k.as_str(), v) {
                            ("$ref", Value::String(r)) => out.push(r.clone()),
                            _ => refs(v, out),
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = Value::Object(document().clone());
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }
}
