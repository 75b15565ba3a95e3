//! Promotion: whether an environment may take a version, from the recorded history of the
//! environments it comes after.
//!
//! A version is eligible when, in every upstream environment, its latest finished deployment
//! succeeded and it then stayed there for the soak time: no later failure or rollback of that
//! version there, no other version's deployment started there before the soak ended, and the
//! version not reverted. Each upstream environment sets two conditions a waiver can lift one at
//! a time: `after:<env>` (it succeeded there) and `soak:<env>` (it soaked there).

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::Promotion;
use crate::deployment::DeploymentStatus;

/// One condition of a promotion policy, named as waivers name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// `after:<env>`: the version succeeded there.
    Succeeded(String),
    /// `soak:<env>`: it stayed there for the soak time after succeeding.
    Soaked(String),
}

impl Condition {
    /// The upstream environment the condition is about.
    pub fn environment(&self) -> &str {
        match self {
            Self::Succeeded(e) | Self::Soaked(e) => e,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Succeeded(e) => write!(f, "after:{e}"),
            Self::Soaked(e) => write!(f, "soak:{e}"),
        }
    }
}

impl FromStr for Condition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "{s:?} is not a promotion condition; write after:<environment> or soak:<environment>"
            )
        };
        let (kind, env) = s.split_once(':').ok_or_else(bad)?;
        if !crate::config::is_valid_name(env) {
            return Err(bad());
        }
        match kind {
            "after" => Ok(Self::Succeeded(env.to_owned())),
            "soak" => Ok(Self::Soaked(env.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl JsonSchema for Condition {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A promotion condition: `after:<environment>` (the version succeeded there) or `soak:<environment>` (it then stayed there for the soak time).",
            "pattern": "^(after|soak):[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
        })
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One recorded deployment, as promotion reads history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub environment: String,
    pub version: String,
    pub status: DeploymentStatus,
    /// When it was confirmed; `None` while planned.
    pub started_at: Option<Timestamp>,
    /// When it reached its status; `None` while running.
    pub finished_at: Option<Timestamp>,
}

/// Why a condition is not met yet, or will not be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unmet {
    /// No deployment of the version there yet.
    NotDeployed,
    /// Its deployment there is planned, not started yet.
    Planned,
    /// Its deployment there is running.
    Running,
    /// Its latest deployment there ended this way.
    Failed { status: DeploymentStatus },
    /// It succeeded there; soaking until then.
    Soaking {
        #[schemars(with = "String")]
        until: Timestamp,
    },
    /// Another version's deployment started there before the soak ended.
    Replaced { by: String },
    /// Nothing to soak from: it has not succeeded there.
    NotSucceeded,
}

/// A condition not met, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Waiting {
    pub condition: Condition,
    pub reason: Unmet,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env = self.condition.environment();
        match &self.reason {
            Unmet::NotDeployed => write!(f, "waits for {env}: not deployed there yet"),
            Unmet::Planned => write!(f, "waits for {env}: planned there, not started yet"),
            Unmet::Running => write!(f, "waits for {env}: running"),
            Unmet::Failed { status } => write!(f, "blocked by {env}: {status} there"),
            Unmet::Soaking { until } => write!(
                f,
                "soaking in {env} until {}",
                until.strftime("%Y-%m-%d %H:%M UTC")
            ),
            Unmet::Replaced { by } => {
                write!(
                    f,
                    "blocked by {env}: {by} replaced it there before its soak ended"
                )
            }
            Unmet::NotSucceeded => write!(f, "waits for {env}: no success there to soak from"),
        }
    }
}

/// Whether an environment may take a version now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    Eligible,
    /// The conditions still unmet, in policy order.
    Waiting(Vec<Waiting>),
    /// The version is withdrawn; no waiver lifts that.
    Reverted,
}

impl Eligibility {
    /// When it becomes eligible with nothing else happening: the end of the last soak, when
    /// soaking is all that is left. `None` when an event (an upstream outcome, a waiver) must
    /// come first, or when it is eligible already.
    pub fn ready_at(&self) -> Option<Timestamp> {
        let Self::Waiting(unmet) = self else {
            return None;
        };
        unmet
            .iter()
            .try_fold(None, |latest: Option<Timestamp>, w| match w.reason {
                Unmet::Soaking { until } => Some(Some(latest.map_or(until, |l| l.max(until)))),
                _ => None,
            })?
    }
}

/// Whether `version` may be taken under `promotion`, from the `runs` recorded in the
/// environments (any environments; others are ignored), with the `waived` conditions lifted, at
/// `now`.
pub fn eligibility(
    promotion: &Promotion,
    version: &str,
    reverted: bool,
    runs: &[Run],
    waived: &[Condition],
    now: Timestamp,
) -> Eligibility {
    if reverted {
        return Eligibility::Reverted;
    }
    let mut unmet = Vec::new();
    for env in &promotion.after {
        let (succeeded, soaked) = upstream(env, promotion, version, runs, now);
        for (condition, verdict) in [
            (Condition::Succeeded(env.clone()), succeeded),
            (Condition::Soaked(env.clone()), soaked),
        ] {
            if let Err(reason) = verdict
                && !waived.contains(&condition)
            {
                unmet.push(Waiting { condition, reason });
            }
        }
    }
    if unmet.is_empty() {
        Eligibility::Eligible
    } else {
        Eligibility::Waiting(unmet)
    }
}

/// The two conditions of one upstream environment.
fn upstream(
    env: &str,
    promotion: &Promotion,
    version: &str,
    runs: &[Run],
    now: Timestamp,
) -> (Result<(), Unmet>, Result<(), Unmet>) {
    // History as it stood at `now`: what started later is not there yet, and what finished
    // later was still running.
    let as_of = |r: &Run| -> Option<(DeploymentStatus, Option<Timestamp>)> {
        match (r.started_at, r.finished_at) {
            (Some(s), _) if s > now => None,
            (_, Some(f)) if f > now => Some((DeploymentStatus::Running, None)),
            _ => Some((r.status, r.finished_at)),
        }
    };
    let here = || {
        runs.iter()
            .filter(|r| r.environment == env)
            .filter_map(move |r| as_of(r).map(|(status, finished)| (r, status, finished)))
    };
    let own = || here().filter(|(r, ..)| r.version == version);
    let running = own().any(|(_, status, _)| status == DeploymentStatus::Running);
    let planned = own().any(|(_, status, _)| status == DeploymentStatus::Planned);
    let in_flight = running || planned;
    // The latest verdict on the version there; a cancelled or superseded deployment gave none,
    // and a redeploy of it that is still running gives none yet.
    let latest = own()
        .filter(|(_, status, _)| {
            matches!(
                status,
                DeploymentStatus::Succeeded
                    | DeploymentStatus::Failed
                    | DeploymentStatus::RolledBack
            )
        })
        .filter_map(|(_, status, finished)| finished.map(|at| (at, status)))
        .max_by_key(|(at, _)| *at);
    let succeeded_at = match latest {
        Some((at, DeploymentStatus::Succeeded)) => at,
        Some((_, status)) if !in_flight => {
            return (Err(Unmet::Failed { status }), Err(Unmet::NotSucceeded));
        }
        _ if running => return (Err(Unmet::Running), Err(Unmet::NotSucceeded)),
        _ if planned => return (Err(Unmet::Planned), Err(Unmet::NotSucceeded)),
        _ => return (Err(Unmet::NotDeployed), Err(Unmet::NotSucceeded)),
    };
    let Some(soak) = promotion.soak else {
        return (Ok(()), Ok(()));
    };
    let soak_secs = i64::try_from(soak.seconds()).unwrap_or(i64::MAX);
    let until = succeeded_at
        .saturating_add(SignedDuration::from_secs(soak_secs))
        .unwrap_or(Timestamp::MAX);
    // Another version that went out there (and was not rolled back or stopped before it
    // started) before the soak ended means this one did not stay.
    let replaced = here()
        .filter(|(r, status, _)| {
            r.version != version
                && matches!(
                    status,
                    DeploymentStatus::Running
                        | DeploymentStatus::Succeeded
                        | DeploymentStatus::Failed
                )
        })
        .map(|(r, ..)| r)
        .filter(|r| r.started_at.is_some_and(|s| succeeded_at < s && s < until))
        .min_by_key(|r| r.started_at);
    let soaked = if let Some(r) = replaced {
        Err(Unmet::Replaced {
            by: r.version.clone(),
        })
    } else if now < until {
        Err(Unmet::Soaking { until })
    } else {
        Ok(())
    };
    (Ok(()), soaked)
}
