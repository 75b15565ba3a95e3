//! What ran where: one record per app and ended deployment (an app's history in an
//! environment), and one per host and ended deployment (a host's last deployments). The
//! recorder writes them when a deployment ends; the api pages through them newest first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::deployment::DeploymentStatus;
use crate::status::{AppStatus, GateStatus, TargetStatus};

/// One ended deployment of one app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppRun {
    /// The app.
    pub app: String,
    /// The deployment.
    pub deployment_id: String,
    /// Repository id.
    pub repository: String,
    /// The version it deployed.
    pub version: String,
    /// Where.
    pub environment: String,
    /// The deployment's outcome.
    pub outcome: DeploymentStatus,
    /// How the app's own rollout ended; `None` when it never started (an earlier stage failed,
    /// or the deployment was cancelled first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_status: Option<AppStatus>,
    /// When the app's first batch began (or the deployment started, when the app never did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the app's rollout (or rollback) ended, or the deployment did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Who confirmed the deployment: an API token's name, or `boreas` for `auto_confirm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
    /// The app's gates that were reached, and who decided them.
    #[serde(default)]
    pub gates: Vec<RunGate>,
    /// The deployment reverted the environment to an older version.
    #[serde(default)]
    pub revert: bool,
    /// How many targets (hosts or clusters) the app's plan changed.
    pub targets: u32,
    /// The target whose failure stopped the deployment, when it was one of this app's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_target: Option<String>,
}

/// A gate of a run and its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunGate {
    /// Gate id, `<app>.<batch index>`.
    pub gate: String,
    /// Waiting, or how it was decided.
    pub status: GateStatus,
    /// Who decided (token name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// One ended deployment that changed an app on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostRun {
    /// The host.
    pub host: String,
    /// Its environment.
    pub environment: String,
    /// The app.
    pub app: String,
    /// The deployment.
    pub deployment_id: String,
    /// The version it deployed.
    pub version: String,
    /// The deployment's outcome.
    pub outcome: DeploymentStatus,
    /// Where the host ended; `None` when its batch never started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TargetStatus>,
    /// When the deployment ended.
    pub ended_at: String,
}
