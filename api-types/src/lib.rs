//! The Boreas API's contract: every request and response body of `/api/...` as a type.
//!
//! The api serializes these, the CLI deserializes them, and the OpenAPI document the api serves
//! (`functions/api/openapi.json`, from which the dashboard's TypeScript types are generated) is
//! generated from their [`JsonSchema`]s. A renamed field therefore changes the document, fails to
//! compile in the CLI, and fails the dashboard's type check.
//!
//! Errors are [`ErrorBody`]; lists are [`List`]. Timestamps are RFC 3339 UTC strings with
//! milliseconds (`2026-11-29T10:00:00.000Z`).
//!
//! Pure data: no I/O, and nothing of AWS, so that clients depend on this crate alone.

use boreas_core::adjust::Adjustment;
use boreas_core::analysis::Outcome;
use boreas_core::analysis::run::Taken;
use boreas_core::command::AppInventory;
use boreas_core::config::NotificationRule;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::notify::DeliveryState;
use boreas_core::plan::{AppPlan, Plan};
use boreas_core::status::{
    AppStatus, BatchStatus, FailureAction, GateStatus, TargetStatus, VersionStatus,
};
use boreas_core::version::VersionState;
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

mod policy;
mod repositories;
mod tokens;

pub use boreas_core::config::Freeze;
pub use boreas_core::history::{AppRun, HostRun, RunGate};
pub use boreas_core::policy::{Hold, ManagedFreeze, Override, Waiver};
pub use boreas_core::review::{AppReason, CommitSummary, Review, Running, Why};
pub use policy::{
    DeploymentPolicy, EnvironmentOfRepository, EnvironmentView, OverrideRequest, WaitingDeployment,
    WaiverRequest, WindowView,
};

pub use repositories::{
    CredentialRequest, CredentialSummary, Delivery, RegisteredRepository, Repository,
    RepositoryRequest, RotateSecretRequest, Setup,
};
pub use tokens::{NewToken, Token, TokenRequest};

/// A failed call: a stable code and a sentence saying what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// Stable code: `bad_json`, `bad_request`, `bad_query`, `unauthorized`, `forbidden`,
    /// `not_found`, `illegal_transition`, …; for 422 the code of the broken plan rule.
    pub error: String,
    /// What is wrong and where.
    pub message: String,
}

/// One page of a list, in the list's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "{T}List")]
pub struct List<T> {
    /// At most `limit` items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// The api and its store answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// `ok`: the store answered a consistent read.
    pub store: String,
}

/// A version (a tag, or a commit id for branch pushes) and what intake and planning made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Version {
    /// Repository id.
    pub repository: String,
    /// Version name.
    pub name: String,
    /// The commit it is bound to.
    pub commit: String,
    /// `revert` once withdrawn.
    pub state: VersionState,
    /// How far intake and planning got.
    pub status: VersionStatus,
    /// Its commit does not descend from the last deployed one.
    pub diverged: bool,
    /// Why planning failed (config errors name file, line and column).
    pub errors: Vec<String>,
    /// When intake recorded it.
    pub received_at: String,
    /// Who pushed it, as the git host names them.
    pub pushed_by: Option<String>,
}

/// A deployment without its plan, as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentSummary {
    /// Deployment id, also the name of its execution.
    pub id: String,
    /// Repository id.
    pub repository: String,
    /// Version name.
    pub version: String,
    /// Environment name.
    pub environment: String,
    /// Where it is in its lifecycle.
    pub status: DeploymentStatus,
    /// When the planner created it.
    pub created_at: String,
    /// When it was confirmed and began running.
    pub started_at: Option<String>,
    /// When it reached a terminal status.
    pub ended_at: Option<String>,
    /// The target whose failure stopped it.
    pub failed_target: Option<String>,
    /// Why it stopped.
    pub error: Option<String>,
    /// Who confirmed it: an API token's name, or `boreas` for `auto_confirm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
}

/// A deployment with its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Deployment {
    /// Its summary's fields, inline.
    #[serde(flatten)]
    pub summary: DeploymentSummary,
    /// Stages → apps → batches → targets.
    pub plan: Plan,
}

/// One app of a deployment's plan, with the stage it runs in: the plan a page at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedApp {
    /// Index of its stage, from 0.
    pub stage: u32,
    /// The app's plan, inline.
    #[serde(flatten)]
    pub plan: AppPlan,
}

/// A deployment just confirmed, with the execution that runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfirmedDeployment {
    /// The deployment's fields, inline.
    #[serde(flatten)]
    pub deployment: Deployment,
    /// The Step Functions execution started for it.
    pub execution_arn: String,
}

/// A deployment with its plan and live progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentDetail {
    /// The deployment's fields, inline.
    #[serde(flatten)]
    pub deployment: Deployment,
    /// What the execution has done so far.
    pub progress: Progress,
    /// What was sent about it where (commit statuses, chat, webhooks), by sink then event.
    #[serde(default)]
    pub notifications: Vec<Notification>,
    /// The analysis checks of each analysed batch, by app, batch, then check.
    #[serde(default)]
    pub analyses: Vec<Analysis>,
    /// What its environment's policy holds it back for, and what was granted to it.
    #[serde(default)]
    pub policy: DeploymentPolicy,
    /// Why the planner proposed this plan, and what people changed since; absent for a
    /// deployment planned before reviews were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<PlanReview>,
}

/// What the reviewer of a plan needs besides the plan: what runs now, the commits since, why
/// each app is in or out, and how the plan differs from the planner's proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanReview {
    /// What the planner recorded, inline.
    #[serde(flatten)]
    pub review: Review,
    /// How the plan differs from the planner's proposal, one line per change (stage layout,
    /// then per app: dropped, batches, pause); empty when nobody adjusted it.
    pub adjustments: Vec<String>,
}

/// One analysis check of one batch: every measurement, and its verdict once decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Analysis {
    /// The app.
    pub app: String,
    /// The batch's index, from 0.
    pub batch: u32,
    /// The check's name.
    pub check: String,
    /// What a value must satisfy (`< 0.01`).
    pub condition: String,
    /// The measurements, oldest first: when, what was measured, how it was judged.
    pub measurements: Vec<Taken>,
    /// `pass`, `fail`, `inconclusive` or `error`, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Outcome>,
    /// The verdict's sentence: the check, the last value, the condition and the counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it last changed.
    pub updated_at: String,
}

/// One notification of a deployment: one event sent to one sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    /// `git` (commit statuses), `git/deployment` (the GitHub Deployment and its statuses) or a
    /// sink registered in the installation.
    pub sink: String,
    /// The event (`succeeded`, `gate_waiting:api.0`; `github_deployment` for the creation of
    /// the GitHub Deployment).
    pub event: String,
    /// Where its delivery stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When it last changed.
    pub updated_at: String,
    /// What it says.
    pub summary: String,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The installation's default notification rules: they notify every deployment whose version's
/// `boreas.yaml` has no `notifications` section (an empty section turns them off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NotificationDefaults {
    /// The rules, in order; each as in `boreas.yaml`.
    pub rules: Vec<NotificationRule>,
    /// When they were last set; null: never.
    pub updated_at: Option<String>,
    /// Who set them; null: never set.
    pub updated_by: Option<String>,
}

/// Replace the installation's default notification rules (an empty list: none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationDefaultsRequest {
    /// The rules, in order: sinks by name (`git` or one registered in the installation),
    /// environments and apps by name, as in `boreas.yaml`.
    #[schemars(length(max = 50))]
    pub rules: Vec<NotificationRule>,
}

/// A deployment's progress: records exist only for what has started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Progress {
    /// Per app, by app name.
    pub apps: Vec<AppProgress>,
    /// Per gray batch, by app then index.
    pub batches: Vec<BatchProgress>,
    /// Per target, by app then target.
    pub targets: Vec<TargetProgress>,
    /// Manual gates reached, by gate id.
    pub gates: Vec<GateProgress>,
    /// Hosts that failed under `rollout.on_failure: pause`, by app then target: the latest
    /// attempt of each, waiting for a decision or decided.
    #[serde(default)]
    pub decisions: Vec<DecisionProgress>,
}

/// How one app's rollout is going.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppProgress {
    /// App name.
    pub app: String,
    /// Its rollout's status.
    pub status: AppStatus,
    /// When its first batch began.
    pub started_at: Option<String>,
    /// When its rollout (or rollback) ended.
    pub ended_at: Option<String>,
}

/// How one gray batch of one app is going.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BatchProgress {
    /// App name.
    pub app: String,
    /// The batch's index in the app's plan, from 0.
    pub index: u32,
    /// The batch's status.
    pub status: BatchStatus,
    /// When the batch began.
    pub started_at: Option<String>,
    /// When the batch ended.
    pub ended_at: Option<String>,
}

/// How one target (a PM host, or a cluster's workload) is going.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetProgress {
    /// App name.
    pub app: String,
    /// Host name, or the cluster name for a Kubernetes app.
    pub target: String,
    /// The target's status.
    pub status: TargetStatus,
    /// Index of the batch that changes it.
    pub batch: u32,
    /// When its status last changed.
    pub updated_at: String,
    /// Stable error type of a failure (`Boreas.HealthCheckFailed`, …).
    pub error_type: Option<String>,
    /// What failed.
    pub error: Option<String>,
}

/// What one target's lifecycle hooks printed during one command: the last 64 KiB, kept apart
/// from the progress records so reading a deployment never reads output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskOutput {
    /// App name.
    pub app: String,
    /// Host name.
    pub target: String,
    /// The command it answered: `deploy` or `rollback`.
    pub action: String,
    /// The output's last part, stdout and stderr interleaved as written.
    pub output: String,
    /// Whether earlier output was cut off (the host's log file has all of it).
    pub truncated: bool,
    /// When it was recorded.
    pub at: String,
}

/// The hook outputs of one target in one deployment, by action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetOutputs {
    /// One per command the target answered with output; empty when its hooks printed nothing.
    pub outputs: Vec<TaskOutput>,
}

/// A manual gate the execution reached (its task token never leaves the api).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GateProgress {
    /// Gate id, `<app>.<batch index>`.
    pub gate: String,
    /// Waiting, or how it was decided.
    pub status: GateStatus,
    /// The decider's comment.
    pub comment: Option<String>,
    /// Who decided (token name).
    pub by: Option<String>,
}

/// A failed host whose batch waits (or waited) for an approver's decision (its task token never
/// leaves the api).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DecisionProgress {
    /// App name.
    pub app: String,
    /// Host name.
    pub target: String,
    /// Index of the host's batch.
    pub batch: u32,
    /// Which attempt failed: 0 for the first deploy, then one more per retry.
    pub attempt: u32,
    /// `None` while it waits; otherwise what was decided.
    pub action: Option<FailureAction>,
    /// Who decided (token name).
    pub by: Option<String>,
    /// The decider's comment.
    pub comment: Option<String>,
}

/// `PUT /api/deployments/{id}/plan`: a whole plan, or adjustments to the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PlanUpdate {
    /// A whole plan: it may reorder, rebatch, re-pause and drop, never change what is deployed
    /// where.
    Whole(Box<Plan>),
    /// Adjustments applied in order, all or nothing.
    Adjust {
        /// The changes, each checked against the plan the ones before it left.
        adjustments: Vec<Adjustment>,
    },
}

impl<'de> Deserialize<'de> for PlanUpdate {
    /// Decodes by shape, so that an error names the field of the form the client meant.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if let Some(adjustments) = value.get("adjustments") {
            Vec::<Adjustment>::deserialize(adjustments)
                .map(|adjustments| Self::Adjust { adjustments })
                .map_err(|e| D::Error::custom(format!("adjustments: {e}")))
        } else if value.get("stages").is_some() {
            Plan::deserialize(value)
                .map(|plan| Self::Whole(Box::new(plan)))
                .map_err(|e| D::Error::custom(format!("plan: {e}")))
        } else {
            Err(D::Error::custom(
                "the body must be a whole plan (with \"stages\") or {\"adjustments\": [...]}",
            ))
        }
    }
}

/// Approve or reject a waiting manual gate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateDecisionRequest {
    /// Why (recorded with the decision; a rejection's comment is the rollback's cause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A gate as just decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GateDecision {
    /// Deployment id.
    pub deployment: String,
    /// Gate id.
    pub gate: String,
    /// `approved` or `rejected`.
    pub status: GateStatus,
    /// Who decided (token name).
    pub by: Option<String>,
    /// The decider's comment.
    pub comment: Option<String>,
}

/// Decide what happens to a host that failed under `rollout.on_failure: pause`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetDecisionRequest {
    /// `retry` sends the deploy again, `skip` leaves the host as it is and lets the batch go on,
    /// `rollback` rolls the app back.
    pub action: FailureAction,
    /// Why (recorded with the decision and in the audit log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A failed host's decision as just taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetDecision {
    /// Deployment id.
    pub deployment: String,
    /// App name.
    pub app: String,
    /// Host name.
    pub target: String,
    /// The attempt it decides.
    pub attempt: u32,
    /// What was decided.
    pub action: FailureAction,
    /// Who decided (token name).
    pub by: String,
    /// The decider's comment.
    pub comment: Option<String>,
}

/// Withdraw a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevertRequest {
    /// Why (recorded in the audit log).
    #[schemars(length(min = 1))]
    pub reason: String,
}

/// A withdrawn version and the deployments planned to take its targets back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RevertResult {
    /// The version, now `revert`.
    pub version: Version,
    /// The reason given.
    pub reason: String,
    /// The newest older `normal` version its targets go back to; null when nothing runs it.
    pub rollback_to: Option<String>,
    /// One planned deployment per environment running it; confirm them to run them.
    pub deployments: Vec<Deployment>,
}

/// An app across environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct App {
    /// App name.
    pub name: String,
    /// Every environment a plan or an inventory names it in.
    pub environments: Vec<AppEnvironment>,
}

/// An app in one environment: what should run, and where something else does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AppEnvironment {
    /// Environment name.
    pub environment: String,
    /// Repository of the desired deployment.
    pub repository: Option<String>,
    /// The version of the newest succeeded deployment of the app here.
    pub desired_version: Option<String>,
    /// That deployment's id.
    pub desired_deployment: Option<String>,
    /// Targets: the desired deployment's, and every host whose inventory lists the app.
    pub targets: u64,
    /// Targets reporting the desired version or a newer one.
    pub covered: u64,
    /// `covered / targets` (0–1); null without a desired version or targets.
    pub coverage: Option<f64>,
    /// Targets reporting another version than the desired one.
    pub drifted: Vec<Drift>,
    /// Targets with no report of the app.
    pub unreported: Vec<String>,
}

/// A target running another version than the desired one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Drift {
    /// Host name.
    pub target: String,
    /// The version it reports.
    pub version: String,
}

/// A PM agent and what it last reported running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Agent {
    /// Environment name.
    pub environment: String,
    /// Host name.
    pub host: String,
    /// Host group.
    pub group: String,
    /// When it last reported.
    pub last_seen: String,
    /// Not heard from for longer than the api's stale limit (5 minutes by default).
    pub stale: bool,
    /// Missed its liveness window (two heartbeat intervals and a slack): taken to be down.
    pub unreachable: bool,
    /// Its last inventory.
    pub apps: Vec<AppInventory>,
}

/// One entry of the audit trail: who did what to what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    /// When.
    pub at: String,
    /// Unique id, ordering entries of the same instant.
    pub id: String,
    /// Token name of the caller.
    pub who: String,
    /// `deployment.confirm`, `deployment.cancel`, `gate.approve`, `version.revert`, …
    pub action: String,
    /// The record acted on.
    pub target: String,
    /// What exactly changed, one line each (for `deployment.adjust`: the stage layout, batches
    /// and pauses before and after); often empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_update_is_told_apart_by_its_shape() {
        let adjust: PlanUpdate = serde_json::from_value(serde_json::json!({
            "adjustments": [{"op": "drop_app", "app": "web"}]
        }))
        .unwrap();
        assert!(matches!(adjust, PlanUpdate::Adjust { ref adjustments } if adjustments.len() == 1));
        let round = serde_json::to_value(&adjust).unwrap();
        assert_eq!(round["adjustments"][0]["op"], "drop_app");

        let err = serde_json::from_value::<PlanUpdate>(serde_json::json!({
            "adjustments": [{"op": "paint"}]
        }))
        .unwrap_err();
        assert!(err.to_string().starts_with("adjustments: "), "{err}");
        let err =
            serde_json::from_value::<PlanUpdate>(serde_json::json!({"stages": 1})).unwrap_err();
        assert!(err.to_string().starts_with("plan: "), "{err}");
        let err = serde_json::from_value::<PlanUpdate>(serde_json::json!({})).unwrap_err();
        assert!(err.to_string().contains("whole plan"), "{err}");
    }

    #[test]
    fn flattened_deployments_read_back() {
        let summary = DeploymentSummary {
            id: "d1".into(),
            repository: "shop".into(),
            version: "v1".into(),
            environment: "staging".into(),
            status: DeploymentStatus::Planned,
            created_at: "2026-11-29T10:00:00.000Z".into(),
            started_at: None,
            ended_at: None,
            failed_target: None,
            error: None,
            confirmed_by: None,
        };
        let confirmed = ConfirmedDeployment {
            deployment: Deployment {
                summary,
                plan: Plan {
                    environment: "staging".into(),
                    version: "v1".into(),
                    stages: vec![],
                    skipped: vec![],
                },
            },
            execution_arn: "arn:x".into(),
        };
        let json = serde_json::to_value(&confirmed).unwrap();
        assert_eq!(json["id"], "d1");
        assert_eq!(json["plan"]["environment"], "staging");
        assert_eq!(json["execution_arn"], "arn:x");
        assert_eq!(
            serde_json::from_value::<ConfirmedDeployment>(json).unwrap(),
            confirmed
        );
    }
}
