//! Read routes: versions, deployments with live progress, agents, audit, health;
//! and how the store's records become the api's types (what leaves the api is decided here).

use std::time::SystemTime;

use boreas_api_types as wire;
use boreas_aws::store::{self, DeploymentFilter, TimeRange, VersionRecord, parse_rfc3339, rfc3339};
use boreas_core::deployment::DeploymentStatus;

use crate::call::{Call, bad_query};
use crate::routes::Reply;
use crate::{Api, Error};

pub(crate) async fn health(api: &Api, _: &Call<'_>) -> Result<Reply<wire::Health>, Error> {
    // One consistent read proves the table answers.
    match api.store.get_repository("health-probe").await {
        Ok(_) => Ok(Reply::from(wire::Health {
            status: "ok".into(),
            store: "ok".into(),
        })),
        Err(e) => Err(Error::Unhealthy(format!("store: {e}"))),
    }
}

pub(crate) fn wire_version(v: &VersionRecord) -> wire::Version {
    let VersionRecord {
        version,
        status,
        diverged,
        errors,
        received_at,
        pushed_by,
    } = v;
    wire::Version {
        repository: version.repository.clone(),
        name: version.name.clone(),
        commit: version.commit.0.clone(),
        state: version.state,
        status: *status,
        diverged: *diverged,
        errors: errors.clone(),
        received_at: received_at.clone(),
        pushed_by: pushed_by.clone(),
    }
}

pub(crate) async fn versions(
    api: &Api,
    call: &Call<'_>,
) -> Result<wire::List<wire::Version>, Error> {
    let page = call.page()?;
    let found = api.store.list_versions(call.query("repo"), &page).await?;
    Ok(wire::List {
        items: found.items.iter().map(wire_version).collect(),
        next_cursor: found.next,
    })
}

pub(crate) async fn version(api: &Api, call: &Call<'_>) -> Result<wire::Version, Error> {
    let (repo, name) = (call.param("repo"), call.param("name"));
    let v = api
        .store
        .get_version(repo, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("version {repo}/{name} not found")))?;
    Ok(wire_version(&v))
}

/// A deployment without its plan, as lists show it.
pub(crate) fn deployment_summary(d: &store::Deployment) -> wire::DeploymentSummary {
    let store::Deployment {
        id,
        repository,
        version,
        environment,
        status,
        plan: _,
        created_at,
        started_at,
        ended_at,
        failed_target,
        error,
        confirmed_by,
        // A revert's id says so already (`revert-…`); the policy reads the flag.
        revert: _,
    } = d;
    wire::DeploymentSummary {
        id: id.clone(),
        repository: repository.clone(),
        version: version.clone(),
        environment: environment.clone(),
        status: *status,
        created_at: created_at.clone(),
        started_at: started_at.clone(),
        ended_at: ended_at.clone(),
        failed_target: failed_target.clone(),
        error: error.clone(),
        confirmed_by: confirmed_by.clone(),
    }
}

/// A deployment with its plan.
pub(crate) fn wire_deployment(d: &store::Deployment) -> wire::Deployment {
    wire::Deployment {
        summary: deployment_summary(d),
        plan: d.plan.clone(),
    }
}

/// Progress as the api shows it: gates without their task tokens.
fn wire_progress(p: store::Progress) -> wire::Progress {
    let store::Progress {
        apps,
        batches,
        targets,
        gates,
        decisions,
    } = p;
    wire::Progress {
        apps: apps
            .into_iter()
            .map(|a| {
                let store::AppProgress {
                    app,
                    status,
                    started_at,
                    ended_at,
                } = a;
                wire::AppProgress {
                    app,
                    status,
                    started_at,
                    ended_at,
                }
            })
            .collect(),
        batches: batches
            .into_iter()
            .map(|b| {
                let store::BatchProgress {
                    app,
                    index,
                    status,
                    started_at,
                    ended_at,
                } = b;
                wire::BatchProgress {
                    app,
                    index,
                    status,
                    started_at,
                    ended_at,
                }
            })
            .collect(),
        targets: targets
            .into_iter()
            .map(|t| {
                let store::TargetProgress {
                    app,
                    target,
                    status,
                    batch,
                    updated_at,
                    error_type,
                    error,
                } = t;
                wire::TargetProgress {
                    app,
                    target,
                    status,
                    batch,
                    updated_at,
                    error_type,
                    error,
                }
            })
            .collect(),
        gates: gates
            .into_iter()
            .map(|g| {
                let store::Gate {
                    gate,
                    task_token: _,
                    status,
                    comment,
                    by,
                } = g;
                wire::GateProgress {
                    gate,
                    status,
                    comment,
                    by,
                }
            })
            .collect(),
        decisions: decisions
            .into_iter()
            .map(|d| {
                let store::HostDecision {
                    app,
                    target,
                    batch,
                    attempt,
                    task_token: _,
                    action,
                    comment,
                    by,
                } = d;
                wire::DecisionProgress {
                    app,
                    target,
                    batch,
                    attempt,
                    action,
                    comment,
                    by,
                }
            })
            .collect(),
    }
}

pub(crate) async fn deployments(
    api: &Api,
    call: &Call<'_>,
) -> Result<wire::List<wire::DeploymentSummary>, Error> {
    let page = call.page()?;
    let status = match call.query("status") {
        None => None,
        Some(s) => Some(DeploymentStatus::parse(s).ok_or_else(|| {
            bad_query(format!(
                "status {s:?} is not one of {}",
                DeploymentStatus::ALL
                    .map(DeploymentStatus::as_str)
                    .join(", ")
            ))
        })?),
    };
    let filter = DeploymentFilter {
        status,
        environment: call.query("env").map(str::to_owned),
        repository: call.query("repo").map(str::to_owned),
    };
    let found = api.store.list_deployments(&filter, &page).await?;
    Ok(wire::List {
        items: found.items.iter().map(deployment_summary).collect(),
        next_cursor: found.next,
    })
}

pub(crate) async fn get_deployment(api: &Api, id: &str) -> Result<store::Deployment, Error> {
    api.store
        .get_deployment(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("deployment {id} not found")))
}

pub(crate) async fn deployment(
    api: &Api,
    call: &Call<'_>,
) -> Result<wire::DeploymentDetail, Error> {
    let id = call.param("id");
    let d = get_deployment(api, id).await?;
    let progress = api.store.progress(id).await?;
    let notifications = api
        .store
        .notifications(id)
        .await?
        .into_iter()
        .map(|n| wire::Notification {
            sink: n.sink,
            event: n.event,
            state: n.state,
            attempts: n.attempts,
            updated_at: n.updated_at,
            summary: n.summary,
            error: n.error,
        })
        .collect();
    let analyses = api
        .store
        .analyses(id)
        .await?
        .into_iter()
        .map(|a| wire::Analysis {
            app: a.app,
            batch: a.batch,
            check: a.check,
            condition: a.condition,
            measurements: a.measurements,
            verdict: a.verdict,
            message: a.message,
            updated_at: a.updated_at,
        })
        .collect();
    let policy = api.store.deployment_policy(id).await?;
    let review = api.store.review(id).await?.map(|r| wire::PlanReview {
        adjustments: boreas_core::adjust::describe_changes(&r.proposal, &d.plan),
        review: r.review,
    });
    Ok(wire::DeploymentDetail {
        deployment: wire_deployment(&d),
        progress: wire_progress(progress),
        notifications,
        analyses,
        policy: wire::DeploymentPolicy {
            hold: policy.hold,
            waivers: policy.waivers,
            override_: policy.override_,
        },
        review,
    })
}

/// A page of the plan's apps in plan order. The cursor is the name of the first app of the next
/// page, so a plan adjusted between two pages is neither skipped nor repeated unless that very
/// app was dropped (then 400: start again).
pub(crate) async fn plan_apps(
    api: &Api,
    call: &Call<'_>,
) -> Result<wire::List<wire::PlannedApp>, Error> {
    let page = call.page()?;
    let stage = call
        .query("stage")
        .map(|s| {
            s.parse::<u32>()
                .map_err(|_| bad_query(format!("stage {s:?} is not a whole number")))
        })
        .transpose()?;
    let d = get_deployment(api, call.param("id")).await?;
    let stages = d.plan.stages.len();
    if let Some(s) = stage.filter(|s| *s as usize >= stages) {
        return Err(bad_query(format!(
            "stage {s} does not exist: the plan has {stages} stage(s), from 0"
        )));
    }
    let apps: Vec<wire::PlannedApp> = (0u32..)
        .zip(d.plan.stages)
        .filter(|(i, _)| stage.is_none_or(|s| s == *i))
        .flat_map(|(i, s)| {
            s.apps
                .into_iter()
                .map(move |plan| wire::PlannedApp { stage: i, plan })
        })
        .collect();
    let start = match &page.cursor {
        None => 0,
        Some(c) => apps.iter().position(|a| a.plan.app == *c).ok_or_else(|| {
            bad_query(format!(
                "cursor {c:?} names no app of this plan (it was dropped since); start again \
                 without a cursor"
            ))
        })?,
    };
    let end = apps.len().min(start + page.limit as usize);
    let next_cursor = apps.get(end).map(|a| a.plan.app.clone());
    Ok(wire::List {
        items: apps.into_iter().take(end).skip(start).collect(),
        next_cursor,
    })
}

/// The hook outputs of one target; an unknown deployment is 404, a target without output has none.
pub(crate) async fn target_outputs(
    api: &Api,
    call: &Call<'_>,
) -> Result<wire::TargetOutputs, Error> {
    let id = call.param("id");
    get_deployment(api, id).await?;
    let outputs = api
        .store
        .task_outputs(id, call.param("app"), call.param("target"))
        .await?;
    Ok(wire::TargetOutputs {
        outputs: outputs
            .into_iter()
            .map(|o| {
                let store::TaskOutput {
                    app,
                    target,
                    action,
                    output,
                    truncated,
                    at,
                } = o;
                wire::TaskOutput {
                    app,
                    target,
                    action,
                    output,
                    truncated,
                    at,
                }
            })
            .collect(),
    })
}

pub(crate) async fn agents(api: &Api, call: &Call<'_>) -> Result<wire::List<wire::Agent>, Error> {
    let page = call.page()?;
    // One page from the store: a fleet's agents are never all read for one answer.
    let found = api.store.agents_page(call.query("env"), &page).await?;
    // Timestamps are fixed-width RFC 3339 UTC, so they compare as strings.
    let cutoff = rfc3339(
        SystemTime::now()
            .checked_sub(api.stale_after)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let now = rfc3339(SystemTime::now());
    let items = found
        .items
        .into_iter()
        .map(|a| {
            let apps = a.inventory();
            let unreachable = a.unreachable_at(&now);
            let store::Agent {
                env,
                host,
                group,
                last_seen,
                observed_at: _,
                live_until: _,
                apps: _,
            } = a;
            wire::Agent {
                stale: last_seen < cutoff,
                unreachable,
                environment: env,
                host,
                group,
                last_seen,
                apps,
            }
        })
        .collect();
    Ok(wire::List {
        items,
        next_cursor: found.next,
    })
}

pub(crate) async fn audit(
    api: &Api,
    call: &Call<'_>,
) -> Result<wire::List<wire::AuditEntry>, Error> {
    let page = call.page()?;
    let time = |name: &str| {
        call.query(name)
            .map(|t| {
                parse_rfc3339(t).ok_or_else(|| {
                    bad_query(format!(
                        "{name} {t:?} is not an RFC 3339 date-time such as 2026-12-06T00:00:00Z"
                    ))
                })
            })
            .transpose()
    };
    let range =
        TimeRange::new(time("since")?, time("until")?).map_err(|e| bad_query(e.to_string()))?;
    let found = api.store.list_audit(&range, &page).await?;
    let items = found
        .items
        .into_iter()
        .map(|e| {
            let store::AuditEntry {
                at,
                id,
                who,
                action,
                target,
                detail,
            } = e;
            wire::AuditEntry {
                at,
                id,
                who,
                action,
                target,
                detail,
            }
        })
        .collect();
    Ok(wire::List {
        items,
        next_cursor: found.next,
    })
}
