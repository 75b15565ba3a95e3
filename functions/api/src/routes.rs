//! The route table: every route the api answers, written once with everything about it — method,
//! path, the role it needs, its query parameters, its request and response types, its handler
//! and what the OpenAPI document says about it. The router ([`find`]) dispatches with it and
//! [`crate::openapi`] generates the document from it, so neither can list a route the other
//! lacks, and a handler's answer type is the type the document describes.

use std::future::Future;
use std::pin::Pin;

use boreas_api_types as wire;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::role::Role;
use http::StatusCode;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

use crate::call::Call;
use crate::{
    Api, ApiResponse, Error, apps, control, history, notify, openapi, policy, read, repos, tokens,
};

/// A boxed future of a handler's answer.
pub(crate) type Answer<'a> = Pin<Box<dyn Future<Output = Result<ApiResponse, Error>> + Send + 'a>>;

/// A handler with its request decoded from and its answer encoded to JSON.
pub(crate) type Handler = for<'a> fn(&'a Api, &'a Call<'a>) -> Answer<'a>;

/// Adds a type's schema to a generator, returning the schema or a reference to it.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path template, `{name}` capturing one (percent-decoded) segment.
    pub path: &'static str,
    /// The least role allowed; `None` for public routes.
    pub role: Option<Role>,
    /// One line for the document.
    pub summary: &'static str,
    /// The path template's parameters, in order.
    pub params: &'static [Param],
    /// Query parameters besides `limit` and `cursor`; any other is refused.
    pub query: &'static [Param],
    /// A list taking `limit` and `cursor`.
    pub paged: bool,
    /// Successful statuses with what each means.
    pub ok: &'static [(u16, &'static str)],
    /// Error statuses particular to the route (those every route or every authorized route can
    /// answer are added by [`crate::openapi`]).
    pub errors: &'static [(u16, &'static str)],
    /// The handler and its types.
    pub endpoint: Endpoint,
}

/// A path or query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Its values.
    pub schema: SchemaFn,
}

/// A handler and the types it speaks.
#[derive(Clone, Copy)]
pub struct Endpoint {
    pub(crate) handler: Handler,
    /// The request body, if the route takes one: its schema and whether it is required.
    pub request: Option<(SchemaFn, bool)>,
    /// The successful answer.
    pub response: SchemaFn,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("request", &self.request.is_some())
            .finish_non_exhaustive()
    }
}

/// A successful answer: a status and a body.
#[derive(Debug)]
pub(crate) struct Reply<T> {
    pub(crate) status: StatusCode,
    pub(crate) body: T,
}

impl<T> Reply<T> {
    pub(crate) fn created(body: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            body,
        }
    }
}

impl<T> From<T> for Reply<T> {
    fn from(body: T) -> Self {
        Self {
            status: StatusCode::OK,
            body,
        }
    }
}

impl<T: Serialize> Reply<T> {
    pub(crate) fn into_response(self) -> Result<ApiResponse, Error> {
        Ok(ApiResponse::with_status(
            self.status,
            serde_json::to_value(self.body)?,
        ))
    }
}

/// [`SchemaFn`] of `T`.
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// An [`Endpoint`] calling `handler`: `handler => Answer`, `handler, body Request => Answer`
/// (the body is required), or `handler, optional body Request => Answer`. The handler returns
/// `Result<impl Into<Reply<Answer>>, Error>`, so the documented answer type is the handler's.
macro_rules! endpoint {
    ($handler:path => $ok:ty) => {
        Endpoint {
            handler: |api, call| {
                Box::pin(async move {
                    let reply: Reply<$ok> = $handler(api, call).await?.into();
                    reply.into_response()
                })
            },
            request: None,
            response: schema_of::<$ok>,
        }
    };
    ($handler:path, body $body:ty => $ok:ty) => {
        endpoint!(@body $handler, $body, true, body => $ok)
    };
    ($handler:path, optional body $body:ty => $ok:ty) => {
        endpoint!(@body $handler, $body, false, body => $ok)
    };
    // A body carrying secrets: its decoding errors quote none of its values.
    ($handler:path, secret body $body:ty => $ok:ty) => {
        endpoint!(@body $handler, $body, true, secret_body => $ok)
    };
    (@body $handler:path, $body:ty, $required:expr, $decode:ident => $ok:ty) => {
        Endpoint {
            handler: |api, call| {
                Box::pin(async move {
                    let body: $body = call.$decode()?;
                    let reply: Reply<$ok> = $handler(api, call, body).await?.into();
                    reply.into_response()
                })
            },
            request: Some((schema_of::<$body>, $required)),
            response: schema_of::<$ok>,
        }
    };
}

const VIEWER: Option<Role> = Some(Role::Viewer);
const DEPLOYER: Option<Role> = Some(Role::Deployer);
const APPROVER: Option<Role> = Some(Role::Approver);
const ADMIN: Option<Role> = Some(Role::Admin);

const OK: &[(u16, &str)] = &[(200, "OK")];

const fn text(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        description,
        schema: schema_of::<String>,
    }
}

const REPO: Param = text(
    "repo",
    "Repository id (`host/full_name`, lowercased), percent-encoded (`/` as `%2F`).",
);
const TOKEN_NAME: Param = text("name", "Token name.");
const NO_REPO: (u16, &str) = (404, "Unknown repository.");
const VERSION: Param = text("name", "Version name, percent-encoded (`/` as `%2F`).");
const DEPLOYMENT: Param = text("id", "Deployment id.");
const GATE: Param = text("gate", "Gate id (`<app>.<batch index>`).");
const APP: Param = text("name", "App name.");
const TARGET_APP: Param = text("app", "App name.");
const TARGET: Param = text("target", "Host name.");
const ENV_FILTER: Param = text("env", "Only this environment.");
const ENV: Param = text("env", "Environment name.");
const HOST: Param = text("host", "Host name.");
const REPO_FILTER: Param = text("repo", "Only this repository (its id).");
const SINCE: Param = text(
    "since",
    "Only entries at or after this RFC 3339 date-time (e.g. 2026-12-06T00:00:00Z).",
);
const UNTIL: Param = text("until", "Only entries before this RFC 3339 date-time.");

const BAD_BODY: (u16, &str) = (400, "Malformed JSON, or a field out of range.");
const NO_DEPLOYMENT: (u16, &str) = (404, "Unknown deployment.");
const DECIDE_ERRORS: &[(u16, &str)] = &[
    BAD_BODY,
    (404, "Unknown deployment, or no gate of that id reached."),
    (
        409,
        "Already decided, deployment not running, or the execution no longer waits.",
    ),
];

/// Every route.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/api/health",
        role: None,
        summary: "Whether the api and its store answer",
        params: &[],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[(503, "The store does not answer.")],
        endpoint: endpoint!(read::health => wire::Health),
    },
    Route {
        method: "GET",
        path: "/api/openapi.json",
        role: None,
        summary: "This document",
        params: &[],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(openapi::serve => openapi::Document),
    },
    Route {
        method: "GET",
        path: "/api/versions",
        role: VIEWER,
        summary: "Versions, newest first",
        params: &[],
        query: &[REPO_FILTER],
        paged: true,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(read::versions => wire::List<wire::Version>),
    },
    Route {
        method: "GET",
        path: "/api/versions/{repo}/{name}",
        role: VIEWER,
        summary: "One version",
        params: &[REPO, VERSION],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[(404, "Unknown version.")],
        endpoint: endpoint!(read::version => wire::Version),
    },
    Route {
        method: "POST",
        path: "/api/versions/{repo}/{name}/revert",
        role: APPROVER,
        summary: "Withdraw a version and plan deployments back to the newest older normal \
                  version wherever it runs",
        params: &[REPO, VERSION],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[
            (400, "Malformed body, or an empty reason."),
            (404, "Unknown version."),
            (
                409,
                "Already reverted, no rollback target, or its config is not recorded.",
            ),
        ],
        endpoint: endpoint!(control::revert, body wire::RevertRequest => wire::RevertResult),
    },
    Route {
        method: "GET",
        path: "/api/deployments",
        role: VIEWER,
        summary: "Deployments, newest first",
        params: &[],
        query: &[
            Param {
                name: "status",
                description: "Only deployments with this status.",
                schema: schema_of::<DeploymentStatus>,
            },
            ENV_FILTER,
            REPO_FILTER,
        ],
        paged: true,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(read::deployments => wire::List<wire::DeploymentSummary>),
    },
    Route {
        method: "GET",
        path: "/api/deployments/{id}",
        role: VIEWER,
        summary: "A deployment with its plan and live progress (apps, batches, targets, gates)",
        params: &[DEPLOYMENT],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[NO_DEPLOYMENT],
        endpoint: endpoint!(read::deployment => wire::DeploymentDetail),
    },
    Route {
        method: "GET",
        path: "/api/deployments/{id}/targets/{app}/{target}/output",
        role: VIEWER,
        summary: "What one target's lifecycle hooks printed (the last 64 KiB per command)",
        params: &[DEPLOYMENT, TARGET_APP, TARGET],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[NO_DEPLOYMENT],
        endpoint: endpoint!(read::target_outputs => wire::TargetOutputs),
    },
    Route {
        method: "PUT",
        path: "/api/deployments/{id}/plan",
        role: DEPLOYER,
        summary: "Replace or adjust the plan of a planned deployment",
        params: &[DEPLOYMENT],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[
            (400, "Malformed JSON, or neither a plan nor adjustments."),
            (
                403,
                "Removing or merging manual gates needs the approver role.",
            ),
            NO_DEPLOYMENT,
            (409, "The deployment is no longer planned."),
            (
                413,
                "The plan does not fit in one deployment record, even compressed.",
            ),
            (422, "A plan rule is broken; `error` is the rule's code."),
        ],
        endpoint: endpoint!(control::update_plan, body wire::PlanUpdate => wire::Deployment),
    },
    Route {
        method: "GET",
        path: "/api/deployments/{id}/plan/apps",
        role: VIEWER,
        summary: "The apps of a deployment's plan in plan order, a page at a time (for plans \
                  too large to read in one answer); `cursor` is the next app's name",
        params: &[DEPLOYMENT],
        query: &[Param {
            name: "stage",
            description: "Only the apps of this stage (its index, from 0).",
            schema: schema_of::<u32>,
        }],
        paged: true,
        ok: OK,
        errors: &[
            (
                400,
                "A stage the plan does not have, or a cursor naming an app no longer in it.",
            ),
            NO_DEPLOYMENT,
        ],
        endpoint: endpoint!(read::plan_apps => wire::List<wire::PlannedApp>),
    },
    Route {
        method: "POST",
        path: "/api/deployments/{id}/waivers",
        role: APPROVER,
        summary: "Lift one promotion condition (`after:<env>` or `soak:<env>`) for one planned \
                  deployment; the others still hold",
        params: &[DEPLOYMENT],
        query: &[],
        paged: false,
        ok: &[(201, "Waived.")],
        errors: &[
            (400, "Malformed body, or an empty reason."),
            NO_DEPLOYMENT,
            (
                409,
                "Not planned, already waived, or its boreas.yaml is not recorded.",
            ),
            (
                422,
                "Not a condition of its environment's promotion (`unknown_condition`).",
            ),
        ],
        endpoint: endpoint!(policy::waive, body wire::WaiverRequest => wire::Waiver),
    },
    Route {
        method: "POST",
        path: "/api/deployments/{id}/override",
        role: APPROVER,
        summary: "Break glass: let one deployment through the freeze windows until the override \
                  expires (at most 6h); replaces an earlier override",
        params: &[DEPLOYMENT],
        query: &[],
        paged: false,
        ok: &[(201, "Granted.")],
        errors: &[
            (
                400,
                "Malformed body, an empty reason, or an expiry over 6h.",
            ),
            NO_DEPLOYMENT,
            (409, "The deployment has ended."),
        ],
        endpoint: endpoint!(policy::override_freezes, body wire::OverrideRequest => wire::Override),
    },
    Route {
        method: "GET",
        path: "/api/environments",
        role: VIEWER,
        summary: "Each environment: its promotion per repository, its freeze windows (in force \
                  now, next start), when it opens, and the deployments held back with why",
        params: &[],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(policy::environments => wire::List<wire::EnvironmentView>),
    },
    Route {
        method: "GET",
        path: "/api/freezes",
        role: VIEWER,
        summary: "The freeze windows added through the API",
        params: &[],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(policy::freezes => wire::List<wire::ManagedFreeze>),
    },
    Route {
        method: "POST",
        path: "/api/freezes",
        role: DEPLOYER,
        summary: "Add a freeze window without a commit (an incident freeze), as `boreas.yaml` \
                  declares one",
        params: &[],
        query: &[],
        paged: false,
        ok: &[(201, "Added.")],
        errors: &[
            BAD_BODY,
            (409, "A window of that name exists."),
            (
                422,
                "A field breaks a rule (`invalid_freeze`): a bad recurrence, time zone or time.",
            ),
        ],
        endpoint: endpoint!(policy::add_freeze, body wire::Freeze => wire::ManagedFreeze),
    },
    Route {
        method: "DELETE",
        path: "/api/freezes/{name}",
        role: APPROVER,
        summary: "Remove a freeze window added through the API; answers those left",
        params: &[text("name", "Freeze window name.")],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[(404, "No window of that name.")],
        endpoint: endpoint!(policy::remove_freeze => wire::List<wire::ManagedFreeze>),
    },
    Route {
        method: "POST",
        path: "/api/deployments/{id}/confirm",
        role: DEPLOYER,
        summary: "Confirm a planned deployment: take its run locks and start the execution \
                  named by its id",
        params: &[DEPLOYMENT],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[
            NO_DEPLOYMENT,
            (
                409,
                "Not planned (a second confirm), a run lock held by another running \
                 deployment, no recorded config, or held by its environment's policy \
                 (`held`: unmet promotion conditions or a freeze window, each named in \
                 `message`; the deployment stays planned).",
            ),
            (
                422,
                "The plan cannot be executed (`empty_plan`, `execution_input`).",
            ),
            (
                502,
                "Step Functions did not start the execution; the deployment is failed.",
            ),
        ],
        endpoint: endpoint!(control::confirm => wire::ConfirmedDeployment),
    },
    Route {
        method: "POST",
        path: "/api/deployments/{id}/cancel",
        role: DEPLOYER,
        summary: "Cancel a planned deployment, or stop a running one",
        params: &[DEPLOYMENT],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[NO_DEPLOYMENT, (409, "Already ended.")],
        endpoint: endpoint!(control::cancel => wire::Deployment),
    },
    Route {
        method: "POST",
        path: "/api/deployments/{id}/gates/{gate}/approve",
        role: APPROVER,
        summary: "Approve a waiting manual gate",
        params: &[DEPLOYMENT, GATE],
        query: &[],
        paged: false,
        ok: OK,
        errors: DECIDE_ERRORS,
        endpoint: endpoint!(
            control::approve, optional body wire::GateDecisionRequest => wire::GateDecision
        ),
    },
    Route {
        method: "POST",
        path: "/api/deployments/{id}/gates/{gate}/reject",
        role: APPROVER,
        summary: "Reject a waiting manual gate (the app rolls back)",
        params: &[DEPLOYMENT, GATE],
        query: &[],
        paged: false,
        ok: OK,
        errors: DECIDE_ERRORS,
        endpoint: endpoint!(
            control::reject, optional body wire::GateDecisionRequest => wire::GateDecision
        ),
    },
    Route {
        method: "POST",
        path: "/api/deployments/{id}/targets/{app}/{target}/decision",
        role: APPROVER,
        summary: "Decide on a host that failed under `rollout.on_failure: pause`: retry, skip or roll back",
        params: &[DEPLOYMENT, TARGET_APP, TARGET],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[
            BAD_BODY,
            (
                404,
                "Unknown deployment, or that host waits for no decision.",
            ),
            (
                409,
                "Already decided, deployment not running, or the execution no longer waits.",
            ),
        ],
        endpoint: endpoint!(
            control::decide_target, body wire::TargetDecisionRequest => wire::TargetDecision
        ),
    },
    Route {
        method: "GET",
        path: "/api/apps",
        role: VIEWER,
        summary: "Apps with desired version, coverage and drift per environment",
        params: &[],
        query: &[],
        paged: true,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(apps::list => wire::List<wire::App>),
    },
    Route {
        method: "GET",
        path: "/api/apps/{name}",
        role: VIEWER,
        summary: "One app",
        params: &[APP],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[(404, "No plan and no inventory names the app.")],
        endpoint: endpoint!(apps::one => wire::App),
    },
    Route {
        method: "GET",
        path: "/api/apps/{name}/history",
        role: VIEWER,
        summary: "The app's runs, newest deployment first: version, outcome, when, who confirmed and approved",
        params: &[APP],
        query: &[ENV_FILTER],
        paged: true,
        ok: OK,
        errors: &[(404, "The app never ran and no inventory names it.")],
        endpoint: endpoint!(history::app => wire::List<wire::AppRun>),
    },
    Route {
        method: "GET",
        path: "/api/hosts/{env}/{host}/history",
        role: VIEWER,
        summary: "The deployments that changed a host, newest first",
        params: &[ENV, HOST],
        query: &[],
        paged: true,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(history::host => wire::List<wire::HostRun>),
    },
    Route {
        method: "GET",
        path: "/api/agents",
        role: VIEWER,
        summary: "Agents and what they run",
        params: &[],
        query: &[ENV_FILTER],
        paged: true,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(read::agents => wire::List<wire::Agent>),
    },
    Route {
        method: "GET",
        path: "/api/audit",
        role: VIEWER,
        summary: "Audit trail, newest first",
        params: &[],
        query: &[SINCE, UNTIL],
        paged: true,
        ok: OK,
        errors: &[(
            400,
            "A time that is no RFC 3339 date-time, or an empty range.",
        )],
        endpoint: endpoint!(read::audit => wire::List<wire::AuditEntry>),
    },
    Route {
        method: "GET",
        path: "/api/repositories",
        role: VIEWER,
        summary: "Watched repositories, with their webhook URL and last delivery",
        params: &[],
        query: &[],
        paged: true,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(repos::list => wire::List<wire::Repository>),
    },
    Route {
        method: "POST",
        path: "/api/repositories",
        role: ADMIN,
        summary: "Register a repository: its webhook secret (answered once) and git credential \
                  go to SSM",
        params: &[],
        query: &[],
        paged: false,
        ok: &[(
            201,
            "Registered; the webhook secret and the provider's settings are answered once",
        )],
        errors: &[
            (
                400,
                "Malformed JSON, or a field that is not valid (the message names it).",
            ),
            (409, "The repository is already registered."),
        ],
        endpoint: endpoint!(
            repos::create, secret body wire::RepositoryRequest => wire::RegisteredRepository
        ),
    },
    Route {
        method: "GET",
        path: "/api/repositories/{repo}",
        role: VIEWER,
        summary: "One repository",
        params: &[REPO],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[NO_REPO],
        endpoint: endpoint!(repos::show => wire::Repository),
    },
    Route {
        method: "DELETE",
        path: "/api/repositories/{repo}",
        role: ADMIN,
        summary: "Stop watching a repository and delete its secrets; its versions and \
                  deployments stay readable",
        params: &[REPO],
        query: &[],
        paged: false,
        ok: &[(200, "Removed; the record as it was")],
        errors: &[NO_REPO],
        endpoint: endpoint!(repos::remove => wire::Repository),
    },
    Route {
        method: "POST",
        path: "/api/repositories/{repo}/rotate-secret",
        role: ADMIN,
        summary: "Replace the webhook secret (answered once); the old one is accepted for a \
                  grace period",
        params: &[REPO],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[
            (400, "Malformed body, or a grace period over 30 days."),
            NO_REPO,
        ],
        endpoint: endpoint!(
            repos::rotate_secret, optional body wire::RotateSecretRequest
                => wire::RegisteredRepository
        ),
    },
    Route {
        method: "GET",
        path: "/api/tokens",
        role: ADMIN,
        summary: "API tokens: names, roles, created, last used, expiry (never a secret)",
        params: &[],
        query: &[],
        paged: true,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(tokens::list => wire::List<wire::Token>),
    },
    Route {
        method: "POST",
        path: "/api/tokens",
        role: ADMIN,
        summary: "Create an API token; the secret is answered once",
        params: &[],
        query: &[],
        paged: false,
        ok: &[(201, "Created")],
        errors: &[BAD_BODY, (409, "A token of that name exists.")],
        endpoint: endpoint!(tokens::create, body wire::TokenRequest => wire::NewToken),
    },
    Route {
        method: "DELETE",
        path: "/api/tokens/{name}",
        role: ADMIN,
        summary: "Revoke an API token: requests with it are refused from the next one on",
        params: &[TOKEN_NAME],
        query: &[],
        paged: false,
        ok: &[(200, "Revoked; the token as it was")],
        errors: &[(404, "No token of that name.")],
        endpoint: endpoint!(tokens::revoke => wire::Token),
    },
    Route {
        method: "GET",
        path: "/api/notifications/defaults",
        role: VIEWER,
        summary: "The installation's default notification rules (for versions whose boreas.yaml has no notifications section)",
        params: &[],
        query: &[],
        paged: false,
        ok: OK,
        errors: &[],
        endpoint: endpoint!(notify::defaults => wire::NotificationDefaults),
    },
    Route {
        method: "PUT",
        path: "/api/notifications/defaults",
        role: ADMIN,
        summary: "Replace the installation's default notification rules",
        params: &[],
        query: &[],
        paged: false,
        ok: &[(200, "Replaced; the rules as stored")],
        errors: &[(
            400,
            "Malformed JSON, or a rule names an invalid sink, event, environment or app, or repeats one.",
        )],
        endpoint: endpoint!(notify::set_defaults, body wire::NotificationDefaultsRequest => wire::NotificationDefaults),
    },
];

/// What matching a path gave.
#[derive(Debug)]
pub(crate) enum Matched {
    /// A route and its parameters, in template order.
    Route(&'static Route, Vec<String>),
    /// The path exists with other methods.
    WrongMethod(Vec<&'static str>),
    /// No route has this path.
    None,
}

/// The route that `method` and the raw (percent-encoded) `path` reach, if any.
pub fn route_for(method: &str, path: &str) -> Option<&'static Route> {
    match find(method, &segments(path)?) {
        Matched::Route(route, _) => Some(route),
        Matched::WrongMethod(_) | Matched::None => None,
    }
}

/// Matches `method` and the decoded path `segments` (without the leading empty segment).
pub(crate) fn find(method: &str, segments: &[String]) -> Matched {
    let mut allowed = Vec::new();
    for route in ROUTES {
        let Some(params) = match_template(route.path, segments) else {
            continue;
        };
        if route.method == method {
            return Matched::Route(route, params);
        }
        allowed.push(route.method);
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

/// The `{name}` parameters of a path template, in order.
pub fn template_params(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
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
        let Matched::Route(route, params) = find("GET", &segs("/api/versions/shop/release%2F1.0"))
        else {
            panic!("no match");
        };
        assert_eq!(route.path, "/api/versions/{repo}/{name}");
        assert_eq!(params, ["shop", "release/1.0"]);
        let Matched::Route(route, params) =
            find("POST", &segs("/api/deployments/d1/gates/web.0/approve"))
        else {
            panic!("no match");
        };
        assert_eq!(route.path, "/api/deployments/{id}/gates/{gate}/approve");
        assert_eq!(params, ["d1", "web.0"]);
    }

    #[test]
    fn a_known_path_with_another_method_lists_the_allowed_ones() {
        match find("PUT", &segs("/api/repositories")) {
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
    fn every_template_is_unique_and_names_its_parameters() {
        let mut seen = std::collections::BTreeSet::new();
        for route in ROUTES {
            assert!(
                seen.insert((route.method, route.path)),
                "{} {} twice",
                route.method,
                route.path
            );
            let documented: Vec<&str> = route.params.iter().map(|p| p.name).collect();
            let templated: Vec<&str> = template_params(route.path).collect();
            assert_eq!(documented, templated, "{} {}", route.method, route.path);
        }
    }
}
