//! The OpenAPI 3.1 document served at `/api/openapi.json` (hand-written in `openapi.json`; a test
//! keeps its paths and methods equal to [`crate::routes::ROUTES`]).

use std::sync::OnceLock;

use serde_json::Value;

/// The document's text.
pub const SOURCE: &str = include_str!("../openapi.json");

/// The document, parsed once.
pub fn document() -> Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(SOURCE).unwrap_or(Value::Null))
        .clone()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn the_document_parses_as_openapi_3_1() {
        let doc: Value = serde_json::from_str(SOURCE).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_routed() {
        let doc = document();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(|m| (m.to_uppercase(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(documented, routed);
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
                    "{} {} should name role {role}",
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
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }
}
