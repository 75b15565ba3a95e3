//! The history records of an ended deployment, from its record and its progress: one run per
//! planned app and one per PM host its plan changes. [`crate::lifecycle::Lifecycle::finish`]
//! writes them; the api pages through them.

use std::collections::HashMap;

use boreas_core::config::AppKind;
use boreas_core::history::{AppRun, HostRun, RunGate};
use boreas_core::status::TargetStatus;

use crate::store::{Deployment, Progress};

/// The runs of `deployment` (ended) as `progress` recorded them.
pub fn runs(deployment: &Deployment, progress: &Progress) -> (Vec<AppRun>, Vec<HostRun>) {
    let ended = deployment
        .ended_at
        .clone()
        .unwrap_or_else(|| deployment.created_at.clone());
    // Each target's status by (app, target), read once: a deployment may have thousands.
    let reached: HashMap<(&str, &str), TargetStatus> = progress
        .targets
        .iter()
        .map(|t| ((t.app.as_str(), t.target.as_str()), t.status))
        .collect();
    let mut apps = Vec::new();
    let mut hosts = Vec::new();
    for app in deployment.plan.apps() {
        let own = progress.apps.iter().find(|p| p.app == app.app);
        let prefix = format!("{}.", app.app);
        let failed_target = deployment
            .failed_target
            .as_deref()
            .filter(|t| reached.contains_key(&(app.app.as_str(), *t)))
            .map(str::to_owned);
        apps.push(AppRun {
            app: app.app.clone(),
            deployment_id: deployment.id.clone(),
            repository: deployment.repository.clone(),
            version: deployment.version.clone(),
            environment: deployment.environment.clone(),
            outcome: deployment.status,
            app_status: own.map(|p| p.status),
            started_at: own
                .and_then(|p| p.started_at.clone())
                .or_else(|| deployment.started_at.clone()),
            ended_at: own
                .and_then(|p| p.ended_at.clone())
                .or_else(|| deployment.ended_at.clone()),
            confirmed_by: deployment.confirmed_by.clone(),
            gates: progress
                .gates
                .iter()
                .filter(|g| g.gate.starts_with(&prefix))
                .map(|g| RunGate {
                    gate: g.gate.clone(),
                    status: g.status,
                    by: g.by.clone(),
                })
                .collect(),
            revert: deployment.revert,
            targets: u32::try_from(app.targets.len()).unwrap_or(u32::MAX),
            failed_target,
        });
        if app.kind == AppKind::Pm {
            for host in &app.targets {
                let status = reached.get(&(app.app.as_str(), host.as_str())).copied();
                hosts.push(HostRun {
                    host: host.clone(),
                    environment: deployment.environment.clone(),
                    app: app.app.clone(),
                    deployment_id: deployment.id.clone(),
                    version: deployment.version.clone(),
                    outcome: deployment.status,
                    status,
                    ended_at: ended.clone(),
                });
            }
        }
    }
    (apps, hosts)
}
