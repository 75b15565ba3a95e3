//! The git hosts' published request schemas (`fixtures/git-host-apis`, extracted from GitHub's
//! OpenAPI description and GitLab's and Gitea's Swagger documents): what a body Boreas sends a
//! host must satisfy.

use std::path::PathBuf;

use serde_json::{Value, json};

/// The fixtures directory of the schemas.
fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/git-host-apis")
}

/// The request schema of `operation` (`github/repos_create-commit-status`,
/// `gitlab/create-commit-status`, `gitea/repoCreateStatus`), closed: a property the host's
/// description does not declare is an error too, so a misspelt field cannot pass unnoticed.
///
/// # Panics
/// When the schema file is missing or not JSON.
pub fn request_schema(operation: &str) -> Value {
    let file = dir().join(format!("{operation}.request.schema.json"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut schema: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    if let Some(object) = schema.as_object_mut() {
        object.entry("additionalProperties").or_insert(json!(false));
    }
    schema
}

/// Every way `body` breaks the closed request schema of `operation`, as `path: problem`.
///
/// # Panics
/// When the schema does not compile.
pub fn request_problems(operation: &str, body: &Value) -> Vec<String> {
    let schema = request_schema(operation);
    let validator = jsonschema::draft202012::options()
        .build(&schema)
        .unwrap_or_else(|e| panic!("{operation}: the schema does not compile: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// The operation a request to a git host's REST API is, by method and path under the API
/// base; `None` for a call no schema here describes.
pub fn operation_of(method: &str, path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if method != "POST" {
        return None;
    }
    match segments.as_slice() {
        ["api", "v3" | "v4" | "v1", rest @ ..] => operation_in(segments[1], rest),
        rest => operation_in("github", rest),
    }
}

fn operation_in(api: &str, segments: &[&str]) -> Option<&'static str> {
    match (api, segments) {
        ("v4", ["projects", _, "statuses", _]) => Some("gitlab/create-commit-status"),
        ("v1", ["repos", _, _, "statuses", _]) => Some("gitea/repoCreateStatus"),
        ("v3" | "github", ["repos", _, _, "statuses", _]) => {
            Some("github/repos_create-commit-status")
        }
        ("v3" | "github", ["repos", _, _, "deployments"]) => Some("github/repos_create-deployment"),
        ("v3" | "github", ["repos", _, _, "deployments", _, "statuses"]) => {
            Some("github/repos_create-deployment-status")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_their_operation() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            operation_of("POST", &format!("/repos/o/r/statuses/{sha}")),
            Some("github/repos_create-commit-status")
        );
        assert_eq!(
            operation_of("POST", "/api/v3/repos/o/r/deployments/7/statuses"),
            Some("github/repos_create-deployment-status")
        );
        assert_eq!(
            operation_of("POST", &format!("/api/v4/projects/g%2Fp/statuses/{sha}")),
            Some("gitlab/create-commit-status")
        );
        assert_eq!(
            operation_of("POST", &format!("/api/v1/repos/o/r/statuses/{sha}")),
            Some("gitea/repoCreateStatus")
        );
        assert_eq!(operation_of("GET", "/repos/o/r/deployments"), None);
    }

    #[test]
    fn a_closed_schema_refuses_an_undeclared_field() {
        let ok = json!({"state": "success", "context": "boreas/prod"});
        assert!(request_problems("github/repos_create-commit-status", &ok).is_empty());
        let typo = json!({"state": "success", "contxt": "boreas/prod"});
        assert_eq!(
            request_problems("github/repos_create-commit-status", &typo).len(),
            1
        );
        let bad = json!({"state": "running"});
        assert_eq!(
            request_problems("github/repos_create-commit-status", &bad).len(),
            1
        );
        assert!(request_problems("gitlab/create-commit-status", &bad).is_empty());
    }
}
