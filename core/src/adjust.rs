//! Plan adjustments: what a person may change in a planned deployment before confirming it, and
//! the rules every plan (adjusted, or submitted whole by a client) must follow.
//!
//! Stages are numbered from 1, as people see them in the table and the dashboard; batch indices
//! (and gate ids `<app>.<index>`) count from 0.
//!
//! [`apply`] is all-or-nothing: each adjustment is applied to a copy and the copy is validated
//! after each step, so the first adjustment that breaks a rule is named in the error and the
//! original plan is never changed. Stages left empty by a move, split or drop are removed (later
//! stages move up by one).
//!
//! Dropping an app that others depend on is allowed: its dependents run against the version
//! that already runs, exactly as when the planner leaves a dependency out because it is not
//! affected. A dropped app is listed in [`Plan::skipped`] with reason `dropped`.
//!
//! Stage parallelism: a stage that ran all its apps at once keeps doing so when apps move in or
//! out; a deliberately lower limit is kept (but never above the number of apps). Merging two
//! stages that both ran everything at once gives a stage that does too; otherwise the merged
//! stage keeps the lower of the two limits.

use std::collections::{HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{AppKind, BatchSize, Pause};
use crate::plan::{AppPlan, PausePlan, Plan, SkipReason, SkippedApp, Stage, gate_id};
use crate::rollout::{self, BatchRuleViolation};

/// One change a person makes to a plan. JSON: `{"op": "move_app", "app": "web", "stage": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Adjustment {
    /// Move stage `stage` so that it becomes stage `to` (the others keep their order).
    MoveStage {
        /// The stage to move (from 1).
        stage: usize,
        /// Its new position (from 1).
        to: usize,
    },
    /// Move an app into another existing stage.
    MoveApp {
        /// App name.
        app: String,
        /// The stage to run it in (from 1).
        stage: usize,
    },
    /// Take the listed apps out of a stage into a new stage right after it.
    SplitStage {
        /// The stage to split (from 1).
        stage: usize,
        /// Apps of that stage that go to the new stage; not all of them.
        apps: Vec<String>,
    },
    /// Merge stage `stage` with the stage after it.
    MergeStages {
        /// The first of the two stages (from 1).
        stage: usize,
    },
    /// Replace an app's cumulative batch sizes; its batches are rebuilt.
    SetBatches {
        /// App name.
        app: String,
        /// New batch sizes (increasing, ending at `100%`).
        batches: Vec<BatchSize>,
    },
    /// Replace the pause between an app's batches.
    SetPause {
        /// App name.
        app: String,
        /// New pause: a duration or `manual`.
        pause: Pause,
    },
    /// Leave an app out of this deployment.
    DropApp {
        /// App name.
        app: String,
    },
}

impl Adjustment {
    /// The `op` tag.
    pub fn op(&self) -> &'static str {
        match self {
            Self::MoveStage { .. } => "move_stage",
            Self::MoveApp { .. } => "move_app",
            Self::SplitStage { .. } => "split_stage",
            Self::MergeStages { .. } => "merge_stages",
            Self::SetBatches { .. } => "set_batches",
            Self::SetPause { .. } => "set_pause",
            Self::DropApp { .. } => "drop_app",
        }
    }
}

/// A rule a plan or an adjustment breaks. [`AdjustError::rule`] is the stable machine code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustError {
    /// Adjustment number `index` (from 0) of a list broke a rule.
    #[error("adjustment {index} ({op}): {source}")]
    Adjustment {
        /// Position in the list, from 0.
        index: usize,
        /// Its `op`.
        op: &'static str,
        /// The rule it broke.
        source: Box<AdjustError>,
    },
    /// An app runs in the same stage as, or before, one of its dependencies.
    #[error(
        "{app:?} depends on {dependency:?}, which runs in stage {dependency_stage}; \
         {app:?} cannot run in stage {stage}"
    )]
    DependencyOrder {
        /// The app.
        app: String,
        /// The dependency.
        dependency: String,
        /// Stage of the dependency (from 1).
        dependency_stage: usize,
        /// Stage of the app (from 1).
        stage: usize,
    },
    /// The app is not in the plan.
    #[error("app {app:?} is not in the plan")]
    UnknownApp {
        /// App name.
        app: String,
    },
    /// The stage number does not exist.
    #[error("there is no stage {stage}; the plan has {stages} stage(s), numbered from 1")]
    UnknownStage {
        /// The number given.
        stage: usize,
        /// How many stages there are.
        stages: usize,
    },
    /// `merge_stages` on the last stage.
    #[error("stage {stage} is the last stage; there is no next stage to merge it with")]
    NoNextStage {
        /// The stage given.
        stage: usize,
    },
    /// A `split_stage` that would move nothing, everything, or apps of another stage.
    #[error("cannot split stage {stage}: {reason}")]
    BadSplit {
        /// The stage given.
        stage: usize,
        /// What is wrong.
        reason: String,
    },
    /// Batch sizes break a rule (see [`rollout::check_sizes`]).
    #[error("{app:?}: {}", describe_violation(violation))]
    Batches {
        /// App name.
        app: String,
        /// The broken rule.
        violation: BatchRuleViolation,
    },
    /// A stage without apps.
    #[error("stage {stage} has no apps")]
    EmptyStage {
        /// The stage (from 1).
        stage: usize,
    },
    /// A parallelism of 0.
    #[error("{what} has parallelism 0; it must be at least 1")]
    Parallelism {
        /// `stage N` or `"app"`.
        what: String,
    },
    /// An app appears twice (in stages, or both planned and skipped).
    #[error("app {app:?} appears more than once in the plan")]
    DuplicateApp {
        /// App name.
        app: String,
    },
    /// A planned app without targets.
    #[error("app {app:?} has no targets")]
    NoTargets {
        /// App name.
        app: String,
    },
    /// A target listed twice for one app.
    #[error("app {app:?}: target {target:?} is listed more than once")]
    DuplicateTarget {
        /// App name.
        app: String,
        /// The target.
        target: String,
    },
    /// The batches do not cover the app's targets exactly once (PM) or every cluster in every
    /// batch (k8s).
    #[error("app {app:?}: {problem}")]
    TargetCoverage {
        /// App name.
        app: String,
        /// What is wrong, naming the target and batch.
        problem: String,
    },
    /// A batch without targets.
    #[error("app {app:?}: batch {index} has no targets")]
    EmptyBatch {
        /// App name.
        app: String,
        /// Batch index (from 0).
        index: usize,
    },
    /// The batches are not the ones the batch sizes give over the targets.
    #[error("app {app:?}: {problem}")]
    BatchesMismatch {
        /// App name.
        app: String,
        /// The first difference.
        problem: String,
    },
    /// A batch's pause is not the app's pause (or the last batch pauses).
    #[error("app {app:?}: batch {index}: {problem}")]
    PauseMismatch {
        /// App name.
        app: String,
        /// Batch index (from 0).
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// A gate id that is not `<app>.<batch index>`.
    #[error("app {app:?}: gate {gate:?} after batch {index} must be named {expected:?}")]
    GateId {
        /// App name.
        app: String,
        /// Batch index (from 0).
        index: usize,
        /// The id found.
        gate: String,
        /// The id required.
        expected: String,
    },
    /// Two gates with the same id.
    #[error("gate {gate:?} appears more than once")]
    DuplicateGate {
        /// The gate id.
        gate: String,
    },
}

impl AdjustError {
    /// Stable machine code of the broken rule.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Adjustment { source, .. } => source.rule(),
            Self::DependencyOrder { .. } => "dependency_order",
            Self::UnknownApp { .. } => "unknown_app",
            Self::UnknownStage { .. } => "unknown_stage",
            Self::NoNextStage { .. } => "no_next_stage",
            Self::BadSplit { .. } => "bad_split",
            Self::Batches { violation, .. } => violation.rule(),
            Self::EmptyStage { .. } => "empty_stage",
            Self::Parallelism { .. } => "parallelism",
            Self::DuplicateApp { .. } => "duplicate_app",
            Self::NoTargets { .. } => "no_targets",
            Self::DuplicateTarget { .. } => "duplicate_target",
            Self::TargetCoverage { .. } => "target_coverage",
            Self::EmptyBatch { .. } => "empty_batch",
            Self::BatchesMismatch { .. } => "batches_mismatch",
            Self::PauseMismatch { .. } => "pause_mismatch",
            Self::GateId { .. } => "gate_id",
            Self::DuplicateGate { .. } => "duplicate_gate",
        }
    }
}

fn describe_violation(v: &BatchRuleViolation) -> String {
    match v {
        BatchRuleViolation::Empty => "batches must not be empty; end them with \"100%\"".to_owned(),
        BatchRuleViolation::OutOfRange(i) => {
            format!("batches[{i}] must be a count of at least 1 or a percentage from 1% to 100%")
        }
        BatchRuleViolation::NotIncreasing(i) => format!(
            "batches[{i}] is not larger than the batch before it \
             (a count may not follow a percentage)"
        ),
        BatchRuleViolation::NotEndingAt100 => "the last batch must be \"100%\"".to_owned(),
    }
}

/// A change between two plans of one deployment that takes a decision away from approvers: an
/// app still deployed waits at fewer manual gates than before (a `manual` pause turned into a
/// wait, or batches merged so that gates disappear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateLifted {
    /// The app.
    pub app: String,
    /// Manual gates of the app before the change.
    pub before: usize,
    /// Manual gates of the app after it.
    pub after: usize,
}

impl std::fmt::Display for GateLifted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "app {:?} would wait at {} manual gate(s) instead of {}",
            self.app, self.after, self.before
        )
    }
}

fn manual_gates(app: &AppPlan) -> usize {
    app.batches
        .iter()
        .filter(|b| matches!(b.pause, PausePlan::Gate { .. }))
        .count()
}

/// The apps of `after` that wait at fewer manual gates than in `before`. Dropped apps are not
/// listed: leaving an app out deploys less, it lifts no gate on what is deployed.
#[must_use]
pub fn gates_lifted(before: &Plan, after: &Plan) -> Vec<GateLifted> {
    before
        .apps()
        .filter_map(|was| {
            let (_, now) = after.find_app(&was.app)?;
            let (b, a) = (manual_gates(was), manual_gates(now));
            (a < b).then(|| GateLifted {
                app: was.app.clone(),
                before: b,
                after: a,
            })
        })
        .collect()
}

/// What differs between two plans of one deployment, one line per change (stage layout, then per
/// app: dropped, batches, pause), for the audit log.
#[must_use]
pub fn describe_changes(before: &Plan, after: &Plan) -> Vec<String> {
    let layout = |plan: &Plan| {
        plan.stages
            .iter()
            .map(|s| {
                let apps: Vec<&str> = s.apps.iter().map(|a| a.app.as_str()).collect();
                format!("[{}]", apps.join(", "))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut changes = Vec::new();
    let (was, now) = (layout(before), layout(after));
    if was != now {
        changes.push(format!("stages {was} -> {now}"));
    }
    let sizes = |app: &AppPlan| {
        let sizes: Vec<String> = app.batch_sizes.iter().map(ToString::to_string).collect();
        format!("[{}]", sizes.join(", "))
    };
    for old in before.apps() {
        let Some((_, new)) = after.find_app(&old.app) else {
            changes.push(format!("{}: dropped", old.app));
            continue;
        };
        // Pauses live in the batches too; they are reported on their own below.
        let split = |app: &AppPlan| -> Vec<(Vec<String>, Option<u8>)> {
            app.batches
                .iter()
                .map(|b| (b.targets.clone(), b.weight))
                .collect()
        };
        if old.batch_sizes != new.batch_sizes || split(old) != split(new) {
            changes.push(format!(
                "{}: batches {} -> {}",
                old.app,
                sizes(old),
                sizes(new)
            ));
        }
        if old.pause != new.pause {
            changes.push(format!("{}: pause {} -> {}", old.app, old.pause, new.pause));
        }
    }
    changes
}

/// Apply `adjustments` in order to a copy of `plan`; the copy is validated after each one.
/// On error nothing is applied and the error names the adjustment.
pub fn apply(plan: &Plan, adjustments: &[Adjustment]) -> Result<Plan, AdjustError> {
    let mut next = plan.clone();
    for (index, adjustment) in adjustments.iter().enumerate() {
        apply_one(&mut next, adjustment)
            .and_then(|()| validate(&next))
            .map_err(|source| AdjustError::Adjustment {
                index,
                op: adjustment.op(),
                source: Box::new(source),
            })?;
    }
    Ok(next)
}

fn apply_one(plan: &mut Plan, adjustment: &Adjustment) -> Result<(), AdjustError> {
    match adjustment {
        Adjustment::MoveStage { stage, to } => {
            let from = stage_index(plan, *stage)?;
            let to = stage_index(plan, *to)?;
            let moved = plan.stages.remove(from);
            plan.stages.insert(to, moved);
        }
        Adjustment::MoveApp { app, stage } => {
            let to = stage_index(plan, *stage)?;
            let (from, pos) = locate(plan, app)?;
            if from != to {
                let moved = take_app(&mut plan.stages[from], pos);
                put_app(&mut plan.stages[to], moved);
                drop_empty_stages(plan);
            }
        }
        Adjustment::SplitStage { stage, apps } => split(plan, *stage, apps)?,
        Adjustment::MergeStages { stage } => {
            let first = stage_index(plan, *stage)?;
            if first + 1 >= plan.stages.len() {
                return Err(AdjustError::NoNextStage { stage: *stage });
            }
            let second = plan.stages.remove(first + 1);
            let merged = &mut plan.stages[first];
            let all_at_once = merged.parallelism >= count_u32(merged.apps.len())
                && second.parallelism >= count_u32(second.apps.len());
            let limit = merged.parallelism.min(second.parallelism);
            merged.apps.extend(second.apps);
            merged.apps.sort_by(|a, b| a.app.cmp(&b.app));
            merged.parallelism = if all_at_once {
                count_u32(merged.apps.len())
            } else {
                limit.max(1)
            };
        }
        Adjustment::SetBatches { app, batches } => {
            rollout::check_sizes(batches).map_err(|violation| AdjustError::Batches {
                app: app.clone(),
                violation,
            })?;
            let target = app_mut(plan, app)?;
            target.batch_sizes.clone_from(batches);
            target.batches = target.derive_batches();
        }
        Adjustment::SetPause { app, pause } => {
            let target = app_mut(plan, app)?;
            target.pause = *pause;
            target.batches = target.derive_batches();
        }
        Adjustment::DropApp { app } => {
            let (stage, pos) = locate(plan, app)?;
            take_app(&mut plan.stages[stage], pos);
            drop_empty_stages(plan);
            plan.skipped.push(SkippedApp {
                app: app.clone(),
                reason: SkipReason::Dropped,
            });
            plan.skipped.sort_by(|a, b| a.app.cmp(&b.app));
        }
    }
    Ok(())
}

fn split(plan: &mut Plan, stage: usize, apps: &[String]) -> Result<(), AdjustError> {
    let at = stage_index(plan, stage)?;
    let bad = |reason: String| AdjustError::BadSplit { stage, reason };
    if apps.is_empty() {
        return Err(bad("no apps listed to move to the new stage".to_owned()));
    }
    let listed: HashSet<&str> = apps.iter().map(String::as_str).collect();
    if listed.len() != apps.len() {
        return Err(bad("an app is listed twice".to_owned()));
    }
    for app in apps {
        let (found, _) = locate(plan, app)?;
        if found != at {
            return Err(bad(format!("{app:?} runs in stage {}", found + 1)));
        }
    }
    let old = &mut plan.stages[at];
    if listed.len() == old.apps.len() {
        return Err(bad(
            "every app of the stage is listed; the stage would be empty".to_owned(),
        ));
    }
    let old_len = old.apps.len();
    let (moved, kept): (Vec<AppPlan>, Vec<AppPlan>) = std::mem::take(&mut old.apps)
        .into_iter()
        .partition(|a| listed.contains(a.app.as_str()));
    old.apps = kept;
    old.parallelism = refit(old.parallelism, old_len, old.apps.len());
    let new = Stage {
        parallelism: count_u32(moved.len()),
        apps: moved,
    };
    plan.stages.insert(at + 1, new);
    Ok(())
}

/// Index (from 0) of the stage people call `stage` (from 1).
fn stage_index(plan: &Plan, stage: usize) -> Result<usize, AdjustError> {
    if stage == 0 || stage > plan.stages.len() {
        return Err(AdjustError::UnknownStage {
            stage,
            stages: plan.stages.len(),
        });
    }
    Ok(stage - 1)
}

/// (stage index, position in the stage) of an app.
fn locate(plan: &Plan, app: &str) -> Result<(usize, usize), AdjustError> {
    plan.stages
        .iter()
        .enumerate()
        .find_map(|(s, stage)| stage.apps.iter().position(|a| a.app == app).map(|p| (s, p)))
        .ok_or_else(|| AdjustError::UnknownApp {
            app: app.to_owned(),
        })
}

fn app_mut<'p>(plan: &'p mut Plan, app: &str) -> Result<&'p mut AppPlan, AdjustError> {
    let (s, p) = locate(plan, app)?;
    Ok(&mut plan.stages[s].apps[p])
}

fn take_app(stage: &mut Stage, pos: usize) -> AppPlan {
    let old_len = stage.apps.len();
    let app = stage.apps.remove(pos);
    stage.parallelism = refit(stage.parallelism, old_len, stage.apps.len());
    app
}

fn put_app(stage: &mut Stage, app: AppPlan) {
    let old_len = stage.apps.len();
    let pos = stage.apps.partition_point(|a| a.app < app.app);
    stage.apps.insert(pos, app);
    stage.parallelism = refit(stage.parallelism, old_len, stage.apps.len());
}

/// New stage parallelism after its app count changed from `old_len` to `new_len`.
fn refit(parallelism: u32, old_len: usize, new_len: usize) -> u32 {
    let new = count_u32(new_len);
    if parallelism >= count_u32(old_len) {
        new
    } else {
        parallelism.min(new).max(1)
    }
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn drop_empty_stages(plan: &mut Plan) {
    plan.stages.retain(|s| !s.apps.is_empty());
}

/// Check every rule of a plan: stages non-empty with parallelism ≥ 1; each app once; targets
/// present and unique; batch sizes valid; batches non-empty and exactly those the batch sizes
/// give over the targets in order (each PM target in one batch, every cluster in every k8s
/// batch with increasing weights ending at 100); pauses as the app's pause says, none after the
/// last batch, gate ids `<app>.<index>` and unique; each app in a later stage than every planned
/// app it depends on.
pub fn validate(plan: &Plan) -> Result<(), AdjustError> {
    let mut stage_of: HashMap<&str, usize> = HashMap::new();
    for (s, stage) in plan.stages.iter().enumerate() {
        if stage.apps.is_empty() {
            return Err(AdjustError::EmptyStage { stage: s + 1 });
        }
        if stage.parallelism == 0 {
            return Err(AdjustError::Parallelism {
                what: format!("stage {}", s + 1),
            });
        }
        for app in &stage.apps {
            if stage_of.insert(app.app.as_str(), s).is_some() {
                return Err(AdjustError::DuplicateApp {
                    app: app.app.clone(),
                });
            }
        }
    }
    if let Some(s) = plan
        .skipped
        .iter()
        .find(|s| stage_of.contains_key(s.app.as_str()))
    {
        return Err(AdjustError::DuplicateApp { app: s.app.clone() });
    }
    let mut gates = HashSet::new();
    for app in plan.apps() {
        validate_app(app, &mut gates)?;
    }
    for (s, stage) in plan.stages.iter().enumerate() {
        for app in &stage.apps {
            for dep in &app.depends_on {
                if let Some(&d) = stage_of.get(dep.as_str())
                    && d >= s
                {
                    return Err(AdjustError::DependencyOrder {
                        app: app.app.clone(),
                        dependency: dep.clone(),
                        dependency_stage: d + 1,
                        stage: s + 1,
                    });
                }
            }
        }
    }
    Ok(())
}

fn validate_app<'p>(app: &'p AppPlan, gates: &mut HashSet<&'p str>) -> Result<(), AdjustError> {
    let name = &app.app;
    if app.targets.is_empty() {
        return Err(AdjustError::NoTargets { app: name.clone() });
    }
    if app.kind == AppKind::Pm && app.parallelism == 0 {
        return Err(AdjustError::Parallelism {
            what: format!("{name:?}"),
        });
    }
    let mut seen = HashSet::new();
    if let Some(dup) = app.targets.iter().find(|t| !seen.insert(t.as_str())) {
        return Err(AdjustError::DuplicateTarget {
            app: name.clone(),
            target: dup.clone(),
        });
    }
    rollout::check_sizes(&app.batch_sizes).map_err(|violation| AdjustError::Batches {
        app: name.clone(),
        violation,
    })?;
    let expected = app.batch_layout();
    let matches =
        expected.len() == app.batches.len()
            && expected.iter().zip(&app.batches).enumerate().all(
                |(i, ((targets, weight), have))| {
                    have.index as usize == i && have.weight == *weight && have.targets == *targets
                },
            );
    if !matches {
        return Err(explain_mismatch(app, &seen, &expected));
    }
    let count = expected.len();
    for (i, have) in app.batches.iter().enumerate() {
        if let PausePlan::Gate { gate } = &have.pause {
            let id = gate_id(name, have.index);
            if *gate != id {
                return Err(AdjustError::GateId {
                    app: name.clone(),
                    index: i,
                    gate: gate.clone(),
                    expected: id,
                });
            }
            if !gates.insert(gate.as_str()) {
                return Err(AdjustError::DuplicateGate { gate: gate.clone() });
            }
        }
        if app.pause_after(i, count) != have.pause {
            let problem = if i + 1 == count {
                "the last batch must not pause".to_owned()
            } else {
                format!(
                    "pauses with {}, but the app's pause is {}",
                    show_pause(&have.pause),
                    app.pause
                )
            };
            return Err(AdjustError::PauseMismatch {
                app: name.clone(),
                index: i,
                problem,
            });
        }
    }
    Ok(())
}

/// The most specific reason why an app's batches differ from the layout its batch sizes give:
/// an empty batch, a target covered wrongly, then the first differing batch.
fn explain_mismatch(
    app: &AppPlan,
    targets: &HashSet<&str>,
    expected: &[(&[String], Option<u8>)],
) -> AdjustError {
    let name = &app.app;
    let coverage = |problem: String| AdjustError::TargetCoverage {
        app: name.clone(),
        problem,
    };
    let mut placed: HashMap<&str, usize> = HashMap::new();
    for (i, batch) in app.batches.iter().enumerate() {
        if batch.targets.is_empty() {
            return AdjustError::EmptyBatch {
                app: name.clone(),
                index: i,
            };
        }
        match app.kind {
            AppKind::Pm => {
                for target in &batch.targets {
                    if !targets.contains(target.as_str()) {
                        return coverage(format!(
                            "batch {i} has {target:?}, which is not one of the app's targets"
                        ));
                    }
                    if let Some(first) = placed.insert(target.as_str(), i) {
                        return coverage(format!(
                            "target {target:?} is in batch {first} and again in batch {i}"
                        ));
                    }
                }
            }
            AppKind::K8s => {
                if let Some(missing) = app.targets.iter().find(|t| !batch.targets.contains(t)) {
                    return coverage(format!(
                        "batch {i} leaves out cluster {missing:?}; every batch of a k8s app \
                         covers every cluster"
                    ));
                }
            }
        }
    }
    if app.kind == AppKind::Pm
        && let Some(missing) = app
            .targets
            .iter()
            .find(|t| !placed.contains_key(t.as_str()))
    {
        return coverage(format!("target {missing:?} is in no batch"));
    }
    let mismatch = |problem: String| AdjustError::BatchesMismatch {
        app: name.clone(),
        problem,
    };
    let sizes = app
        .batch_sizes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    if expected.len() != app.batches.len() {
        return mismatch(format!(
            "batch sizes {sizes} over {} target(s) give {} batch(es), the plan has {}",
            app.targets.len(),
            expected.len(),
            app.batches.len()
        ));
    }
    for (i, ((want, weight), have)) in expected.iter().zip(&app.batches).enumerate() {
        if have.index as usize != i {
            return mismatch(format!("batch at position {i} has index {}", have.index));
        }
        if *weight != have.weight {
            return mismatch(format!(
                "batch {i} has weight {}, batch sizes {sizes} give {}",
                show_weight(have.weight),
                show_weight(*weight)
            ));
        }
        if *want != have.targets.as_slice() {
            return mismatch(format!(
                "batch {i} should hold {} target(s) starting at {:?} (batch sizes {sizes} over \
                 the targets in order), it holds {} starting at {:?}",
                want.len(),
                want.first().map_or("", String::as_str),
                have.targets.len(),
                have.targets.first().map_or("", String::as_str),
            ));
        }
    }
    // Unreachable for a layout that differs; kept total rather than panicking.
    mismatch("batches differ from the layout their batch sizes give".to_owned())
}

fn show_weight(weight: Option<u8>) -> String {
    weight.map_or_else(|| "none".to_owned(), |w| format!("{w}%"))
}

fn show_pause(pause: &PausePlan) -> String {
    match pause {
        PausePlan::None => "none".to_owned(),
        PausePlan::Wait { seconds } => format!("a wait of {seconds}s"),
        PausePlan::Gate { gate } => format!("gate {gate}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DurationSpec;
    use BatchSize::{Count, Percent};

    fn app(name: &str, kind: AppKind, deps: &[&str], n: usize) -> AppPlan {
        let targets = match kind {
            AppKind::Pm => (1..=n).map(|i| format!("{name}-{i}")).collect(),
            AppKind::K8s => (1..=n).map(|i| format!("cluster-{i}")).collect(),
        };
        let mut plan = AppPlan {
            app: name.to_owned(),
            kind,
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
            current_version: None,
            targets,
            batch_sizes: vec![Count(1), Percent(50), Percent(100)],
            pause: Pause::Manual,
            parallelism: 2,
            heartbeat_seconds: 60,
            timeout_seconds: 900,
            batches: Vec::new(),
        };
        plan.batches = plan.derive_batches();
        plan
    }

    fn stage(apps: Vec<AppPlan>) -> Stage {
        Stage {
            parallelism: u32::try_from(apps.len()).unwrap(),
            apps,
        }
    }

    /// Stage 1: db, cache · stage 2: api · stage 3: web (k8s), worker.
    fn sample() -> Plan {
        Plan {
            environment: "prod".to_owned(),
            version: "v2".to_owned(),
            stages: vec![
                stage(vec![
                    app("cache", AppKind::Pm, &[], 3),
                    app("db", AppKind::Pm, &[], 4),
                ]),
                stage(vec![app("api", AppKind::Pm, &["db"], 6)]),
                stage(vec![
                    app("web", AppKind::K8s, &["api"], 2),
                    app("worker", AppKind::Pm, &["db"], 2),
                ]),
            ],
            skipped: Vec::new(),
        }
    }

    fn shape(plan: &Plan) -> Vec<Vec<&str>> {
        plan.stages
            .iter()
            .map(|s| s.apps.iter().map(|a| a.app.as_str()).collect())
            .collect()
    }

    fn err(plan: &Plan, adjustments: &[Adjustment]) -> AdjustError {
        let e = apply(plan, adjustments).unwrap_err();
        // Wrapped with the failing adjustment.
        assert!(matches!(e, AdjustError::Adjustment { .. }), "{e:?}");
        e
    }

    fn move_app(app: &str, stage: usize) -> Adjustment {
        Adjustment::MoveApp {
            app: app.to_owned(),
            stage,
        }
    }

    #[test]
    fn lifting_or_merging_manual_gates_is_seen_and_dropping_an_app_is_not() {
        let before = sample();
        let pause = |app: &str, pause: Pause| Adjustment::SetPause {
            app: app.to_owned(),
            pause,
        };
        let after = apply(
            &before,
            &[
                pause("api", Pause::Wait(DurationSpec(60))),
                Adjustment::SetBatches {
                    app: "db".to_owned(),
                    batches: vec![Count(1), Percent(100)],
                },
                Adjustment::DropApp {
                    app: "worker".to_owned(),
                },
                move_app("cache", 2),
            ],
        )
        .unwrap();
        let lifted = gates_lifted(&before, &after);
        assert_eq!(
            lifted.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "app \"db\" would wait at 1 manual gate(s) instead of 2",
                "app \"api\" would wait at 0 manual gate(s) instead of 2",
            ]
        );
        assert_eq!(
            describe_changes(&before, &after),
            [
                "stages [cache, db] [api] [web, worker] -> [db] [api, cache] [web]",
                "db: batches [1, 50%, 100%] -> [1, 100%]",
                "api: pause manual -> 1m",
                "worker: dropped",
            ]
        );
        // Adding gates, reordering and dropping lift nothing.
        let stricter = apply(
            &before,
            &[
                Adjustment::SetBatches {
                    app: "api".to_owned(),
                    batches: vec![Count(1), Percent(25), Percent(50), Percent(100)],
                },
                Adjustment::DropApp {
                    app: "worker".to_owned(),
                },
            ],
        )
        .unwrap();
        assert!(gates_lifted(&before, &stricter).is_empty());
        assert!(gates_lifted(&before, &before).is_empty());
        assert!(describe_changes(&before, &before).is_empty());
    }

    #[test]
    fn the_sample_is_valid() {
        validate(&sample()).unwrap();
    }

    #[test]
    fn adjustments_are_tagged_json() {
        let list: Vec<Adjustment> = serde_json::from_str(
            r#"[
                {"op": "move_stage", "stage": 3, "to": 1},
                {"op": "move_app", "app": "web", "stage": 2},
                {"op": "split_stage", "stage": 1, "apps": ["db"]},
                {"op": "merge_stages", "stage": 2},
                {"op": "set_batches", "app": "api", "batches": [1, "25%", "100%"]},
                {"op": "set_pause", "app": "api", "pause": "30s"},
                {"op": "set_pause", "app": "db", "pause": "manual"},
                {"op": "drop_app", "app": "worker"}
            ]"#,
        )
        .unwrap();
        assert_eq!(list[0], Adjustment::MoveStage { stage: 3, to: 1 });
        assert_eq!(
            list[4],
            Adjustment::SetBatches {
                app: "api".to_owned(),
                batches: vec![Count(1), Percent(25), Percent(100)]
            }
        );
        assert_eq!(
            list[5],
            Adjustment::SetPause {
                app: "api".to_owned(),
                pause: Pause::Wait(DurationSpec(30))
            }
        );
        assert_eq!(
            list.iter().map(Adjustment::op).collect::<Vec<_>>(),
            vec![
                "move_stage",
                "move_app",
                "split_stage",
                "merge_stages",
                "set_batches",
                "set_pause",
                "set_pause",
                "drop_app"
            ]
        );
        let back: Vec<Adjustment> =
            serde_json::from_str(&serde_json::to_string(&list).unwrap()).unwrap();
        assert_eq!(back, list);
        assert_eq!(
            serde_json::to_value(move_app("web", 2)).unwrap(),
            serde_json::json!({"op": "move_app", "app": "web", "stage": 2})
        );
        assert!(
            serde_json::from_str::<Adjustment>(
                r#"{"op": "move_app", "app": "x", "stage": 1, "extra": 1}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<Adjustment>(r#"{"op": "rename_app", "app": "x"}"#).is_err());
    }

    #[test]
    fn moving_an_app_before_its_dependency_names_the_dependency() {
        let e = err(&sample(), &[move_app("web", 1)]);
        assert_eq!(e.rule(), "dependency_order");
        assert_eq!(
            e.to_string(),
            "adjustment 0 (move_app): \"web\" depends on \"api\", which runs in stage 2; \
             \"web\" cannot run in stage 1"
        );
        // The same stage as the dependency is not after it either.
        let e = err(&sample(), &[move_app("web", 2)]);
        assert!(
            e.to_string().ends_with("\"web\" cannot run in stage 2"),
            "{e}"
        );
        let e = err(&sample(), &[move_app("api", 1)]);
        assert_eq!(
            e.to_string(),
            "adjustment 0 (move_app): \"api\" depends on \"db\", which runs in stage 1; \
             \"api\" cannot run in stage 1"
        );
    }

    #[test]
    fn moving_apps_later_or_earlier_within_dependencies() {
        let plan = sample();
        // worker only needs db: it may run in stage 2 next to api.
        let moved = apply(&plan, &[move_app("worker", 2)]).unwrap();
        assert_eq!(
            shape(&moved),
            vec![vec!["cache", "db"], vec!["api", "worker"], vec!["web"]]
        );
        assert_eq!(
            moved
                .stages
                .iter()
                .map(|s| s.parallelism)
                .collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        // cache depends on nothing: it may run last.
        let moved = apply(&plan, &[move_app("cache", 3)]).unwrap();
        assert_eq!(
            shape(&moved),
            vec![vec!["db"], vec!["api"], vec!["cache", "web", "worker"]]
        );
        // Moving the only app of a stage removes the stage.
        let moved = apply(
            &plan,
            &[
                Adjustment::SplitStage {
                    stage: 3,
                    apps: vec!["worker".to_owned()],
                },
                move_app("worker", 2),
            ],
        )
        .unwrap();
        assert_eq!(
            shape(&moved),
            vec![vec!["cache", "db"], vec!["api", "worker"], vec!["web"]]
        );
        // Moving to the stage it is in changes nothing.
        assert_eq!(apply(&plan, &[move_app("api", 2)]).unwrap(), plan);
    }

    #[test]
    fn a_deliberate_stage_parallelism_is_kept_when_apps_move() {
        let mut plan = sample();
        plan.stages[2].apps.push(app("zeta", AppKind::Pm, &[], 1));
        plan.stages[2].parallelism = 1;
        let moved = apply(&plan, &[move_app("zeta", 1)]).unwrap();
        assert_eq!(moved.stages[2].parallelism, 1);
        assert_eq!(moved.stages[0].parallelism, 3);
        // Merging keeps the lower deliberate limit.
        let mut plan = sample();
        plan.stages[2].apps[0].depends_on.clear();
        plan.stages[2].parallelism = 1;
        let merged = apply(&plan, &[Adjustment::MergeStages { stage: 2 }]).unwrap();
        assert_eq!(
            shape(&merged),
            vec![vec!["cache", "db"], vec!["api", "web", "worker"]]
        );
        assert_eq!(merged.stages[1].parallelism, 1);
    }

    #[test]
    fn unknown_apps_and_stages() {
        let e = err(&sample(), &[move_app("nope", 1)]);
        assert_eq!(e.rule(), "unknown_app");
        assert_eq!(
            e.to_string(),
            "adjustment 0 (move_app): app \"nope\" is not in the plan"
        );
        let e = err(&sample(), &[move_app("web", 4)]);
        assert_eq!(e.rule(), "unknown_stage");
        assert_eq!(
            e.to_string(),
            "adjustment 0 (move_app): there is no stage 4; the plan has 3 stage(s), numbered from 1"
        );
        assert_eq!(
            err(&sample(), &[move_app("web", 0)]).rule(),
            "unknown_stage"
        );
        for op in [
            Adjustment::SetPause {
                app: "nope".to_owned(),
                pause: Pause::None,
            },
            Adjustment::SetBatches {
                app: "nope".to_owned(),
                batches: vec![Percent(100)],
            },
            Adjustment::DropApp {
                app: "nope".to_owned(),
            },
        ] {
            assert_eq!(err(&sample(), &[op]).rule(), "unknown_app");
        }
    }

    #[test]
    fn moving_stages() {
        let plan = sample();
        // Stage 1 cannot go after api's stage.
        let e = err(&plan, &[Adjustment::MoveStage { stage: 1, to: 3 }]);
        assert_eq!(e.rule(), "dependency_order");
        assert!(
            e.to_string()
                .contains("\"api\" depends on \"db\", which runs in stage 3"),
            "{e}"
        );
        // With worker and web on their own, cache's stage can move to the end.
        let moved = apply(
            &plan,
            &[
                Adjustment::SplitStage {
                    stage: 1,
                    apps: vec!["cache".to_owned()],
                },
                Adjustment::MoveStage { stage: 2, to: 4 },
            ],
        )
        .unwrap();
        assert_eq!(
            shape(&moved),
            vec![
                vec!["db"],
                vec!["api"],
                vec!["web", "worker"],
                vec!["cache"]
            ]
        );
        assert_eq!(
            err(&plan, &[Adjustment::MoveStage { stage: 4, to: 1 }]).rule(),
            "unknown_stage"
        );
    }

    #[test]
    fn splitting_stages() {
        let plan = sample();
        let split = apply(
            &plan,
            &[Adjustment::SplitStage {
                stage: 3,
                apps: vec!["web".to_owned()],
            }],
        )
        .unwrap();
        assert_eq!(
            shape(&split),
            vec![
                vec!["cache", "db"],
                vec!["api"],
                vec!["worker"],
                vec!["web"]
            ]
        );
        assert_eq!(split.stages[2].parallelism, 1);
        let split_err = |apps: &[&str]| {
            err(
                &plan,
                &[Adjustment::SplitStage {
                    stage: 1,
                    apps: apps.iter().map(|a| (*a).to_owned()).collect(),
                }],
            )
        };
        let e = split_err(&[]);
        assert_eq!(e.rule(), "bad_split");
        assert_eq!(
            e.to_string(),
            "adjustment 0 (split_stage): cannot split stage 1: no apps listed to move to the \
             new stage"
        );
        assert_eq!(split_err(&["cache", "db"]).rule(), "bad_split");
        assert_eq!(split_err(&["db", "db"]).rule(), "bad_split");
        let e = split_err(&["api"]);
        assert_eq!(e.rule(), "bad_split");
        assert!(e.to_string().ends_with("\"api\" runs in stage 2"), "{e}");
        assert_eq!(split_err(&["nope"]).rule(), "unknown_app");
    }

    #[test]
    fn merging_stages() {
        let plan = sample();
        let e = err(&plan, &[Adjustment::MergeStages { stage: 1 }]);
        assert_eq!(e.rule(), "dependency_order");
        let e = err(&plan, &[Adjustment::MergeStages { stage: 3 }]);
        assert_eq!(e.rule(), "no_next_stage");
        assert_eq!(
            e.to_string(),
            "adjustment 0 (merge_stages): stage 3 is the last stage; there is no next stage to \
             merge it with"
        );
        let merged = apply(
            &plan,
            &[
                Adjustment::SplitStage {
                    stage: 1,
                    apps: vec!["db".to_owned()],
                },
                Adjustment::MergeStages { stage: 1 },
            ],
        )
        .unwrap();
        assert_eq!(merged, plan);
    }

    #[test]
    fn setting_batches_rebuilds_them() {
        let plan = sample();
        let set = apply(
            &plan,
            &[Adjustment::SetBatches {
                app: "api".to_owned(),
                batches: vec![Count(2), Percent(100)],
            }],
        )
        .unwrap();
        let (_, api) = set.find_app("api").unwrap();
        assert_eq!(api.batch_sizes, vec![Count(2), Percent(100)]);
        assert_eq!(
            api.batches
                .iter()
                .map(|b| b.targets.len())
                .collect::<Vec<_>>(),
            vec![2, 4]
        );
        let set = apply(
            &plan,
            &[Adjustment::SetBatches {
                app: "web".to_owned(),
                batches: vec![Percent(5), Percent(100)],
            }],
        )
        .unwrap();
        let (_, web) = set.find_app("web").unwrap();
        assert_eq!(
            web.batches.iter().map(|b| b.weight).collect::<Vec<_>>(),
            vec![Some(5), Some(100)]
        );
        for (batches, rule, message) in [
            (
                vec![Percent(50), Percent(25), Percent(100)],
                "batches_not_increasing",
                "\"api\": batches[1] is not larger than the batch before it (a count may not \
                 follow a percentage)",
            ),
            (
                vec![Count(1), Percent(50)],
                "batches_not_ending_at_100",
                "\"api\": the last batch must be \"100%\"",
            ),
            (
                vec![],
                "batches_empty",
                "\"api\": batches must not be empty; end them with \"100%\"",
            ),
            (
                vec![Count(0), Percent(100)],
                "batch_out_of_range",
                "\"api\": batches[0] must be a count of at least 1 or a percentage from 1% to 100%",
            ),
        ] {
            let e = err(
                &plan,
                &[Adjustment::SetBatches {
                    app: "api".to_owned(),
                    batches,
                }],
            );
            assert_eq!(e.rule(), rule);
            assert_eq!(
                e.to_string(),
                format!("adjustment 0 (set_batches): {message}")
            );
        }
    }

    #[test]
    fn setting_the_pause_rebuilds_gates_and_waits() {
        let plan = sample();
        let set = apply(
            &plan,
            &[Adjustment::SetPause {
                app: "api".to_owned(),
                pause: Pause::Wait(DurationSpec(30)),
            }],
        )
        .unwrap();
        let (_, api) = set.find_app("api").unwrap();
        assert_eq!(
            api.batches
                .iter()
                .map(|b| b.pause.clone())
                .collect::<Vec<_>>(),
            vec![
                PausePlan::Wait { seconds: 30 },
                PausePlan::Wait { seconds: 30 },
                PausePlan::None
            ]
        );
        let set = apply(
            &set,
            &[Adjustment::SetPause {
                app: "api".to_owned(),
                pause: Pause::Manual,
            }],
        )
        .unwrap();
        assert_eq!(set, plan);
        assert_eq!(
            set.find_app("api").unwrap().1.batches[1].pause,
            PausePlan::Gate {
                gate: "api.1".to_owned()
            }
        );
    }

    #[test]
    fn dropping_an_app_others_depend_on_is_allowed() {
        let plan = sample();
        let dropped = apply(
            &plan,
            &[
                Adjustment::DropApp {
                    app: "api".to_owned(),
                },
                // web no longer waits for api, which keeps its running version.
                move_app("web", 1),
            ],
        )
        .unwrap();
        assert_eq!(
            shape(&dropped),
            vec![vec!["cache", "db", "web"], vec!["worker"]]
        );
        assert_eq!(
            dropped.skipped,
            vec![SkippedApp {
                app: "api".to_owned(),
                reason: SkipReason::Dropped
            }]
        );
        // An app dropped twice is no longer there.
        let e = err(
            &dropped,
            &[Adjustment::DropApp {
                app: "api".to_owned(),
            }],
        );
        assert_eq!(e.rule(), "unknown_app");
    }

    #[test]
    fn a_failing_list_applies_nothing_and_names_the_adjustment() {
        let plan = sample();
        let before = plan.clone();
        let e = apply(&plan, &[move_app("worker", 2), move_app("web", 1)]).unwrap_err();
        assert_eq!(plan, before);
        let AdjustError::Adjustment { index, op, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!((*index, *op), (1, "move_app"));
        assert_eq!(e.rule(), "dependency_order");
        // An empty list gives the plan back.
        assert_eq!(apply(&plan, &[]).unwrap(), plan);
    }

    /// Validate a copy of the sample changed by `edit`; return the rule and message.
    fn broken(edit: impl FnOnce(&mut Plan)) -> (&'static str, String) {
        let mut plan = sample();
        edit(&mut plan);
        let e = validate(&plan).unwrap_err();
        (e.rule(), e.to_string())
    }

    fn api(plan: &mut Plan) -> &mut AppPlan {
        &mut plan.stages[1].apps[0]
    }

    #[test]
    fn validation_of_stages_and_apps() {
        assert_eq!(
            broken(|p| p.stages.push(stage(vec![]))),
            ("empty_stage", "stage 4 has no apps".to_owned())
        );
        assert_eq!(
            broken(|p| p.stages[0].parallelism = 0),
            (
                "parallelism",
                "stage 1 has parallelism 0; it must be at least 1".to_owned()
            )
        );
        assert_eq!(broken(|p| api(p).parallelism = 0).0, "parallelism");
        assert_eq!(
            broken(|p| p.stages[2].apps.push(app("db", AppKind::Pm, &[], 1))),
            (
                "duplicate_app",
                "app \"db\" appears more than once in the plan".to_owned()
            )
        );
        assert_eq!(
            broken(|p| p.skipped.push(SkippedApp {
                app: "db".to_owned(),
                reason: SkipReason::Dropped
            }))
            .0,
            "duplicate_app"
        );
        assert_eq!(
            broken(|p| p.stages.swap(1, 2)),
            (
                "dependency_order",
                "\"web\" depends on \"api\", which runs in stage 3; \"web\" cannot run in stage 2"
                    .to_owned()
            )
        );
        // A dependency that is not in the plan constrains nothing.
        let mut plan = sample();
        api(&mut plan).depends_on.push("gone".to_owned());
        validate(&plan).unwrap();
    }

    #[test]
    fn validation_of_targets() {
        assert_eq!(
            broken(|p| {
                let a = api(p);
                a.targets.clear();
                a.batches.clear();
            }),
            ("no_targets", "app \"api\" has no targets".to_owned())
        );
        assert_eq!(
            broken(|p| api(p).targets[1] = "api-1".to_owned()),
            (
                "duplicate_target",
                "app \"api\": target \"api-1\" is listed more than once".to_owned()
            )
        );
        assert_eq!(
            broken(|p| api(p).batches[2].targets.push("api-1".to_owned())),
            (
                "target_coverage",
                "app \"api\": target \"api-1\" is in batch 0 and again in batch 2".to_owned()
            )
        );
        assert_eq!(
            broken(|p| api(p).batches[1].targets.push("other".to_owned())),
            (
                "target_coverage",
                "app \"api\": batch 1 has \"other\", which is not one of the app's targets"
                    .to_owned()
            )
        );
        assert_eq!(
            broken(|p| {
                api(p).batches[2].targets.pop();
            }),
            (
                "target_coverage",
                "app \"api\": target \"api-6\" is in no batch".to_owned()
            )
        );
        assert_eq!(
            broken(|p| {
                let web = &mut p.stages[2].apps[0];
                web.batches[1].targets.pop();
            }),
            (
                "target_coverage",
                "app \"web\": batch 1 leaves out cluster \"cluster-2\"; every batch of a k8s app \
                 covers every cluster"
                    .to_owned()
            )
        );
        assert_eq!(
            broken(|p| api(p).batches[1].targets.clear()),
            (
                "empty_batch",
                "app \"api\": batch 1 has no targets".to_owned()
            )
        );
    }

    #[test]
    fn validation_of_batches_and_pauses() {
        // Targets moved between batches against the batch sizes.
        let (rule, message) = broken(|p| {
            let a = api(p);
            let moved = a.batches[2].targets.remove(0);
            a.batches[1].targets.push(moved);
        });
        assert_eq!(rule, "batches_mismatch");
        assert_eq!(
            message,
            "app \"api\": batch 1 should hold 2 target(s) starting at \"api-2\" (batch sizes 1 \
             50% 100% over the targets in order), it holds 3 starting at \"api-2\""
        );
        assert_eq!(
            broken(|p| {
                api(p).batches.pop();
            })
            .0,
            "target_coverage"
        );
        assert_eq!(
            broken(|p| p.stages[2].apps[0].batches[0].weight = Some(20)),
            (
                "batches_mismatch",
                "app \"web\": batch 0 has weight 20%, batch sizes 1 50% 100% give 1%".to_owned()
            )
        );
        assert_eq!(
            broken(|p| api(p).batch_sizes = vec![Count(1), Percent(50)]).0,
            "batches_not_ending_at_100"
        );
        assert_eq!(
            broken(|p| api(p).batches[0].pause = PausePlan::Gate {
                gate: "web.0".to_owned()
            }),
            (
                "gate_id",
                "app \"api\": gate \"web.0\" after batch 0 must be named \"api.0\"".to_owned()
            )
        );
        assert_eq!(
            broken(|p| api(p).batches[2].pause = PausePlan::Gate {
                gate: "api.2".to_owned()
            }),
            (
                "pause_mismatch",
                "app \"api\": batch 2: the last batch must not pause".to_owned()
            )
        );
        assert_eq!(
            broken(|p| api(p).batches[0].pause = PausePlan::Wait { seconds: 5 }),
            (
                "pause_mismatch",
                "app \"api\": batch 0: pauses with a wait of 5s, but the app's pause is manual"
                    .to_owned()
            )
        );
        assert_eq!(
            broken(|p| api(p).batches[1].index = 7).0,
            "batches_mismatch"
        );
    }

    #[test]
    fn duplicate_gates_are_rejected() {
        // Two apps that cannot both be in a valid plan, forced into one: same name, same gates.
        let mut plan = sample();
        let twin = plan.stages[1].apps[0].clone();
        let mut gates = HashSet::new();
        validate_app(&plan.stages[1].apps[0], &mut gates).unwrap();
        let e = validate_app(&twin, &mut gates).unwrap_err();
        assert_eq!(e.rule(), "duplicate_gate");
        assert_eq!(e.to_string(), "gate \"api.0\" appears more than once");
        plan.stages[1].apps.push(twin);
        assert_eq!(validate(&plan).unwrap_err().rule(), "duplicate_app");
    }
}
