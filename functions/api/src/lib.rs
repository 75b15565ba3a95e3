//! Boreas's status and control API: `/api/...` over the store, Step Functions and SSM.
//!
//! [`handle`] is a plain `async fn` over [`ApiRequest`] and [`ApiResponse`]; `main.rs` hands it
//! to `lambda_http`, and the local runner serves it over HTTP with the same conversions
//! ([`ApiRequest::from_http`], [`ApiResponse::into_http`]).
//!
//! Every route is one entry of [`routes::ROUTES`], whose handler speaks the types of
//! `boreas-api-types`; the OpenAPI document ([`openapi`]) is generated from that table.
//!
//! Conventions:
//! - every answer is JSON; errors are `{"error": code, "message": text}` ([`Error::code`]);
//! - a query parameter the route does not take is refused (400 `bad_query`);
//! - `Authorization: Bearer <token>`: tokens are stored by SHA-256 with a role, viewer < deployer
//!   < approver < admin; the admin token in SSM is accepted as admin (name `admin`);
//! - lists take `limit` (1–1000, default 50) and an opaque `cursor`, and answer
//!   `{"items": [...], "next_cursor": ...}`;
//! - repositories are addressed by id (`host/full_name`, lowercased) and versions as
//!   `/api/versions/{repo}/{name}`, each segment percent-encoded (a `/` in a repository id or a
//!   tag name travels as `%2F`);
//! - every successful mutating call appends an audit entry (who = token name).

mod apps;
mod auth;
mod call;
mod control;
pub mod error;
mod history;
mod lambda;
mod notify;
pub mod openapi;
mod policy;
mod read;
mod repos;
pub mod routes;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use boreas_aws::env::Env;
use boreas_aws::names::Names;
use boreas_aws::notices::Notices;
use boreas_aws::orchestrator::{Orchestrator, SfnOrchestrator};
use boreas_aws::policy::Rechecks;
use boreas_aws::secrets::{Secrets, SsmSecrets};
use boreas_aws::store::{AuditEntry, DynamoStore, PageRequest, Store};
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use call::{Call, bad_query};

pub use auth::Caller;
pub use control::GATE_REJECTED;
pub use error::Error;
pub use lambda::handle_lambda;

/// Agents not heard from for this long are reported `stale`.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(300);

/// Items a list returns when the request names no `limit`.
pub const DEFAULT_LIMIT: u32 = 50;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// What the handlers work with.
#[derive(Debug, Clone)]
pub struct Api {
    store: Arc<dyn Store>,
    orchestrator: Arc<dyn Orchestrator>,
    secrets: Arc<dyn Secrets>,
    names: Names,
    admin_token_param: String,
    stale_after: Duration,
    notices: Notices,
    rechecks: Rechecks,
}

impl Api {
    /// An api over these adapters; the bootstrap admin token is read from `names`'s parameter.
    pub fn new(
        store: Arc<dyn Store>,
        orchestrator: Arc<dyn Orchestrator>,
        secrets: Arc<dyn Secrets>,
        names: &Names,
    ) -> Self {
        Self {
            store,
            orchestrator,
            secrets,
            names: names.clone(),
            admin_token_param: names.admin_token_param(),
            stale_after: DEFAULT_STALE_AFTER,
            notices: Notices::off(),
            rechecks: Rechecks::off(),
        }
    }

    /// Asks the planner to look again at an environment after a grant or a removed window.
    #[must_use]
    pub fn with_rechecks(mut self, rechecks: Rechecks) -> Self {
        self.rechecks = rechecks;
        self
    }

    /// Announces confirmations and cancellations to `notices`.
    #[must_use]
    pub fn with_notices(mut self, notices: Notices) -> Self {
        self.notices = notices;
        self
    }

    /// Reports agents stale after `d` without a report instead of [`DEFAULT_STALE_AFTER`].
    #[must_use]
    pub fn with_stale_after(mut self, d: Duration) -> Self {
        self.stale_after = d;
        self
    }

    /// The api as the Lambda function configures it: `BOREAS_PREFIX` (default `boreas`),
    /// `BOREAS_TABLE` (default from the prefix), `BOREAS_STATE_MACHINE_ARN` (required),
    /// `BOREAS_ADMIN_TOKEN_PARAM` (default from the prefix), `BOREAS_AGENT_STALE_SECONDS`
    /// (default 300), `BOREAS_NOTIFICATIONS_QUEUE_URL` and `BOREAS_PLAN_QUEUE_URL` (optional); AWS access through the default chain or `AWS_ENDPOINT_URL`.
    pub async fn from_env(env: &Env) -> Result<Self, Error> {
        let names = env.names()?;
        let machine = env.require(
            "BOREAS_STATE_MACHINE_ARN",
            "it names the deployment state machine",
        )?;
        let table = env.get("BOREAS_TABLE")?.unwrap_or_else(|| names.table());
        let admin_token_param = env.get("BOREAS_ADMIN_TOKEN_PARAM")?;
        let stale_seconds =
            env.parse::<u64>("BOREAS_AGENT_STALE_SECONDS", "a whole number of seconds")?;
        let config = boreas_aws::sdk_config(None).await;
        let store = DynamoStore::from_config(&config, table);
        let mut api = Self::new(
            Arc::new(store),
            Arc::new(SfnOrchestrator::from_config(
                &config,
                machine,
                names.plans_bucket(),
            )),
            Arc::new(SsmSecrets::from_config(&config)),
            &names,
        );
        if let Some(param) = admin_token_param {
            api.admin_token_param = param;
        }
        if let Some(secs) = stale_seconds {
            api.stale_after = Duration::from_secs(secs);
        }
        Ok(api
            .with_notices(Notices::from_env(env, &config)?)
            .with_rechecks(Rechecks::from_env(env, &config)?))
    }

    /// The store the api reads and writes.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) async fn audit(
        &self,
        who: &Caller,
        action: &str,
        target: &str,
    ) -> Result<(), Error> {
        self.audit_detail(who, action, target, Vec::new()).await
    }

    /// Appends an audit entry that says what exactly changed.
    pub(crate) async fn audit_detail(
        &self,
        who: &Caller,
        action: &str,
        target: &str,
        detail: Vec<String>,
    ) -> Result<(), Error> {
        let entry = AuditEntry {
            detail,
            ..AuditEntry::new(&who.name, action, target)?
        };
        self.store.append_audit(&entry).await?;
        tracing::info!(who = %who.name, action, target, "audited");
        Ok(())
    }
}

/// A request, independent of how it arrived.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// The raw (percent-encoded) path, starting with `/api/`.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// A request with no query, headers or body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            ..Self::default()
        }
    }

    /// Adds `Authorization: Bearer <token>`.
    #[must_use]
    pub fn bearer(mut self, token: &str) -> Self {
        if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {token}")) {
            self.headers.insert(http::header::AUTHORIZATION, v);
        }
        self
    }

    /// Sets a JSON body.
    #[must_use]
    pub fn json(mut self, body: &Value) -> Self {
        self.body = body.to_string().into_bytes();
        self
    }

    /// Adds a query parameter.
    #[must_use]
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Converts an `http` request (hyper's or `lambda_http`'s, body already collected).
    pub fn from_http(parts: &http::request::Parts, body: Vec<u8>) -> Self {
        Self {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(parse_query).unwrap_or_default(),
            headers: parts.headers.clone(),
            body,
        }
    }
}

/// Decodes an `application/x-www-form-urlencoded` query string.
fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// An answer: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Extra headers (`Allow` on 405).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Value,
}

impl ApiResponse {
    /// `200 OK` with `body`.
    pub fn ok(body: Value) -> Self {
        Self::with_status(StatusCode::OK, body)
    }

    /// `status` with `body`.
    pub fn with_status(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn from_error(e: &Error) -> Self {
        let status = e.status();
        // A server-side failure's detail (AWS SDK errors: endpoints, request ids, service
        // messages) is for the log only; the caller gets the code and a short message.
        let message = if status.is_server_error() {
            tracing::error!(error = %e, code = e.code(), "request failed");
            match status {
                StatusCode::SERVICE_UNAVAILABLE => "the platform is unavailable; retry later",
                StatusCode::BAD_GATEWAY => {
                    "a platform service refused the request; see the api's log"
                }
                _ => "internal error; see the api's log",
            }
            .to_owned()
        } else {
            e.to_string()
        };
        let body = boreas_api_types::ErrorBody {
            error: e.code().to_owned(),
            message,
        };
        let mut response =
            Self::with_status(status, serde_json::to_value(body).unwrap_or(Value::Null));
        if let Error::MethodNotAllowed { allowed, .. } = e {
            response.headers.push(("allow", allowed.join(", ")));
        }
        response
    }

    /// The answer as an `http` response with a JSON body.
    pub fn into_http(self) -> http::Response<Vec<u8>> {
        let mut builder = http::Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in &self.headers {
            builder = builder.header(*name, value);
        }
        builder
            .body(self.body.to_string().into_bytes())
            .unwrap_or_else(|_| http::Response::new(Vec::new()))
    }
}

/// Answers one request.
pub async fn handle(api: &Api, req: ApiRequest) -> ApiResponse {
    match dispatch(api, &req).await {
        Ok(response) => response,
        Err(e) => ApiResponse::from_error(&e),
    }
}

async fn dispatch(api: &Api, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let segments = routes::segments(&req.path)
        .ok_or_else(|| Error::bad_request("the path is not valid percent-encoded UTF-8"))?;
    let (route, params) = match routes::find(req.method.as_str(), &segments) {
        routes::Matched::Route(route, params) => (route, params),
        routes::Matched::WrongMethod(allowed) => {
            return Err(Error::MethodNotAllowed {
                method: req.method.to_string(),
                allowed,
            });
        }
        routes::Matched::None => {
            return Err(Error::NotFound(format!(
                "no route {} {}",
                req.method, req.path
            )));
        }
    };
    if req.body.len() > MAX_BODY {
        return Err(Error::bad_request(format!(
            "the body is {} bytes; at most {MAX_BODY} are accepted",
            req.body.len()
        )));
    }
    let who = match route.role {
        None => None,
        Some(role) => Some(auth::authorize(api, &req.headers, role).await?),
    };
    let call = Call::new(req, route, params, who)?;
    (route.endpoint.handler)(api, &call).await
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(n: usize) -> Result<String, Error> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Configuration(format!("no randomness available: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Opaque cursors for lists the api pages itself: hex of the last key returned.
pub(crate) fn paginate<T>(
    mut items: Vec<(String, T)>,
    page: &PageRequest,
) -> Result<(Vec<T>, Option<String>), Error> {
    let after = match &page.cursor {
        None => None,
        Some(c) => Some(
            unhex(c).ok_or_else(|| bad_query("cursor is not one this service issued".into()))?,
        ),
    };
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rest = items
        .into_iter()
        .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a));
    let taken: Vec<(String, T)> = rest.by_ref().take(page.limit as usize).collect();
    let next = match (taken.last(), rest.next()) {
        (Some((k, _)), Some(_)) => Some(k.bytes().map(|b| format!("{b:02x}")).collect()),
        _ => None,
    };
    Ok((taken.into_iter().map(|(_, t)| t).collect(), next))
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

// The conformance checker names this crate as the emulator tests do.
#[cfg(test)]
extern crate self as boreas_api;
#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
