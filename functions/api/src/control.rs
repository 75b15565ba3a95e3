//! Control routes: adjust, confirm, cancel, gates, revert.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use boreas_api_types as wire;
use boreas_aws::lifecycle::{Actor, Lifecycle};
use boreas_aws::store::{
    Decision, Deployment, MAX_PAGE, NewDeployment, PageRequest, VersionRecord, rfc3339,
};
use boreas_core::adjust;
use boreas_core::config::{self, Config};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::execution;
use boreas_core::plan::Plan;
use boreas_core::planner::{self, PlanInput};
use boreas_core::role::Role;
use boreas_core::status::{GateStatus, VersionStatus};
use boreas_core::version::{self, VersionState};
use serde_json::json;

use crate::apps::contains;
use crate::call::Call;
use crate::read::{get_deployment, wire_deployment, wire_version};
use crate::{Api, Error, random_hex};

/// Error type a rejected gate fails its task with (the state machine rolls back on it).
pub const GATE_REJECTED: &str = "Boreas.GateRejected";

fn plan_apps(plan: &Plan) -> Vec<String> {
    plan.apps().map(|a| a.app.clone()).collect()
}

fn now() -> String {
    rfc3339(SystemTime::now())
}

fn not_planned(d: &Deployment, action: &str) -> Error {
    Error::conflict(
        "illegal_transition",
        format!(
            "deployment {} is {}; only a planned deployment can be {action}",
            d.id, d.status
        ),
    )
}

pub(crate) async fn update_plan(
    api: &Api,
    call: &Call<'_>,
    body: wire::PlanUpdate,
) -> Result<wire::Deployment, Error> {
    let (id, who) = (call.param("id"), call.who()?);
    let d = get_deployment(api, id).await?;
    if d.status != DeploymentStatus::Planned {
        return Err(not_planned(&d, "adjusted"));
    }
    let next = match body {
        wire::PlanUpdate::Adjust { adjustments } => adjust::apply(&d.plan, &adjustments),
        wire::PlanUpdate::Whole(plan) => {
            check_same_work(&d.plan, &plan)?;
            adjust::validate(&plan).map(|()| *plan)
        }
    }
    .map_err(|e| Error::Unprocessable {
        rule: e.rule(),
        message: e.to_string(),
    })?;
    // Manual gates are an approver's decision: a deployer may add them, not take them away.
    let lifted = adjust::gates_lifted(&d.plan, &next);
    if !lifted.is_empty() && who.role < Role::Approver {
        let lifted: Vec<String> = lifted.iter().map(ToString::to_string).collect();
        return Err(Error::Forbidden(format!(
            "token {:?} has role {}; removing or merging manual gates needs approver or higher ({})",
            who.name,
            who.role,
            lifted.join("; ")
        )));
    }
    let changes = adjust::describe_changes(&d.plan, &next);
    api.store
        .update_plan(id, &next)
        .await
        .map_err(|e| match e {
            boreas_aws::Error::Conflict { reason, .. } => {
                Error::conflict("illegal_transition", reason)
            }
            other => other.into(),
        })?;
    api.audit_detail(who, "deployment.adjust", id, changes)
        .await?;
    let updated = get_deployment(api, id).await?;
    Ok(wire_deployment(&updated))
}

/// A whole plan may reorder, rebatch, re-pause and drop, never change what is deployed where.
fn check_same_work(current: &Plan, next: &Plan) -> Result<(), Error> {
    let identity = |message: String| Error::Unprocessable {
        rule: "plan_identity",
        message,
    };
    if next.environment != current.environment || next.version != current.version {
        return Err(identity(format!(
            "the plan deploys {} to {}; a submitted plan cannot change that (got {} to {})",
            current.version, current.environment, next.version, next.environment
        )));
    }
    for app in next.apps() {
        let Some((_, was)) = current.find_app(&app.app) else {
            return Err(identity(format!(
                "app {:?} is not in the planned deployment; apps cannot be added",
                app.app
            )));
        };
        let a: BTreeSet<&String> = app.targets.iter().collect();
        let b: BTreeSet<&String> = was.targets.iter().collect();
        if a != b || app.kind != was.kind {
            return Err(identity(format!(
                "app {:?}: targets and kind must stay as planned",
                app.app
            )));
        }
    }
    Ok(())
}

/// The `boreas.yaml` the planner recorded for a version, parsed, and the version's commit.
async fn version_config(api: &Api, repo: &str, version: &str) -> Result<(Config, String), Error> {
    let source = api
        .store
        .get_version_config(repo, version)
        .await?
        .ok_or_else(|| {
            Error::conflict(
                "config_unavailable",
                format!("no boreas.yaml is recorded for version {repo}/{version}"),
            )
        })?;
    let config = config::parse(&source).map_err(|e| {
        Error::conflict(
            "config_invalid",
            format!("the boreas.yaml recorded for {repo}/{version} does not validate: {e}"),
        )
    })?;
    let commit = api
        .store
        .get_version(repo, version)
        .await?
        .map(|v| v.version.commit.0)
        .ok_or_else(|| {
            Error::conflict(
                "version_unknown",
                format!("version {repo}/{version} is not recorded"),
            )
        })?;
    Ok((config, commit))
}

pub(crate) async fn confirm(
    api: &Api,
    call: &Call<'_>,
) -> Result<wire::ConfirmedDeployment, Error> {
    let (id, who) = (call.param("id"), call.who()?);
    let d = get_deployment(api, id).await?;
    if d.status != DeploymentStatus::Planned {
        return Err(not_planned(&d, "confirmed"));
    }
    let plan = &d.plan;
    let apps = plan_apps(plan);
    if apps.is_empty() {
        return Err(Error::Unprocessable {
            rule: "empty_plan",
            message: format!("deployment {id} plans no app; cancel it instead"),
        });
    }
    let (config, commit) = version_config(api, &d.repository, &d.version).await?;
    let previous =
        boreas_aws::lifecycle::rollback_configs(api.store.as_ref(), &d.repository, plan).await?;
    let input = execution::execution_input(id, plan, &config, &commit, &previous).map_err(|e| {
        Error::Unprocessable {
            rule: "execution_input",
            message: e.to_string(),
        }
    })?;
    let started = Lifecycle::notifying(api.store.as_ref(), &api.notices)
        .start(
            api.orchestrator.as_ref(),
            &d,
            &input.slices(),
            Actor::Token(&who.name),
        )
        .await;
    match started {
        Ok(started) => Ok(wire::ConfirmedDeployment {
            deployment: wire_deployment(&started.deployment),
            execution_arn: started.execution_arn,
        }),
        Err(boreas_aws::Error::Conflict { reason, .. }) => Err(Error::conflict(
            "run_lock",
            lock_conflict(api, &d, &apps, &reason).await,
        )),
        Err(e @ boreas_aws::Error::ExecutionNotStarted { .. }) => {
            Err(Error::ExecutionStart(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Names the deployment holding a lock that `d` needs.
async fn lock_conflict(api: &Api, d: &Deployment, apps: &[String], reason: &str) -> String {
    for app in apps {
        if let Ok(Some(holder)) = api.store.run_lock_holder(&d.environment, app).await
            && holder != d.id
        {
            return format!(
                "app {app} in {} is being deployed by running deployment {holder}; \
                 confirm {} after it ends",
                d.environment, d.id
            );
        }
    }
    reason.to_owned()
}

pub(crate) async fn cancel(api: &Api, call: &Call<'_>) -> Result<wire::Deployment, Error> {
    let (id, who) = (call.param("id"), call.who()?);
    let d = get_deployment(api, id).await?;
    if d.status.is_terminal() {
        return Err(Error::conflict(
            "illegal_transition",
            format!(
                "deployment {id} is {}; it can no longer be cancelled",
                d.status
            ),
        ));
    }
    let cancelled = Lifecycle::notifying(api.store.as_ref(), &api.notices)
        .cancel(api.orchestrator.as_ref(), &d, Actor::Token(&who.name))
        .await?;
    Ok(wire_deployment(&cancelled))
}

pub(crate) async fn approve(
    api: &Api,
    call: &Call<'_>,
    body: wire::GateDecisionRequest,
) -> Result<wire::GateDecision, Error> {
    decide(api, call, true, body).await
}

pub(crate) async fn reject(
    api: &Api,
    call: &Call<'_>,
    body: wire::GateDecisionRequest,
) -> Result<wire::GateDecision, Error> {
    decide(api, call, false, body).await
}

async fn decide(
    api: &Api,
    call: &Call<'_>,
    approve: bool,
    b: wire::GateDecisionRequest,
) -> Result<wire::GateDecision, Error> {
    let (id, gate, who) = (call.param("id"), call.param("gate"), call.who()?);
    let d = get_deployment(api, id).await?;
    let found =
        api.store.get_gate(id, gate).await?.ok_or_else(|| {
            Error::NotFound(format!("deployment {id} has no waiting gate {gate}"))
        })?;
    if d.status != DeploymentStatus::Running {
        return Err(Error::conflict(
            "not_running",
            format!(
                "deployment {id} is {}; its gates can no longer be decided",
                d.status
            ),
        ));
    }
    let decision = if approve {
        Decision::Approve
    } else {
        Decision::Reject
    };
    let same = if approve {
        GateStatus::Approved
    } else {
        GateStatus::Rejected
    };
    let (decided, newly) = match api
        .store
        .decide_gate(id, gate, decision, &who.name, b.comment.as_deref())
        .await
    {
        Ok(g) => (g, true),
        // The same answer again is sent again (the first may not have reached the execution).
        Err(boreas_aws::Error::Conflict { .. }) if found.status == same => (found, false),
        Err(boreas_aws::Error::Conflict { .. }) => {
            return Err(Error::conflict(
                "gate_decided",
                format!(
                    "gate {gate} of deployment {id} was already decided ({})",
                    found.status
                ),
            ));
        }
        Err(other) => return Err(other.into()),
    };
    // The decision is taken once it is recorded: audited then, whether or not this call gets it
    // to the execution (a repeat sends it again).
    if newly {
        let action = if approve {
            "gate.approve"
        } else {
            "gate.reject"
        };
        api.audit(who, action, &format!("{id}/{gate}")).await?;
    }
    let comment = b.comment.clone().unwrap_or_default();
    let sent = if approve {
        let output =
            json!({"gate": gate, "decision": "approved", "by": who.name, "comment": comment});
        api.orchestrator
            .send_task_success(&decided.task_token, &output.to_string())
            .await
    } else {
        let cause = if comment.is_empty() {
            format!("rejected by {}", who.name)
        } else {
            format!("rejected by {}: {comment}", who.name)
        };
        api.orchestrator
            .send_task_failure(&decided.task_token, GATE_REJECTED, &cause)
            .await
    };
    sent.map_err(|e| match e {
        // Most likely the first of two identical answers got through.
        boreas_aws::Error::TaskTimedOut { .. } | boreas_aws::Error::InvalidTaskToken { .. }
            if !newly =>
        {
            Error::conflict(
                "gate_decided",
                format!("gate {gate} of deployment {id} was already decided ({same})"),
            )
        }
        boreas_aws::Error::TaskTimedOut { .. } | boreas_aws::Error::InvalidTaskToken { .. } => {
            Error::conflict(
                "task_token",
                format!(
                    "gate {gate} is recorded decided, but the execution no longer waits on it: {e}"
                ),
            )
        }
        other => other.into(),
    })?;
    Ok(wire::GateDecision {
        deployment: id.to_owned(),
        gate: decided.gate,
        status: decided.status,
        by: decided.by,
        comment: decided.comment,
    })
}

/// An approver's answer to a host that failed under `rollout.on_failure: pause`. The state
/// machine waits on the decision's task token and reads the action from the task's output.
pub(crate) async fn decide_target(
    api: &Api,
    call: &Call<'_>,
    b: wire::TargetDecisionRequest,
) -> Result<wire::TargetDecision, Error> {
    let (id, app, target, who) = (
        call.param("id"),
        call.param("app"),
        call.param("target"),
        call.who()?,
    );
    let d = get_deployment(api, id).await?;
    let waiting = api
        .store
        .get_host_decision(id, app, target)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "host {target} of app {app} in deployment {id} waits for no decision"
            ))
        })?;
    if d.status != DeploymentStatus::Running {
        return Err(Error::conflict(
            "not_running",
            format!(
                "deployment {id} is {}; its failed hosts can no longer be decided",
                d.status
            ),
        ));
    }
    let (decided, newly) = match api
        .store
        .decide_host(id, &waiting, b.action, &who.name, b.comment.as_deref())
        .await
    {
        Ok(d) => (d, true),
        // The same answer again: the first may have been recorded without reaching the execution
        // (Step Functions unreachable), so it is sent again rather than refused; if it did reach
        // it, Step Functions refuses the token and the caller hears so.
        Err(boreas_aws::Error::Conflict { .. }) if waiting.action == Some(b.action) => {
            (waiting, false)
        }
        Err(boreas_aws::Error::Conflict { what, reason }) => {
            return Err(Error::conflict("decided", format!("{what}: {reason}")));
        }
        Err(other) => return Err(other.into()),
    };
    if newly {
        api.audit(
            who,
            &format!("target.{}", b.action),
            &format!("{id}/{app}/{target}"),
        )
        .await?;
    }
    let output = json!({
        "action": b.action.as_str(),
        "by": who.name,
        "comment": b.comment.clone().unwrap_or_default(),
    });
    api.orchestrator
        .send_task_success(&decided.task_token, &output.to_string())
        .await
        .map_err(|e| match e {
            // Most likely the first of two identical answers got through.
            boreas_aws::Error::TaskTimedOut { .. } | boreas_aws::Error::InvalidTaskToken { .. }
                if !newly =>
            {
                Error::conflict(
                    "decided",
                    format!(
                        "the decision on {target} of app {app} in deployment {id} was taken already ({})",
                        b.action
                    ),
                )
            }
            boreas_aws::Error::TaskTimedOut { .. } | boreas_aws::Error::InvalidTaskToken { .. } => {
                Error::conflict(
                    "task_token",
                    format!(
                        "the decision on {target} is recorded, but the execution no longer waits on it: {e}"
                    ),
                )
            }
            other => other.into(),
        })?;
    Ok(wire::TargetDecision {
        deployment: id.to_owned(),
        app: decided.app,
        target: decided.target,
        attempt: decided.attempt,
        action: b.action,
        by: decided.by.unwrap_or_else(|| who.name.clone()),
        comment: decided.comment,
    })
}

pub(crate) async fn revert(
    api: &Api,
    call: &Call<'_>,
    b: wire::RevertRequest,
) -> Result<wire::RevertResult, Error> {
    let (repo, name, who) = (call.param("repo"), call.param("name"), call.who()?);
    if b.reason.trim().is_empty() {
        return Err(Error::bad_request("reason must not be empty"));
    }
    let reverted = api
        .store
        .get_version(repo, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("version {repo}/{name} not found")))?;
    if reverted.version.state == VersionState::Revert {
        return Err(Error::conflict(
            "already_reverted",
            format!("version {repo}/{name} is already marked revert"),
        ));
    }
    let running = environments_running(api, repo, name).await?;
    let mut plans = Vec::new();
    let mut rollback_to = None;
    if !running.is_empty() {
        let Some(target) = rollback_target(api, &reverted).await? else {
            return Err(Error::conflict(
                "no_rollback_target",
                format!(
                    "version {repo}/{name} runs in {} but no older normal version was planned before it",
                    running.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let (config, _) = version_config(api, repo, &target.name).await?;
        for (env, apps) in &running {
            let plan = revert_plan(api, &config, env, &target.name, name, apps).await?;
            if plan.apps().next().is_some() {
                plans.push(plan);
            }
        }
        rollback_to = Some(target.name);
    }
    // Everything is checked: write.
    api.store
        .set_version_state(repo, name, VersionState::Revert)
        .await?;
    let mut created = Vec::new();
    for plan in plans {
        let new = NewDeployment {
            id: revert_id(&plan.environment)?,
            repository: repo.to_owned(),
            version: plan.version.clone(),
            environment: plan.environment.clone(),
            plan,
            created_at: now(),
            revert: true,
        };
        let d = api.store.create_deployment(&new).await?;
        created.push(wire_deployment(&d));
    }
    api.audit(
        who,
        "version.revert",
        &format!("{repo}/{name}: {}", b.reason.trim()),
    )
    .await?;
    let mut v = reverted;
    v.version.state = VersionState::Revert;
    Ok(wire::RevertResult {
        version: wire_version(&v),
        reason: b.reason.trim().to_owned(),
        rollback_to,
        deployments: created,
    })
}

/// Environment → apps of `repo` whose targets run version `name` there: the apps released
/// there at that version, and the apps an inventory there reports at it. Reads the partition of
/// each app released from `repo`.
async fn environments_running(
    api: &Api,
    repo: &str,
    name: &str,
) -> Result<BTreeMap<String, BTreeSet<String>>, Error> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for app in api.store.released_apps(repo).await? {
        let records = api.store.app_records(&app).await?;
        for env in &records.environments {
            let by_release = env
                .release
                .as_ref()
                .is_some_and(|r| r.repository == repo && r.version == name);
            let by_inventory = records
                .hosts
                .iter()
                .any(|h| h.env == env.env && h.version.as_deref() == Some(name));
            if by_release || by_inventory {
                out.entry(env.env.clone()).or_default().insert(app.clone());
            }
        }
    }
    Ok(out)
}

/// The version a reverted one is rolled back to: the newest `normal`, `planned` version it
/// contains ([`crate::apps::contains`]) other than its own commit, read newest first from the
/// versions received before it until one qualifies, in pages that double from one version (the
/// one just before usually qualifies, so a long history is not read).
async fn rollback_target(
    api: &Api,
    reverted: &VersionRecord,
) -> Result<Option<version::Version>, Error> {
    if reverted.diverged {
        return Ok(None);
    }
    let mut page = PageRequest::first(1);
    loop {
        let found = api.store.older_versions(reverted, &page).await?;
        if let Some(v) = found.items.into_iter().find(|v| {
            v.status == VersionStatus::Planned
                && v.version.state == VersionState::Normal
                && v.version.commit != reverted.version.commit
                && contains(reverted, v)
        }) {
            return Ok(Some(v.version));
        }
        match found.next {
            Some(next) => {
                page = PageRequest {
                    limit: (page.limit * 2).min(MAX_PAGE),
                    cursor: Some(next),
                }
            }
            None => return Ok(None),
        }
    }
}

/// A plan returning `apps` of `env` from `reverted` to `target`, with `target`'s config. Apps
/// not running `reverted` count as already on `target` and are skipped.
async fn revert_plan(
    api: &Api,
    config: &Config,
    env: &str,
    target: &str,
    reverted: &str,
    apps: &BTreeSet<String>,
) -> Result<Plan, Error> {
    let found = planner::config_targets(config, env);
    let mut targets = found.targets;
    if !found.unresolved_groups.is_empty() {
        let agents = api.store.list_agents(Some(env)).await?;
        for (app, groups) in &found.unresolved_groups {
            let mut hosts: Vec<&str> = agents
                .iter()
                .filter(|a| groups.contains(&a.group))
                .map(|a| a.host.as_str())
                .collect();
            hosts.sort_unstable();
            targets
                .entry(app.clone())
                .or_default()
                .extend(hosts.into_iter().map(str::to_owned));
        }
    }
    let current_versions: BTreeMap<String, String> = config
        .apps
        .iter()
        .map(|a| {
            let now = if apps.contains(&a.name) {
                reverted
            } else {
                target
            };
            (a.name.clone(), now.to_owned())
        })
        .collect();
    planner::plan(&PlanInput {
        config,
        environment: env,
        version: target,
        changed_paths: None,
        targets: &targets,
        current_versions: &current_versions,
    })
    .map_err(|e| {
        Error::conflict(
            "plan_failed",
            format!("cannot plan {target} for {env}: {e} ({})", e.rule()),
        )
    })
}

/// A fresh deployment id: `revert-{env}-{random}`, within the 80 characters of an execution name.
fn revert_id(env: &str) -> Result<String, Error> {
    let env: String = env
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(50)
        .collect();
    Ok(format!("revert-{env}-{}", random_hex(8)?))
}
