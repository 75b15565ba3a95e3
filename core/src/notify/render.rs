//! What each sink is sent for a deployment event: the git hosts' status and deployment calls,
//! a chat message and a signed webhook body.
//!
//! Request bodies follow each host's published API description (GitHub's OpenAPI description,
//! GitLab's and Gitea's Swagger documents); the tests validate them against those schemas.
//! Paths are relative to the host's REST API base (`https://api.github.com`,
//! `https://HOST/api/v3`, `https://HOST/api/v4`, `https://HOST/api/v1`). Credentials are the
//! notifier's business and never pass through here.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Notice, NoticeEvent};
use crate::webhook::Provider;

/// The GitHub REST API version the requests are written for.
pub const GITHUB_API_VERSION: &str = "2022-11-28";
/// The longest description GitHub keeps on a commit status.
const GITHUB_DESCRIPTION_MAX: usize = 140;
/// The longest description GitLab keeps (its documented limit).
const GITLAB_DESCRIPTION_MAX: usize = 255;
/// The header carrying a webhook's timestamp and signature.
pub const SIGNATURE_HEADER: &str = "Boreas-Signature";

/// The deployment an event is about, as the notifier reads it from the deployment record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The repository's git host.
    pub provider: Provider,
    /// The repository's full name there (`owner/name`, GitLab `group/sub/name`).
    pub full_name: String,
    /// The deployment id.
    pub deployment_id: String,
    /// The environment.
    pub environment: String,
    /// The version.
    pub version: String,
    /// The version's commit (40 hex digits).
    pub commit: String,
    /// The deployment's apps.
    pub apps: Vec<String>,
    /// The deployment's page in the dashboard.
    pub url: String,
}

/// One HTTP call to a git host's REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Always `POST` for the calls made here.
    pub method: &'static str,
    /// Path under the API base, percent-encoded.
    pub path: String,
    /// Headers other than authentication.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Value,
}

/// The REST API base of a repository's git host: `https` unless the repository is served over
/// `http` (registration allows that on loopback hosts only), GitHub's own API host for
/// github.com and `/api/v3` for GitHub Enterprise Server.
pub fn api_base(provider: Provider, host: &str, https: bool) -> String {
    let scheme = if https { "https" } else { "http" };
    match provider {
        Provider::GitHub if host == "github.com" => "https://api.github.com".to_owned(),
        Provider::GitHub => format!("{scheme}://{host}/api/v3"),
        Provider::GitLab => format!("{scheme}://{host}/api/v4"),
        Provider::Gitea => format!("{scheme}://{host}/api/v1"),
    }
}

/// The context a commit status carries: one per environment, so each environment's status on a
/// commit replaces only its own.
pub fn status_context(environment: &str) -> String {
    format!("boreas/{environment}")
}

/// One line saying what happened, for statuses, chat and logs.
pub fn summary(subject: &Subject, event: &NoticeEvent) -> String {
    let (version, env) = (&subject.version, &subject.environment);
    match event {
        NoticeEvent::Planned => format!(
            "{version} is planned for {env} ({}), waiting for confirmation",
            subject.apps.join(", ")
        ),
        NoticeEvent::GateWaiting { gate, .. } => {
            format!("{version} in {env} waits for approval at gate {gate}")
        }
        NoticeEvent::Started => format!("{version} is deploying to {env}"),
        NoticeEvent::BatchFinished {
            app,
            batch,
            batches,
        } => format!(
            "{version} in {env}: {app} batch {} of {batches} done",
            batch + 1
        ),
        NoticeEvent::Succeeded => format!("{version} is deployed to {env}"),
        NoticeEvent::RolledBack { failed_target } => match failed_target {
            Some(t) => format!("{version} was rolled back in {env} after {t} failed"),
            None => format!("{version} was rolled back in {env}"),
        },
        NoticeEvent::Failed { failed_target } => match failed_target {
            Some(t) => format!("{version} failed in {env}: the rollback of {t} failed"),
            None => format!("{version} failed in {env}"),
        },
        NoticeEvent::Cancelled => format!("{version} to {env} was cancelled"),
        NoticeEvent::Superseded { by } => {
            format!("{version} to {env} was superseded by deployment {by}")
        }
    }
}

/// Cuts `text` to at most `max` characters, ending with `…` when it was longer.
fn clip(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A path segment with everything but unreserved characters percent-encoded (GitLab takes a
/// project's full name as one segment, `group%2Fsub%2Fname`).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `owner/name` as two encoded path segments.
fn owner_repo(full_name: &str) -> String {
    full_name
        .split('/')
        .map(segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn github_headers() -> Vec<(&'static str, String)> {
    vec![
        ("Accept", "application/vnd.github+json".to_owned()),
        ("X-GitHub-Api-Version", GITHUB_API_VERSION.to_owned()),
    ]
}

/// The commit status state for `event` on `provider`. GitLab moves a status only forward
/// (`pending` → `running` → an end), so a gate after the start stays `running` there.
pub fn commit_state(provider: Provider, event: &NoticeEvent) -> &'static str {
    use NoticeEvent as E;
    match (provider, event) {
        (_, E::Succeeded) => "success",
        (Provider::GitLab, E::Planned) => "pending",
        (Provider::GitLab, E::GateWaiting { .. } | E::Started | E::BatchFinished { .. }) => {
            "running"
        }
        (Provider::GitLab, E::RolledBack { .. } | E::Failed { .. }) => "failed",
        (Provider::GitLab, E::Cancelled | E::Superseded { .. }) => "canceled",
        (_, E::Planned | E::GateWaiting { .. } | E::Started | E::BatchFinished { .. }) => "pending",
        (_, E::RolledBack { .. } | E::Failed { .. }) => "failure",
        // GitHub and Gitea have no "cancelled": `error` says it did not complete.
        (_, E::Cancelled | E::Superseded { .. }) => "error",
    }
}

/// The commit status call for `event`, on the version's commit.
pub fn commit_status(subject: &Subject, event: &NoticeEvent) -> Request {
    let state = commit_state(subject.provider, event);
    let context = status_context(&subject.environment);
    let text = summary(subject, event);
    match subject.provider {
        Provider::GitHub => Request {
            method: "POST",
            path: format!(
                "/repos/{}/statuses/{}",
                owner_repo(&subject.full_name),
                subject.commit
            ),
            headers: github_headers(),
            body: json!({
                "state": state,
                "target_url": subject.url,
                "description": clip(text, GITHUB_DESCRIPTION_MAX),
                "context": context,
            }),
        },
        Provider::GitLab => Request {
            method: "POST",
            path: format!(
                "/projects/{}/statuses/{}",
                segment(&subject.full_name),
                subject.commit
            ),
            headers: Vec::new(),
            body: json!({
                "state": state,
                "name": context,
                "target_url": subject.url,
                "description": clip(text, GITLAB_DESCRIPTION_MAX),
            }),
        },
        Provider::Gitea => Request {
            method: "POST",
            path: format!(
                "/repos/{}/statuses/{}",
                owner_repo(&subject.full_name),
                subject.commit
            ),
            headers: Vec::new(),
            body: json!({
                "state": state,
                "target_url": subject.url,
                "description": clip(text, GITLAB_DESCRIPTION_MAX),
                "context": context,
            }),
        },
    }
}

/// The GitHub Deployment of the version in the environment, created once (on the first event
/// the sink hears) and given a status for every event after.
pub fn github_deployment(subject: &Subject) -> Request {
    Request {
        method: "POST",
        path: format!("/repos/{}/deployments", owner_repo(&subject.full_name)),
        headers: github_headers(),
        body: json!({
            "ref": subject.commit,
            "environment": subject.environment,
            "description": clip(format!("{} by Boreas", subject.version), GITHUB_DESCRIPTION_MAX),
            // Boreas ran its own checks before the version was planned; GitHub's commit-status
            // check and branch merge would only refuse or alter the deployment.
            "auto_merge": false,
            "required_contexts": [],
            "payload": {"boreas_deployment": subject.deployment_id, "version": subject.version},
        }),
    }
}

/// The GitHub deployment status state for `event`. A cancelled or superseded deployment will
/// never run: `inactive`.
pub fn github_deployment_state(event: &NoticeEvent) -> &'static str {
    use NoticeEvent as E;
    match event {
        E::Planned => "queued",
        E::GateWaiting { .. } | E::Started | E::BatchFinished { .. } => "in_progress",
        E::Succeeded => "success",
        E::RolledBack { .. } | E::Failed { .. } => "failure",
        E::Cancelled | E::Superseded { .. } => "inactive",
    }
}

/// A status of the GitHub Deployment `github_id` for `event`. `auto_inactive` lets GitHub mark
/// the environment's earlier deployment `inactive` when this one succeeds.
pub fn github_deployment_status(subject: &Subject, github_id: u64, event: &NoticeEvent) -> Request {
    Request {
        method: "POST",
        path: format!(
            "/repos/{}/deployments/{github_id}/statuses",
            owner_repo(&subject.full_name)
        ),
        headers: github_headers(),
        body: json!({
            "state": github_deployment_state(event),
            "description": clip(summary(subject, event), GITHUB_DESCRIPTION_MAX),
            "environment": subject.environment,
            "environment_url": subject.url,
            "log_url": subject.url,
            "auto_inactive": true,
        }),
    }
}

/// Escapes the three characters Slack's message format reserves.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack-compatible incoming-webhook message (Mattermost, Rocket.Chat and others take the
/// same `text`): the repository, one line and a link.
pub fn chat_message(subject: &Subject, event: &NoticeEvent) -> Value {
    json!({
        "text": format!(
            "*{}*: {} <{}|Open in Boreas>",
            slack_escape(&subject.full_name),
            slack_escape(&summary(subject, event)),
            slack_escape(&subject.url),
        ),
    })
}

/// What `boreas notify test` sends a chat sink.
pub fn chat_test_message(sink: &str) -> Value {
    json!({
        "text": format!(
            "*Boreas*: a test message to sink {}; deployment notifications will arrive here.",
            slack_escape(sink)
        ),
    })
}

/// What `boreas notify test` sends a webhook sink: `event` is `test`, so a receiver can tell
/// it from a deployment's events.
pub fn webhook_test_body(sink: &str, at: &str) -> Value {
    json!({
        "id": format!("test/{sink}/{at}"),
        "event": "test",
        "sink": sink,
        "at": at,
        "summary": format!("a test message to sink {sink}"),
    })
}

/// The body of a generic webhook: the notice with the deployment's context.
pub fn webhook_body(subject: &Subject, notice: &Notice) -> Value {
    let mut body = json!({
        "id": notice.id(),
        "deployment_id": notice.deployment_id,
        "at": notice.at,
        "repository": subject.full_name,
        "provider": subject.provider.as_str(),
        "environment": subject.environment,
        "version": subject.version,
        "commit": subject.commit,
        "apps": subject.apps,
        "summary": summary(subject, &notice.event),
        "url": subject.url,
    });
    if let (Value::Object(out), Ok(Value::Object(event))) =
        (&mut body, serde_json::to_value(&notice.event))
    {
        out.extend(event);
    }
    body
}

/// The [`SIGNATURE_HEADER`] value of a webhook body sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 over "<timestamp>.<body>">`. Signing the timestamp with
/// the body lets a receiver refuse a replayed delivery: it recomputes the MAC and rejects a
/// timestamp older than it tolerates (five minutes is usual).
pub fn webhook_signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}
