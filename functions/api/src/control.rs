//! Control routes: adjust, confirm, cancel, gates, revert, repositories, tokens.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use boreas_aws::store::{
    ApiToken, Decision, Deployment, NewDeployment, Repository, Transition, rfc3339,
};
use boreas_core::adjust::{self, Adjustment};
use boreas_core::config::{self, Config};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::execution;
use boreas_core::plan::Plan;
use boreas_core::planner::{self, PlanInput};
use boreas_core::role::Role;
use boreas_core::status::VersionStatus;
use boreas_core::version::{self, VersionState};
use boreas_core::webhook::Provider;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apps::{Landscape, RecordedOrder, all_versions, inventory};
use crate::read::{deployment_json, get_deployment, version_json};
use crate::{Api, ApiRequest, ApiResponse, Caller, Error, body, random_hex};

/// Error type a rejected gate fails its task with (the state machine rolls back on it).
pub const GATE_REJECTED: &str = "Boreas.GateRejected";
/// Error a cancelled execution is stopped with.
pub const CANCELLED: &str = "Boreas.Cancelled";

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

/// `PUT /api/deployments/{id}/plan` body: a whole plan, or adjustments to the stored one.
enum PlanBody {
    Adjust { adjustments: Vec<Adjustment> },
    Whole(Box<Plan>),
}

pub(crate) async fn update_plan(
    api: &Api,
    who: &Caller,
    id: &str,
    req: &ApiRequest,
) -> Result<ApiResponse, Error> {
    let value: Value = body(req)?;
    // Decode by shape so that the error names the field of the form the client meant.
    let parsed = if value.get("adjustments").is_some() {
        serde_json::from_value::<Vec<Adjustment>>(value["adjustments"].clone())
            .map(|adjustments| PlanBody::Adjust { adjustments })
            .map_err(|e| format!("adjustments: {e}"))
    } else if value.get("stages").is_some() {
        serde_json::from_value::<Plan>(value)
            .map(|p| PlanBody::Whole(Box::new(p)))
            .map_err(|e| format!("plan: {e}"))
    } else {
        Err("the body must be a whole plan (with \"stages\") or {\"adjustments\": [...]}".into())
    }
    .map_err(|message| Error::BadRequest {
        code: "bad_json",
        message,
    })?;
    let d = get_deployment(api, id).await?;
    if d.status != DeploymentStatus::Planned {
        return Err(not_planned(&d, "adjusted"));
    }
    let next = match parsed {
        PlanBody::Adjust { adjustments } => adjust::apply(&d.plan, &adjustments),
        PlanBody::Whole(plan) => {
            check_same_work(&d.plan, &plan)?;
            adjust::validate(&plan).map(|()| *plan)
        }
    }
    .map_err(|e| Error::Unprocessable {
        rule: e.rule(),
        message: e.to_string(),
    })?;
    api.store
        .update_plan(id, &next)
        .await
        .map_err(|e| match e {
            boreas_aws::Error::Conflict { reason, .. } => {
                Error::conflict("illegal_transition", reason)
            }
            other => other.into(),
        })?;
    api.audit(who, "deployment.adjust", id).await?;
    let updated = get_deployment(api, id).await?;
    Ok(ApiResponse::ok(deployment_json(&updated)))
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

/// The `boreas.yaml` the planner recorded for a version, parsed.
async fn version_config(api: &Api, repo: &str, version: &str) -> Result<Config, Error> {
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
    config::parse(&source).map_err(|e| {
        Error::conflict(
            "config_invalid",
            format!("the boreas.yaml recorded for {repo}/{version} does not validate: {e}"),
        )
    })
}

pub(crate) async fn confirm(api: &Api, who: &Caller, id: &str) -> Result<ApiResponse, Error> {
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
    let config = version_config(api, &d.repository, &d.version).await?;
    let input =
        execution::execution_input(id, plan, &config).map_err(|e| Error::Unprocessable {
            rule: "execution_input",
            message: e.to_string(),
        })?;
    if let Err(e) = api.store.acquire_run_locks(id, &d.environment, &apps).await {
        return Err(match e {
            boreas_aws::Error::Conflict { reason, .. } => {
                Error::conflict("run_lock", lock_conflict(api, &d, &apps, &reason).await)
            }
            other => other.into(),
        });
    }
    let moved = api
        .store
        .transition_deployment(id, &Transition::to(DeploymentStatus::Running, now()))
        .await;
    let running = match moved {
        Ok(d) => d,
        Err(e @ boreas_aws::Error::IllegalTransition { from, .. }) => {
            // A concurrent confirm that won holds these locks now; anything else frees them.
            if from != DeploymentStatus::Running {
                api.store
                    .release_run_locks(id, &d.environment, &apps)
                    .await?;
            }
            return Err(e.into());
        }
        Err(e) => {
            api.store
                .release_run_locks(id, &d.environment, &apps)
                .await?;
            return Err(e.into());
        }
    };
    match api.orchestrator.start(id, &input.to_json()).await {
        Ok(started) => {
            api.audit(who, "deployment.confirm", id).await?;
            let mut out = deployment_json(&running);
            out["execution_arn"] = json!(started.execution_arn);
            Ok(ApiResponse::ok(out))
        }
        Err(e) => {
            let failed = Transition {
                error: Some(format!("the execution did not start: {e}")),
                ..Transition::to(DeploymentStatus::Failed, now())
            };
            api.store.transition_deployment(id, &failed).await?;
            api.store
                .release_run_locks(id, &d.environment, &apps)
                .await?;
            Err(Error::ExecutionStart(format!(
                "deployment {id}: the execution did not start: {e}"
            )))
        }
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

pub(crate) async fn cancel(api: &Api, who: &Caller, id: &str) -> Result<ApiResponse, Error> {
    let d = get_deployment(api, id).await?;
    let change = Transition::to(DeploymentStatus::Cancelled, now());
    let cancelled = match d.status {
        DeploymentStatus::Planned => api.store.transition_deployment(id, &change).await?,
        DeploymentStatus::Running => {
            let cause = format!("cancelled by {}", who.name);
            match api.orchestrator.stop(id, CANCELLED, &cause).await {
                Ok(()) | Err(boreas_aws::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let cancelled = api.store.transition_deployment(id, &change).await?;
            let apps = plan_apps(&d.plan);
            if !apps.is_empty() {
                api.store
                    .release_run_locks(id, &d.environment, &apps)
                    .await?;
            }
            cancelled
        }
        _ => {
            return Err(Error::conflict(
                "illegal_transition",
                format!(
                    "deployment {id} is {}; it can no longer be cancelled",
                    d.status
                ),
            ));
        }
    };
    api.audit(who, "deployment.cancel", id).await?;
    Ok(ApiResponse::ok(deployment_json(&cancelled)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    comment: Option<String>,
}

pub(crate) async fn decide(
    api: &Api,
    who: &Caller,
    id: &str,
    gate: &str,
    approve: bool,
    req: &ApiRequest,
) -> Result<ApiResponse, Error> {
    let b: DecisionBody = body(req)?;
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
    let decided = api
        .store
        .decide_gate(id, gate, decision, &who.name, b.comment.as_deref())
        .await
        .map_err(|e| match e {
            boreas_aws::Error::Conflict { .. } => Error::conflict(
                "gate_decided",
                format!(
                    "gate {gate} of deployment {id} was already decided ({})",
                    found.status
                ),
            ),
            other => other.into(),
        })?;
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
    let action = if approve {
        "gate.approve"
    } else {
        "gate.reject"
    };
    api.audit(who, action, &format!("{id}/{gate}")).await?;
    Ok(ApiResponse::ok(json!({
        "deployment": id,
        "gate": decided.gate,
        "status": decided.status,
        "by": decided.by,
        "comment": decided.comment,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevertBody {
    reason: String,
}

pub(crate) async fn revert(
    api: &Api,
    who: &Caller,
    repo: &str,
    name: &str,
    req: &ApiRequest,
) -> Result<ApiResponse, Error> {
    let b: RevertBody = body(req)?;
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
    let land = Landscape::load(api).await?;
    let running = environments_running(&land, repo, name);
    let mut plans = Vec::new();
    let mut rollback_to = None;
    if !running.is_empty() {
        let versions = all_versions(api, repo).await?;
        let order = RecordedOrder::new(&versions);
        let candidates: Vec<version::Version> = versions
            .iter()
            .filter(|v| v.status == VersionStatus::Planned)
            .map(|v| v.version.clone())
            .collect();
        let target = match version::rollback_target(&order, &reverted.version, &candidates) {
            Ok(Some(t)) => t.clone(),
            Ok(None) | Err(_) => {
                return Err(Error::conflict(
                    "no_rollback_target",
                    format!(
                        "version {repo}/{name} runs in {} but no older normal version was planned before it",
                        running.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        };
        let config = version_config(api, repo, &target.name).await?;
        for (env, apps) in &running {
            let plan = revert_plan(&land, &config, env, &target.name, name, apps)?;
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
        };
        let d = api.store.create_deployment(&new).await?;
        created.push(deployment_json(&d));
    }
    api.audit(
        who,
        "version.revert",
        &format!("{repo}/{name}: {}", b.reason.trim()),
    )
    .await?;
    let mut v = reverted;
    v.version.state = VersionState::Revert;
    Ok(ApiResponse::ok(json!({
        "version": version_json(&v),
        "reason": b.reason.trim(),
        "rollback_to": rollback_to,
        "deployments": created,
    })))
}

/// Environment → apps of `repo` whose targets run version `name` there: the apps whose newest
/// succeeded deployment deployed it, and the apps an inventory reports at it.
fn environments_running(
    land: &Landscape,
    repo: &str,
    name: &str,
) -> BTreeMap<String, BTreeSet<String>> {
    let repo_apps: BTreeSet<&str> = land
        .deployments
        .iter()
        .filter(|d| d.repository == repo)
        .flat_map(|d| d.plan.apps().map(|a| a.app.as_str()))
        .collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let envs: BTreeSet<&str> = land
        .deployments
        .iter()
        .map(|d| d.environment.as_str())
        .chain(land.agents.iter().map(|a| a.env.as_str()))
        .collect();
    for env in envs {
        for app in &repo_apps {
            let by_deployment = land
                .desired(env, app)
                .is_some_and(|d| d.repository == repo && d.version == name);
            let by_inventory = land.agents.iter().any(|a| {
                a.env == env
                    && inventory(a)
                        .get(*app)
                        .is_some_and(|v| v.as_deref() == Some(name))
            });
            if by_deployment || by_inventory {
                out.entry(env.to_owned())
                    .or_default()
                    .insert((*app).to_owned());
            }
        }
    }
    out
}

/// A plan returning `apps` of `env` from `reverted` to `target`, with `target`'s config. Apps
/// not running `reverted` count as already on `target` and are skipped.
fn revert_plan(
    land: &Landscape,
    config: &Config,
    env: &str,
    target: &str,
    reverted: &str,
    apps: &BTreeSet<String>,
) -> Result<Plan, Error> {
    let found = planner::config_targets(config, env);
    let mut targets = found.targets;
    for (app, groups) in &found.unresolved_groups {
        let mut hosts: Vec<&str> = land
            .agents
            .iter()
            .filter(|a| a.env == env && groups.contains(&a.group))
            .map(|a| a.host.as_str())
            .collect();
        hosts.sort_unstable();
        targets
            .entry(app.clone())
            .or_default()
            .extend(hosts.into_iter().map(str::to_owned));
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepositoryBody {
    name: String,
    clone_url: String,
    provider: String,
    #[serde(default)]
    secret_param: Option<String>,
    #[serde(default)]
    triggers: Vec<String>,
}

pub(crate) async fn put_repository(
    api: &Api,
    who: &Caller,
    req: &ApiRequest,
) -> Result<ApiResponse, Error> {
    let b: RepositoryBody = body(req)?;
    let valid_name = (1..=100).contains(&b.name.len())
        && b.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(Error::bad_request(format!(
            "name {:?} must be 1 to 100 characters of letters, digits, '-', '_' and '.'",
            b.name
        )));
    }
    let provider = Provider::parse(&b.provider).ok_or_else(|| {
        Error::bad_request(format!(
            "provider {:?} is not one of github, gitlab, gitea",
            b.provider
        ))
    })?;
    if !["https://", "http://", "file://", "ssh://", "git@"]
        .iter()
        .any(|p| b.clone_url.starts_with(p))
    {
        return Err(Error::bad_request(format!(
            "clone_url {:?} is not an https, http, ssh or file URL",
            b.clone_url
        )));
    }
    if b.triggers.iter().any(|t| t.trim().is_empty()) {
        return Err(Error::bad_request(
            "triggers must not contain empty patterns",
        ));
    }
    let secret_param = match b.secret_param {
        Some(p) if p.starts_with('/') => p,
        Some(p) => {
            return Err(Error::bad_request(format!(
                "secret_param {p:?} must be an SSM parameter name starting with '/'"
            )));
        }
        None => api.names.webhook_secret_param(&b.name),
    };
    let repo = Repository {
        name: b.name,
        clone_url: b.clone_url,
        provider,
        secret_param,
        triggers: b.triggers,
    };
    let existed = api.store.get_repository(&repo.name).await?.is_some();
    api.store.put_repository(&repo).await?;
    api.audit(who, "repository.put", &repo.name).await?;
    let status = if existed {
        http::StatusCode::OK
    } else {
        http::StatusCode::CREATED
    };
    Ok(ApiResponse::with_status(
        status,
        serde_json::to_value(&repo).unwrap_or(Value::Null),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
    role: String,
}

pub(crate) async fn create_token(
    api: &Api,
    who: &Caller,
    req: &ApiRequest,
) -> Result<ApiResponse, Error> {
    let b: TokenBody = body(req)?;
    if b.name.trim().is_empty() || b.name.len() > 100 {
        return Err(Error::bad_request("name must be 1 to 100 characters"));
    }
    let role = Role::parse(&b.role).ok_or_else(|| {
        Error::bad_request(format!(
            "role {:?} is not one of viewer, deployer, approver, admin",
            b.role
        ))
    })?;
    let secret = format!("boreas_{}", random_hex(32)?);
    let grant = ApiToken {
        name: b.name.trim().to_owned(),
        role,
    };
    api.store.put_api_token(&secret, &grant).await?;
    api.audit(who, "token.create", &format!("{} ({role})", grant.name))
        .await?;
    Ok(ApiResponse::with_status(
        http::StatusCode::CREATED,
        json!({"name": grant.name, "role": role, "token": secret}),
    ))
}
