//! Holds the api to its OpenAPI document in tests: every answer must have a status the document
//! lists for the route, and a body that validates against the schema documented for that status;
//! a request body the api accepted must validate against the documented request schema.
//!
//! The route tests (`src/tests.rs`) and the emulator tests (`tests/emulator.rs`) pass every call
//! through [`check`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use boreas_api::{ApiRequest, ApiResponse};
use serde_json::{Value, json};

/// Validators by schema text: each distinct schema is compiled once per test process.
fn validator(schema: &Value) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let key = schema.to_string();
    let mut cache = CACHE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(cache.entry(key).or_insert_with(|| {
        let document = boreas_api::openapi::document();
        // `$ref`s point into `#/components/schemas`, so the components travel with the schema.
        let root = json!({"components": document["components"], "allOf": [schema]});
        let built = jsonschema::draft202012::options()
            .build(&root)
            .unwrap_or_else(|e| panic!("the documented schema {schema} does not compile: {e}"));
        Arc::new(built)
    }))
}

fn problems(schema: &Value, instance: &Value) -> Vec<String> {
    validator(schema)
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Panics unless `res`, the api's answer to `req`, is one the document describes.
pub(crate) fn check(req: &ApiRequest, res: &ApiResponse) {
    let document = boreas_api::openapi::document();
    let method = req.method.as_str();
    let status = res.status.as_u16();
    let error_schema = json!({"$ref": "#/components/schemas/Error"});
    let Some(route) = boreas_api::routes::route_for(method, &req.path) else {
        // No operation: an unknown path (404), another method (405) or a path that does not
        // decode (400), each an Error.
        assert!(
            [400, 404, 405].contains(&status),
            "{method} {} has no route but answered {status}",
            req.path
        );
        let found = problems(&error_schema, &res.body);
        assert!(found.is_empty(), "{method} {}: {found:?}", req.path);
        return;
    };
    let operation = &document["paths"][route.path][method.to_lowercase()];
    let Some(answer) = operation["responses"].get(status.to_string()) else {
        panic!(
            "{method} {} answered {status}, which the document does not list for {method} {}: {}",
            req.path, route.path, res.body
        );
    };
    let schema = &answer["content"]["application/json"]["schema"];
    let found = problems(schema, &res.body);
    assert!(
        found.is_empty(),
        "{method} {} answered {status} with a body the document does not describe: {found:?}\n{}",
        req.path,
        res.body
    );
    if res.status.is_success()
        && let Some(request) = operation.get("requestBody")
    {
        let sent: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(&req.body).unwrap_or(Value::Null)
        };
        let found = problems(&request["content"]["application/json"]["schema"], &sent);
        assert!(
            found.is_empty(),
            "{method} {} accepted a body the document refuses: {found:?}\n{sent}",
            req.path
        );
    }
}
