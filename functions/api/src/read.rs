//! Read routes: versions, deployments with live progress, agents, audit, repositories, health.

use std::time::SystemTime;

use boreas_aws::store::{Deployment, DeploymentFilter, Progress, VersionRecord, rfc3339};
use boreas_core::deployment::DeploymentStatus;
use serde_json::{Value, json};

use crate::{Api, ApiRequest, ApiResponse, Error, list_body, page_request, paginate, query};

pub(crate) async fn health(api: &Api) -> Result<ApiResponse, Error> {
    // One consistent read proves the table answers.
    match api.store.get_repository("health-probe").await {
        Ok(_) => Ok(ApiResponse::ok(json!({"status": "ok", "store": "ok"}))),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unreachable");
            Ok(ApiResponse::with_status(
                http::StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "unhealthy", "message": format!("store: {e}")}),
            ))
        }
    }
}

pub(crate) fn version_json(v: &VersionRecord) -> Value {
    json!({
        "repository": v.version.repository,
        "name": v.version.name,
        "commit": v.version.commit,
        "state": v.version.state,
        "status": v.status,
        "diverged": v.diverged,
        "errors": v.errors,
        "received_at": v.received_at,
        "pushed_by": v.pushed_by,
    })
}

pub(crate) async fn versions(api: &Api, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let q = query(req, &["repo", "limit", "cursor"])?;
    let page = page_request(&q)?;
    let found = api
        .store
        .list_versions(q.get("repo").copied(), &page)
        .await?;
    Ok(ApiResponse::ok(list_body(
        found.items.iter().map(version_json).collect(),
        found.next,
    )))
}

pub(crate) async fn version(api: &Api, repo: &str, name: &str) -> Result<ApiResponse, Error> {
    let v = api
        .store
        .get_version(repo, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("version {repo}/{name} not found")))?;
    Ok(ApiResponse::ok(version_json(&v)))
}

/// A deployment without its plan, as lists show it.
pub(crate) fn deployment_summary(d: &Deployment) -> Value {
    json!({
        "id": d.id,
        "repository": d.repository,
        "version": d.version,
        "environment": d.environment,
        "status": d.status,
        "created_at": d.created_at,
        "started_at": d.started_at,
        "ended_at": d.ended_at,
        "failed_target": d.failed_target,
        "error": d.error,
    })
}

/// A deployment with its plan.
pub(crate) fn deployment_json(d: &Deployment) -> Value {
    let mut out = deployment_summary(d);
    out["plan"] = serde_json::to_value(&d.plan).unwrap_or(Value::Null);
    out
}

/// Progress as the api shows it: gates without their task tokens.
fn progress_json(p: &Progress) -> Value {
    json!({
        "apps": p.apps,
        "batches": p.batches,
        "targets": p.targets,
        "gates": p.gates.iter().map(|g| json!({
            "gate": g.gate,
            "status": g.status,
            "comment": g.comment,
            "by": g.by,
        })).collect::<Vec<_>>(),
    })
}

pub(crate) async fn deployments(api: &Api, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let q = query(req, &["status", "env", "limit", "cursor"])?;
    let page = page_request(&q)?;
    let status = match q.get("status") {
        None => None,
        Some(s) => Some(DeploymentStatus::parse(s).ok_or_else(|| Error::BadRequest {
            code: "bad_query",
            message: format!(
                "status {s:?} is not one of {}",
                DeploymentStatus::ALL.map(DeploymentStatus::as_str).join(", ")
            ),
        })?),
    };
    let filter = DeploymentFilter {
        status,
        environment: q.get("env").map(|e| (*e).to_owned()),
    };
    let found = api.store.list_deployments(&filter, &page).await?;
    Ok(ApiResponse::ok(list_body(
        found.items.iter().map(deployment_summary).collect(),
        found.next,
    )))
}

pub(crate) async fn get_deployment(api: &Api, id: &str) -> Result<Deployment, Error> {
    api.store
        .get_deployment(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("deployment {id} not found")))
}

pub(crate) async fn deployment(api: &Api, id: &str) -> Result<ApiResponse, Error> {
    let d = get_deployment(api, id).await?;
    let progress = api.store.progress(id).await?;
    let mut out = deployment_json(&d);
    out["progress"] = progress_json(&progress);
    Ok(ApiResponse::ok(out))
}

pub(crate) async fn agents(api: &Api, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let q = query(req, &["env", "limit", "cursor"])?;
    let page = page_request(&q)?;
    let agents = api.store.list_agents(q.get("env").copied()).await?;
    // Timestamps are fixed-width RFC 3339 UTC, so they compare as strings.
    let cutoff = rfc3339(
        SystemTime::now()
            .checked_sub(api.stale_after)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let keyed = agents
        .into_iter()
        .map(|a| {
            let stale = a.last_seen < cutoff;
            let key = format!("{}\u{0}{}", a.env, a.host);
            let body = json!({
                "environment": a.env,
                "host": a.host,
                "group": a.group,
                "last_seen": a.last_seen,
                "stale": stale,
                "apps": a.apps,
            });
            (key, body)
        })
        .collect();
    let (items, next) = paginate(keyed, &page)?;
    Ok(ApiResponse::ok(list_body(items, next)))
}

pub(crate) async fn audit(api: &Api, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let q = query(req, &["limit", "cursor"])?;
    let page = page_request(&q)?;
    let found = api.store.list_audit(&page).await?;
    let items = found
        .items
        .iter()
        .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
        .collect();
    Ok(ApiResponse::ok(list_body(items, found.next)))
}

pub(crate) async fn repositories(api: &Api, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let q = query(req, &["limit", "cursor"])?;
    let page = page_request(&q)?;
    let repos = api.store.list_repositories().await?;
    let keyed = repos
        .into_iter()
        .map(|r| {
            (
                r.name.clone(),
                serde_json::to_value(&r).unwrap_or(Value::Null),
            )
        })
        .collect();
    let (items, next) = paginate(keyed, &page)?;
    Ok(ApiResponse::ok(list_body(items, next)))
}
