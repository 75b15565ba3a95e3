//! What people grant and what the policy records about one deployment: waivers of promotion
//! conditions, break-glass overrides of freeze windows, the reasons a deployment is held, and
//! windows added through the API. The store keeps them and the API shows them as they are.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;
use crate::config::Freeze;

/// A promotion condition lifted for one deployment by an approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Waiver {
    /// The condition (`after:staging`, `soak:staging`).
    pub condition: Condition,
    /// Why, as the approver wrote it.
    pub reason: String,
    /// The approver's token name.
    pub by: String,
    /// When.
    pub at: String,
}

/// A break-glass override of the freeze windows for one deployment, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Override {
    /// Why, as the approver wrote it.
    pub reason: String,
    /// The approver's token name.
    pub by: String,
    /// When.
    pub at: String,
    /// When it stops letting the deployment through.
    pub expires_at: String,
}

/// Why a planned deployment is held back by its environment's policy, as last evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Hold {
    /// One sentence per unmet condition or closing window.
    pub reasons: Vec<String>,
    /// When it is evaluated again without an event (a soak end, a window closing).
    pub recheck_at: Option<String>,
    /// When it was last evaluated.
    pub since: String,
}

/// A freeze window added through the API (an incident freeze needs no commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManagedFreeze {
    /// The window, in the form `boreas.yaml` declares it.
    pub freeze: Freeze,
    /// Who added it.
    pub added_by: String,
    /// When.
    pub added_at: String,
}

/// A message on the plan queue asking the planner to look again at the planned deployments of
/// one repository in one environment: an upstream environment reached an outcome, a grant was
/// made, a soak or a window ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recheck {
    /// Always [`crate::command::SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// Repository id.
    pub repository: String,
    /// Environment name.
    pub environment: String,
    /// Sent by a timer rather than an event: only a timer schedules the next one, so that
    /// events never multiply the timers of one environment.
    #[serde(default)]
    pub timer: bool,
}

impl Recheck {
    /// The message for `repository` in `environment`.
    pub fn new(repository: &str, environment: &str, timer: bool) -> Self {
        Self {
            schema_version: crate::command::SCHEMA_VERSION,
            repository: repository.to_owned(),
            environment: environment.to_owned(),
            timer,
        }
    }

    /// The message body: the fields under `recheck`, which tells it from a plan job.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "recheck": self }).to_string()
    }

    /// Reads a body; `None` when it is not a recheck (a plan job), `Some(Err)` when it is one
    /// that does not read.
    pub fn from_json(json: &str) -> Option<Result<Self, String>> {
        let value: serde_json::Value = serde_json::from_str(json).ok()?;
        let inner = value.get("recheck")?.clone();
        Some(
            serde_json::from_value::<Self>(inner)
                .map_err(|e| format!("recheck: {e}"))
                .and_then(|r| {
                    if r.schema_version == crate::command::SCHEMA_VERSION {
                        Ok(r)
                    } else {
                        Err(format!(
                            "recheck schema_version is {}; this build reads {}",
                            r.schema_version,
                            crate::command::SCHEMA_VERSION
                        ))
                    }
                }),
        )
    }
}
