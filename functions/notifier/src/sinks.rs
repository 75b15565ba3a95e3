//! Where notifications go and how an attempt ends: the repository's git host with its
//! credential, and chat or webhook sinks registered in the installation.
//!
//! Secrets (tokens, webhook secrets, chat webhook URLs, which are credentials themselves) stay
//! in memory: no error, log line or record repeats them.

use std::time::{SystemTime, UNIX_EPOCH};

use boreas_aws::secrets::SecretValue;
use boreas_aws::store::Repository;
use boreas_core::notify::render::{self, Request, SIGNATURE_HEADER, Subject};
use boreas_core::notify::{Notice, SinkSpec};
use boreas_core::webhook::Provider;
use boreas_git_credentials::{Access, Error as CredentialError};
use serde_json::Value;

use crate::Notifier;

/// Why an attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Attempt {
    /// It may work later: no connection, a timeout, 408, 429 or 5xx.
    #[error("{0}")]
    Retry(String),
    /// It will not work until someone changes something: another 4xx, a missing credential
    /// or sink.
    #[error("{0}")]
    Refused(String),
}

/// Longest part of a sink's answer kept in an error.
const ANSWER_EXCERPT: usize = 200;

/// A git host's REST API with the repository's token (for a GitHub App, an installation token
/// minted for this repository with `statuses` and `deployments` write and nothing else).
#[derive(Debug, Clone)]
pub struct GitHost {
    provider: Provider,
    base: String,
    token: SecretValue,
}

impl GitHost {
    /// The API of `repo`'s host, with the token of its credential.
    pub async fn new(n: &Notifier, repo: &Repository) -> Result<Self, Attempt> {
        let token = match n.credentials.basic(repo, Access::WriteStatuses).await {
            Ok(Some(basic)) => basic.password,
            Ok(None) => {
                return Err(Attempt::Refused(format!(
                    "repository {} has no credential; register a token that may write commit \
                     statuses (and deployments on GitHub), or a GitHub App with those \
                     permissions",
                    repo.id
                )));
            }
            Err(e @ CredentialError::Unavailable { retry: true, .. }) => {
                return Err(Attempt::Retry(e.to_string()));
            }
            Err(e) => return Err(Attempt::Refused(e.to_string())),
        };
        let https = !repo.clone_url.starts_with("http://");
        Ok(Self {
            provider: repo.provider,
            base: render::api_base(repo.provider, &repo.host, https),
            token,
        })
    }

    /// Sends `request`; the answer's JSON body (or `null`).
    pub async fn send(&self, n: &Notifier, request: &Request) -> Result<Value, Attempt> {
        let url = format!("{}{}", self.base, request.path);
        let mut builder = n
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(request.body.to_string());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        // Each host's documented header for a personal or project access token.
        builder = match self.provider {
            Provider::GitHub => builder.bearer_auth(self.token.expose()),
            Provider::GitLab => builder.header("private-token", self.token.expose()),
            Provider::Gitea => {
                builder.header("authorization", format!("token {}", self.token.expose()))
            }
        };
        let what = format!("POST {url}");
        answer(&what, builder.send().await).await
    }
}

/// A chat or webhook sink registered in the installation.
#[derive(Debug, Clone)]
pub struct Registered {
    name: String,
    spec: SinkSpec,
}

impl Registered {
    /// The sink `name` as registered; refused when it is not, or not readable.
    pub async fn load(n: &Notifier, name: &str) -> Result<Self, Attempt> {
        let param = n.names().notification_sink_param(name);
        let value = match n.secrets.get(&param).await {
            Ok(value) => value,
            Err(boreas_aws::Error::NotFound { .. }) => {
                return Err(Attempt::Refused(format!(
                    "sink {name:?} is not registered in this installation (SSM SecureString \
                     {param})"
                )));
            }
            Err(e) => return Err(Attempt::Retry(format!("reading sink {name:?}: {e}"))),
        };
        let spec: SinkSpec = serde_json::from_str(value.expose()).map_err(|e| {
            Attempt::Refused(format!(
                "sink {name:?}: its registration is not a sink (line {}, column {}); register it \
                 again",
                e.line(),
                e.column()
            ))
        })?;
        spec.check()
            .map_err(|why| Attempt::Refused(format!("sink {name:?}: {why}")))?;
        Ok(Self {
            name: name.to_owned(),
            spec,
        })
    }

    /// Sends `notice` about `subject`.
    pub async fn send(
        &self,
        n: &Notifier,
        subject: &Subject,
        notice: &Notice,
    ) -> Result<(), Attempt> {
        let body = match &self.spec {
            SinkSpec::Slack { .. } => render::chat_message(subject, &notice.event),
            SinkSpec::Webhook { .. } => render::webhook_body(subject, notice),
        };
        self.post(n, &body, &notice.id()).await
    }

    /// Sends a test message (`boreas notify test`), stamped `at`.
    pub async fn send_test(&self, n: &Notifier, at: &str) -> Result<(), Attempt> {
        let body = match &self.spec {
            SinkSpec::Slack { .. } => render::chat_test_message(&self.name),
            SinkSpec::Webhook { .. } => render::webhook_test_body(&self.name, at),
        };
        self.post(n, &body, &format!("test/{}/{at}", self.name))
            .await
    }

    /// POSTs `body`; a webhook's is signed and carries `delivery` as its id.
    async fn post(&self, n: &Notifier, body: &Value, delivery: &str) -> Result<(), Attempt> {
        // The URL is a credential (a chat webhook's is its only one): errors name the sink.
        let what = format!("sink {:?}", self.name);
        let body = body.to_string();
        let request = n
            .http
            .post(self.spec.url())
            .header("content-type", "application/json");
        let request = match &self.spec {
            SinkSpec::Slack { .. } => request,
            SinkSpec::Webhook { secret, .. } => {
                let timestamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                let signature =
                    render::webhook_signature(secret.as_bytes(), timestamp, body.as_bytes());
                request
                    .header(SIGNATURE_HEADER, signature)
                    .header("boreas-delivery", delivery)
            }
        };
        answer(&what, request.body(body).send().await)
            .await
            .map(drop)
    }
}

/// How an answer ends the attempt. Errors carry no URL (`without_url`): a chat webhook's URL
/// is a credential.
async fn answer(
    what: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<Value, Attempt> {
    let response = sent.map_err(|e| Attempt::Retry(format!("{what}: {}", e.without_url())))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
    }
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(ANSWER_EXCERPT).collect());
    let why = format!("{what}: HTTP {}: {}", status.as_u16(), message.trim());
    if status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error() {
        Err(Attempt::Retry(why))
    } else {
        Err(Attempt::Refused(why))
    }
}
