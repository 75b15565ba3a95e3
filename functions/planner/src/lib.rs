//! The planner function: an SQS consumer of the plan queue.
//!
//! For each plan job (see [`boreas_core::webhook::PlanJob`]) it fetches the version's commit with
//! gix ([`git`]), reads and validates `boreas.yaml` there, and plans one deployment per
//! environment with [`boreas_core::planner`]; see [`handler`] for the rules. The handler is a
//! plain `async fn` that `main.rs` hands to `lambda_runtime` and the local runner calls directly.

pub mod error;
pub mod git;
pub mod handler;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use boreas_aws::env::Env;
use boreas_aws::notices::Notices;
use boreas_aws::orchestrator::{Orchestrator, SfnOrchestrator};
use boreas_aws::policy::Rechecks;
use boreas_aws::secrets::{Secrets, SsmSecrets};
use boreas_aws::store::{DynamoStore, Store};
use boreas_git_credentials::Credentials;

pub use error::Error;
pub use handler::{handle, plan_job};

/// The file read at every version's commit.
pub const CONFIG_FILE: &str = "boreas.yaml";

/// Where warm invocations of the function keep fetched repositories (Lambda's writable `/tmp`).
pub const DEFAULT_CACHE_DIR: &str = "/tmp/boreas-git";

/// The credentials the planner fetches with, read from `secrets`.
///
/// # Errors
/// The HTTP client for GitHub's API cannot be built.
pub fn credentials(secrets: Arc<dyn Secrets>) -> Result<Credentials, Error> {
    Ok(Credentials::new(
        secrets,
        concat!("boreas-planner/", env!("CARGO_PKG_VERSION")),
    )?)
}

/// What the handler works with.
#[derive(Debug, Clone)]
pub struct Planner {
    /// Versions, deployments, agents, run locks.
    pub store: Arc<dyn Store>,
    /// Starts executions of `auto_confirm` environments.
    pub orchestrator: Arc<dyn Orchestrator>,
    /// Fetches and reads commits.
    pub git: Arc<dyn git::Git>,
    /// The credentials of private repositories.
    pub credentials: Arc<Credentials>,
    /// Where `planned`, `started` and `superseded` notices go.
    pub notices: Notices,
    /// Where it asks itself to look again (its own queue), when a soak or a window ends.
    pub rechecks: Rechecks,
    /// The plan queue's `maxReceiveCount`: on this receive a failing job is recorded
    /// `plan_failed` and left to the dead-letter redrive.
    pub max_receives: u32,
}

impl Planner {
    /// The planner of a deployed function, from its environment: `BOREAS_TABLE` (default: the
    /// table of `BOREAS_PREFIX`, itself default `boreas`), `BOREAS_STATE_MACHINE_ARN`, optional
    /// `BOREAS_GIT_CACHE` (default [`DEFAULT_CACHE_DIR`]) and `BOREAS_PLAN_MAX_RECEIVES` (default
    /// the provisioned queue's [`boreas_aws::provision::MAX_RECEIVE_COUNT`]). AWS endpoints follow
    /// the SDK's default chain, including `AWS_ENDPOINT_URL`; git credentials are read from SSM.
    pub async fn from_env(env: &Env) -> Result<Self, Error> {
        let names = env.names()?;
        let table = env.get("BOREAS_TABLE")?.unwrap_or_else(|| names.table());
        let state_machine = env.require(
            "BOREAS_STATE_MACHINE_ARN",
            "it names the deployment state machine",
        )?;
        let max_receives = env
            .parse::<NonZeroU32>("BOREAS_PLAN_MAX_RECEIVES", "a positive whole number")?
            .map_or(boreas_aws::provision::MAX_RECEIVE_COUNT, NonZeroU32::get);
        let cache = env
            .get("BOREAS_GIT_CACHE")?
            .map_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR), PathBuf::from);
        let sdk = boreas_aws::sdk_config(None).await;
        Ok(Self {
            store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
            orchestrator: Arc::new(SfnOrchestrator::from_config(
                &sdk,
                state_machine,
                names.plans_bucket(),
            )),
            git: Arc::new(git::GixCache::new(cache)),
            credentials: Arc::new(credentials(Arc::new(SsmSecrets::from_config(&sdk)))?),
            notices: Notices::from_env(env, &sdk)?,
            rechecks: Rechecks::from_env(env, &sdk)?,
            max_receives,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The planner reads its environment as every function does: an invalid prefix is an error
    /// naming the variable, even with a table given (it used to make `Names::new` panic).
    #[tokio::test]
    async fn an_invalid_prefix_is_an_error_naming_the_variable() {
        let env = Env::from_vars([
            ("BOREAS_PREFIX", "Team_A"),
            ("BOREAS_TABLE", "t"),
            (
                "BOREAS_STATE_MACHINE_ARN",
                "arn:aws:states:us-east-1:1:stateMachine:m",
            ),
        ]);
        let err = Planner::from_env(&env).await.expect_err("refused");
        assert_eq!(err.error_type(), "Env");
        assert!(
            err.to_string().contains("BOREAS_PREFIX is \"Team_A\""),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_bad_receive_count_names_the_variable_and_the_value() {
        let env = Env::from_vars([
            (
                "BOREAS_STATE_MACHINE_ARN",
                "arn:aws:states:us-east-1:1:stateMachine:m",
            ),
            ("BOREAS_PLAN_MAX_RECEIVES", "0"),
        ]);
        let err = Planner::from_env(&env).await.expect_err("refused");
        assert!(
            err.to_string()
                .contains("BOREAS_PLAN_MAX_RECEIVES is \"0\", not a positive whole number"),
            "{err}"
        );
    }
}
