//! The git credentials of private repositories: what the planner fetches with and what the
//! notifier posts commit statuses and deployments with.
//!
//! A repository record names its credential; the secret lives in an SSM SecureString:
//! - an HTTPS token, sent as the password of basic authentication with the record's user name
//!   (`x-access-token` on GitHub, `oauth2` on GitLab and Gitea, a deploy token's own name), and
//!   as the token of the host's REST API;
//! - a GitHub App's private key: a worker signs a JWT with it (RS256, issued by the App, valid
//!   for nine minutes), asks the App's installation on the repository
//!   (`GET /repos/{owner}/{repo}/installation`) and mints an installation token for that one
//!   repository with only the [`Access`] it needs (`POST /app/installations/{id}/access_tokens`):
//!   the planner reads contents, the notifier writes statuses and deployments. A minted token is
//!   reused for [`MINTED_TOKEN_REUSE`] (GitHub's last an hour).
//!
//! Secrets stay in memory: they never enter a URL, a log line, an error message or a record.
//! Errors say what failed and where, without them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use boreas_aws::secrets::{SecretValue, Secrets};
use boreas_aws::store::{GitCredential, Repository};
use serde::{Deserialize, Serialize};

/// How long a minted installation token is used before another is minted.
pub const MINTED_TOKEN_REUSE: Duration = Duration::from_secs(50 * 60);
/// The GitHub REST API version the requests name.
pub const GITHUB_API_VERSION: &str = "2022-11-28";
/// How long the App's JWT is valid (GitHub accepts at most ten minutes).
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);
/// How far back the JWT's issue time is set, for clocks that drift.
const JWT_BACKDATE: Duration = Duration::from_secs(60);

/// Why a repository's credential cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Its parameter is missing or unreadable, or a GitHub App could not mint a token.
    #[error("repository {repository}: git credential: {message}")]
    Unavailable {
        /// Repository id.
        repository: String,
        /// What failed.
        message: String,
        /// Whether trying again may succeed (a network failure, not a refusal).
        retry: bool,
    },
    /// The HTTP client for GitHub's API cannot be built.
    #[error("cannot build an HTTP client: {0}")]
    Client(String),
}

/// What a minted GitHub App installation token may do on its one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read its contents: fetching commits (the planner).
    ReadContents,
    /// Write commit statuses and deployments (the notifier).
    WriteStatuses,
}

impl Access {
    /// The `permissions` GitHub's create-installation-access-token request asks for.
    pub fn permissions(self) -> serde_json::Value {
        match self {
            Self::ReadContents => serde_json::json!({"contents": "read"}),
            Self::WriteStatuses => serde_json::json!({"statuses": "write", "deployments": "write"}),
        }
    }
}

/// A user name and password for HTTP basic authentication. Its `Debug` form shows no password.
#[derive(Clone, PartialEq, Eq)]
pub struct Basic {
    /// The user name.
    pub username: String,
    /// The password (a token).
    pub password: SecretValue,
}

impl fmt::Debug for Basic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Basic")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// The claims of a GitHub App's JWT.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppClaims {
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at.
    pub exp: u64,
    /// The App's id.
    pub iss: String,
}

/// Signs the JWT a GitHub App authenticates with, from its PEM private key.
pub fn app_jwt(app_id: u64, private_key_pem: &[u8], now: SystemTime) -> Result<String, String> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem)
        .map_err(|_| "the private key is not an RSA private key in PEM".to_owned())?;
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let claims = AppClaims {
        iat: secs.saturating_sub(JWT_BACKDATE.as_secs()),
        exp: secs + JWT_LIFETIME.as_secs(),
        iss: app_id.to_string(),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(|e| format!("signing the JWT failed: {e}"))
}

/// Minted installation tokens: (API URL, App id, full name, access) → when minted and the token.
type Minted = HashMap<(String, u64, String, Access), (Instant, SecretValue)>;

/// Resolves repositories' credentials: reads SSM, mints GitHub App installation tokens.
pub struct Credentials {
    secrets: Arc<dyn Secrets>,
    http: reqwest::Client,
    minted: Mutex<Minted>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

fn credential_error(repo: &Repository, message: impl Into<String>, retry: bool) -> Error {
    Error::Unavailable {
        repository: repo.id.clone(),
        message: message.into(),
        retry,
    }
}

/// The installation of an App on a repository, as GitHub answers it (only what is read).
#[derive(Deserialize)]
struct Installation {
    id: u64,
}

/// A minted installation token, as GitHub answers it (only what is read).
#[derive(Deserialize)]
struct InstallationToken {
    token: String,
}

impl Credentials {
    /// Credentials read from `secrets`; GitHub's API is called as `user_agent`.
    ///
    /// # Errors
    /// The HTTP client for GitHub's API cannot be built.
    pub fn new(secrets: Arc<dyn Secrets>, user_agent: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .user_agent(user_agent)
            // GitHub answers where it is; a redirect could carry the JWT elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Self {
            secrets,
            http,
            minted: Mutex::new(HashMap::new()),
        })
    }

    /// What to authenticate with on `repo`'s host for `access`: the password is the token of its
    /// REST API too. `None` when the repository names no credential (a public one).
    pub async fn basic(&self, repo: &Repository, access: Access) -> Result<Option<Basic>, Error> {
        let Some(credential) = &repo.credential else {
            return Ok(None);
        };
        let secret = match self.secrets.get(credential.param()).await {
            Ok(s) => s,
            Err(boreas_aws::Error::NotFound { .. }) => {
                return Err(credential_error(
                    repo,
                    format!(
                        "SSM parameter {} does not exist; register the credential again",
                        credential.param()
                    ),
                    false,
                ));
            }
            Err(e) => {
                return Err(credential_error(
                    repo,
                    format!("reading SSM parameter {}: {e}", credential.param()),
                    true,
                ));
            }
        };
        match credential {
            GitCredential::Token { username, .. } => Ok(Some(Basic {
                username: username.clone(),
                password: secret,
            })),
            GitCredential::GithubApp {
                app_id, api_url, ..
            } => {
                let token = self
                    .installation_token(repo, *app_id, api_url, &secret, access)
                    .await?;
                Ok(Some(Basic {
                    username: "x-access-token".to_owned(),
                    password: token,
                }))
            }
        }
    }

    async fn installation_token(
        &self,
        repo: &Repository,
        app_id: u64,
        api_url: &str,
        key: &SecretValue,
        access: Access,
    ) -> Result<SecretValue, Error> {
        let cache_key = (api_url.to_owned(), app_id, repo.full_name.clone(), access);
        if let Some((at, token)) = self.lock().get(&cache_key)
            && at.elapsed() < MINTED_TOKEN_REUSE
        {
            return Ok(token.clone());
        }
        let jwt = app_jwt(app_id, key.expose().as_bytes(), SystemTime::now())
            .map_err(|why| credential_error(repo, format!("GitHub App {app_id}: {why}"), false))?;
        let installation: Installation = self
            .github(
                repo,
                app_id,
                self.http
                    .get(format!("{api_url}/repos/{}/installation", repo.full_name)),
                &jwt,
                "finding its installation on the repository",
            )
            .await?;
        let name = repo.full_name.rsplit('/').next().unwrap_or(&repo.full_name);
        let body = serde_json::json!({
            "repositories": [name],
            "permissions": access.permissions(),
        });
        let minted: InstallationToken = self
            .github(
                repo,
                app_id,
                self.http
                    .post(format!(
                        "{api_url}/app/installations/{}/access_tokens",
                        installation.id
                    ))
                    .header("content-type", "application/json")
                    .body(body.to_string()),
                &jwt,
                "minting an installation token",
            )
            .await?;
        let token = SecretValue::new(minted.token);
        self.lock()
            .insert(cache_key, (Instant::now(), token.clone()));
        Ok(token)
    }

    /// Sends a request to GitHub's API as the App; a refusal (401, 403, 404, 422) cannot be
    /// fixed by retrying, anything else may.
    async fn github<T: for<'de> Deserialize<'de>>(
        &self,
        repo: &Repository,
        app_id: u64,
        request: reqwest::RequestBuilder,
        jwt: &str,
        doing: &str,
    ) -> Result<T, Error> {
        let response = request
            .bearer_auth(jwt)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", GITHUB_API_VERSION)
            .send()
            .await
            .map_err(|e| {
                credential_error(repo, format!("GitHub App {app_id}: {doing}: {e}"), true)
            })?;
        let status = response.status();
        let url = response.url().clone();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
                .unwrap_or_default();
            let refused = matches!(status.as_u16(), 401 | 403 | 404 | 422);
            return Err(credential_error(
                repo,
                format!(
                    "GitHub App {app_id}: {doing}: {} answered {status}{}",
                    url.path(),
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(" ({message})")
                    }
                ),
                !refused,
            ));
        }
        serde_json::from_str(&text).map_err(|e| {
            credential_error(
                repo,
                format!("GitHub App {app_id}: {doing}: unexpected answer: {e}"),
                true,
            )
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Minted> {
        self.minted.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
