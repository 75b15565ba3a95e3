//! Environment policy on the wire: what holds a deployment back, what was granted to it, and
//! each environment's promotion and freeze windows.

use boreas_core::config::{DurationSpec, FreezeBlock, OnRunning, Promotion};
use boreas_core::policy::{Condition, Hold, Override, Waiver};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the environment policy says about one deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentPolicy {
    /// Why it waits (unmet promotion conditions, freeze windows); absent when nothing holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// Promotion conditions an approver lifted for it.
    #[serde(default)]
    pub waivers: Vec<Waiver>,
    /// The break-glass override of the freeze windows, if one was granted (see `expires_at`).
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
}

/// Lift one promotion condition for one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiverRequest {
    /// The condition: `after:<env>` or `soak:<env>`, one of the deployment's environment's.
    pub condition: Condition,
    /// Why (recorded with the waiver and in the audit log).
    #[schemars(length(min = 1, max = 500))]
    pub reason: String,
}

/// Let one deployment through the freeze windows for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// Why (recorded with the override and in the audit log).
    #[schemars(length(min = 1, max = 500))]
    pub reason: String,
    /// How long it lasts, at most 6h (`"2h"`).
    pub expires_in: DurationSpec,
}

/// One environment as the repositories declare it, its windows and who waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentView {
    /// Its name.
    pub name: String,
    /// Each repository that declares it, by its newest version's `boreas.yaml`.
    pub repositories: Vec<EnvironmentOfRepository>,
    /// The freeze windows naming it: declared by those repositories or added through the API.
    pub windows: Vec<WindowView>,
    /// Whether a window closes it to new deployments now (for every app).
    pub frozen: bool,
    /// When it opens again, if frozen and an end is in reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
    /// Its planned deployments that the policy holds back, and why.
    pub waiting: Vec<WaitingDeployment>,
}

/// How one repository declares an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentOfRepository {
    /// Repository id.
    pub repository: String,
    /// The version whose `boreas.yaml` says so.
    pub version: String,
    /// Deployments start without a person.
    pub auto_confirm: bool,
    /// After which environments, and for how long, it takes a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
}

/// A freeze window as it stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WindowView {
    /// Its name.
    pub name: String,
    /// Why deployments wait.
    pub reason: String,
    /// `api` for a window added through the API, else the repository declaring it.
    pub source: String,
    /// The apps it freezes; empty: every app.
    pub apps: Vec<String>,
    /// What it blocks.
    pub blocks: Vec<FreezeBlock>,
    /// What a running deployment does when it opens.
    pub running: OnRunning,
    /// The end of the period in force now, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_until: Option<String>,
    /// Its next start, if one is in reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_start: Option<String>,
}

/// A planned deployment the policy holds back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WaitingDeployment {
    /// Deployment id.
    pub id: String,
    /// Repository id.
    pub repository: String,
    /// Version name.
    pub version: String,
    /// Why, as last evaluated.
    pub hold: Hold,
}
