//! SSM Parameter Store: webhook secrets and API tokens, as SecureStrings, cached briefly.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_ssm::Client;

use crate::{BoxFuture, Error};

const SERVICE: &str = "ssm";
/// How long a value is served from memory before SSM is asked again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// A secret value. Its `Debug` form is redacted so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it (an HMAC key, a comparison).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Secret lookups.
pub trait Secrets: Send + Sync + fmt::Debug {
    /// The decrypted value of parameter `name`; [`Error::NotFound`] naming it when absent.
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, SecretValue>;
}

/// [`Secrets`] from SSM, cached in process for a short time-to-live, so a warm function does not
/// ask SSM on every request and a rotated secret is picked up within the TTL.
#[derive(Debug)]
pub struct SsmSecrets {
    client: Client,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, SecretValue)>>,
}

impl SsmSecrets {
    /// Secrets through `client`, cached for `ttl`.
    pub fn new(client: Client, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Secrets with a client built from `config`, cached for [`DEFAULT_TTL`].
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config), DEFAULT_TTL)
    }

    fn cached(&self, name: &str) -> Option<SecretValue> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(name)
            .filter(|(fetched, _)| fetched.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }
}

impl Secrets for SsmSecrets {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, SecretValue> {
        Box::pin(async move {
            if let Some(v) = self.cached(name) {
                return Ok(v);
            }
            let result = self
                .client
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await;
            let out = match result {
                Ok(out) => out,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_parameter_not_found()) =>
                {
                    return Err(Error::not_found(format!("SSM parameter {name}")));
                }
                Err(e) => return Err(Error::sdk(SERVICE, &e)),
            };
            let value = out
                .parameter
                .and_then(|p| p.value)
                .map(SecretValue)
                .ok_or_else(|| Error::malformed(format!("SSM parameter {name}"), "no value"))?;
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_owned(), (Instant::now(), value.clone()));
            Ok(value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_redacted_in_debug_output() {
        let v = SecretValue::new("hunter2");
        assert_eq!(format!("{v:?}"), "SecretValue(<redacted>)");
        assert_eq!(v.expose(), "hunter2");
    }
}
