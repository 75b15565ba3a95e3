//! A deployment plan: stages → apps → batches → targets, for one version in one environment.
//!
//! Plans are data: the planner produces them, a person adjusts them ([`crate::adjust`]), the api
//! stores them and the state machine executes them. Every list is in a stable order so the same
//! inputs always give byte-identical JSON.

use serde::{Deserialize, Serialize};

use crate::config::{AppKind, BatchSize, Pause};

/// The whole plan of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Environment name.
    pub environment: String,
    /// Version being deployed (tag or commit id).
    pub version: String,
    /// Stages, run strictly in order.
    pub stages: Vec<Stage>,
}

/// One step of the plan; its apps run in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// How many apps of this stage run at the same time.
    pub parallelism: u32,
    /// Apps of this stage, in a stable order.
    pub apps: Vec<AppPlan>,
}

/// One app's rollout inside a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPlan {
    /// App name.
    pub app: String,
    /// `pm` or `k8s`.
    pub kind: AppKind,
    /// The app's `depends_on`, kept so adjustments can be validated against the plan alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Every target of the app in rollout order (PM host names or cluster names).
    pub targets: Vec<String>,
    /// The cumulative batch sizes the batches were derived from.
    pub batch_sizes: Vec<BatchSize>,
    /// The pause between batches.
    pub pause: Pause,
    /// PM hosts of one batch deployed at the same time.
    pub parallelism: u32,
    /// Seconds without a heartbeat after which a target counts as dead.
    pub heartbeat_seconds: u64,
    /// Seconds after which a target's work has failed.
    pub timeout_seconds: u64,
    /// Batches, run in order.
    pub batches: Vec<BatchPlan>,
}

/// One gray step of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPlan {
    /// Position of the batch in its app, from 0.
    pub index: u32,
    /// Targets changed by this batch. PM: the hosts new in this batch (each host in exactly one
    /// batch). K8s: every cluster of the app, each moved to `weight`.
    pub targets: Vec<String>,
    /// K8s only: share of replicas (1–100) running the new version after this batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    /// What happens after this batch (always `none` for the last one).
    pub pause: PausePlan,
}

/// What happens between two batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PausePlan {
    /// Go straight on.
    None,
    /// Wait this many seconds.
    Wait {
        /// Seconds to wait.
        seconds: u64,
    },
    /// Wait for a person to approve the gate with this id.
    Gate {
        /// Gate id, unique inside the deployment (`<app>.<batch index>`).
        gate: String,
    },
}
