//! Token routes: create (the secret answered once, only its SHA-256 stored), list (never a
//! secret), revoke (effective at the next request, which no longer finds the token).

use std::time::{Duration, SystemTime};

use boreas_api_types as wire;
use boreas_aws::store::{ApiToken, rfc3339};

use crate::call::Call;
use crate::routes::Reply;
use crate::{Api, Error, paginate, random_hex};

/// The bootstrap token's name (its secret lives in SSM, not in the store).
pub(crate) const BOOTSTRAP_NAME: &str = "admin";
/// The longest lifetime a token may be given: ten years.
const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn wire_token(t: ApiToken, now: &str) -> wire::Token {
    wire::Token {
        expired: t.expired(now),
        name: t.name,
        role: t.role,
        created_at: t.created_at,
        expires_at: t.expires,
        last_used: t.last_used,
    }
}

/// Checks a token name: it appears in paths and audit entries.
fn check_name(name: &str) -> Result<(), Error> {
    let valid = (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if !valid {
        return Err(Error::bad_request(format!(
            "name: {name:?} is not 1 to 100 letters, digits, '.', '_', '-' and '@'"
        )));
    }
    if name == BOOTSTRAP_NAME {
        return Err(Error::bad_request(format!(
            "name: {BOOTSTRAP_NAME:?} names the bootstrap token kept in SSM; choose another"
        )));
    }
    Ok(())
}

pub(crate) async fn create(
    api: &Api,
    call: &Call<'_>,
    b: wire::TokenRequest,
) -> Result<Reply<wire::NewToken>, Error> {
    let who = call.who()?;
    check_name(&b.name)?;
    let now = SystemTime::now();
    let expires = match b.expires_in_seconds {
        None => None,
        Some(secs) if secs > 0 && Duration::from_secs(secs) <= MAX_LIFETIME => {
            Some(rfc3339(now + Duration::from_secs(secs)))
        }
        Some(_) => {
            return Err(Error::bad_request(format!(
                "expires_in_seconds: must be 1 to {} (ten years)",
                MAX_LIFETIME.as_secs()
            )));
        }
    };
    let secret = format!("boreas_{}", random_hex(32)?);
    let mut grant = ApiToken::new(b.name, b.role, rfc3339(now));
    grant.expires = expires;
    api.store
        .put_api_token(&secret, &grant)
        .await
        .map_err(|e| match e {
            boreas_aws::Error::AlreadyExists { .. } => Error::conflict(
                "already_exists",
                format!(
                    "a token named {:?} exists; revoke it first or choose another name",
                    grant.name
                ),
            ),
            other => other.into(),
        })?;
    api.audit(
        who,
        "token.create",
        &format!("{} ({})", grant.name, grant.role),
    )
    .await?;
    Ok(Reply::created(wire::NewToken {
        name: grant.name,
        role: grant.role,
        token: secret,
        created_at: grant.created_at,
        expires_at: grant.expires,
    }))
}

pub(crate) async fn list(api: &Api, call: &Call<'_>) -> Result<wire::List<wire::Token>, Error> {
    let page = call.page()?;
    let now = rfc3339(SystemTime::now());
    let keyed = api
        .store
        .list_api_tokens()
        .await?
        .into_iter()
        .map(|t| (t.name.clone(), wire_token(t, &now)))
        .collect();
    let (items, next_cursor) = paginate(keyed, &page)?;
    Ok(wire::List { items, next_cursor })
}

pub(crate) async fn revoke(api: &Api, call: &Call<'_>) -> Result<wire::Token, Error> {
    let who = call.who()?;
    let name = call.param("name");
    let now = rfc3339(SystemTime::now());
    let Some(token) = api.store.revoke_api_token(name).await? else {
        return Err(Error::NotFound(format!("no token is named {name:?}")));
    };
    api.audit(who, "token.revoke", name).await?;
    Ok(wire_token(token, &now))
}
