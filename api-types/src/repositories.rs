//! Repositories: registration, what a registered repository looks like, secret rotation.

use std::fmt;

use boreas_core::repository::{CredentialKind, SetupField};
use boreas_core::webhook::Provider;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A repository Boreas watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Repository {
    /// Repository id: `host/full_name`, lowercased (`github.com/acme/shop`). Routes carry it
    /// percent-encoded (`github.com%2Facme%2Fshop`).
    pub id: String,
    /// The full name its provider's payloads carry (`acme/shop`, GitLab `group/sub/app`).
    pub full_name: String,
    /// The host serving it, as its payloads' web URLs name it.
    pub host: String,
    /// The git host that sends its webhooks.
    pub provider: Provider,
    /// Where the planner fetches from.
    pub clone_url: String,
    /// Ref patterns that create versions; empty: every tag.
    pub triggers: Vec<String>,
    /// Where the provider delivers its webhooks.
    pub webhook_url: String,
    /// SSM SecureString holding its webhook secret.
    pub secret_param: String,
    /// Until when the secret replaced by the last rotation is still accepted.
    pub previous_secret_until: Option<String>,
    /// How the planner authenticates its fetches (never the secret); null: anonymously.
    pub credential: Option<CredentialSummary>,
    /// The last delivery that named it, and what intake answered.
    pub last_delivery: Option<Delivery>,
    /// When it was registered.
    pub created_at: String,
}

/// A repository's git credential, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CredentialSummary {
    /// `token` or `github_app`.
    pub kind: CredentialKind,
    /// The user name a token is sent with.
    pub username: Option<String>,
    /// The GitHub App's id.
    pub app_id: Option<u64>,
    /// The GitHub REST API the App's installation tokens come from.
    pub api_url: Option<String>,
    /// The SSM SecureString holding the token or the App's private key.
    pub param: String,
}

/// A webhook delivery and what intake answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Delivery {
    /// When it arrived.
    pub at: String,
    /// The event header's value (`push`, `Tag Push Hook`, …).
    pub event: Option<String>,
    /// The provider's delivery id.
    pub delivery_id: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// `queued`, `ignored`, `duplicate`, `pong`, or the error code answered (`unauthorized`, …).
    pub outcome: String,
    /// The answer's message.
    pub message: String,
}

/// Register a repository.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryRequest {
    /// The full name its provider's payloads carry: `owner/name` (GitHub, Gitea) or
    /// `group/…/name` (GitLab, up to 22 segments).
    pub full_name: String,
    /// The git host that sends its webhooks.
    pub provider: Provider,
    /// An https URL the planner fetches from (http only to this machine; file:// for a local
    /// platform), without credentials.
    pub clone_url: String,
    /// The host its payloads' web URLs name, when it differs from the clone URL's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `refs/tags/<glob>` and `refs/heads/<branch>` patterns; default: every tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    /// The webhook secret to use (16 to 256 characters, no white space); default: 32 random
    /// bytes, hex encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 16, max = 256))]
    pub webhook_secret: Option<String>,
    /// A git credential for a private repository, kept as an SSM SecureString.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialRequest>,
}

impl fmt::Debug for RepositoryRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepositoryRequest")
            .field("full_name", &self.full_name)
            .field("provider", &self.provider)
            .field("clone_url", &self.clone_url)
            .field("host", &self.host)
            .field("triggers", &self.triggers)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("credential", &self.credential)
            .finish()
    }
}

/// A git credential as registered; its secret part goes to SSM and is never answered.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialRequest {
    /// An HTTPS access token: a GitHub fine-grained personal access token, a GitLab project or
    /// deploy token, a Gitea access token.
    Token {
        /// The token.
        token: String,
        /// The user name to send with it; default `x-access-token` (GitHub) or `oauth2`
        /// (GitLab, Gitea). A GitLab deploy token needs its own user name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
    },
    /// A GitHub App installed on the repository: installation tokens are minted from its
    /// private key for each fetch.
    GithubApp {
        /// The App's id.
        app_id: u64,
        /// The App's private key (PEM, as GitHub gives it).
        private_key: String,
        /// The GitHub REST API; default `https://api.github.com` for github.com, else
        /// `https://HOST/api/v3` (GitHub Enterprise Server).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_url: Option<String>,
    },
}

impl fmt::Debug for CredentialRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token { username, .. } => f
                .debug_struct("Token")
                .field("token", &"<redacted>")
                .field("username", username)
                .finish(),
            Self::GithubApp {
                app_id, api_url, ..
            } => f
                .debug_struct("GithubApp")
                .field("app_id", app_id)
                .field("private_key", &"<redacted>")
                .field("api_url", api_url)
                .finish(),
        }
    }
}

impl CredentialRequest {
    /// Its kind.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Self::Token { .. } => CredentialKind::Token,
            Self::GithubApp { .. } => CredentialKind::GithubApp,
        }
    }
}

/// Replace a repository's webhook secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// Seconds the old secret keeps being accepted, so that no delivery is lost while the
    /// provider is updated (0 to 2592000, 30 days); default 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 2_592_000))]
    pub grace_seconds: Option<u64>,
}

/// What to enter on the provider's webhook form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Setup {
    /// Where the form is.
    pub location: String,
    /// Its fields, in the form's order.
    pub fields: Vec<SetupField>,
}

/// A repository just registered or whose secret was just rotated: the secret is shown here
/// once, with what to enter on the provider.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegisteredRepository {
    /// The repository.
    #[serde(flatten)]
    pub repository: Repository,
    /// Its webhook secret; not shown again.
    pub webhook_secret: String,
    /// The provider's webhook settings.
    pub setup: Setup,
}

impl fmt::Debug for RegisteredRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredRepository")
            .field("repository", &self.repository)
            .field("webhook_secret", &"<redacted>")
            .field("setup", &self.setup.location)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_debug_output() {
        let req: RepositoryRequest = serde_json::from_value(serde_json::json!({
            "full_name": "acme/shop", "provider": "github",
            "clone_url": "https://github.com/acme/shop.git",
            "webhook_secret": "hook-secret-0123456789",
            "credential": {"kind": "token", "token": "ghp_tok"}
        }))
        .unwrap();
        let text = format!("{req:?}");
        assert!(
            !text.contains("ghp_tok") && !text.contains("hook-secret"),
            "{text}"
        );
        let app = CredentialRequest::GithubApp {
            app_id: 1,
            private_key: "-----BEGIN RSA PRIVATE KEY-----".into(),
            api_url: None,
        };
        assert!(!format!("{app:?}").contains("BEGIN"));
        assert_eq!(app.kind(), CredentialKind::GithubApp);
    }

    #[test]
    fn credentials_are_told_apart_by_kind_and_refuse_unknown_fields() {
        let c: CredentialRequest =
            serde_json::from_value(serde_json::json!({"kind": "token", "token": "t"})).unwrap();
        assert_eq!(c.kind(), CredentialKind::Token);
        assert!(
            serde_json::from_value::<CredentialRequest>(
                serde_json::json!({"kind": "token", "token": "t", "password": "p"})
            )
            .is_err()
        );
        assert!(
            serde_json::from_value::<CredentialRequest>(serde_json::json!({"kind": "ssh"}))
                .is_err()
        );
    }
}
