//! The planner function: an SQS consumer of the plan queue.
//!
//! For each plan job (see [`boreas_core::webhook::PlanJob`]) it fetches the version's commit with
//! gix ([`git`]), reads and validates `boreas.yaml` there, and plans one deployment per
//! environment with [`boreas_core::planner`]; see [`handler`] for the rules. The handler is a
//! plain `async fn` that `main.rs` hands to `lambda_runtime` and the local runner calls directly.

pub mod error;
pub mod git;
pub mod handler;

use std::path::PathBuf;
use std::sync::Arc;

use boreas_aws::names::Names;
use boreas_aws::orchestrator::{Orchestrator, SfnOrchestrator};
use boreas_aws::store::{DynamoStore, Store};

pub use error::Error;
pub use handler::{handle, plan_job};

/// The file read at every version's commit.
pub const CONFIG_FILE: &str = "boreas.yaml";

/// Where warm invocations of the function keep fetched repositories (Lambda's writable `/tmp`).
pub const DEFAULT_CACHE_DIR: &str = "/tmp/boreas-git";

/// What the handler works with.
#[derive(Debug, Clone)]
pub struct Planner {
    /// Versions, deployments, agents, run locks.
    pub store: Arc<dyn Store>,
    /// Starts executions of `auto_confirm` environments.
    pub orchestrator: Arc<dyn Orchestrator>,
    /// Fetches and reads commits.
    pub git: Arc<dyn git::Git>,
    /// The plan queue's `maxReceiveCount`: on this receive a failing job is recorded
    /// `plan_failed` and left to the dead-letter redrive.
    pub max_receives: u32,
}

impl Planner {
    /// The planner of a deployed function, from its environment: `BOREAS_TABLE` (or the table
    /// of `BOREAS_PREFIX`), `BOREAS_STATE_MACHINE_ARN`, optional `BOREAS_GIT_CACHE` (default
    /// [`DEFAULT_CACHE_DIR`]) and `BOREAS_PLAN_MAX_RECEIVES` (default the provisioned queue's
    /// [`boreas_aws::provision::MAX_RECEIVE_COUNT`]). AWS endpoints follow the SDK's default
    /// chain, including `AWS_ENDPOINT_URL`.
    pub async fn from_env() -> Result<Self, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let table = match (var("BOREAS_TABLE"), var("BOREAS_PREFIX")) {
            (Some(table), _) => table,
            (None, Some(prefix)) => Names::new(&prefix).table(),
            (None, None) => {
                return Err(Error::Config(
                    "set BOREAS_TABLE (or BOREAS_PREFIX) to name the state table".into(),
                ));
            }
        };
        let state_machine = var("BOREAS_STATE_MACHINE_ARN").ok_or_else(|| {
            Error::Config("set BOREAS_STATE_MACHINE_ARN to the deployment state machine".into())
        })?;
        let max_receives = match var("BOREAS_PLAN_MAX_RECEIVES") {
            None => boreas_aws::provision::MAX_RECEIVE_COUNT,
            Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::Config(format!(
                    "BOREAS_PLAN_MAX_RECEIVES is {v:?}, not a positive number"
                ))
            })?,
        };
        let cache =
            var("BOREAS_GIT_CACHE").map_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR), PathBuf::from);
        let sdk = boreas_aws::sdk_config(None).await;
        Ok(Self {
            store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
            orchestrator: Arc::new(SfnOrchestrator::from_config(&sdk, state_machine)),
            git: Arc::new(git::GixCache::new(cache)),
            max_receives,
        })
    }
}
