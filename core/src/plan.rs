//! A deployment plan: stages → apps → batches → targets, for one version in one environment.
//!
//! Plans are data: the planner produces them, a person adjusts them ([`crate::adjust`]), the api
//! stores them and the state machine executes them. Every list is in a stable order so the same
//! inputs always give byte-identical JSON.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{AppKind, BatchSize, DurationSpec, Pause};
use crate::rollout;

/// The whole plan of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// Environment name.
    pub environment: String,
    /// Version being deployed (tag or commit id).
    pub version: String,
    /// Stages, run strictly in order.
    pub stages: Vec<Stage>,
    /// Apps of the config that are not in the plan, by name, each with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedApp>,
}

/// An app of the config left out of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SkippedApp {
    /// App name.
    pub app: String,
    /// Why it is not deployed.
    pub reason: SkipReason,
}

/// Why an app is not in a plan. Serialized as a snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// No changed path matches the app's `paths`, and it does not follow an affected dependency.
    NotAffected,
    /// The app already runs this version in the environment.
    UpToDate,
    /// The app has no hosts or clusters in the environment.
    NoTargets,
    /// A person dropped the app from the plan.
    Dropped,
}

impl SkipReason {
    /// The code used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAffected => "not_affected",
            Self::UpToDate => "up_to_date",
            Self::NoTargets => "no_targets",
            Self::Dropped => "dropped",
        }
    }

    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotAffected => "not affected by the change",
            Self::UpToDate => "already runs this version",
            Self::NoTargets => "no hosts or clusters in this environment",
            Self::Dropped => "dropped from the plan",
        }
    }
}

/// One step of the plan; its apps run in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Stage {
    /// How many apps of this stage run at the same time.
    pub parallelism: u32,
    /// Apps of this stage, in a stable order.
    pub apps: Vec<AppPlan>,
}

/// One app's rollout inside a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppPlan {
    /// App name.
    pub app: String,
    /// `pm` or `k8s`.
    pub kind: AppKind,
    /// The planned apps this app must run after: its `depends_on`, where a dependency that is
    /// not in the plan is replaced by that dependency's own planned dependencies (transitively).
    /// Kept so adjustments can be validated against the plan alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The version the app runs in this environment now, if known (what a rollback returns to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

impl Plan {
    /// Where an app is: its stage index (from 0) and its plan.
    pub fn find_app(&self, app: &str) -> Option<(usize, &AppPlan)> {
        self.stages
            .iter()
            .enumerate()
            .find_map(|(i, stage)| stage.apps.iter().find(|a| a.app == app).map(|a| (i, a)))
    }

    /// Every planned app, stage by stage.
    pub fn apps(&self) -> impl Iterator<Item = &AppPlan> {
        self.stages.iter().flat_map(|stage| stage.apps.iter())
    }

    /// Number of targets over all planned apps.
    pub fn target_count(&self) -> usize {
        self.apps().map(|a| a.targets.len()).sum()
    }
}

impl AppPlan {
    /// The batches that follow from `kind`, `targets`, `batch_sizes` and `pause` (see
    /// [`crate::rollout`]). The planner builds batches with this, adjustments rebuild them with it,
    /// and validation compares a submitted plan's batches against [`AppPlan::batch_layout`].
    pub fn derive_batches(&self) -> Vec<BatchPlan> {
        let layout = self.batch_layout();
        let count = layout.len();
        layout
            .into_iter()
            .enumerate()
            .map(|(i, (targets, weight))| BatchPlan {
                index: index_u32(i),
                targets: targets.to_vec(),
                weight,
                pause: self.pause_after(i, count),
            })
            .collect()
    }

    /// Targets and k8s weight of each batch, borrowed from `targets`: PM batches split the
    /// targets in order; every k8s batch covers all clusters with an increasing weight.
    pub fn batch_layout(&self) -> Vec<(&[String], Option<u8>)> {
        match self.kind {
            AppKind::Pm => rollout::split_targets(&self.batch_sizes, &self.targets)
                .into_iter()
                .map(|targets| (targets, None))
                .collect(),
            AppKind::K8s if self.targets.is_empty() => Vec::new(),
            AppKind::K8s => rollout::weights(&self.batch_sizes)
                .into_iter()
                .map(|weight| (self.targets.as_slice(), Some(weight)))
                .collect(),
        }
    }

    /// The pause after batch `index` of `count` batches: the app's pause, none after the last.
    pub fn pause_after(&self, index: usize, count: usize) -> PausePlan {
        if index + 1 >= count {
            PausePlan::None
        } else {
            PausePlan::after(&self.app, self.pause, index_u32(index))
        }
    }
}

fn index_u32(i: usize) -> u32 {
    // A batch per target at most, and target lists are far below 2^32 entries.
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl PausePlan {
    /// The pause after batch `index` of `app` (not the last batch, which never pauses).
    pub fn after(app: &str, pause: Pause, index: u32) -> Self {
        match pause {
            Pause::None => Self::None,
            Pause::Wait(d) => Self::Wait {
                seconds: d.seconds(),
            },
            Pause::Manual => Self::Gate {
                gate: gate_id(app, index),
            },
        }
    }
}

/// The id of the manual gate after batch `index` of `app`: `<app>.<index>`.
pub fn gate_id(app: &str, index: u32) -> String {
    format!("{app}.{index}")
}

/// The readable table the CLI prints: stages → apps → batches → targets, then skipped apps.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let apps = self.apps().count();
        writeln!(
            f,
            "Plan: version {} to {}: {} stage{}, {} app{}, {} target{}",
            self.version,
            self.environment,
            self.stages.len(),
            plural(self.stages.len()),
            apps,
            plural(apps),
            self.target_count(),
            plural(self.target_count()),
        )?;
        for (i, stage) in self.stages.iter().enumerate() {
            writeln!(
                f,
                "\nStage {} ({} app{}, {} at a time)",
                i + 1,
                stage.apps.len(),
                plural(stage.apps.len()),
                stage.parallelism
            )?;
            for app in &stage.apps {
                write_app(f, app)?;
            }
        }
        if !self.skipped.is_empty() {
            writeln!(f, "\nSkipped")?;
            let width = self.skipped.iter().map(|s| s.app.len()).max().unwrap_or(0);
            for s in &self.skipped {
                writeln!(f, "  {:width$}  {}", s.app, s.reason.describe())?;
            }
        }
        Ok(())
    }
}

fn write_app(f: &mut fmt::Formatter<'_>, app: &AppPlan) -> fmt::Result {
    let unit = match app.kind {
        AppKind::Pm => "host",
        AppKind::K8s => "cluster",
    };
    write!(
        f,
        "  {} [{}] {} {}{}, batches {}, pause {}",
        app.app,
        app.kind,
        app.targets.len(),
        unit,
        plural(app.targets.len()),
        app.batch_sizes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        app.pause,
    )?;
    if app.kind == AppKind::Pm {
        write!(f, ", {} at a time", app.parallelism)?;
    }
    if let Some(current) = &app.current_version {
        write!(f, ", now {current}")?;
    }
    if !app.depends_on.is_empty() {
        write!(f, ", after {}", app.depends_on.join(", "))?;
    }
    writeln!(f)?;
    for batch in &app.batches {
        write!(f, "    batch {}:", batch.index)?;
        if let Some(weight) = batch.weight {
            write!(f, " weight {weight}% on")?;
        }
        write!(f, " {}", batch.targets.join(", "))?;
        match &batch.pause {
            PausePlan::None => writeln!(f)?,
            PausePlan::Wait { seconds } => {
                writeln!(f, "  -> wait {}", DurationSpec(*seconds))?;
            }
            PausePlan::Gate { gate } => writeln!(f, "  -> gate {gate}")?,
        }
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
