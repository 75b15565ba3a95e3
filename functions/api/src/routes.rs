//! The route table: every route the api answers, with the role it needs. The router, the
//! OpenAPI document's test and the dashboard's expectations all follow this one table.

use boreas_core::role::Role;

/// One route: a method and a path template whose `{name}` segments capture one path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteDef {
    /// HTTP method.
    pub method: &'static str,
    /// Path template, `{name}` marking a parameter.
    pub path: &'static str,
    /// The least role allowed; `None` for public routes.
    pub role: Option<Role>,
}

const fn route(method: &'static str, path: &'static str, role: Option<Role>) -> RouteDef {
    RouteDef { method, path, role }
}

const VIEWER: Option<Role> = Some(Role::Viewer);
const DEPLOYER: Option<Role> = Some(Role::Deployer);
const APPROVER: Option<Role> = Some(Role::Approver);
const ADMIN: Option<Role> = Some(Role::Admin);

/// Every route.
pub const ROUTES: &[RouteDef] = &[
    route("GET", "/api/health", None),
    route("GET", "/api/openapi.json", None),
    route("GET", "/api/versions", VIEWER),
    route("GET", "/api/versions/{repo}/{name}", VIEWER),
    route("POST", "/api/versions/{repo}/{name}/revert", APPROVER),
    route("GET", "/api/deployments", VIEWER),
    route("GET", "/api/deployments/{id}", VIEWER),
    route("PUT", "/api/deployments/{id}/plan", DEPLOYER),
    route("POST", "/api/deployments/{id}/confirm", DEPLOYER),
    route("POST", "/api/deployments/{id}/cancel", DEPLOYER),
    route(
        "POST",
        "/api/deployments/{id}/gates/{gate}/approve",
        APPROVER,
    ),
    route(
        "POST",
        "/api/deployments/{id}/gates/{gate}/reject",
        APPROVER,
    ),
    route("GET", "/api/apps", VIEWER),
    route("GET", "/api/apps/{name}", VIEWER),
    route("GET", "/api/agents", VIEWER),
    route("GET", "/api/audit", VIEWER),
    route("GET", "/api/repositories", VIEWER),
    route("POST", "/api/repositories", ADMIN),
    route("POST", "/api/tokens", ADMIN),
];

/// What matching a path gave.
#[derive(Debug)]
pub(crate) enum Matched {
    /// A route and its parameters, in template order.
    Route(&'static RouteDef, Vec<String>),
    /// The path exists with other methods.
    WrongMethod(Vec<&'static str>),
    /// No route has this path.
    None,
}

/// Matches `method` and the decoded path `segments` (without the leading empty segment).
pub(crate) fn find(method: &str, segments: &[String]) -> Matched {
    let mut allowed = Vec::new();
    for def in ROUTES {
        let Some(params) = match_template(def.path, segments) else {
            continue;
        };
        if def.method == method {
            return Matched::Route(def, params);
        }
        allowed.push(def.method);
    }
    if allowed.is_empty() {
        Matched::None
    } else {
        Matched::WrongMethod(allowed)
    }
}

fn match_template(template: &str, segments: &[String]) -> Option<Vec<String>> {
    let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            if segment.is_empty() {
                return None;
            }
            params.push(segment.clone());
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// Splits a raw (percent-encoded) path into decoded segments, so that a `/` inside a version name
/// travels as `%2F`. `None` when a segment is not UTF-8 after decoding.
pub(crate) fn segments(raw_path: &str) -> Option<Vec<String>> {
    raw_path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        segments(p).unwrap()
    }

    #[test]
    fn paths_match_templates_with_decoded_parameters() {
        let Matched::Route(def, params) = find("GET", &segs("/api/versions/shop/release%2F1.0"))
        else {
            panic!("no match");
        };
        assert_eq!(def.path, "/api/versions/{repo}/{name}");
        assert_eq!(params, ["shop", "release/1.0"]);
        let Matched::Route(def, params) =
            find("POST", &segs("/api/deployments/d1/gates/web.0/approve"))
        else {
            panic!("no match");
        };
        assert_eq!(def.path, "/api/deployments/{id}/gates/{gate}/approve");
        assert_eq!(params, ["d1", "web.0"]);
    }

    #[test]
    fn a_known_path_with_another_method_lists_the_allowed_ones() {
        match find("DELETE", &segs("/api/repositories")) {
            Matched::WrongMethod(allowed) => assert_eq!(allowed, ["GET", "POST"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(find("GET", &segs("/api/nothing")), Matched::None));
        assert!(matches!(
            find("GET", &segs("/api/apps//")),
            Matched::Route(..)
        ));
        assert!(matches!(
            find("GET", &segs("/api/versions/shop/")),
            Matched::None
        ));
    }

    #[test]
    fn every_template_is_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for def in ROUTES {
            assert!(seen.insert((def.method, def.path)), "{def:?} twice");
        }
    }
}
