//! Webhooks from git hosts, pure: provider payloads → a normalized push event, signature checks,
//! and which pushes the triggers turn into versions.
//!
//! Providers:
//! - GitHub: `X-GitHub-Event` (`push`, `ping`, …), `X-GitHub-Delivery`, and `X-Hub-Signature-256:
//!   sha256=<hex HMAC-SHA256 of the raw body>`.
//! - GitLab: `X-Gitlab-Event` (`Push Hook`, `Tag Push Hook`, …), `X-Gitlab-Event-UUID`, and
//!   `X-Gitlab-Token` carrying the secret itself.
//! - Gitea and Forgejo: `X-Gitea-Event` (`push`, …), `X-Gitea-Delivery`, and `X-Gitea-Signature:
//!   <hex HMAC-SHA256 of the raw body>` (no prefix).
//!
//! Payloads are read from [`serde_json::Value`] rather than typed structs so that a missing or
//! mistyped field is reported by its full path (`repository.full_name`), as the caller answers
//! with it.

use std::fmt;

use globset::{Glob, GlobMatcher};
use hmac::{Hmac, KeyInit, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::config::Triggers;
use crate::repository::{RepoRef, host_of};

type HmacSha256 = Hmac<Sha256>;

/// A git host that sends webhooks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// GitHub and GitHub Enterprise Server.
    GitHub,
    /// GitLab.
    GitLab,
    /// Gitea and Forgejo.
    Gitea,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Self; 3] = [Self::GitHub, Self::GitLab, Self::Gitea];

    /// The name used in routes (`/webhooks/{name}`) and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
            Self::Gitea => "gitea",
        }
    }

    /// Parses a route or record name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The header naming the event.
    pub fn event_header(self) -> &'static str {
        match self {
            Self::GitHub => "X-GitHub-Event",
            Self::GitLab => "X-Gitlab-Event",
            Self::Gitea => "X-Gitea-Event",
        }
    }

    /// The header carrying the unique delivery id.
    pub fn delivery_header(self) -> &'static str {
        match self {
            Self::GitHub => "X-GitHub-Delivery",
            Self::GitLab => "X-Gitlab-Event-UUID",
            Self::Gitea => "X-Gitea-Delivery",
        }
    }

    /// The header proving the sender knows the webhook secret.
    pub fn signature_header(self) -> &'static str {
        match self {
            Self::GitHub => "X-Hub-Signature-256",
            Self::GitLab => "X-Gitlab-Token",
            Self::Gitea => "X-Gitea-Signature",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a push moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefKind {
    /// `refs/tags/…`
    Tag,
    /// `refs/heads/…`
    Branch,
}

impl RefKind {
    /// `tag` or `branch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tag => "tag",
            Self::Branch => "branch",
        }
    }
}

/// A push, the same for every provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEvent {
    /// Who sent it.
    pub provider: Provider,
    /// The provider's unique id of this delivery.
    pub delivery_id: String,
    /// The host serving the repository, from its web URL in the payload.
    pub host: String,
    /// Repository full name (`owner/name`, GitLab's `path_with_namespace`).
    pub repository: String,
    /// Clone URL as the payload states it (informational: the planner fetches from the
    /// repository record, never from a payload).
    pub clone_url: Option<String>,
    /// Tag or branch.
    pub ref_kind: RefKind,
    /// Short tag or branch name (`v1.2.0`, `main`).
    pub ref_name: String,
    /// The commit the ref points to after the push; `None` when the ref was deleted.
    pub commit: Option<String>,
    /// The ref did not exist before.
    pub created: bool,
    /// The ref no longer exists.
    pub deleted: bool,
    /// Who pushed, when the payload says.
    pub pusher: Option<String>,
}

/// What a delivery is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Webhook {
    /// The provider checks the hook works (GitHub `ping`).
    Ping,
    /// A push of a tag or branch.
    Push(PushEvent),
    /// Any other event: not a version.
    Other {
        /// The event name from the event header.
        event: String,
    },
}

/// A payload that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON, or not a JSON object.
    #[error("the body is not a JSON object: {0}")]
    Json(String),
    /// A required field is absent, null or of the wrong type.
    #[error("field `{field}` {problem}")]
    Field {
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A required header is absent or empty.
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
}

impl PayloadError {
    fn field(field: &str, problem: impl Into<String>) -> Self {
        Self::Field {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Reads a body as a JSON object.
pub fn parse_json(body: &[u8]) -> Result<Value, PayloadError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::Json(e.to_string()))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(PayloadError::Json("expected an object".to_owned()))
    }
}

/// The value at a dotted path, if present and not null.
fn at<'a>(payload: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(payload, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

fn required_str<'a>(payload: &'a Value, path: &str) -> Result<&'a str, PayloadError> {
    match at(payload, path) {
        None => Err(PayloadError::field(path, "is missing")),
        Some(Value::String(s)) if s.is_empty() => Err(PayloadError::field(path, "is empty")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(PayloadError::field(path, "is not a string")),
    }
}

fn optional_str<'a>(payload: &'a Value, path: &str) -> Option<&'a str> {
    at(payload, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn optional_bool(payload: &Value, path: &str) -> Result<Option<bool>, PayloadError> {
    match at(payload, path) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(PayloadError::field(path, "is not a boolean")),
    }
}

/// The paths of the repository's full name and web URL in a provider's payloads.
fn repository_fields(provider: Provider) -> (&'static str, &'static str) {
    match provider {
        Provider::GitHub | Provider::Gitea => ("repository.full_name", "repository.html_url"),
        Provider::GitLab => ("project.path_with_namespace", "project.web_url"),
    }
}

/// The repository a payload is about, by host and full name: what intake looks up to find the
/// secret, before it can trust anything else in the payload.
pub fn repository_ref(provider: Provider, payload: &Value) -> Result<RepoRef, PayloadError> {
    let (name_field, url_field) = repository_fields(provider);
    let full_name = required_str(payload, name_field)?;
    let url = required_str(payload, url_field)?;
    let host = host_of(url).ok_or_else(|| {
        PayloadError::field(
            url_field,
            format!("is {url:?}, not an http(s) URL with a host"),
        )
    })?;
    Ok(RepoRef {
        host,
        full_name: full_name.to_owned(),
    })
}

/// Whether a delivery is a GitHub `ping` of a hook that is not a repository's (an organisation's
/// or an App's): it names no repository, so no secret can check it, and it asks for nothing.
pub fn is_unscoped_ping(provider: Provider, event: Option<&str>, payload: &Value) -> bool {
    provider == Provider::GitHub && event == Some("ping") && at(payload, "repository").is_none()
}

/// Reads a delivery whose signature was checked. `event` is the event header's value.
pub fn parse(
    provider: Provider,
    event: &str,
    delivery_id: &str,
    payload: &Value,
) -> Result<Webhook, PayloadError> {
    let is_push = match provider {
        Provider::GitHub if event == "ping" => return Ok(Webhook::Ping),
        Provider::GitHub | Provider::Gitea => event == "push",
        Provider::GitLab => matches!(event, "Push Hook" | "Tag Push Hook"),
    };
    if !is_push {
        return Ok(Webhook::Other {
            event: event.to_owned(),
        });
    }
    if delivery_id.is_empty() {
        return Err(PayloadError::MissingHeader(provider.delivery_header()));
    }
    parse_push(provider, delivery_id, payload).map(Webhook::Push)
}

fn parse_push(
    provider: Provider,
    delivery_id: &str,
    payload: &Value,
) -> Result<PushEvent, PayloadError> {
    let repository = repository_ref(provider, payload)?;
    let full_ref = required_str(payload, "ref")?;
    let (ref_kind, ref_name) = if let Some(name) = full_ref.strip_prefix("refs/tags/") {
        (RefKind::Tag, name)
    } else if let Some(name) = full_ref.strip_prefix("refs/heads/") {
        (RefKind::Branch, name)
    } else {
        return Err(PayloadError::field(
            "ref",
            format!("is {full_ref:?}, not refs/tags/… or refs/heads/…"),
        ));
    };
    if ref_name.is_empty() {
        return Err(PayloadError::field("ref", "names no tag or branch"));
    }
    let before = required_str(payload, "before")?;
    let after = required_str(payload, "after")?;
    for (field, id) in [("before", before), ("after", after)] {
        if !is_object_id(id) {
            return Err(PayloadError::field(
                field,
                format!("is {id:?}, not a 40 or 64 digit hex object id"),
            ));
        }
    }
    let deleted = optional_bool(payload, "deleted")?.unwrap_or(false) || is_zero(after);
    let created = optional_bool(payload, "created")?.unwrap_or(false) || is_zero(before);
    // `after` of an annotated tag is the tag object; the peeled commit is given separately by
    // GitHub (`head_commit.id`) and GitLab (`checkout_sha`), and versions bind commits.
    let peeled = match provider {
        Provider::GitHub => optional_str(payload, "head_commit.id"),
        Provider::GitLab => optional_str(payload, "checkout_sha"),
        Provider::Gitea => None,
    };
    let commit = if deleted {
        None
    } else {
        match peeled {
            Some(id) if !is_object_id(id) => {
                let field = match provider {
                    Provider::GitHub => "head_commit.id",
                    _ => "checkout_sha",
                };
                return Err(PayloadError::field(
                    field,
                    format!("is {id:?}, not a hex object id"),
                ));
            }
            Some(id) => Some(id.to_owned()),
            None => Some(after.to_owned()),
        }
    };
    let clone_url = match provider {
        Provider::GitHub | Provider::Gitea => optional_str(payload, "repository.clone_url"),
        Provider::GitLab => optional_str(payload, "project.git_http_url"),
    };
    let pusher = match provider {
        Provider::GitHub => optional_str(payload, "pusher.name"),
        Provider::GitLab => {
            optional_str(payload, "user_username").or(optional_str(payload, "user_name"))
        }
        Provider::Gitea => {
            optional_str(payload, "pusher.login").or(optional_str(payload, "pusher.username"))
        }
    };
    Ok(PushEvent {
        provider,
        delivery_id: delivery_id.to_owned(),
        host: repository.host,
        repository: repository.full_name,
        clone_url: clone_url.map(str::to_owned),
        ref_kind,
        ref_name: ref_name.to_owned(),
        commit,
        created,
        deleted,
        pusher: pusher.map(str::to_owned),
    })
}

fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

/// Why a delivery's signature is not accepted. Never carries the secret or the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature header is absent or empty.
    #[error("header {0} is missing")]
    Missing(&'static str),
    /// The header is not of the provider's form.
    #[error("header {0} is not of the form the provider sends")]
    Malformed(&'static str),
    /// The header does not match the body and the repository's secret.
    #[error("header {0} does not match the body and the repository's webhook secret")]
    Mismatch(&'static str),
}

/// Checks `signature` (the value of [`Provider::signature_header`], if sent) against the raw
/// `body` and the repository's `secret`, in constant time.
pub fn verify_signature(
    provider: Provider,
    signature: Option<&str>,
    body: &[u8],
    secret: &[u8],
) -> Result<(), SignatureError> {
    let header = provider.signature_header();
    let signature = signature
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::Missing(header))?;
    match provider {
        Provider::GitLab => {
            if tokens_equal(signature.as_bytes(), secret) {
                Ok(())
            } else {
                Err(SignatureError::Mismatch(header))
            }
        }
        Provider::GitHub | Provider::Gitea => {
            let hex = if provider == Provider::GitHub {
                signature
                    .strip_prefix("sha256=")
                    .ok_or(SignatureError::Malformed(header))?
            } else {
                signature
            };
            let tag = decode_hex(hex).ok_or(SignatureError::Malformed(header))?;
            let mut mac = hmac_sha256(secret);
            mac.update(body);
            mac.verify_slice(&tag)
                .map_err(|_| SignatureError::Mismatch(header))
        }
    }
}

/// The signature header value a provider sends for `body` keyed with `secret` (GitLab: the
/// secret itself). What senders, tests and benchmarks use.
pub fn sign(provider: Provider, body: &[u8], secret: &[u8]) -> String {
    match provider {
        Provider::GitLab => String::from_utf8_lossy(secret).into_owned(),
        Provider::GitHub | Provider::Gitea => {
            let mut mac = hmac_sha256(secret);
            mac.update(body);
            let hex: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if provider == Provider::GitHub {
                format!("sha256={hex}")
            } else {
                hex
            }
        }
    }
}

fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Compares two secrets without a timing signal: both are MACed under a fixed key and the
/// MACs compared with the constant-time equality of the MAC output type, which also hides the
/// lengths.
fn tokens_equal(a: &[u8], b: &[u8]) -> bool {
    let digest = |token: &[u8]| {
        let mut mac = hmac_sha256(b"boreas-token-comparison");
        mac.update(token);
        mac.finalize()
    };
    digest(a) == digest(b)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// A trigger that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// Not `refs/tags/<glob>` or `refs/heads/<branch>`.
    #[error("trigger {0:?} is neither refs/tags/<glob> nor refs/heads/<branch>")]
    Pattern(String),
    /// The tag glob does not parse.
    #[error("tag glob {glob:?} is not a valid glob: {message}")]
    Glob {
        /// The glob.
        glob: String,
        /// Why.
        message: String,
    },
}

/// Which pushes make versions, ready to match.
///
/// With neither tag globs nor branches, every tag makes a version (the default of a repository
/// record and of a `boreas.yaml` without `triggers`). Naming only branches means only those
/// branches do.
#[derive(Debug, Clone)]
pub struct RefTriggers {
    tags: Vec<GlobMatcher>,
    branches: Vec<String>,
}

impl RefTriggers {
    fn build(tags: Vec<&str>, branches: Vec<String>) -> Result<Self, TriggerError> {
        let tags = if tags.is_empty() && branches.is_empty() {
            vec!["*"]
        } else {
            tags
        };
        let tags = tags
            .into_iter()
            .map(|glob| {
                Glob::new(glob)
                    .map(|g| g.compile_matcher())
                    .map_err(|e| TriggerError::Glob {
                        glob: glob.to_owned(),
                        message: e.kind().to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { tags, branches })
    }

    /// The triggers of a `boreas.yaml`.
    pub fn from_config(triggers: &Triggers) -> Result<Self, TriggerError> {
        Self::build(
            triggers.tags.iter().map(String::as_str).collect(),
            triggers.branches.clone(),
        )
    }

    /// The triggers of a repository record: `refs/tags/<glob>` and `refs/heads/<branch>`.
    pub fn from_patterns(patterns: &[String]) -> Result<Self, TriggerError> {
        let mut tags = Vec::new();
        let mut branches = Vec::new();
        for p in patterns {
            if let Some(glob) = p.strip_prefix("refs/tags/").filter(|g| !g.is_empty()) {
                tags.push(glob);
            } else if let Some(branch) = p.strip_prefix("refs/heads/").filter(|b| !b.is_empty()) {
                branches.push(branch.to_owned());
            } else {
                return Err(TriggerError::Pattern(p.clone()));
            }
        }
        Self::build(tags, branches)
    }

    /// Whether a push of this ref makes a version.
    pub fn matches(&self, kind: RefKind, name: &str) -> bool {
        match kind {
            RefKind::Tag => self.tags.iter().any(|g| g.is_match(name)),
            RefKind::Branch => self.branches.iter().any(|b| b == name),
        }
    }
}

impl PushEvent {
    /// The id of the repository pushed to (see [`crate::repository`]).
    pub fn repository_id(&self) -> String {
        crate::repository::repository_id(&self.host, &self.repository)
    }
}

/// The version a push makes: the tag name, or the commit id for a branch push.
pub fn version_name(event: &PushEvent) -> Option<String> {
    match event.ref_kind {
        RefKind::Tag => Some(event.ref_name.clone()),
        RefKind::Branch => event.commit.clone(),
    }
}

/// Why a push makes no version, or `None` when it makes one.
pub fn skip_reason(event: &PushEvent, triggers: &RefTriggers) -> Option<String> {
    let what = format!("{} {}", event.ref_kind.as_str(), event.ref_name);
    if event.deleted {
        return Some(format!("{what} was deleted; deletions make no version"));
    }
    if !triggers.matches(event.ref_kind, &event.ref_name) {
        return Some(format!(
            "{what} does not match the repository's triggers; no version made"
        ));
    }
    None
}

/// The message intake puts on the plan queue for each recorded version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanJob {
    /// Always [`crate::command::SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// Repository id (`host/full_name`, see [`crate::repository`]).
    pub repository: String,
    /// Version name.
    pub version: String,
    /// Commit the version is bound to.
    pub commit: String,
    /// Tag or branch that was pushed (the planner re-checks it against `boreas.yaml`).
    pub ref_kind: RefKind,
    /// Its short name.
    pub ref_name: String,
    /// Provider of the delivery.
    pub provider: Provider,
    /// The delivery that recorded the version.
    pub delivery_id: String,
}

impl PlanJob {
    /// The job for a push that makes a version; `None` when it makes none (deleted ref).
    pub fn for_push(event: &PushEvent) -> Option<Self> {
        Some(Self {
            schema_version: crate::command::SCHEMA_VERSION,
            repository: event.repository_id(),
            version: version_name(event)?,
            commit: event.commit.clone()?,
            ref_kind: event.ref_kind,
            ref_name: event.ref_name.clone(),
            provider: event.provider,
            delivery_id: event.delivery_id.clone(),
        })
    }

    /// The job as the JSON message body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plan jobs hold only strings and numbers")
    }

    /// Reads a job body, refusing one of another schema version.
    pub fn from_json(json: &str) -> Result<Self, PayloadError> {
        let job: Self =
            serde_json::from_str(json).map_err(|e| PayloadError::Json(e.to_string()))?;
        if job.schema_version != crate::command::SCHEMA_VERSION {
            return Err(PayloadError::field(
                "schema_version",
                format!(
                    "is {}; this build reads {}",
                    job.schema_version,
                    crate::command::SCHEMA_VERSION
                ),
            ));
        }
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const C1: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    const C2: &str = "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7";
    const ZERO: &str = "0000000000000000000000000000000000000000";

    fn push(provider: Provider, event: &str, payload: &Value) -> PushEvent {
        match parse(provider, event, "d-1", payload).unwrap() {
            Webhook::Push(p) => p,
            other => panic!("not a push: {other:?}"),
        }
    }

    fn github_tag() -> Value {
        json!({
            "ref": "refs/tags/v1.2.0", "before": ZERO, "after": C2, "created": true, "deleted": false,
            "head_commit": {"id": C1},
            "repository": {"full_name": "acme/shop", "html_url": "https://github.com/acme/shop", "clone_url": "https://github.com/acme/shop.git"},
            "pusher": {"name": "octo"}
        })
    }

    #[test]
    fn github_tag_push_is_normalized_with_the_peeled_commit() {
        let p = push(Provider::GitHub, "push", &github_tag());
        assert_eq!(
            p,
            PushEvent {
                provider: Provider::GitHub,
                delivery_id: "d-1".into(),
                host: "github.com".into(),
                repository: "acme/shop".into(),
                clone_url: Some("https://github.com/acme/shop.git".into()),
                ref_kind: RefKind::Tag,
                ref_name: "v1.2.0".into(),
                commit: Some(C1.into()),
                created: true,
                deleted: false,
                pusher: Some("octo".into()),
            }
        );
        assert_eq!(version_name(&p).as_deref(), Some("v1.2.0"));
    }

    #[test]
    fn only_a_github_ping_without_a_repository_is_unscoped() {
        let org = json!({"zen": "z", "hook": {"type": "Organization"}, "organization": {}});
        assert!(is_unscoped_ping(Provider::GitHub, Some("ping"), &org));
        assert!(!is_unscoped_ping(Provider::GitHub, Some("push"), &org));
        assert!(!is_unscoped_ping(Provider::GitHub, None, &org));
        assert!(!is_unscoped_ping(Provider::Gitea, Some("ping"), &org));
        let repo = json!({"zen": "z", "repository": {"full_name": "a/b"}});
        assert!(!is_unscoped_ping(Provider::GitHub, Some("ping"), &repo));
    }

    #[test]
    fn github_ping_and_other_events() {
        let v = json!({"zen": "Keep it simple", "repository": {"full_name": "acme/shop"}});
        assert_eq!(
            parse(Provider::GitHub, "ping", "", &v).unwrap(),
            Webhook::Ping
        );
        assert_eq!(
            parse(Provider::GitHub, "create", "d", &v).unwrap(),
            Webhook::Other {
                event: "create".into()
            }
        );
    }

    #[test]
    fn gitlab_tag_and_branch_pushes() {
        let tag = json!({
            "object_kind": "tag_push", "ref": "refs/tags/v1.0.0", "before": ZERO, "after": C2,
            "checkout_sha": C1, "user_name": "John Smith",
            "project": {"path_with_namespace": "jsmith/example", "web_url": "http://example.com/jsmith/example", "git_http_url": "http://example.com/jsmith/example.git"}
        });
        let p = push(Provider::GitLab, "Tag Push Hook", &tag);
        assert_eq!(p.repository, "jsmith/example");
        assert_eq!((p.ref_kind, p.ref_name.as_str()), (RefKind::Tag, "v1.0.0"));
        assert_eq!(p.commit.as_deref(), Some(C1));
        assert!(p.created && !p.deleted);
        assert_eq!(p.pusher.as_deref(), Some("John Smith"));
        assert_eq!(
            p.clone_url.as_deref(),
            Some("http://example.com/jsmith/example.git")
        );

        let branch = json!({
            "object_kind": "push", "ref": "refs/heads/master", "before": C1, "after": C2,
            "user_username": "jsmith", "user_name": "John Smith",
            "project": {"path_with_namespace": "group/sub/diaspora", "web_url": "https://GitLab.example.com:8443/group/sub/diaspora"}
        });
        let p = push(Provider::GitLab, "Push Hook", &branch);
        assert_eq!(
            (p.ref_kind, p.ref_name.as_str()),
            (RefKind::Branch, "master")
        );
        assert_eq!(p.pusher.as_deref(), Some("jsmith"));
        assert_eq!(
            p.repository_id(),
            "gitlab.example.com:8443/group/sub/diaspora"
        );
        assert_eq!(version_name(&p).as_deref(), Some(C2));
        assert!(!p.created && !p.deleted);
        assert!(matches!(
            parse(Provider::GitLab, "Merge Request Hook", "d", &branch).unwrap(),
            Webhook::Other { .. }
        ));
    }

    #[test]
    fn gitea_push_and_deletion_from_the_zero_id() {
        let v = json!({
            "ref": "refs/heads/develop", "before": C1, "after": C2,
            "repository": {"full_name": "gitea/webhooks", "html_url": "http://localhost:3000/gitea/webhooks", "clone_url": "http://localhost:3000/gitea/webhooks.git"},
            "pusher": {"login": "gitea"}
        });
        let p = push(Provider::Gitea, "push", &v);
        assert_eq!(p.repository, "gitea/webhooks");
        assert_eq!(p.commit.as_deref(), Some(C2));
        assert_eq!(p.pusher.as_deref(), Some("gitea"));

        let mut deleted = v;
        deleted["after"] = json!(ZERO);
        let p = push(Provider::Gitea, "push", &deleted);
        assert!(p.deleted);
        assert_eq!(p.commit, None);
        assert_eq!(version_name(&p), None);
        assert!(PlanJob::for_push(&p).is_none());
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let cases = [
            ("ref", json!(null), "field `ref` is missing"),
            ("after", json!(42), "field `after` is not a string"),
            ("after", json!("HEAD"), "field `after` is \"HEAD\""),
            (
                "ref",
                json!("refs/notes/x"),
                "not refs/tags/… or refs/heads/…",
            ),
            ("deleted", json!("no"), "field `deleted` is not a boolean"),
            (
                "repository",
                json!({}),
                "field `repository.full_name` is missing",
            ),
        ];
        for (field, value, expected) in cases {
            let mut v = github_tag();
            v[field] = value;
            let err = parse(Provider::GitHub, "push", "d", &v).unwrap_err();
            assert!(err.to_string().contains(expected), "{field}: {err}");
        }
        let err = parse(Provider::GitHub, "push", "", &github_tag()).unwrap_err();
        assert_eq!(err, PayloadError::MissingHeader("X-GitHub-Delivery"));
        assert_eq!(
            repository_ref(Provider::GitLab, &json!({"project": {}}))
                .unwrap_err()
                .to_string(),
            "field `project.path_with_namespace` is missing"
        );
        assert_eq!(
            repository_ref(
                Provider::GitLab,
                &json!({"project": {"path_with_namespace": "a/b"}})
            )
            .unwrap_err()
            .to_string(),
            "field `project.web_url` is missing"
        );
        assert!(
            repository_ref(
                Provider::Gitea,
                &json!({"repository": {"full_name": "a/b", "html_url": "ssh://x/a/b"}})
            )
            .unwrap_err()
            .to_string()
            .contains("field `repository.html_url` is \"ssh://x/a/b\", not an http(s) URL")
        );
        assert!(matches!(parse_json(b"{nope"), Err(PayloadError::Json(_))));
        assert!(matches!(parse_json(b"[1]"), Err(PayloadError::Json(_))));
    }

    #[test]
    fn hmac_signatures_verify_for_github_and_gitea() {
        let body = br#"{"ref":"refs/tags/v1"}"#;
        // RFC 4231-style known answer: HMAC-SHA256(key "key", "The quick brown fox jumps over the lazy dog").
        let known = sign(
            Provider::Gitea,
            b"The quick brown fox jumps over the lazy dog",
            b"key",
        );
        assert_eq!(
            known,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        let gh = sign(Provider::GitHub, body, b"s3cret");
        assert!(gh.starts_with("sha256=") && gh.len() == 7 + 64);
        assert_eq!(
            verify_signature(Provider::GitHub, Some(&gh), body, b"s3cret"),
            Ok(())
        );
        let gt = sign(Provider::Gitea, body, b"s3cret");
        assert_eq!(
            verify_signature(Provider::Gitea, Some(&gt), body, b"s3cret"),
            Ok(())
        );
        // Upper-case hex is the same signature.
        assert_eq!(
            verify_signature(Provider::Gitea, Some(&gt.to_uppercase()), body, b"s3cret"),
            Ok(())
        );

        let h = "X-Hub-Signature-256";
        assert_eq!(
            verify_signature(Provider::GitHub, None, body, b"s3cret"),
            Err(SignatureError::Missing(h))
        );
        assert_eq!(
            verify_signature(Provider::GitHub, Some(""), body, b"s3cret"),
            Err(SignatureError::Missing(h))
        );
        assert_eq!(
            verify_signature(Provider::GitHub, Some(&gt), body, b"s3cret"),
            Err(SignatureError::Malformed(h)),
            "GitHub needs the sha256= prefix"
        );
        assert_eq!(
            verify_signature(Provider::GitHub, Some("sha256=zz"), body, b"s3cret"),
            Err(SignatureError::Malformed(h))
        );
        assert_eq!(
            verify_signature(Provider::GitHub, Some(&gh), body, b"other"),
            Err(SignatureError::Mismatch(h))
        );
        assert_eq!(
            verify_signature(Provider::GitHub, Some(&gh), b"{}", b"s3cret"),
            Err(SignatureError::Mismatch(h))
        );
        // A truncated signature is a mismatch, not a prefix match.
        assert_eq!(
            verify_signature(Provider::GitHub, Some(&gh[..41]), body, b"s3cret"),
            Err(SignatureError::Mismatch(h))
        );
    }

    #[test]
    fn gitlab_tokens_compare_exactly() {
        let h = "X-Gitlab-Token";
        assert_eq!(sign(Provider::GitLab, b"{}", b"tok"), "tok");
        assert_eq!(
            verify_signature(Provider::GitLab, Some("tok"), b"{}", b"tok"),
            Ok(())
        );
        for wrong in ["tok2", "to", "TOK"] {
            assert_eq!(
                verify_signature(Provider::GitLab, Some(wrong), b"{}", b"tok"),
                Err(SignatureError::Mismatch(h))
            );
        }
        assert_eq!(
            verify_signature(Provider::GitLab, None, b"{}", b"tok"),
            Err(SignatureError::Missing(h))
        );
    }

    #[test]
    fn triggers_default_to_every_tag() {
        let t = RefTriggers::from_patterns(&[]).unwrap();
        assert!(t.matches(RefKind::Tag, "anything/at-all"));
        assert!(!t.matches(RefKind::Branch, "main"));
        let t = RefTriggers::from_config(&Triggers::default()).unwrap();
        assert!(t.matches(RefKind::Tag, "v1"));
    }

    #[test]
    fn triggers_from_patterns_and_config_agree() {
        let t = RefTriggers::from_patterns(&[
            "refs/tags/v*".to_owned(),
            "refs/tags/release-[0-9]*".to_owned(),
            "refs/heads/main".to_owned(),
        ])
        .unwrap();
        assert!(t.matches(RefKind::Tag, "v1.0.0"));
        assert!(t.matches(RefKind::Tag, "release-2"));
        assert!(!t.matches(RefKind::Tag, "nightly"));
        assert!(t.matches(RefKind::Branch, "main"));
        assert!(!t.matches(RefKind::Branch, "main2"));

        let only_branches = RefTriggers::from_config(&Triggers {
            tags: None,
            branches: vec!["main".into()],
        })
        .unwrap();
        assert!(!only_branches.matches(RefKind::Tag, "v1"));
        assert!(only_branches.matches(RefKind::Branch, "main"));

        assert_eq!(
            RefTriggers::from_patterns(&["v*".to_owned()]).unwrap_err(),
            TriggerError::Pattern("v*".into())
        );
        assert!(matches!(
            RefTriggers::from_patterns(&["refs/tags/v[".to_owned()]).unwrap_err(),
            TriggerError::Glob { .. }
        ));
    }

    #[test]
    fn skip_reasons_name_the_ref() {
        let triggers = RefTriggers::from_patterns(&["refs/tags/v*".to_owned()]).unwrap();
        let mut p = push(Provider::GitHub, "push", &github_tag());
        assert_eq!(skip_reason(&p, &triggers), None);
        p.ref_name = "nightly".into();
        assert_eq!(
            skip_reason(&p, &triggers).unwrap(),
            "tag nightly does not match the repository's triggers; no version made"
        );
        p.deleted = true;
        assert!(skip_reason(&p, &triggers).unwrap().contains("deleted"));
    }

    #[test]
    fn plan_jobs_round_trip_and_check_their_schema() {
        let p = push(Provider::GitHub, "push", &github_tag());
        let job = PlanJob::for_push(&p).unwrap();
        assert_eq!(job.version, "v1.2.0");
        assert_eq!(job.commit, C1);
        let json = job.to_json();
        assert_eq!(PlanJob::from_json(&json).unwrap(), job);
        let err = PlanJob::from_json(&json.replace("\"schema_version\":1", "\"schema_version\":9"))
            .unwrap_err();
        assert!(err.to_string().contains("schema_version"), "{err}");
    }
}
