//! Repository routes: register (with its webhook secret and git credential in SSM), list, show,
//! rotate the secret with a grace period, remove.
//!
//! Registration checks everything before it writes (see [`boreas_core::repository::check`]), so
//! no stored record can make intake fail. The record is written first, conditionally (one
//! registration of an id wins), then its SecureStrings; when those cannot be written the record
//! is removed again, so a repository never exists without its secret. Secrets reach SSM and the
//! one answer that shows them, never a record, a log line or another answer.

use std::time::{Duration, SystemTime};

use boreas_api_types as wire;
use boreas_aws::secrets::SecretValue;
use boreas_aws::store::{GitCredential, LastDelivery, PreviousSecret, Repository, rfc3339};
use boreas_core::repository::{self, FieldError, Registration, setup_fields, setup_location};
use boreas_core::webhook::Provider;

use crate::call::Call;
use crate::routes::Reply;
use crate::{Api, Error, paginate, random_hex};

/// How long a rotated-out secret is accepted when the request does not say.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);
/// The longest grace period a rotation may ask for.
pub(crate) const MAX_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Bytes of randomness in a generated webhook secret (hex encoded).
const SECRET_BYTES: usize = 32;

/// The webhook URL of `provider` on the deployment the request reached.
fn webhook_url(call: &Call<'_>, provider: Provider) -> String {
    format!("{}/webhooks/{provider}", call.public_base())
}

fn wire_repository(call: &Call<'_>, r: Repository, last: Option<LastDelivery>) -> wire::Repository {
    let Repository {
        id,
        full_name,
        host,
        clone_url,
        provider,
        secret_param,
        previous_secret,
        credential,
        triggers,
        created_at,
    } = r;
    let credential = credential.map(|c| {
        let kind = c.kind();
        let param = c.param().to_owned();
        match c {
            GitCredential::Token { username, .. } => wire::CredentialSummary {
                kind,
                username: Some(username),
                app_id: None,
                api_url: None,
                param,
            },
            GitCredential::GithubApp {
                app_id, api_url, ..
            } => wire::CredentialSummary {
                kind,
                username: None,
                app_id: Some(app_id),
                api_url: Some(api_url),
                param,
            },
        }
    });
    let now = rfc3339(SystemTime::now());
    wire::Repository {
        webhook_url: webhook_url(call, provider),
        id,
        full_name,
        host,
        provider,
        clone_url,
        triggers,
        secret_param,
        previous_secret_until: previous_secret
            .map(|p| p.until)
            .filter(|until| *until > now),
        credential,
        last_delivery: last.map(|d| wire::Delivery {
            at: d.at,
            event: d.event,
            delivery_id: d.delivery_id,
            status: d.status,
            outcome: d.outcome,
            message: d.message,
        }),
        created_at,
    }
}

/// The repository a path's `{repo}` names, with its last delivery.
async fn find(api: &Api, id: &str) -> Result<(Repository, Option<LastDelivery>), Error> {
    let repo = api.store.get_repository(id).await?.ok_or_else(|| {
        Error::NotFound(format!(
            "repository {id:?} is not registered (ids are host/full_name, lowercased, with '/' \
             percent-encoded as %2F in paths)"
        ))
    })?;
    let last = api
        .store
        .last_deliveries(std::slice::from_ref(&repo.id))
        .await?
        .remove(&repo.id);
    Ok((repo, last))
}

pub(crate) async fn list(
    api: &Api,
    call: &Call<'_>,
) -> Result<wire::List<wire::Repository>, Error> {
    let page = call.page()?;
    let keyed: Vec<(String, Repository)> = api
        .store
        .list_repositories()
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let (repos, next_cursor) = paginate(keyed, &page)?;
    let ids: Vec<String> = repos.iter().map(|r| r.id.clone()).collect();
    let mut last = api.store.last_deliveries(&ids).await?;
    let items = repos
        .into_iter()
        .map(|r| {
            let delivery = last.remove(&r.id);
            wire_repository(call, r, delivery)
        })
        .collect();
    Ok(wire::List { items, next_cursor })
}

pub(crate) async fn show(api: &Api, call: &Call<'_>) -> Result<wire::Repository, Error> {
    let (repo, last) = find(api, call.param("repo")).await?;
    Ok(wire_repository(call, repo, last))
}

fn field_errors(errors: &[FieldError]) -> Error {
    let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Error::bad_request(listed.join("; "))
}

/// A secret the caller chose, or a generated one.
fn webhook_secret(given: Option<String>) -> Result<SecretValue, Error> {
    match given {
        Some(s)
            if (16..=256).contains(&s.chars().count())
                && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(SecretValue::new(s))
        }
        Some(_) => Err(Error::bad_request(
            "webhook_secret: must be 16 to 256 characters without white space",
        )),
        None => Ok(SecretValue::new(random_hex(SECRET_BYTES)?)),
    }
}

/// A credential's record (naming its SSM parameter) and the secret to store there.
fn credential(
    api: &Api,
    id: &str,
    provider: Provider,
    host: &str,
    given: wire::CredentialRequest,
) -> Result<(GitCredential, SecretValue), Error> {
    let param = api.names.git_credential_param(id);
    match given {
        wire::CredentialRequest::Token { token, username } => {
            let token = token.trim();
            if token.is_empty() || token.len() > 4096 || token.chars().any(char::is_control) {
                return Err(Error::bad_request(
                    "credential.token: must be 1 to 4096 characters without control characters",
                ));
            }
            let username = username.unwrap_or_else(|| {
                match provider {
                    Provider::GitHub => "x-access-token",
                    Provider::GitLab | Provider::Gitea => "oauth2",
                }
                .to_owned()
            });
            if username.is_empty()
                || username.len() > 256
                || username.contains(':')
                || username.chars().any(char::is_control)
            {
                return Err(Error::bad_request(
                    "credential.username: must be 1 to 256 characters without ':' or control \
                     characters",
                ));
            }
            Ok((
                GitCredential::Token { param, username },
                SecretValue::new(token),
            ))
        }
        wire::CredentialRequest::GithubApp {
            app_id,
            private_key,
            api_url,
        } => {
            if app_id == 0 {
                return Err(Error::bad_request("credential.app_id: must be positive"));
            }
            if jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes()).is_err() {
                return Err(Error::bad_request(
                    "credential.private_key: is not an RSA private key in PEM, as GitHub gives \
                     an App's key",
                ));
            }
            let api_url = match api_url {
                Some(url) => {
                    let url = url.trim_end_matches('/').to_owned();
                    repository::check_service_url(&url)
                        .map_err(|why| Error::bad_request(format!("credential.api_url: {why}")))?;
                    url
                }
                None if host == "github.com" => "https://api.github.com".to_owned(),
                None => format!("https://{host}/api/v3"),
            };
            Ok((
                GitCredential::GithubApp {
                    app_id,
                    key_param: param,
                    api_url,
                },
                SecretValue::new(private_key),
            ))
        }
    }
}

fn registered(
    call: &Call<'_>,
    repo: Repository,
    last: Option<LastDelivery>,
    secret: &SecretValue,
) -> wire::RegisteredRepository {
    let repository = wire_repository(call, repo, last);
    let setup = wire::Setup {
        location: setup_location(repository.provider).to_owned(),
        fields: setup_fields(
            repository.provider,
            &repository.webhook_url,
            Some(secret.expose()),
        ),
    };
    wire::RegisteredRepository {
        repository,
        webhook_secret: secret.expose().to_owned(),
        setup,
    }
}

pub(crate) async fn create(
    api: &Api,
    call: &Call<'_>,
    b: wire::RepositoryRequest,
) -> Result<Reply<wire::RegisteredRepository>, Error> {
    let who = call.who()?;
    let checked = repository::check(&Registration {
        provider: b.provider,
        full_name: &b.full_name,
        host: b.host.as_deref(),
        clone_url: &b.clone_url,
        triggers: &b.triggers,
        credential: b.credential.as_ref().map(wire::CredentialRequest::kind),
    })
    .map_err(|e| field_errors(&e))?;
    let id = checked.id();
    let secret = webhook_secret(b.webhook_secret)?;
    let credential = b
        .credential
        .map(|c| credential(api, &id, b.provider, &checked.repo.host, c))
        .transpose()?;
    let repo = Repository {
        id: id.clone(),
        full_name: checked.repo.full_name,
        host: checked.repo.host,
        clone_url: b.clone_url,
        provider: b.provider,
        secret_param: api.names.webhook_secret_param(&id),
        previous_secret: None,
        credential: credential.as_ref().map(|(c, _)| c.clone()),
        triggers: b.triggers,
        created_at: rfc3339(SystemTime::now()),
    };
    if !api.store.create_repository(&repo).await? {
        return Err(Error::conflict(
            "already_registered",
            format!("repository {id} is already registered; rotate its secret or remove it first"),
        ));
    }
    let mut params = vec![(repo.secret_param.clone(), secret.clone())];
    if let Some((c, value)) = credential {
        params.push((c.param().to_owned(), value));
    }
    if let Err(e) = store_params(api, &params).await {
        // No repository without its secret: take the registration back.
        for (name, _) in &params {
            let _ = api.secrets.delete(name).await;
        }
        api.store.delete_repository(&id).await?;
        return Err(e);
    }
    api.audit(who, "repository.create", &id).await?;
    Ok(Reply::created(registered(call, repo, None, &secret)))
}

async fn store_params(api: &Api, params: &[(String, SecretValue)]) -> Result<(), Error> {
    for (name, value) in params {
        // Overwrite: a parameter left by an earlier registration of the same id is replaced.
        api.secrets.put(name, value, true).await?;
    }
    Ok(())
}

pub(crate) async fn rotate_secret(
    api: &Api,
    call: &Call<'_>,
    b: wire::RotateSecretRequest,
) -> Result<wire::RegisteredRepository, Error> {
    let who = call.who()?;
    let grace = b.grace_seconds.map_or(DEFAULT_GRACE, Duration::from_secs);
    if grace > MAX_GRACE {
        return Err(Error::bad_request(format!(
            "grace_seconds: at most {} (30 days)",
            MAX_GRACE.as_secs()
        )));
    }
    let (mut repo, last) = find(api, call.param("repo")).await?;
    let secret = SecretValue::new(random_hex(SECRET_BYTES)?);
    let version = api.secrets.put(&repo.secret_param, &secret, true).await?;
    // Version 1 means there was no secret before (its parameter had been deleted by hand). A
    // grace period of zero records the old version as already expired, replacing any earlier one.
    if version > 1 {
        let previous = PreviousSecret {
            version: version - 1,
            until: rfc3339(SystemTime::now() + grace),
        };
        api.store.set_previous_secret(&repo.id, &previous).await?;
        repo.previous_secret = Some(previous);
    } else {
        repo.previous_secret = None;
    }
    api.audit(
        who,
        "repository.rotate_secret",
        &format!("{} (grace {}s)", repo.id, grace.as_secs()),
    )
    .await?;
    Ok(registered(call, repo, last, &secret))
}

pub(crate) async fn remove(api: &Api, call: &Call<'_>) -> Result<wire::Repository, Error> {
    let who = call.who()?;
    let (repo, last) = find(api, call.param("repo")).await?;
    if !api.store.delete_repository(&repo.id).await? {
        return Err(Error::NotFound(format!(
            "repository {} was removed meanwhile",
            repo.id
        )));
    }
    let mut params = vec![repo.secret_param.clone()];
    params.extend(repo.credential.as_ref().map(|c| c.param().to_owned()));
    for name in &params {
        if let Err(e) = api.secrets.delete(name).await {
            return Err(Error::Configuration(format!(
                "repository {} is removed, but its SSM parameter {name} could not be deleted \
                 ({e}); delete it by hand",
                repo.id
            )));
        }
    }
    api.audit(who, "repository.remove", &repo.id).await?;
    Ok(wire_repository(call, repo, last))
}
