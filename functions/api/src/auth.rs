//! Bearer tokens and roles.
//!
//! A token is looked up by its secret's SHA-256 on every request, so a revoked token fails at
//! the next request and an expired one from the instant it expires. Its `last_used` is written
//! at most once per [`TOKEN_USE_RESOLUTION`], however busy it is.

use std::time::SystemTime;

use boreas_aws::store::{TOKEN_USE_RESOLUTION, rfc3339};
use boreas_core::role::Role;
use http::HeaderMap;

use crate::{Api, Error};

/// Who is calling, as the audit trail names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (`admin` for the bootstrap token from SSM).
    pub name: String,
    /// The token's role.
    pub role: Role,
}

/// The caller behind the request's bearer token, if its role is at least `needed`.
pub(crate) async fn authorize(
    api: &Api,
    headers: &HeaderMap,
    needed: Role,
) -> Result<Caller, Error> {
    let caller = authenticate(api, headers).await?;
    if caller.role < needed {
        return Err(Error::Forbidden(format!(
            "token {:?} has role {}; this call needs {needed} or higher",
            caller.name, caller.role
        )));
    }
    Ok(caller)
}

async fn authenticate(api: &Api, headers: &HeaderMap) -> Result<Caller, Error> {
    let header = headers.get(http::header::AUTHORIZATION).ok_or_else(|| {
        Error::Unauthorized("missing Authorization: Bearer <token> header".into())
    })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::Unauthorized("the Authorization header is not of the form Bearer <token>".into())
        })?;
    if let Some(grant) = api.store.get_api_token(token).await? {
        let now = SystemTime::now();
        let at = rfc3339(now);
        if grant.expired(&at) {
            return Err(Error::Unauthorized(format!(
                "token {:?} expired at {}",
                grant.name,
                grant.expires.as_deref().unwrap_or_default()
            )));
        }
        let since = rfc3339(now.checked_sub(TOKEN_USE_RESOLUTION).unwrap_or(now));
        if grant
            .last_used
            .as_deref()
            .is_none_or(|used| used < since.as_str())
        {
            // Best effort: a request is not refused because its use could not be recorded.
            if let Err(e) = api.store.touch_api_token(token, &at, &since).await {
                tracing::warn!(token = %grant.name, error = %e, "cannot record the token's use");
            }
        }
        return Ok(Caller {
            name: grant.name,
            role: grant.role,
        });
    }
    match api.secrets.get(&api.admin_token_param).await {
        Ok(admin) if constant_time_eq(admin.expose().as_bytes(), token.as_bytes()) => Ok(Caller {
            name: "admin".into(),
            role: Role::Admin,
        }),
        Ok(_) | Err(boreas_aws::Error::NotFound { .. }) => {
            Err(Error::Unauthorized("the bearer token is not valid".into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bytes_compare_equal_only() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
