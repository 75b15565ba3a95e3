//! The webhook intake function: `POST /webhooks/{github|gitlab|gitea}`.
//!
//! [`handle`] is a plain `async fn` over plain types; `main.rs` adapts it to `lambda_http` with
//! [`request_from_lambda`] and [`response_to_lambda`], and the local runner calls it too.
//!
//! Order of checks. Everything that can refuse a request runs before the first write, so a
//! refused request writes no version, job or delivery id:
//! 1. provider in the route (404), body size (413), the body is a JSON object (400);
//! 2. a GitHub `ping` naming no repository (an organisation's or an App's hook) → 200: nothing to
//!    check it against and nothing asked;
//! 3. signature header present (401);
//! 4. the payload names a repository by full name and web URL (400 naming the field); its id
//!    (`host/full_name`, see [`boreas_core::repository`]) is registered, for this provider (404);
//!    nothing else in the payload is trusted before the signature is checked;
//! 5. the repository's webhook secret exists (else 500 `webhook_secret_missing`, the parameter
//!    named in the log) and the signature matches it, or matches the secret a rotation replaced
//!    while its grace period lasts (401);
//! 6. event and delivery headers, payload fields (400); `ping` → 200; other events, deletions
//!    and refs outside the repository's triggers → 202 with the reason.
//!
//! From step 4 on, every answer is also recorded as the repository's last delivery (when, which
//! event, the status and the message), for the operator connecting the repository.
//!
//! Writes, in this order, each idempotent:
//! 1. the version, `received` (created only if absent);
//! 2. the plan job on the plan queue;
//! 3. the delivery id (recorded once, expires after [`DELIVERY_TTL`]).
//!
//! The delivery id is recorded last, as the mark of a fully handled delivery, so a crash at any
//! point loses no version: a redelivery of a delivery whose handling stopped early finds the
//! version already there but its delivery id not yet recorded, records the id, and enqueues the
//! plan job again if the version is still `received` (the planner is idempotent, so a job sent
//! twice plans once). A replay of a fully handled delivery finds both the version and the delivery
//! id: it answers 200 `duplicate` and writes nothing. A tag moved to another commit does not
//! replace its version: 409, nothing written.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boreas_aws::env::Env;
use boreas_aws::queues::{Queues, SqsQueues};
use boreas_aws::secrets::{Secrets, SsmSecrets};
use boreas_aws::store::{DynamoStore, LastDelivery, Repository, Store, VersionRecord, rfc3339};
use boreas_core::status::VersionStatus;
use boreas_core::version::{CommitId, Version, VersionState};
use boreas_core::webhook::{
    self, PayloadError, PlanJob, Provider, PushEvent, RefTriggers, SignatureError, Webhook,
};
use http::HeaderMap;
use serde::Serialize;

/// Largest body accepted: 1 MiB.
pub const MAX_BODY: usize = 1 << 20;
/// How long a delivery id is remembered (providers redeliver within days).
pub const DELIVERY_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// A signature that does not match a cached secret is checked again against the secret read
/// afresh when the cached one is older than this: a rotation is seen at once, and unsigned
/// traffic cannot make intake read SSM more than once per interval.
pub const SECRET_RECHECK_AFTER: Duration = Duration::from_secs(5);

/// The function's adapters, built once per cold start.
#[derive(Debug, Clone)]
pub struct Intake {
    store: Arc<dyn Store>,
    secrets: Arc<dyn Secrets>,
    queues: Arc<dyn Queues>,
    plan_queue_url: String,
}

impl Intake {
    /// An intake over these adapters, sending plan jobs to `plan_queue_url`.
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<dyn Secrets>,
        queues: Arc<dyn Queues>,
        plan_queue_url: impl Into<String>,
    ) -> Self {
        Self {
            store,
            secrets,
            queues,
            plan_queue_url: plan_queue_url.into(),
        }
    }

    /// The intake of the installation the environment describes: `BOREAS_PREFIX` (default
    /// `boreas`), `BOREAS_TABLE` and `BOREAS_PLAN_QUEUE_URL` (default: derived from the prefix),
    /// and the AWS SDK's own variables (`AWS_ENDPOINT_URL` for an emulator).
    ///
    /// # Errors
    /// A variable that is not usable, or a plan queue that cannot be found.
    pub async fn from_env(env: &Env) -> Result<Self, boreas_aws::Error> {
        let names = env.names()?;
        let plan_queue_url = env.get("BOREAS_PLAN_QUEUE_URL")?;
        let table = env.get("BOREAS_TABLE")?.unwrap_or_else(|| names.table());
        let config = boreas_aws::sdk_config(None).await;
        let queues = SqsQueues::from_config(&config);
        let plan_queue_url = match plan_queue_url {
            Some(url) => url,
            None => queues.queue_url(&names.plan_queue()).await?,
        };
        Ok(Self::new(
            Arc::new(DynamoStore::from_config(&config, table)),
            Arc::new(SsmSecrets::from_config(&config)),
            Arc::new(queues),
            plan_queue_url,
        ))
    }
}

/// A webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    /// The `{provider}` of the route.
    pub provider: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The raw body, exactly as signed.
    pub body: Vec<u8>,
}

/// The answer: a status code and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// HTTP status code.
    pub status: u16,
    /// JSON body.
    pub body: ResponseBody,
}

/// `{"status": …, "message": …}` on success, `{"error": …, "message": …}` on failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseBody {
    /// Error code, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// Outcome, on success: `pong`, `queued`, `ignored`, `duplicate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// What happened, for people.
    pub message: String,
}

impl WebhookResponse {
    fn ok(status: u16, outcome: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ResponseBody {
                error: None,
                status: Some(outcome),
                message: message.into(),
            },
        }
    }

    fn error(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ResponseBody {
                error: Some(code),
                status: None,
                message: message.into(),
            },
        }
    }

    /// The body as JSON text.
    pub fn body_json(&self) -> String {
        serde_json::to_string(&self.body).expect("response bodies hold only strings")
    }
}

fn bad_request(e: &PayloadError) -> WebhookResponse {
    WebhookResponse::error(400, "bad_request", e.to_string())
}

fn unauthorized(e: &SignatureError) -> WebhookResponse {
    WebhookResponse::error(401, "unauthorized", e.to_string())
}

/// A failure of a service the function depends on: logged with its detail, answered without it.
fn unavailable(what: &str, e: &boreas_aws::Error) -> WebhookResponse {
    tracing::error!(error = %e, error_type = e.error_type(), "{what} failed");
    let status = if matches!(
        e,
        boreas_aws::Error::Throttled { .. } | boreas_aws::Error::Unavailable { .. }
    ) {
        503
    } else {
        500
    };
    WebhookResponse::error(status, "internal", format!("{what} failed; try again"))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Handles one delivery. See the module documentation for the order of checks and writes.
pub async fn handle(ctx: &Intake, req: WebhookRequest) -> WebhookResponse {
    let Some(provider) = Provider::parse(&req.provider) else {
        return WebhookResponse::error(
            404,
            "unknown_provider",
            format!(
                "no webhook route for provider {:?}; use github, gitlab or gitea",
                req.provider
            ),
        );
    };
    match check_and_record(ctx, provider, &req).await {
        Checked::Early(response) => response,
        Checked::Repository { id, response } => {
            let delivery = LastDelivery {
                at: rfc3339(SystemTime::now()),
                event: header(&req.headers, provider.event_header()).map(str::to_owned),
                delivery_id: header(&req.headers, provider.delivery_header()).map(str::to_owned),
                status: response.status,
                outcome: response
                    .body
                    .status
                    .or(response.body.error)
                    .unwrap_or_default()
                    .to_owned(),
                message: response.body.message.clone(),
            };
            // Best effort: the answer stands whether or not the operator's view is updated.
            if let Err(e) = ctx.store.put_last_delivery(&id, &delivery).await {
                tracing::warn!(repository = %id, error = %e, "cannot record the last delivery");
            }
            response
        }
    }
}

/// What the checks and writes of a delivery came to.
enum Checked {
    /// Answered before a registered repository was identified.
    Early(WebhookResponse),
    /// Answered about a registered repository.
    Repository {
        id: String,
        response: WebhookResponse,
    },
}

async fn check_and_record(ctx: &Intake, provider: Provider, req: &WebhookRequest) -> Checked {
    if req.body.len() > MAX_BODY {
        return Checked::Early(WebhookResponse::error(
            413,
            "payload_too_large",
            format!(
                "the body is {} bytes; at most {MAX_BODY} are accepted",
                req.body.len()
            ),
        ));
    }
    let payload = match webhook::parse_json(&req.body) {
        Ok(p) => p,
        Err(e) => return Checked::Early(bad_request(&e)),
    };
    let event = header(&req.headers, provider.event_header());
    if webhook::is_unscoped_ping(provider, event, &payload) {
        return Checked::Early(WebhookResponse::ok(
            200,
            "pong",
            "hook configured; it names no repository, so pushes are matched by each \
             repository's own registration",
        ));
    }
    let signature = header(&req.headers, provider.signature_header());
    if signature.is_none() {
        return Checked::Early(unauthorized(&SignatureError::Missing(
            provider.signature_header(),
        )));
    }
    let named = match webhook::repository_ref(provider, &payload) {
        Ok(r) => r,
        Err(e) => return Checked::Early(bad_request(&e)),
    };
    let id = named.id();
    let repo = match ctx.store.get_repository(&id).await {
        Ok(Some(repo)) if repo.provider == provider => repo,
        Ok(Some(repo)) => {
            return Checked::Early(WebhookResponse::error(
                404,
                "unknown_repository",
                format!(
                    "repository {id} is registered for {} webhooks, not {provider}",
                    repo.provider
                ),
            ));
        }
        Ok(None) => {
            return Checked::Early(WebhookResponse::error(
                404,
                "unknown_repository",
                format!("repository {id} ({named} in the payload) is not registered"),
            ));
        }
        Err(e) => return Checked::Early(unavailable("reading the repository", &e)),
    };
    let response = match verify(ctx, provider, &repo, signature, &req.body).await {
        Err(response) => response,
        Ok(()) => match event {
            None => bad_request(&PayloadError::MissingHeader(provider.event_header())),
            Some(event) => {
                let delivery_id =
                    header(&req.headers, provider.delivery_header()).unwrap_or_default();
                match webhook::parse(provider, event, delivery_id, &payload) {
                    Ok(Webhook::Ping) => WebhookResponse::ok(200, "pong", "webhook configured"),
                    Ok(Webhook::Other { event }) => WebhookResponse::ok(
                        202,
                        "ignored",
                        format!("{event} events make no version; only pushes do"),
                    ),
                    Ok(Webhook::Push(push)) => record_push(ctx, &repo, &push).await,
                    Err(e) => bad_request(&e),
                }
            }
        },
    };
    Checked::Repository { id, response }
}

/// Checks the signature against the repository's secret (read afresh if a cached copy does not
/// match, in case it was just rotated), then against the secret a rotation replaced while its
/// grace period lasts.
async fn verify(
    ctx: &Intake,
    provider: Provider,
    repo: &Repository,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookResponse> {
    let check = |secret: &boreas_aws::secrets::SecretValue| {
        webhook::verify_signature(provider, signature, body, secret.expose().as_bytes())
    };
    let current = match ctx.secrets.get(&repo.secret_param).await {
        Ok(s) => s,
        Err(boreas_aws::Error::NotFound { .. }) => {
            tracing::error!(
                repository = %repo.id,
                parameter = %repo.secret_param,
                "the repository's webhook secret parameter does not exist; create it, or rotate \
                 the secret through the api"
            );
            return Err(WebhookResponse::error(
                500,
                "webhook_secret_missing",
                format!(
                    "repository {} has no webhook secret; the operator's log names the missing \
                     parameter",
                    repo.id
                ),
            ));
        }
        Err(e) => return Err(unavailable("reading the webhook secret", &e)),
    };
    let Err(mismatch) = check(&current) else {
        return Ok(());
    };
    if matches!(mismatch, SignatureError::Mismatch(_)) {
        match ctx
            .secrets
            .get_fresh(&repo.secret_param, SECRET_RECHECK_AFTER)
            .await
        {
            Ok(fresh) if fresh != current && check(&fresh).is_ok() => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(unavailable("reading the webhook secret", &e)),
        }
        if let Some(previous) = repo.previous_secret_param(&rfc3339(SystemTime::now())) {
            match ctx.secrets.get(&previous).await {
                Ok(old) if check(&old).is_ok() => {
                    tracing::info!(repository = %repo.id, "delivery signed with the previous secret, accepted during its grace period");
                    return Ok(());
                }
                Ok(_) | Err(boreas_aws::Error::NotFound { .. }) => {}
                Err(e) => return Err(unavailable("reading the previous webhook secret", &e)),
            }
        }
    }
    tracing::warn!(repository = %repo.id, %provider, "webhook refused: {mismatch}");
    Err(unauthorized(&mismatch))
}

async fn record_push(ctx: &Intake, repo: &Repository, push: &PushEvent) -> WebhookResponse {
    let triggers = match RefTriggers::from_patterns(&repo.triggers) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(repository = %repo.id, "unusable repository record: {e}");
            return WebhookResponse::error(
                500,
                "internal",
                format!("repository {} has an unusable trigger: {e}", repo.id),
            );
        }
    };
    if let Some(reason) = webhook::skip_reason(push, &triggers) {
        return WebhookResponse::ok(202, "ignored", reason);
    }
    let Some(job) = PlanJob::for_push(push) else {
        return WebhookResponse::ok(202, "ignored", "the push names no commit");
    };
    let now = SystemTime::now();
    let record = VersionRecord {
        version: Version {
            repository: repo.id.clone(),
            name: job.version.clone(),
            commit: CommitId(job.commit.clone()),
            state: VersionState::Normal,
        },
        status: VersionStatus::Received,
        diverged: false,
        errors: Vec::new(),
        received_at: rfc3339(now),
        pushed_by: push.pusher.clone(),
    };
    let created = match ctx.store.put_version(&record).await {
        Ok(created) => created,
        Err(e) => return unavailable("recording the version", &e),
    };
    let what = format!("version {} of {}", job.version, repo.id);
    if !created {
        let existing = match ctx.store.get_version(&repo.id, &job.version).await {
            Ok(Some(v)) => v,
            Ok(None) => return unavailable("reading the version", &missing(&what)),
            Err(e) => return unavailable("reading the version", &e),
        };
        if existing.version.commit.0 != job.commit {
            return WebhookResponse::error(
                409,
                "conflict",
                format!(
                    "{what} is already recorded at commit {}, not {}; a moved tag makes no new version",
                    existing.version.commit, job.commit
                ),
            );
        }
        match record_delivery(ctx, push, now).await {
            Ok(true) => {}
            Ok(false) => {
                return WebhookResponse::ok(
                    200,
                    "duplicate",
                    format!("delivery {} was already handled", push.delivery_id),
                );
            }
            Err(e) => return unavailable("recording the delivery", &e),
        }
        // A new delivery id for a version already recorded: an earlier attempt stopped before
        // its delivery id was recorded, maybe before its plan job was sent.
        if existing.status != VersionStatus::Received {
            return WebhookResponse::ok(
                200,
                "duplicate",
                format!("{what} is already {}", existing.status),
            );
        }
    }
    let attributes = Default::default();
    if let Err(e) = ctx
        .queues
        .send(&ctx.plan_queue_url, &job.to_json(), &attributes)
        .await
    {
        return unavailable("queueing the plan job", &e);
    }
    if created && let Err(e) = record_delivery(ctx, push, now).await {
        // The version and its job are in place; a redelivery finds them and records the id.
        return unavailable("recording the delivery", &e);
    }
    tracing::info!(
        repository = %repo.id,
        version = %job.version,
        commit = %job.commit,
        delivery = %push.delivery_id,
        pusher = push.pusher.as_deref().unwrap_or(""),
        "version received, planning queued"
    );
    WebhookResponse::ok(
        202,
        "queued",
        format!("{what} at commit {} recorded; planning queued", job.commit),
    )
}

fn missing(what: &str) -> boreas_aws::Error {
    boreas_aws::Error::NotFound {
        what: what.to_owned(),
    }
}

async fn record_delivery(
    ctx: &Intake,
    push: &PushEvent,
    now: SystemTime,
) -> Result<bool, boreas_aws::Error> {
    ctx.store
        .record_delivery(push.provider, &push.delivery_id, now, DELIVERY_TTL)
        .await
}

/// The delivery of a `lambda_http` request (API Gateway HTTP API, route `/webhooks/{provider}`):
/// the provider comes from the path parameter, else from the last path segment.
pub fn request_from_lambda(req: lambda_http::Request) -> WebhookRequest {
    use lambda_http::RequestExt;
    let provider = req
        .path_parameters_ref()
        .and_then(|p| p.first("provider"))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            req.uri()
                .path()
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
    let (parts, body) = req.into_parts();
    WebhookRequest {
        provider,
        headers: parts.headers,
        body: body.to_vec(),
    }
}

/// The `lambda_http` response of an answer.
pub fn response_to_lambda(resp: &WebhookResponse) -> lambda_http::Response<lambda_http::Body> {
    lambda_http::Response::builder()
        .status(resp.status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(lambda_http::Body::Text(resp.body_json()))
        .expect("a status code from this crate and a fixed header are valid")
}
