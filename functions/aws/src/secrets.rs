//! SSM Parameter Store: webhook secrets, git credentials and API tokens, as SecureStrings, cached
//! briefly.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::ParameterType;

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

/// Secret lookups and writes.
pub trait Secrets: Send + Sync + fmt::Debug {
    /// The decrypted value of parameter `name` (a `name:version` selector reads an older
    /// version); [`Error::NotFound`] naming it when absent.
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, SecretValue>;
    /// Like [`Secrets::get`], but asks the store again when what is held is older than
    /// `max_age`: for a value that may just have been rotated.
    fn get_fresh<'a>(&'a self, name: &'a str, max_age: Duration) -> BoxFuture<'a, SecretValue>;
    /// Writes `value` as SecureString `name`, replacing an existing value only if `overwrite`
    /// ([`Error::AlreadyExists`] otherwise); returns the parameter's new version.
    fn put<'a>(
        &'a self,
        name: &'a str,
        value: &'a SecretValue,
        overwrite: bool,
    ) -> BoxFuture<'a, i64>;
    /// Deletes parameter `name` with every version; `false` when there was none.
    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, bool>;
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

    fn cached(&self, name: &str, max_age: Duration) -> Option<SecretValue> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(name)
            .filter(|(fetched, _)| fetched.elapsed() < max_age)
            .map(|(_, v)| v.clone())
    }

    /// Forgets what is cached under `name` and its `name:version` selectors.
    fn forget(&self, name: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|k, _| {
            k != name
                && !k
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(':'))
        });
    }

    async fn fetch(&self, name: &str, max_age: Duration) -> Result<SecretValue, Error> {
        if let Some(v) = self.cached(name, max_age) {
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
                if e.as_service_error().is_some_and(|e| {
                    e.is_parameter_not_found() || e.is_parameter_version_not_found()
                }) =>
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
    }
}

impl Secrets for SsmSecrets {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, SecretValue> {
        Box::pin(self.fetch(name, self.ttl))
    }

    fn get_fresh<'a>(&'a self, name: &'a str, max_age: Duration) -> BoxFuture<'a, SecretValue> {
        Box::pin(self.fetch(name, max_age.min(self.ttl)))
    }

    fn put<'a>(
        &'a self,
        name: &'a str,
        value: &'a SecretValue,
        overwrite: bool,
    ) -> BoxFuture<'a, i64> {
        Box::pin(async move {
            let result = self
                .client
                .put_parameter()
                .name(name)
                .value(value.expose())
                .r#type(ParameterType::SecureString)
                .overwrite(overwrite)
                .send()
                .await;
            self.forget(name);
            match result {
                Ok(out) => Ok(out.version),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_parameter_already_exists()) =>
                {
                    Err(Error::AlreadyExists {
                        what: format!("SSM parameter {name}"),
                    })
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let result = self.client.delete_parameter().name(name).send().await;
            self.forget(name);
            match result {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_parameter_not_found()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(Error::sdk(SERVICE, &e)),
            }
        })
    }
}

/// [`Secrets`] in process memory with SSM's semantics (versions from 1, `name:version`
/// selectors, overwrite checks), for handler unit tests.
#[derive(Debug, Default)]
pub struct MemorySecrets {
    /// Name → every version's value, oldest first.
    params: Mutex<HashMap<String, Vec<SecretValue>>>,
}

impl MemorySecrets {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parameters `name` = `value`, each at version 1.
    pub fn with<'a>(values: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let params = values
            .into_iter()
            .map(|(k, v)| (k.to_owned(), vec![SecretValue::new(v)]))
            .collect();
        Self {
            params: Mutex::new(params),
        }
    }

    /// Whether parameter `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }

    /// Every value held, all versions: what a test greps for a secret that must not be there.
    pub fn values(&self) -> Vec<String> {
        self.lock()
            .values()
            .flatten()
            .map(|v| v.expose().to_owned())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<SecretValue>>> {
        self.params.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Secrets for MemorySecrets {
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, SecretValue> {
        Box::pin(async move {
            let (base, version) = match name.rsplit_once(':') {
                Some((base, v)) => (base, v.parse::<usize>().ok()),
                None => (name, None),
            };
            let params = self.lock();
            let found = params.get(base).and_then(|versions| match version {
                Some(v) => versions.get(v.checked_sub(1)?),
                None => versions.last(),
            });
            found
                .cloned()
                .ok_or_else(|| Error::not_found(format!("SSM parameter {name}")))
        })
    }

    fn get_fresh<'a>(&'a self, name: &'a str, _max_age: Duration) -> BoxFuture<'a, SecretValue> {
        self.get(name)
    }

    fn put<'a>(
        &'a self,
        name: &'a str,
        value: &'a SecretValue,
        overwrite: bool,
    ) -> BoxFuture<'a, i64> {
        Box::pin(async move {
            let mut params = self.lock();
            let versions = params.entry(name.to_owned()).or_default();
            if !versions.is_empty() && !overwrite {
                return Err(Error::AlreadyExists {
                    what: format!("SSM parameter {name}"),
                });
            }
            versions.push(value.clone());
            Ok(i64::try_from(versions.len()).unwrap_or(i64::MAX))
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move { Ok(self.lock().remove(name).is_some()) })
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

    #[tokio::test]
    async fn memory_secrets_keep_versions_as_ssm_does() {
        let s = MemorySecrets::new();
        let v = |x: &str| SecretValue::new(x);
        assert_eq!(s.put("/p", &v("one"), false).await.unwrap(), 1);
        assert_eq!(
            s.put("/p", &v("two"), false)
                .await
                .unwrap_err()
                .error_type(),
            "AlreadyExists"
        );
        assert_eq!(s.put("/p", &v("two"), true).await.unwrap(), 2);
        assert_eq!(s.get("/p").await.unwrap().expose(), "two");
        assert_eq!(s.get("/p:1").await.unwrap().expose(), "one");
        assert_eq!(s.get("/p:3").await.unwrap_err().error_type(), "NotFound");
        assert!(s.delete("/p").await.unwrap());
        assert!(!s.delete("/p").await.unwrap());
        assert_eq!(s.get("/p").await.unwrap_err().error_type(), "NotFound");
    }
}
