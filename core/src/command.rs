//! The wire types exchanged between the deployment state machine and its workers (the PM agent and
//! the Kubernetes operator): commands, task results and failures, and events on the events queue.
//!
//! Every message carries `schema_version`. A worker built for another version refuses a message
//! with a clear error instead of guessing, so an old agent and a new state machine (or the reverse)
//! tell each other they disagree. The state machine builds commands with JSONPath from the
//! execution input (`crate::execution`); the field names here are the ones it writes.

use std::fmt;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::config::{HealthCheck, HealthSpec, HookName, HookSpec, RunSpec};
use crate::deployment::DeploymentStatus;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A message that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// What was being read (`command`, `event`, `task result`).
        what: &'static str,
        /// The JSON error, with line and column.
        source: serde_json::Error,
    },
    /// No `schema_version` field: not a Boreas message.
    #[error("{what} has no schema_version field (a whole number); it is not a Boreas message")]
    MissingSchemaVersion {
        /// What was being read.
        what: &'static str,
    },
    /// Written for another schema version.
    #[error(
        "{what} has schema_version {found} but this build reads schema_version {supported}: \
         the sender and this worker are different Boreas releases, upgrade the older one"
    )]
    UnsupportedSchemaVersion {
        /// What was being read.
        what: &'static str,
        /// The version found in the message.
        found: u64,
        /// The version this build reads.
        supported: u32,
    },
}

impl WireError {
    /// The stable error type a worker reports to Step Functions for this error.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::Malformed { .. } | Self::MissingSchemaVersion { .. } => ErrorType::InvalidCommand,
            Self::UnsupportedSchemaVersion { .. } => ErrorType::UnsupportedSchemaVersion,
        }
    }
}

/// Reads a message after checking its `schema_version`, so a version mismatch is reported as such
/// rather than as whatever field happens to differ.
pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, json: &str) -> Result<T, WireError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|source| WireError::Malformed { what, source })?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        None => return Err(WireError::MissingSchemaVersion { what }),
        Some(found) if found != u64::from(SCHEMA_VERSION) => {
            return Err(WireError::UnsupportedSchemaVersion {
                what,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|source| WireError::Malformed { what, source })
}

pub(crate) fn encode<T: Serialize>(value: &T) -> String {
    // These types hold only strings, numbers, options and vectors: serialising cannot fail.
    serde_json::to_string(value).expect("wire types always serialise")
}

/// The deterministic id of one command: the same command redelivered by SQS (or sent again by a
/// retried state) has the same id, so a worker can tell it already did the work.
pub fn command_id(
    deployment_id: &str,
    app: &str,
    batch: u32,
    target: &str,
    action: &str,
) -> String {
    format!("{deployment_id}:{app}:{batch}:{target}:{action}")
}

/// One instruction to one target (a PM host's agent or a cluster's operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// See [`command_id`]; `status` requests use any unique id.
    pub command_id: String,
    /// Environment name.
    pub environment: String,
    /// Host name (PM) or cluster name (k8s).
    pub target: String,
    /// Present when the command came through `sendMessage.waitForTaskToken`: the worker answers
    /// with SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat on it. Never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
    /// The worker must send a heartbeat at least this often or the target counts as dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_seconds: Option<u64>,
    /// The state machine fails the target after this long; a worker that waits (the k8s operator)
    /// gives up a little earlier so its own failure, and the rollback it implies, arrive first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
}

impl Command {
    /// For a deploy, the id of the rollback that undoes it (same deployment, app, batch and
    /// target): once that rollback reached the target, the deploy must never run there.
    pub fn rollback_id(&self) -> Option<String> {
        match &self.action {
            Action::Deploy {
                deployment_id,
                app,
                batch,
                ..
            } => Some(command_id(
                deployment_id,
                app,
                *batch,
                &self.target,
                "rollback",
            )),
            Action::Rollback { .. } | Action::Status {} => None,
        }
    }
}

/// What a command asks for, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Move the target to `version`.
    Deploy {
        /// Deployment id.
        deployment_id: String,
        /// App name.
        app: String,
        /// Batch index (from 0) this target belongs to.
        batch: u32,
        /// Version to run.
        version: String,
        /// How to run it, resolved for `version`.
        workload: Workload,
        /// K8s only: share of replicas (1–100) on the new version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weight: Option<u8>,
        /// 0 for the first deploy of this target in this deployment; a retry an approver chose
        /// after a failure (`rollout.on_failure: pause`) counts up, so its id differs from the
        /// attempt the worker already finished.
        #[serde(default, skip_serializing_if = "is_zero")]
        attempt: u32,
    },
    /// Put the target back on the version it ran before this deployment.
    Rollback {
        /// Deployment id.
        deployment_id: String,
        /// App name.
        app: String,
        /// Batch index (from 0) of the target.
        batch: u32,
        /// The version being rolled back.
        from_version: String,
        /// The version to go back to; `None` when the app was never deployed there before
        /// (the worker then stops and removes the new release).
        to_version: Option<String>,
        /// How to run `to_version`, resolved for it; `None` with `to_version`.
        workload: Option<Workload>,
    },
    /// Report what runs on the target (answered with an [`EventBody::Inventory`]).
    Status {},
}

// serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The action part of a deploy's [`command_id`]: `deploy`, then `deploy.1`, `deploy.2` for
/// retries.
pub fn deploy_action_id(attempt: u32) -> String {
    if attempt == 0 {
        "deploy".to_owned()
    } else {
        format!("deploy.{attempt}")
    }
}

impl Action {
    /// `deploy`, `rollback` or `status`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Deploy { .. } => "deploy",
            Self::Rollback { .. } => "rollback",
            Self::Status {} => "status",
        }
    }
}

impl Command {
    /// Reads a command, refusing one written for another schema version.
    pub fn from_json(json: &str) -> Result<Self, WireError> {
        decode("command", json)
    }

    /// The command as the JSON message body.
    pub fn to_json(&self) -> String {
        encode(self)
    }

    /// Whether `command_id` is the deterministic id of this deploy or rollback, which a worker
    /// checks before trusting it for redelivery detection.
    pub fn has_expected_id(&self) -> bool {
        match &self.action {
            Action::Deploy {
                deployment_id,
                app,
                batch,
                attempt,
                ..
            } => {
                self.command_id
                    == command_id(
                        deployment_id,
                        app,
                        *batch,
                        &self.target,
                        &deploy_action_id(*attempt),
                    )
            }
            Action::Rollback {
                deployment_id,
                app,
                batch,
                ..
            } => {
                self.command_id == command_id(deployment_id, app, *batch, &self.target, "rollback")
            }
            Action::Status {} => true,
        }
    }
}

/// What runs, per kind of app, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Workload {
    /// A release on a physical machine.
    Pm(PmWorkload),
    /// A container image in a Kubernetes Deployment.
    K8s(K8sWorkload),
}

/// A PM release, resolved for one version in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmWorkload {
    /// Artifact URL with `{version}` substituted.
    pub artifact_url: String,
    /// Expected SHA-256 (hex), when given inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// URL of the SHA-256 file, `{version}` substituted, when given that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_url: Option<String>,
    /// How the app is started; `None` when its `start` hook starts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunSpec>,
    /// How health is checked.
    pub health: Health,
    /// The commit the version was built from (`BOREAS_COMMIT`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// User the app and its hooks run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
    /// Lifecycle hooks from `boreas.yaml`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hooks: BTreeMap<HookName, Hook>,
    /// Hooks the release's `boreas-release.yaml` may replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub release_hooks: Vec<HookName>,
    /// The app's variables in this environment: literal values, or `ssm:NAME` references the
    /// agent resolves (the values never travel in commands, results or events).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// A hook as sent to the agent: the command plus whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Longest one attempt may run.
    pub timeout_seconds: u64,
    /// Further attempts after a failed one.
    #[serde(default)]
    pub retries: u32,
    /// SIGTERM → SIGKILL grace when the hook overruns.
    pub grace_seconds: u64,
    /// User it runs as (default: the workload's `run_as`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
    /// Working directory, relative to the release or absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

impl From<&HookSpec> for Hook {
    fn from(spec: &HookSpec) -> Self {
        Self {
            command: spec.command.clone(),
            timeout_seconds: spec.timeout.seconds(),
            retries: spec.retries,
            grace_seconds: spec.grace.seconds(),
            run_as: spec.run_as.clone(),
            working_dir: spec.working_dir.clone(),
        }
    }
}

/// A PM app's health check as sent to the agent: the probe plus whole seconds, so the wire form
/// does not depend on how `boreas.yaml` spells durations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// What to probe (`http`, `tcp` or `command`).
    #[serde(flatten)]
    pub check: HealthCheck,
    /// Seconds allowed for one probe.
    pub timeout_seconds: u64,
    /// Probes to try before the release is declared unhealthy.
    pub retries: u32,
}

impl From<&HealthSpec> for Health {
    fn from(spec: &HealthSpec) -> Self {
        Self {
            check: spec.check.clone(),
            timeout_seconds: spec.timeout.seconds(),
            retries: spec.retries,
        }
    }
}

/// A Kubernetes workload, resolved for one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sWorkload {
    /// Namespace of the Deployment.
    pub namespace: String,
    /// Name of the stable Deployment.
    pub deployment: String,
    /// Container whose image is set.
    pub container: String,
    /// Image with `{version}` substituted.
    pub image: String,
}

/// The output a worker sends with SendTaskSuccess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// Host or cluster name.
    pub target: String,
    /// App name.
    pub app: String,
    /// Version now running; `None` when the app no longer runs on the target (the rollback of
    /// its first deployment there stopped and removed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Version that ran before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

impl TaskResult {
    /// Reads a task result, refusing one written for another schema version.
    pub fn from_json(json: &str) -> Result<Self, WireError> {
        decode("task result", json)
    }

    /// The JSON output for SendTaskSuccess.
    pub fn to_json(&self) -> String {
        encode(self)
    }
}

/// What a worker sends with SendTaskFailure: `error` = `error_type.as_str()`, `cause` = `cause`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// Stable error type, the SendTaskFailure `error`.
    pub error_type: ErrorType,
    /// Human-readable explanation, the SendTaskFailure `cause` (no secrets).
    pub cause: String,
}

/// Stable error types reported to Step Functions (`error` of SendTaskFailure, `error_type` of
/// target records). Never renamed: dashboards and alarms match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum ErrorType {
    /// The command is not a Boreas command of a known shape.
    InvalidCommand,
    /// The command was written for another schema version.
    UnsupportedSchemaVersion,
    /// The artifact could not be downloaded.
    ArtifactDownloadFailed,
    /// The artifact's SHA-256 differs from the expected one.
    ChecksumMismatch,
    /// The new release did not start.
    StartFailed,
    /// The new release started but never became healthy.
    HealthCheckFailed,
    /// The Kubernetes API refused the change.
    ApplyFailed,
    /// The rollback itself failed.
    RollbackFailed,
    /// A Kubernetes rollout did not complete: its progress deadline passed, or the batch's timeout.
    RolloutTimeout,
    /// The Kubernetes Deployment named by the command does not exist.
    WorkloadNotFound,
    /// The cluster refused the operator's credentials or permissions (HTTP 401 or 403).
    Forbidden,
    /// The cluster's API server could not be reached.
    ClusterUnreachable,
    /// A lifecycle hook failed, timed out, or could not be run (its user, the release file).
    HookFailed,
    /// A variable of the app names an SSM parameter the agent could not read.
    SecretUnavailable,
    /// Anything else inside the worker.
    Internal,
    /// The command was not run: its task no longer waits (it timed out or its execution moved on),
    /// or the rollback of the same deployment reached the target first.
    Stale,
    /// The target's agent had missed its liveness window when its command was due: the state
    /// machine failed the target without sending it anything.
    AgentUnreachable,
}

impl ErrorType {
    /// Every error type.
    pub const ALL: [Self; 17] = [
        Self::InvalidCommand,
        Self::UnsupportedSchemaVersion,
        Self::ArtifactDownloadFailed,
        Self::ChecksumMismatch,
        Self::StartFailed,
        Self::HealthCheckFailed,
        Self::ApplyFailed,
        Self::RollbackFailed,
        Self::RolloutTimeout,
        Self::WorkloadNotFound,
        Self::Forbidden,
        Self::ClusterUnreachable,
        Self::HookFailed,
        Self::SecretUnavailable,
        Self::Internal,
        Self::Stale,
        Self::AgentUnreachable,
    ];

    /// The stable string (`Boreas.<Name>`; the `States.` prefix is reserved by Step Functions).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCommand => "Boreas.InvalidCommand",
            Self::UnsupportedSchemaVersion => "Boreas.UnsupportedSchemaVersion",
            Self::ArtifactDownloadFailed => "Boreas.ArtifactDownloadFailed",
            Self::ChecksumMismatch => "Boreas.ChecksumMismatch",
            Self::StartFailed => "Boreas.StartFailed",
            Self::HealthCheckFailed => "Boreas.HealthCheckFailed",
            Self::ApplyFailed => "Boreas.ApplyFailed",
            Self::RollbackFailed => "Boreas.RollbackFailed",
            Self::RolloutTimeout => "Boreas.RolloutTimeout",
            Self::WorkloadNotFound => "Boreas.WorkloadNotFound",
            Self::Forbidden => "Boreas.Forbidden",
            Self::ClusterUnreachable => "Boreas.ClusterUnreachable",
            Self::HookFailed => "Boreas.HookFailed",
            Self::SecretUnavailable => "Boreas.SecretUnavailable",
            Self::Internal => "Boreas.Internal",
            Self::Stale => "Boreas.Stale",
            Self::AgentUnreachable => "Boreas.AgentUnreachable",
        }
    }

    /// Parses a stable string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorType> for &'static str {
    fn from(t: ErrorType) -> Self {
        t.as_str()
    }
}

impl TryFrom<String> for ErrorType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("unknown error type `{s}`"))
    }
}

/// A message on the events queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// An event of this build's schema version.
    pub fn new(body: EventBody) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            body,
        }
    }

    /// Reads an event, refusing one written for another schema version.
    pub fn from_json(json: &str) -> Result<Self, WireError> {
        decode("event", json)
    }

    /// The event as the JSON message body.
    pub fn to_json(&self) -> String {
        encode(self)
    }
}

/// The kinds of events, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// A manual gate waits: approve with SendTaskSuccess on `task_token`, reject with SendTaskFailure.
    GateWaiting {
        /// Deployment id.
        deployment_id: String,
        /// App whose batch just finished.
        app: String,
        /// Index of that batch.
        batch: u32,
        /// Gate id (`<app>.<batch index>`).
        gate: String,
        /// Token to answer; stored, never logged.
        task_token: String,
    },
    /// A host failed under `rollout.on_failure: pause`: its batch waits for an approver, who
    /// answers SendTaskSuccess on `task_token` with `{"action": "retry" | "skip" | "rollback"}`.
    DecisionWaiting {
        /// Deployment id.
        deployment_id: String,
        /// App of the failed host.
        app: String,
        /// The failed host.
        target: String,
        /// Index of its batch.
        batch: u32,
        /// Which attempt failed (0 for the first deploy; each retry counts up).
        attempt: u32,
        /// Token to answer; stored, never logged.
        task_token: String,
    },
    /// The execution reached a terminal status.
    DeploymentFinished {
        /// Deployment id.
        deployment_id: String,
        /// `succeeded`, `rolled_back` or `failed`.
        status: DeploymentStatus,
        /// The target that failed (rolled back) or whose rollback failed (failed), when one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_target: Option<String>,
    },
    /// What runs on one target, sent periodically by agents and operators on the inventory
    /// queue (the only event they may send).
    Inventory {
        /// Host name (PM) or cluster name (k8s).
        target: String,
        /// When the reporter looked, as RFC 3339 UTC with milliseconds
        /// (`2026-12-01T10:00:00.000Z`): an inventory never replaces one observed later.
        observed_at: String,
        /// Whether `target` is a host or a cluster.
        kind: crate::config::AppKind,
        /// Environment name.
        environment: String,
        /// Host group the agent registered in (PM only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        /// Apps found on the target.
        apps: Vec<AppInventory>,
        /// Seconds until the next inventory: the agent's liveness heartbeat. A target that misses
        /// two is unreachable (see [`live_window_seconds`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval_seconds: Option<u64>,
    },
    /// What a target's lifecycle hooks printed while it ran one command: the last
    /// [`OUTPUT_TAIL_BYTES`] of it. Sent by the agent just before it answers the task.
    TaskOutput {
        /// Deployment id.
        deployment_id: String,
        /// App name.
        app: String,
        /// Host name.
        target: String,
        /// `deploy` or `rollback`.
        action: String,
        /// The hooks' stdout and stderr, each hook introduced by a `== NAME …` line.
        output: String,
        /// Whether earlier output was cut off.
        truncated: bool,
    },
}

/// How much of a command's hook output travels to the platform.
pub const OUTPUT_TAIL_BYTES: usize = 64 * 1024;

/// Extra seconds, beyond two missed heartbeats, before a target counts as unreachable (a late
/// send, a slow recorder).
pub const LIVENESS_SLACK_SECONDS: u64 = 15;

/// Seconds after an inventory until which its target counts as reachable: two intervals and
/// [`LIVENESS_SLACK_SECONDS`].
pub fn live_window_seconds(interval_seconds: u64) -> u64 {
    interval_seconds
        .saturating_mul(2)
        .saturating_add(LIVENESS_SLACK_SECONDS)
}

/// The queue an event travels on, and so who may send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The inventory queue: agents and operators send inventories there.
    Inventory,
    /// The platform events queue: only the state machine sends there (gate tokens, outcomes).
    Platform,
}

impl Channel {
    /// The channel's name in logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inventory => "inventory",
            Self::Platform => "platform events",
        }
    }
}

impl EventBody {
    /// The one channel this kind of event may arrive on.
    pub fn channel(&self) -> Channel {
        match self {
            Self::Inventory { .. } | Self::TaskOutput { .. } => Channel::Inventory,
            Self::GateWaiting { .. }
            | Self::DecisionWaiting { .. }
            | Self::DeploymentFinished { .. } => Channel::Platform,
        }
    }

    /// The `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GateWaiting { .. } => "gate_waiting",
            Self::DecisionWaiting { .. } => "decision_waiting",
            Self::DeploymentFinished { .. } => "deployment_finished",
            Self::Inventory { .. } => "inventory",
            Self::TaskOutput { .. } => "task_output",
        }
    }
}

/// Whether `at` is an instant as Boreas writes them: RFC 3339 UTC with milliseconds
/// (`2026-12-01T10:00:00.000Z`), so that comparing two as text compares them in time.
pub fn is_instant(at: &str) -> bool {
    let b = at.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// One app found on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppInventory {
    /// App name.
    pub app: String,
    /// Version running, if any.
    pub version: Option<String>,
    /// Version it ran before, if known (PM: the `previous` release a rollback returns to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Whether its last health check passed.
    pub healthy: bool,
    /// Process id of the running app, when the reporter supervises it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AppKind, DurationSpec};

    fn pm_workload() -> Workload {
        Workload::Pm(PmWorkload {
            artifact_url: "https://artifacts.example.com/web/v2.tar.gz".into(),
            sha256: None,
            sha256_url: Some("https://artifacts.example.com/web/v2.sha256".into()),
            commit: None,
            run_as: None,
            hooks: Default::default(),
            release_hooks: Vec::new(),
            env: Default::default(),
            run: Some(RunSpec::Command {
                command: vec!["./web".into(), "--port=8080".into()],
            }),
            health: Health::from(&HealthSpec {
                check: HealthCheck::Http {
                    http: "http://127.0.0.1:8080/healthz".into(),
                },
                timeout: DurationSpec(5),
                retries: 3,
            }),
        })
    }

    fn deploy() -> Command {
        Command {
            schema_version: SCHEMA_VERSION,
            command_id: command_id("d-1", "web", 1, "h3", "deploy"),
            environment: "prod".into(),
            target: "h3".into(),
            task_token: Some("token".into()),
            heartbeat_seconds: Some(60),
            timeout_seconds: Some(900),
            action: Action::Deploy {
                deployment_id: "d-1".into(),
                app: "web".into(),
                batch: 1,
                version: "v2".into(),
                workload: pm_workload(),
                weight: None,
                attempt: 0,
            },
        }
    }

    #[test]
    fn commands_round_trip() {
        let k8s = Command {
            schema_version: SCHEMA_VERSION,
            command_id: command_id("d-1", "api", 0, "eu-1", "rollback"),
            environment: "prod".into(),
            target: "eu-1".into(),
            task_token: None,
            heartbeat_seconds: None,
            timeout_seconds: None,
            action: Action::Rollback {
                deployment_id: "d-1".into(),
                app: "api".into(),
                batch: 0,
                from_version: "v2".into(),
                to_version: Some("v1".into()),
                workload: Some(Workload::K8s(K8sWorkload {
                    namespace: "default".into(),
                    deployment: "api".into(),
                    container: "api".into(),
                    image: "registry.example.com/api:v1".into(),
                })),
            },
        };
        let status = Command {
            schema_version: SCHEMA_VERSION,
            command_id: "status-1".into(),
            environment: "prod".into(),
            target: "h1".into(),
            task_token: None,
            heartbeat_seconds: None,
            timeout_seconds: None,
            action: Action::Status {},
        };
        for c in [deploy(), k8s, status] {
            let json = c.to_json();
            assert_eq!(Command::from_json(&json).unwrap(), c, "{json}");
            assert!(c.has_expected_id());
        }
    }

    #[test]
    fn command_shape_is_the_one_the_state_machine_writes() {
        // Field for field what `statemachine/deployment.asl.json` builds for a PM deploy.
        let json = r#"{"schema_version":1,"type":"deploy","command_id":"d-1:web:1:h3:deploy",
            "deployment_id":"d-1","app":"web","environment":"prod","target":"h3","batch":1,
            "heartbeat_seconds":60,"timeout_seconds":900,"task_token":"token","version":"v2","attempt":0,
            "workload":{"kind":"pm","artifact_url":"https://artifacts.example.com/web/v2.tar.gz",
              "sha256_url":"https://artifacts.example.com/web/v2.sha256",
              "run":{"command":["./web","--port=8080"]},
              "health":{"http":"http://127.0.0.1:8080/healthz","timeout_seconds":5,"retries":3}}}"#;
        assert_eq!(Command::from_json(json).unwrap(), deploy());
        // A k8s rollback with nothing to go back to.
        let json = r#"{"schema_version":1,"type":"rollback","command_id":"d-1:api:0:eu-1:rollback",
            "deployment_id":"d-1","app":"api","environment":"prod","target":"eu-1","batch":0,
            "heartbeat_seconds":60,"timeout_seconds":900,"task_token":"t","from_version":"v2","to_version":null,"workload":null}"#;
        let c = Command::from_json(json).unwrap();
        assert!(matches!(
            c.action,
            Action::Rollback {
                to_version: None,
                workload: None,
                ..
            }
        ));
        assert!(c.has_expected_id());
    }

    #[test]
    fn a_forged_command_id_is_noticed() {
        let mut c = deploy();
        c.command_id = "d-1:web:0:h3:deploy".into();
        assert!(!c.has_expected_id());
    }

    #[test]
    fn a_retried_deploy_has_its_own_id_and_the_same_rollback() {
        let mut c = deploy();
        let Action::Deploy { attempt, .. } = &mut c.action else {
            unreachable!("deploy() is a deploy")
        };
        *attempt = 2;
        // The first attempt's id no longer fits: a worker must not take the retry for a
        // redelivery of the deploy it already finished.
        assert!(!c.has_expected_id());
        c.command_id = "d-1:web:1:h3:deploy.2".into();
        assert!(c.has_expected_id());
        assert_eq!(c.rollback_id().as_deref(), Some("d-1:web:1:h3:rollback"));
        let json = c.to_json();
        assert!(json.contains("\"attempt\":2"), "{json}");
        assert!(!deploy().to_json().contains("attempt"));
    }

    #[test]
    fn unknown_schema_versions_are_refused_clearly() {
        let json = deploy()
            .to_json()
            .replace("\"schema_version\":1", "\"schema_version\":2");
        let err = Command::from_json(&json).unwrap_err();
        assert!(
            matches!(
                err,
                WireError::UnsupportedSchemaVersion {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.error_type(), ErrorType::UnsupportedSchemaVersion);
        let msg = err.to_string();
        assert!(
            msg.contains("schema_version 2") && msg.contains("reads schema_version 1"),
            "{msg}"
        );

        let err = Event::from_json(r#"{"type":"gate_waiting","deployment_id":"d"}"#).unwrap_err();
        assert!(
            matches!(err, WireError::MissingSchemaVersion { what: "event" }),
            "{err}"
        );
        let err = TaskResult::from_json(r#"{"schema_version":"1"}"#).unwrap_err();
        assert!(
            matches!(err, WireError::MissingSchemaVersion { .. }),
            "{err}"
        );
        let err = Command::from_json("{not json").unwrap_err();
        assert_eq!(err.error_type(), ErrorType::InvalidCommand);
        assert!(err.to_string().starts_with("malformed command: "), "{err}");
    }

    #[test]
    fn a_current_version_message_of_the_wrong_shape_names_the_field() {
        let err = Command::from_json(r#"{"schema_version":1,"type":"deploy","command_id":"x"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
        let err = Command::from_json(r#"{"schema_version":1,"type":"explode","command_id":"x","environment":"p","target":"h"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("explode"), "{err}");
    }

    #[test]
    fn results_failures_and_events_round_trip() {
        let r = TaskResult {
            schema_version: SCHEMA_VERSION,
            target: "h1".into(),
            app: "web".into(),
            version: Some("v2".into()),
            previous: Some("v1".into()),
        };
        assert_eq!(TaskResult::from_json(&r.to_json()).unwrap(), r);
        // A rollback that removed the app's first release reports no version at all.
        let removed = TaskResult {
            version: None,
            previous: None,
            ..r
        };
        assert_eq!(
            removed.to_json(),
            r#"{"schema_version":1,"target":"h1","app":"web"}"#
        );
        assert_eq!(TaskResult::from_json(&removed.to_json()).unwrap(), removed);

        let f = TaskFailure {
            error_type: ErrorType::HealthCheckFailed,
            cause: "no 2xx after 3 probes".into(),
        };
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            json,
            r#"{"error_type":"Boreas.HealthCheckFailed","cause":"no 2xx after 3 probes"}"#
        );
        assert_eq!(serde_json::from_str::<TaskFailure>(&json).unwrap(), f);
        assert!(
            serde_json::from_str::<TaskFailure>(r#"{"error_type":"Nope","cause":""}"#).is_err()
        );

        let events = [
            EventBody::GateWaiting {
                deployment_id: "d-1".into(),
                app: "web".into(),
                batch: 0,
                gate: "web.0".into(),
                task_token: "tok".into(),
            },
            EventBody::DeploymentFinished {
                deployment_id: "d-1".into(),
                status: DeploymentStatus::RolledBack,
                failed_target: Some("h3".into()),
            },
            EventBody::DeploymentFinished {
                deployment_id: "d-1".into(),
                status: DeploymentStatus::Succeeded,
                failed_target: None,
            },
            EventBody::Inventory {
                target: "h1".into(),
                observed_at: "2026-12-01T10:00:00.000Z".into(),
                kind: AppKind::Pm,
                environment: "prod".into(),
                group: Some("edge".into()),
                apps: vec![AppInventory {
                    app: "web".into(),
                    version: Some("v2".into()),
                    previous: Some("v1".into()),
                    healthy: true,
                    pid: Some(4242),
                }],
                interval_seconds: Some(30),
            },
        ];
        assert!(is_instant("2026-12-01T10:00:00.000Z"));
        for bad in [
            "2026-12-01T10:00:00Z",
            "2026-12-01 10:00:00.000Z",
            "yesterday",
        ] {
            assert!(!is_instant(bad), "{bad}");
        }
        let channels: Vec<Channel> = events.iter().map(EventBody::channel).collect();
        assert_eq!(
            channels,
            [
                Channel::Platform,
                Channel::Platform,
                Channel::Platform,
                Channel::Inventory
            ]
        );
        for body in events {
            let e = Event::new(body);
            assert_eq!(Event::from_json(&e.to_json()).unwrap(), e);
        }
        // The state machine's own event bodies read as events.
        let e = Event::from_json(
            r#"{"schema_version":1,"type":"deployment_finished","deployment_id":"d","status":"rolled_back","failed_target":"h3"}"#,
        )
        .unwrap();
        assert!(matches!(
            e.body,
            EventBody::DeploymentFinished {
                status: DeploymentStatus::RolledBack,
                ..
            }
        ));
    }

    #[test]
    fn error_types_are_stable_strings() {
        for t in ErrorType::ALL {
            assert!(t.as_str().starts_with("Boreas."));
            assert_eq!(ErrorType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
