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
//! out; a deliberately lower limit is kept (but never above the number of apps).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::config::{AppKind, BatchSize, Pause};
use crate::plan::{AppPlan, PausePlan, Plan, SkipReason, SkippedApp, Stage, gate_id};
use crate::rollout::{self, BatchRuleViolation};

/// One change a person makes to a plan. JSON: `{"op": "move_app", "app": "web", "stage": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
            merged.apps.extend(second.apps);
            merged.apps.sort_by(|a, b| a.app.cmp(&b.app));
            merged.parallelism = count_u32(merged.apps.len());
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
    let coverage = |problem: String| AdjustError::TargetCoverage {
        app: name.clone(),
        problem,
    };
    let mut placed: HashMap<&str, usize> = HashMap::new();
    for (i, batch) in app.batches.iter().enumerate() {
        if batch.targets.is_empty() {
            return Err(AdjustError::EmptyBatch {
                app: name.clone(),
                index: i,
            });
        }
        match app.kind {
            AppKind::Pm => {
                for target in &batch.targets {
                    if !seen.contains(target.as_str()) {
                        return Err(coverage(format!(
                            "batch {i} has {target:?}, which is not one of the app's targets"
                        )));
                    }
                    if let Some(first) = placed.insert(target.as_str(), i) {
                        return Err(coverage(format!(
                            "target {target:?} is in batch {first} and again in batch {i}"
                        )));
                    }
                }
            }
            AppKind::K8s => {
                if let Some(missing) = app.targets.iter().find(|t| !batch.targets.contains(t)) {
                    return Err(coverage(format!(
                        "batch {i} leaves out cluster {missing:?}; every batch of a k8s app \
                         covers every cluster"
                    )));
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
        return Err(coverage(format!("target {missing:?} is in no batch")));
    }
    let expected = app.derive_batches();
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
        return Err(mismatch(format!(
            "batch sizes {sizes} over {} target(s) give {} batch(es), the plan has {}",
            app.targets.len(),
            expected.len(),
            app.batches.len()
        )));
    }
    for (i, (want, have)) in expected.iter().zip(&app.batches).enumerate() {
        if have.index as usize != i {
            return Err(mismatch(format!(
                "batch at position {i} has index {}",
                have.index
            )));
        }
        if want.weight != have.weight {
            return Err(mismatch(format!(
                "batch {i} has weight {}, batch sizes {sizes} give {}",
                show_weight(have.weight),
                show_weight(want.weight)
            )));
        }
        if want.targets != have.targets {
            return Err(mismatch(format!(
                "batch {i} should hold {} target(s) starting at {:?} (batch sizes {sizes} over \
                 the targets in order), it holds {} starting at {:?}",
                want.targets.len(),
                want.targets.first().map_or("", String::as_str),
                have.targets.len(),
                have.targets.first().map_or("", String::as_str),
            )));
        }
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
        if want.pause != have.pause {
            let problem = if i + 1 == expected.len() {
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
