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
