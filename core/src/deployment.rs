//! Deployment lifecycle: which status changes are legal.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Status of one deployment (one version in one environment).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Planned, waiting for confirmation (or adjustment).
    Planned,
    /// Confirmed; the state machine is executing it.
    Running,
    /// Every target runs the version.
    Succeeded,
    /// Stopped by an error that could not be rolled back cleanly.
    Failed,
    /// A target failed and the changed targets were rolled back.
    RolledBack,
    /// Stopped by a person.
    Cancelled,
    /// A newer version's deployment to the same environment replaced it before it started.
    Superseded,
}

impl DeploymentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 7] = [
        Self::Planned,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::RolledBack,
        Self::Cancelled,
        Self::Superseded,
    ];

    /// The name used in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::RolledBack => "rolled_back",
            Self::Cancelled => "cancelled",
            Self::Superseded => "superseded",
        }
    }

    /// Parses the name used in records and the API.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// No further change is possible.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Planned | Self::Running)
    }

    /// The statuses a deployment may move to from `self`:
    /// `planned → running | superseded | cancelled`, `running → succeeded | failed | rolled_back | cancelled`.
    pub fn next(self) -> &'static [Self] {
        match self {
            Self::Planned => &[Self::Running, Self::Superseded, Self::Cancelled],
            Self::Running => &[
                Self::Succeeded,
                Self::Failed,
                Self::RolledBack,
                Self::Cancelled,
            ],
            _ => &[],
        }
    }

    /// Whether `self → to` is a legal transition.
    pub fn can_become(self, to: Self) -> bool {
        self.next().contains(&to)
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_lifecycle() {
        use DeploymentStatus::*;
        assert!(Planned.can_become(Running));
        assert!(Planned.can_become(Superseded));
        assert!(Running.can_become(RolledBack));
        assert!(!Planned.can_become(Succeeded));
        assert!(!Running.can_become(Planned));
        assert!(!Running.can_become(Superseded));
        for s in DeploymentStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
        {
            assert!(
                DeploymentStatus::ALL
                    .into_iter()
                    .all(|to| !s.can_become(to)),
                "{s} is terminal"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in DeploymentStatus::ALL {
            assert_eq!(DeploymentStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(DeploymentStatus::parse("done"), None);
    }
}
