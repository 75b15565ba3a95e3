//! The one place AWS SDK configuration is built, for real AWS and for the local emulator alike.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
// The credential type is shared by every SDK crate; any of them re-exports it.
use aws_sdk_dynamodb::config::Credentials;

use crate::env::Env;

/// Attempts per call (first try included). Throttling and 5xx responses are retried by the SDK's
/// standard retry strategy with exponential backoff and jitter; adapters never retry by hand.
const MAX_ATTEMPTS: u32 = 5;
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);

/// Builds the SDK configuration shared by every adapter.
///
/// With an endpoint (the argument, else `AWS_ENDPOINT_URL`): static test credentials
/// (`testing`/`testing`), region `us-east-1` unless `AWS_REGION` is set, and that endpoint for every
/// service. Without one: the normal AWS default chain (environment, profile, SSO, IMDS, …).
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let retry = RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF);
    let loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry);
    let endpoint = endpoint
        .map(str::to_owned)
        .or_else(|| sdk_env("AWS_ENDPOINT_URL"));
    let loader = match endpoint {
        Some(url) => {
            let region = sdk_env("AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned());
            loader
                .endpoint_url(url)
                .region(Region::new(region))
                .credentials_provider(Credentials::new(
                    "testing",
                    "testing",
                    None,
                    None,
                    "boreas-emulator",
                ))
        }
        None => loader,
    };
    loader.load().await
}

/// A variable the SDK reads too: one it cannot use is left to the SDK's own chain to report.
fn sdk_env(name: &str) -> Option<String> {
    Env::process().get(name).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endpoint_gets_static_credentials_a_region_and_the_retry_policy() {
        let config = sdk_config(Some("http://127.0.0.1:4566")).await;
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        let expected_region = sdk_env("AWS_REGION").unwrap_or_else(|| "us-east-1".into());
        assert_eq!(
            config.region().map(|r| r.as_ref().to_owned()),
            Some(expected_region)
        );
        let retry = config.retry_config().expect("a retry policy");
        assert_eq!(retry.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(retry.initial_backoff(), INITIAL_BACKOFF);
        assert!(config.credentials_provider().is_some());
    }
}
