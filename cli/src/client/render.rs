//! Human output: tables of versions and deployments, a deployment as a tree (with what its
//! environment's policy holds it back for), a deployment's plan with the planner's reasons
//! (`show --plan`), per-app progress.

use std::fmt::Write as _;

use boreas_api_types::{
    Analysis, AppReason, DeploymentDetail, DeploymentSummary, Hold, List, PlanReview,
    TargetOutputs, Version,
};
use boreas_core::analysis::Measurement;
use boreas_core::command::ErrorType;
use boreas_core::config::{AppKind, DurationSpec};
use boreas_core::plan::{AppPlan, PausePlan, SkipReason};
use boreas_core::status::{AppStatus, FailureAction, GateStatus, TargetStatus};

/// Prints rows with columns padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ");
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

pub(crate) fn versions(list: &List<Version>) {
    let rows: Vec<Vec<String>> = list
        .items
        .iter()
        .map(|v| {
            vec![
                v.repository.clone(),
                v.name.clone(),
                v.commit.chars().take(12).collect(),
                v.state.to_string(),
                v.status.to_string(),
                if v.diverged { "yes" } else { "" }.to_owned(),
                v.received_at.clone(),
            ]
        })
        .collect();
    table(
        &[
            "REPOSITORY",
            "VERSION",
            "COMMIT",
            "STATE",
            "STATUS",
            "DIVERGED",
            "RECEIVED",
        ],
        &rows,
    );
}

pub(crate) fn deployments(list: &List<DeploymentSummary>) {
    let rows: Vec<Vec<String>> = list
        .items
        .iter()
        .map(|d| {
            vec![
                d.id.clone(),
                d.environment.clone(),
                d.version.clone(),
                d.status.to_string(),
                d.created_at.clone(),
                d.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &["ID", "ENV", "VERSION", "STATUS", "CREATED", "ERROR"],
        &rows,
    );
}

/// `├─` and the indent below it, or `└─` for the last item.
fn branch(last: bool) -> (&'static str, &'static str) {
    if last {
        ("└─", "   ")
    } else {
        ("├─", "│  ")
    }
}

/// A deployment (plan and progress, as `GET /api/deployments/{id}` answers) as a tree.
pub(crate) fn tree(d: &DeploymentDetail) -> String {
    let summary = &d.deployment.summary;
    let plan = &d.deployment.plan;
    let progress = &d.progress;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {} {} → {}  [{}]",
        summary.id, summary.repository, summary.version, summary.environment, summary.status
    );
    if let Some(by) = &summary.confirmed_by {
        let _ = writeln!(out, "  confirmed by {by}");
    }
    if let Some(e) = &summary.error {
        let _ = writeln!(
            out,
            "  error: {e} (target {})",
            summary.failed_target.as_deref().unwrap_or("-")
        );
    }
    let policy = &d.policy;
    if let Some(hold) = &policy.hold {
        let _ = writeln!(out, "  waiting ({}):", hold_times(hold));
        for reason in &hold.reasons {
            let _ = writeln!(out, "    {}", plain(reason));
        }
    }
    for w in &policy.waivers {
        let _ = writeln!(
            out,
            "  waived {} by {} at {}: {}",
            w.condition,
            w.by,
            w.at,
            plain(&w.reason)
        );
    }
    if let Some(o) = &policy.override_ {
        let _ = writeln!(
            out,
            "  freeze windows overridden until {} by {} at {}: {}",
            o.expires_at,
            o.by,
            o.at,
            plain(&o.reason)
        );
    }
    for (si, stage) in plan.stages.iter().enumerate() {
        let (sbranch, pad) = branch(si + 1 == plan.stages.len());
        let _ = writeln!(out, "{sbranch} stage {}", si + 1);
        for (ai, app) in stage.apps.iter().enumerate() {
            let name = &app.app;
            let (abranch, apad) = branch(ai + 1 == stage.apps.len());
            let status = app_status(d, name).map_or("pending".to_owned(), |s| s.to_string());
            let _ = writeln!(out, "{pad}{abranch} {name} ({})  [{status}]", app.kind);
            for (bi, batch) in app.batches.iter().enumerate() {
                let (bbranch, bpad) = branch(bi + 1 == app.batches.len());
                let bstatus = progress
                    .batches
                    .iter()
                    .find(|b| b.app == *name && b.index == batch.index)
                    .map_or("pending".to_owned(), |b| b.status.to_string());
                let pause = match &batch.pause {
                    PausePlan::Gate { gate } => format!(
                        ", then gate {gate} [{}]",
                        gate_status(d, gate).map_or("not reached".to_owned(), |s| s.to_string())
                    ),
                    PausePlan::Wait { seconds } => format!(", then wait {seconds}s"),
                    PausePlan::None => String::new(),
                };
                let _ = writeln!(
                    out,
                    "{pad}{apad}{bbranch} batch {}  [{bstatus}]{pause}",
                    batch.index
                );
                for a in d
                    .analyses
                    .iter()
                    .filter(|a| a.app == *name && a.batch == batch.index)
                {
                    let _ = writeln!(out, "{pad}{apad}{bpad}  {}", analysis_line(a));
                }
                for (ti, target) in batch.targets.iter().enumerate() {
                    let (tbranch, _) = branch(ti + 1 == batch.targets.len());
                    let tp = progress
                        .targets
                        .iter()
                        .find(|t| t.app == *name && t.target == *target);
                    let tstatus = tp.map_or("pending".to_owned(), |t| t.status.to_string());
                    let err = tp
                        .and_then(|t| t.error.as_deref())
                        .map(|e| format!("  {e}"))
                        .unwrap_or_default();
                    let _ = writeln!(out, "{pad}{apad}{bpad}{tbranch} {target}  [{tstatus}]{err}");
                }
            }
        }
    }
    for w in progress.decisions.iter().filter(|w| w.action.is_none()) {
        let _ = writeln!(
            out,
            "   failed, waiting for a decision: {} of {} (batch {}, attempt {}): boreas decide {} {} {} retry|skip|rollback",
            w.target, w.app, w.batch, w.attempt, summary.id, w.app, w.target
        );
    }
    let decided_skip: Vec<String> = progress
        .decisions
        .iter()
        .filter(|w| w.action == Some(FailureAction::Skip))
        .map(|w| {
            let by = w.by.as_deref().unwrap_or("?");
            match &w.comment {
                Some(c) => format!("{} of {} (by {by}: {c})", w.target, w.app),
                None => format!("{} of {} (by {by})", w.target, w.app),
            }
        })
        .collect();
    if !decided_skip.is_empty() {
        let _ = writeln!(
            out,
            "   failed, skipped by decision: {} (left as they are)",
            decided_skip.join(", ")
        );
    }
    let unreachable: Vec<&str> = progress
        .targets
        .iter()
        .filter(|t| {
            t.status == TargetStatus::Skipped
                && t.error_type.as_deref() == Some(ErrorType::AgentUnreachable.as_str())
        })
        .map(|t| t.target.as_str())
        .collect();
    if !unreachable.is_empty() {
        let _ = writeln!(
            out,
            "   unreachable, skipped: {} (sent nothing; they keep the version they ran)",
            unreachable.join(", ")
        );
    }
    for skipped in &plan.skipped {
        let _ = writeln!(
            out,
            "   skipped: {} ({})",
            skipped.app,
            skipped.reason.as_str()
        );
    }
    if !d.notifications.is_empty() {
        let _ = writeln!(out, "   notifications:");
        for n in &d.notifications {
            let error = n
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "     {} {} [{}, {} attempt{}]{error}",
                n.sink,
                n.event,
                n.state,
                n.attempts,
                if n.attempts == 1 { "" } else { "s" }
            );
        }
    }
    out
}

/// Commit ids are shown this short.
const SHORT_COMMIT: usize = 7;

fn short(commit: &str) -> String {
    commit.chars().take(SHORT_COMMIT).collect()
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A deployment's plan for the person who confirms it (`show --plan`): what runs in the
/// environment now and the commits since, the changed paths, then stage by stage each app's
/// reason and the targets of each batch in order, the apps left out and why, and how people
/// adjusted the planner's proposal.
pub(crate) fn plan_review(d: &DeploymentDetail) -> String {
    let summary = &d.deployment.summary;
    let plan = &d.deployment.plan;
    let env = &summary.environment;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {} {} → {}  [{}]",
        summary.id, summary.repository, summary.version, env, summary.status
    );
    if let Some(by) = &summary.confirmed_by {
        let _ = writeln!(out, "  confirmed by {by}");
    }
    match &d.review {
        Some(review) => {
            let _ = write!(out, "{}", changes(review, env));
        }
        None => {
            let _ = writeln!(
                out,
                "no review recorded: planned before Boreas recorded the planner's reasons"
            );
        }
    }
    let reason_of = |app: &str| -> Option<&AppReason> {
        d.review
            .as_ref()
            .and_then(|r| r.review.apps.iter().find(|a| a.app == app))
    };
    for (si, stage) in plan.stages.iter().enumerate() {
        let _ = writeln!(
            out,
            "\nStage {} ({}, {} at a time)",
            si + 1,
            count(stage.apps.len(), "app", "apps"),
            stage.parallelism
        );
        for app in &stage.apps {
            let _ = writeln!(out, "  {}", app_heading(app));
            if let Some(reason) = reason_of(&app.app) {
                let _ = writeln!(out, "    why: {}", plain(&reason.describe()));
                if let Some(paths) = matched_paths(reason) {
                    let _ = writeln!(out, "    paths: {paths}");
                }
            }
            for batch in &app.batches {
                let weight = batch
                    .weight
                    .map(|w| format!("weight {w}% on "))
                    .unwrap_or_default();
                let pause = match &batch.pause {
                    PausePlan::None => String::new(),
                    PausePlan::Wait { seconds } => {
                        format!(", then wait {}", DurationSpec(*seconds))
                    }
                    PausePlan::Gate { gate } => format!(", then gate {gate}"),
                };
                let _ = writeln!(
                    out,
                    "    batch {}: {weight}{}{pause}",
                    batch.index,
                    batch.targets.join(", ")
                );
            }
        }
    }
    if !plan.skipped.is_empty() {
        let _ = writeln!(out, "\nSkipped");
        for skipped in &plan.skipped {
            let why = match (skipped.reason, reason_of(&skipped.app)) {
                // The planner wanted it; a person took it out.
                (SkipReason::Dropped, Some(r)) if r.skipped.is_none() => format!(
                    "{} (the planner proposed it: {})",
                    skipped.reason.describe(),
                    plain(&r.describe())
                ),
                (SkipReason::Dropped, _) | (_, None) => skipped.reason.describe().to_owned(),
                (_, Some(r)) => plain(&r.describe()),
            };
            let _ = writeln!(out, "  {}: {why}", skipped.app);
        }
    }
    if let Some(review) = &d.review {
        if review.adjustments.is_empty() {
            let _ = writeln!(
                out,
                "\nAdjustments: not adjusted, as the planner proposed it"
            );
        } else {
            let _ = writeln!(out, "\nAdjustments to the planner's proposal");
            for line in &review.adjustments {
                let _ = writeln!(out, "  {}", plain(line));
            }
        }
    }
    out
}

/// What runs in `env` now, the commits since (newest first) and how many paths changed.
fn changes(review: &PlanReview, env: &str) -> String {
    let r = &review.review;
    let mut out = String::new();
    let Some(running) = &r.running else {
        let _ = writeln!(
            out,
            "first deployment to {env}: nothing ran there before, so every app is deployed"
        );
        return out;
    };
    let since = format!("{} ({})", running.version, short(&running.commit));
    let _ = writeln!(out, "runs in {env} now: {since}");
    let Some(paths) = r.changed_paths else {
        let _ = writeln!(
            out,
            "the changes since {since} are unknown (its commit cannot be fetched): every app counts as changed"
        );
        return out;
    };
    let total = r.commits.len() + usize::try_from(r.more_commits).unwrap_or(usize::MAX);
    let _ = writeln!(
        out,
        "{} since {since}{}",
        count(total, "commit", "commits"),
        if total > 0 { ", newest first:" } else { "" }
    );
    for c in &r.commits {
        let _ = writeln!(
            out,
            "  {}  {}  ({})",
            short(&c.id),
            plain(&c.subject),
            plain(&c.author)
        );
    }
    if r.more_commits > 0 {
        let _ = writeln!(out, "  … and {} more", r.more_commits);
    }
    let _ = writeln!(
        out,
        "{} changed",
        count(
            usize::try_from(paths).unwrap_or(usize::MAX),
            "path",
            "paths"
        )
    );
    out
}

/// `api (pm, 4 hosts, now v1.4.0)`.
fn app_heading(app: &AppPlan) -> String {
    let unit = match app.kind {
        AppKind::Pm => ("host", "hosts"),
        AppKind::K8s => ("cluster", "clusters"),
    };
    let now = app
        .current_version
        .as_ref()
        .map_or("no version known to run here".to_owned(), |v| {
            format!("now {v}")
        });
    format!(
        "{} ({}, {}, {now})",
        app.app,
        app.kind,
        count(app.targets.len(), unit.0, unit.1)
    )
}

/// The changed paths an app matched, the first few listed; `None` when it matched none.
fn matched_paths(reason: &AppReason) -> Option<String> {
    if reason.paths.is_empty() {
        return None;
    }
    let listed: Vec<String> = reason.paths.iter().map(|p| plain(p)).collect();
    let more = usize::try_from(reason.matched_paths)
        .unwrap_or(usize::MAX)
        .saturating_sub(listed.len());
    Some(if more > 0 {
        format!("{} … and {more} more", listed.join(", "))
    } else {
        listed.join(", ")
    })
}

/// One analysis check of a batch: its condition, verdict (or `measuring`), every measurement and
/// the verdict's sentence.
fn analysis_line(a: &Analysis) -> String {
    let verdict = a.verdict.map_or("measuring", |v| v.as_str());
    let measured: Vec<String> = a
        .measurements
        .iter()
        .map(|t| match &t.measurement {
            Measurement::Value { value, .. } => value.to_string(),
            Measurement::NoData => "no-data".to_owned(),
            Measurement::Error { .. } => "error".to_owned(),
        })
        .collect();
    let mut line = format!(
        "analysis {} {}  [{verdict}]  measured: {}",
        a.check,
        a.condition,
        if measured.is_empty() {
            "-".to_owned()
        } else {
            measured.join(" ")
        }
    );
    if let Some(m) = &a.message {
        line.push_str(&format!("  ({m})"));
    }
    line
}

/// Text written elsewhere (a host's output, a reason) with its control characters replaced: it
/// must not drive the operator's terminal (escape sequences).
pub(crate) fn plain(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// When a hold was evaluated, and when it is evaluated again.
pub(crate) fn hold_times(hold: &Hold) -> String {
    match &hold.recheck_at {
        Some(at) => format!("as of {}; checked again at {at}", hold.since),
        None => format!("as of {}", hold.since),
    }
}

/// A target's hook outputs, each under a heading, its lines indented with a bar.
pub(crate) fn outputs(o: &TargetOutputs) -> String {
    let mut out = String::new();
    for t in &o.outputs {
        let cut = if t.truncated {
            ", last 64 KiB; all of it is in the host's hook log"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "\noutput of {} on {} ({}{cut}):",
            t.app, t.target, t.action
        );
        for line in t.output.lines() {
            let _ = writeln!(out, "  | {}", plain(line));
        }
    }
    out
}

fn app_status(d: &DeploymentDetail, app: &str) -> Option<AppStatus> {
    d.progress
        .apps
        .iter()
        .find(|a| a.app == app)
        .map(|a| a.status)
}

fn gate_status(d: &DeploymentDetail, gate: &str) -> Option<GateStatus> {
    d.progress
        .gates
        .iter()
        .find(|g| g.gate == gate)
        .map(|g| g.status)
}

/// One app's progress for `watch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppProgress {
    pub(crate) name: String,
    pub(crate) total: u64,
    pub(crate) done: u64,
    pub(crate) message: String,
}

/// Per app of the plan: targets in the plan, targets that succeeded, and its status (with a
/// waiting gate named).
pub(crate) fn app_progress(d: &DeploymentDetail) -> Vec<AppProgress> {
    let mut out = Vec::new();
    for app in d.deployment.plan.apps() {
        let name = app.app.clone();
        let total = app.batches.iter().map(|b| b.targets.len() as u64).sum();
        let done = d
            .progress
            .targets
            .iter()
            .filter(|t| t.app == name && t.status == TargetStatus::Succeeded)
            .count() as u64;
        let mut message = app_status(d, &name).map_or("pending".to_owned(), |s| s.to_string());
        for gate in &d.progress.gates {
            if gate.status == GateStatus::Waiting && gate.gate.starts_with(&format!("{name}.")) {
                let _ = write!(message, ", gate {} waiting for approval", gate.gate);
            }
        }
        for w in &d.progress.decisions {
            if w.app == name && w.action.is_none() {
                let _ = write!(message, ", {} failed, waiting for a decision", w.target);
            }
        }
        out.push(AppProgress {
            name,
            total,
            done,
            message,
        });
    }
    out
}
