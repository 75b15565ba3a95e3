//! In-memory [`Store`] with the DynamoDB store's semantics, for handler unit tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use boreas_core::deployment::DeploymentStatus;
use boreas_core::history::{AppRun, HostRun};
use boreas_core::notify::DeliveryState;
use boreas_core::plan::Plan;
use boreas_core::status::{FailureAction, GateStatus, VersionStatus};
use boreas_core::version::VersionState;
use boreas_core::webhook::Provider;

use super::plan_record::StoredPlan;
use super::{
    Agent, AnalysisRecord, ApiToken, AppEnvironment, AppOnHost, AppProgress, AppRecords,
    AuditEntry, BatchProgress, Decision, Deployment, DeploymentFilter, DeploymentPolicy, Gate,
    Hold, HostDecision, LastDelivery, ManagedFreeze, NewDeployment, Notification,
    NotificationClaim, NotificationDefaults, Override, Page, PageRequest, PreviousSecret, Progress,
    Release, Repository, Store, StoredReview, TargetProgress, TaskOutput, TimeRange, Transition,
    VersionRecord, Waiver, check_deployment_id, check_lock_set, check_released, decode_cursor,
    deployment_order, encode_cursor, epoch_seconds, inventory_versions, lifecycle_times,
    token_hash, version_list_key,
};
use crate::{BoxFuture, Error};

/// A [`Store`] in process memory. Every operation runs under one lock, so conditional writes are
/// trivially atomic.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    repos: BTreeMap<String, Repository>,
    last_deliveries: BTreeMap<String, LastDelivery>,
    versions: BTreeMap<(String, String), VersionRecord>,
    /// (repository, version) → `boreas.yaml` text.
    configs: BTreeMap<(String, String), String>,
    deployments: BTreeMap<String, Deployment>,
    apps: BTreeMap<(String, String), AppProgress>,
    batches: BTreeMap<(String, String, u32), BatchProgress>,
    targets: BTreeMap<(String, String, String), TargetProgress>,
    gates: BTreeMap<(String, String), Gate>,
    /// (deployment, app, target) → the latest attempt's decision.
    decisions: BTreeMap<(String, String, String), HostDecision>,
    locks: BTreeMap<(String, String), String>,
    /// Delivery → `expires_at` (epoch seconds).
    deliveries: BTreeMap<(Provider, String), u64>,
    agents: BTreeMap<(String, String), Agent>,
    /// (app, env) → (release order, release).
    releases: BTreeMap<(String, String), (String, Release)>,
    /// (app, env) of every app an inventory listed: an app stays known after its hosts stop
    /// listing it, as its records do in DynamoDB.
    reported_apps: BTreeSet<(String, String)>,
    /// (deployment, app, target, action) → hook output.
    outputs: BTreeMap<(String, String, String, String), TaskOutput>,
    /// (deployment, sink, event) → delivery.
    notifications: BTreeMap<(String, String, String), Notification>,
    notification_defaults: Option<NotificationDefaults>,
    /// (deployment, app, batch, check) → analysis check.
    analyses: BTreeMap<(String, String, u32, String), AnalysisRecord>,
    /// Deployment → its waivers, override and hold.
    policies: BTreeMap<String, DeploymentPolicy>,
    /// Name → managed freeze window.
    freezes: BTreeMap<String, ManagedFreeze>,
    /// Deployment → its review.
    reviews: BTreeMap<String, StoredReview>,
    /// (app, deployment order) → run.
    app_runs: BTreeMap<(String, String), AppRun>,
    /// (environment, host, deployment order and app) → run.
    host_runs: BTreeMap<(String, String, String), HostRun>,
    /// SHA-256 hex of the secret → grant.
    tokens: BTreeMap<String, ApiToken>,
    /// Token name → SHA-256 hex of its secret.
    token_names: BTreeMap<String, String>,
    /// `{at}#{id}` → entry.
    audit: BTreeMap<String, AuditEntry>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-written record (every write is one
        // insert), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Newest-first page over `(sort key, item)` pairs: items whose key sorts before the cursor's.
fn page_desc<T: Clone>(items: Vec<(String, T)>, page: &PageRequest) -> Result<Page<T>, Error> {
    page_of(items, page, true)
}

/// One page of `items` by key, the way a Query pages an index: newest (greatest) first when
/// `descending`.
fn page_of<T: Clone>(
    mut items: Vec<(String, T)>,
    page: &PageRequest,
    descending: bool,
) -> Result<Page<T>, Error> {
    let limit = page.checked_limit()?;
    let after =
        match &page.cursor {
            Some(c) => Some(decode_cursor(c)?.remove("k").ok_or_else(|| {
                Error::invalid_input("page cursor is not one this service issued")
            })?),
            None => None,
        };
    items.sort_by(|a, b| b.0.cmp(&a.0));
    if !descending {
        items.reverse();
    }
    let mut rest = items.into_iter().filter(|(k, _)| {
        after
            .as_ref()
            .is_none_or(|a| if descending { k < a } else { k > a })
    });
    let taken: Vec<(String, T)> = rest.by_ref().take(limit).collect();
    let next = match (taken.last(), rest.next()) {
        (Some((k, _)), Some(_)) => Some(encode_cursor(&[("k".to_owned(), k.clone())].into())),
        _ => None,
    };
    Ok(Page {
        items: taken.into_iter().map(|(_, t)| t).collect(),
        next,
    })
}

impl Store for MemoryStore {
    fn put_repository<'a>(&'a self, repo: &'a Repository) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock().repos.insert(repo.id.clone(), repo.clone());
            Ok(())
        })
    }

    fn create_repository<'a>(&'a self, repo: &'a Repository) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut s = self.lock();
            if s.repos.contains_key(&repo.id) {
                return Ok(false);
            }
            s.repos.insert(repo.id.clone(), repo.clone());
            Ok(true)
        })
    }

    fn delete_repository<'a>(&'a self, id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut s = self.lock();
            let existed = s.repos.remove(id).is_some();
            if existed {
                s.last_deliveries.remove(id);
            }
            Ok(existed)
        })
    }

    fn set_previous_secret<'a>(
        &'a self,
        id: &'a str,
        previous: &'a PreviousSecret,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut s = self.lock();
            let repo = s
                .repos
                .get_mut(id)
                .ok_or_else(|| Error::not_found(format!("repository {id}")))?;
            if repo
                .previous_secret
                .as_ref()
                .is_none_or(|p| p.version < previous.version)
            {
                repo.previous_secret = Some(previous.clone());
            }
            Ok(())
        })
    }

    fn put_last_delivery<'a>(
        &'a self,
        id: &'a str,
        delivery: &'a LastDelivery,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock()
                .last_deliveries
                .insert(id.to_owned(), delivery.clone());
            Ok(())
        })
    }

    fn last_deliveries<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, BTreeMap<String, LastDelivery>> {
        Box::pin(async move {
            let s = self.lock();
            Ok(ids
                .iter()
                .filter_map(|id| Some((id.clone(), s.last_deliveries.get(id)?.clone())))
                .collect())
        })
    }

    fn get_repository<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Repository>> {
        Box::pin(async move { Ok(self.lock().repos.get(id).cloned()) })
    }

    fn list_repositories(&self) -> BoxFuture<'_, Vec<Repository>> {
        Box::pin(async move { Ok(self.lock().repos.values().cloned().collect()) })
    }

    fn put_version<'a>(&'a self, version: &'a VersionRecord) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let key = (
                version.version.repository.clone(),
                version.version.name.clone(),
            );
            let mut s = self.lock();
            if s.versions.contains_key(&key) {
                return Ok(false);
            }
            s.versions.insert(key, version.clone());
            Ok(true)
        })
    }

    fn get_version<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Option<VersionRecord>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .versions
                .get(&(repo.to_owned(), name.to_owned()))
                .cloned())
        })
    }

    fn list_versions<'a>(
        &'a self,
        repo: Option<&'a str>,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<VersionRecord>> {
        Box::pin(async move {
            let items = self
                .lock()
                .versions
                .values()
                .filter(|v| repo.is_none_or(|r| r == v.version.repository))
                .map(|v| (version_list_key(v), v.clone()))
                .collect();
            page_desc(items, page)
        })
    }

    fn set_version_status<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
        status: VersionStatus,
        diverged: bool,
        errors: &'a [String],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut s = self.lock();
            let v = s
                .versions
                .get_mut(&(repo.to_owned(), name.to_owned()))
                .ok_or_else(|| Error::not_found(format!("version {repo}/{name}")))?;
            v.status = status;
            v.diverged = diverged;
            v.errors = errors.to_vec();
            Ok(())
        })
    }

    fn put_version_config<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
        source: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock()
                .configs
                .insert((repo.to_owned(), name.to_owned()), source.to_owned());
            Ok(())
        })
    }

    fn get_version_config<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .configs
                .get(&(repo.to_owned(), name.to_owned()))
                .cloned())
        })
    }

    fn set_version_state<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
        state: VersionState,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut s = self.lock();
            let v = s
                .versions
                .get_mut(&(repo.to_owned(), name.to_owned()))
                .ok_or_else(|| Error::not_found(format!("version {repo}/{name}")))?;
            v.version.state = state;
            Ok(())
        })
    }

    fn create_deployment<'a>(&'a self, new: &'a NewDeployment) -> BoxFuture<'a, Deployment> {
        Box::pin(async move {
            check_deployment_id(&new.id)?;
            // The same bound as the table's.
            StoredPlan::encode(&new.id, &new.plan)?;
            let mut s = self.lock();
            if s.deployments.contains_key(&new.id) {
                return Err(Error::AlreadyExists {
                    what: format!("deployment {}", new.id),
                });
            }
            let d = Deployment {
                id: new.id.clone(),
                repository: new.repository.clone(),
                version: new.version.clone(),
                environment: new.environment.clone(),
                status: DeploymentStatus::Planned,
                plan: new.plan.clone(),
                created_at: new.created_at.clone(),
                started_at: None,
                ended_at: None,
                failed_target: None,
                error: None,
                confirmed_by: None,
                revert: new.revert,
            };
            s.deployments.insert(new.id.clone(), d.clone());
            Ok(d)
        })
    }

    fn get_deployment<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Deployment>> {
        Box::pin(async move { Ok(self.lock().deployments.get(id).cloned()) })
    }

    fn list_deployments<'a>(
        &'a self,
        filter: &'a DeploymentFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<Deployment>> {
        Box::pin(async move {
            let items = self
                .lock()
                .deployments
                .values()
                .filter(|d| filter.matches(d))
                .map(|d| (deployment_order(&d.created_at, &d.id), d.clone()))
                .collect();
            page_desc(items, page)
        })
    }

    fn update_plan<'a>(&'a self, id: &'a str, plan: &'a Plan) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            StoredPlan::encode(id, plan)?;
            let mut s = self.lock();
            let d = s
                .deployments
                .get_mut(id)
                .ok_or_else(|| Error::not_found(format!("deployment {id}")))?;
            if d.status != DeploymentStatus::Planned {
                return Err(plan_frozen(id, d.status));
            }
            d.plan = plan.clone();
            Ok(())
        })
    }

    fn transition_deployment<'a>(
        &'a self,
        id: &'a str,
        change: &'a Transition,
    ) -> BoxFuture<'a, Deployment> {
        Box::pin(async move {
            let mut s = self.lock();
            let d = s
                .deployments
                .get_mut(id)
                .ok_or_else(|| Error::not_found(format!("deployment {id}")))?;
            if !d.status.can_become(change.to) {
                return Err(Error::IllegalTransition {
                    id: id.to_owned(),
                    from: d.status,
                    to: change.to,
                });
            }
            let (starts, ends) = lifecycle_times(change.to);
            d.status = change.to;
            if starts {
                d.started_at = Some(change.at.clone());
            }
            if ends {
                d.ended_at = Some(change.at.clone());
            }
            if change.failed_target.is_some() {
                d.failed_target = change.failed_target.clone();
            }
            if change.error.is_some() {
                d.error = change.error.clone();
            }
            Ok(d.clone())
        })
    }

    fn put_app_progress<'a>(&'a self, id: &'a str, p: &'a AppProgress) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock()
                .apps
                .insert((id.to_owned(), p.app.clone()), p.clone());
            Ok(())
        })
    }

    fn put_batch_progress<'a>(&'a self, id: &'a str, p: &'a BatchProgress) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock()
                .batches
                .insert((id.to_owned(), p.app.clone(), p.index), p.clone());
            Ok(())
        })
    }

    fn put_target_progress<'a>(&'a self, id: &'a str, p: &'a TargetProgress) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock()
                .targets
                .insert((id.to_owned(), p.app.clone(), p.target.clone()), p.clone());
            Ok(())
        })
    }

    fn progress<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Progress> {
        Box::pin(async move {
            let s = self.lock();
            Ok(Progress {
                apps: s
                    .apps
                    .iter()
                    .filter(|(k, _)| k.0 == id)
                    .map(|(_, v)| v.clone())
                    .collect(),
                batches: s
                    .batches
                    .iter()
                    .filter(|(k, _)| k.0 == id)
                    .map(|(_, v)| v.clone())
                    .collect(),
                targets: s
                    .targets
                    .iter()
                    .filter(|(k, _)| k.0 == id)
                    .map(|(_, v)| v.clone())
                    .collect(),
                gates: s
                    .gates
                    .iter()
                    .filter(|(k, _)| k.0 == id)
                    .map(|(_, v)| v.clone())
                    .collect(),
                decisions: s
                    .decisions
                    .iter()
                    .filter(|(k, _)| k.0 == id)
                    .map(|(_, v)| v.clone())
                    .collect(),
            })
        })
    }

    fn put_gate<'a>(
        &'a self,
        id: &'a str,
        gate: &'a str,
        task_token: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut s = self.lock();
            let key = (id.to_owned(), gate.to_owned());
            if let Some(g) = s.gates.get(&key)
                && g.status != GateStatus::Waiting
            {
                return Err(gate_decided(id, gate, g.status));
            }
            s.gates.insert(
                key,
                Gate {
                    gate: gate.to_owned(),
                    task_token: task_token.to_owned(),
                    status: GateStatus::Waiting,
                    comment: None,
                    by: None,
                },
            );
            Ok(())
        })
    }

    fn get_gate<'a>(&'a self, id: &'a str, gate: &'a str) -> BoxFuture<'a, Option<Gate>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .gates
                .get(&(id.to_owned(), gate.to_owned()))
                .cloned())
        })
    }

    fn decide_gate<'a>(
        &'a self,
        id: &'a str,
        gate: &'a str,
        decision: Decision,
        by: &'a str,
        comment: Option<&'a str>,
    ) -> BoxFuture<'a, Gate> {
        Box::pin(async move {
            let mut s = self.lock();
            let g = s
                .gates
                .get_mut(&(id.to_owned(), gate.to_owned()))
                .ok_or_else(|| Error::not_found(format!("gate {gate} of deployment {id}")))?;
            if g.status != GateStatus::Waiting {
                return Err(gate_decided(id, gate, g.status));
            }
            g.status = decision.status();
            g.by = Some(by.to_owned());
            g.comment = comment.map(str::to_owned);
            Ok(g.clone())
        })
    }

    fn put_host_decision<'a>(&'a self, id: &'a str, d: &'a HostDecision) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut s = self.lock();
            let key = (id.to_owned(), d.app.clone(), d.target.clone());
            if let Some(old) = s.decisions.get(&key)
                && (old.attempt > d.attempt || (old.attempt == d.attempt && old.action.is_some()))
            {
                return Err(host_decided(id, old));
            }
            s.decisions.insert(key, d.clone());
            Ok(())
        })
    }

    fn get_host_decision<'a>(
        &'a self,
        id: &'a str,
        app: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Option<HostDecision>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .decisions
                .get(&(id.to_owned(), app.to_owned(), target.to_owned()))
                .cloned())
        })
    }

    fn decide_host<'a>(
        &'a self,
        id: &'a str,
        d: &'a HostDecision,
        action: FailureAction,
        by: &'a str,
        comment: Option<&'a str>,
    ) -> BoxFuture<'a, HostDecision> {
        Box::pin(async move {
            let mut s = self.lock();
            let stored = s
                .decisions
                .get_mut(&(id.to_owned(), d.app.clone(), d.target.clone()))
                .ok_or_else(|| no_host_decision(id, &d.app, &d.target))?;
            if stored.attempt != d.attempt || stored.action.is_some() {
                return Err(host_decided(id, stored));
            }
            stored.action = Some(action);
            stored.by = Some(by.to_owned());
            stored.comment = comment.map(str::to_owned);
            Ok(stored.clone())
        })
    }

    fn acquire_run_locks<'a>(
        &'a self,
        id: &'a str,
        env: &'a str,
        apps: &'a [String],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            check_lock_set(apps)?;
            let mut s = self.lock();
            for app in apps {
                if let Some(holder) = s.locks.get(&(env.to_owned(), app.clone()))
                    && holder != id
                {
                    return Err(lock_held(env, app, holder));
                }
            }
            for app in apps {
                s.locks.insert((env.to_owned(), app.clone()), id.to_owned());
            }
            Ok(())
        })
    }

    fn release_run_locks<'a>(
        &'a self,
        id: &'a str,
        env: &'a str,
        apps: &'a [String],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            check_lock_set(apps)?;
            let mut s = self.lock();
            for app in apps {
                let key = (env.to_owned(), app.clone());
                if s.locks.get(&key).is_some_and(|h| h == id) {
                    s.locks.remove(&key);
                }
            }
            Ok(())
        })
    }

    fn run_lock_holder<'a>(&'a self, env: &'a str, app: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .locks
                .get(&(env.to_owned(), app.to_owned()))
                .cloned())
        })
    }

    fn record_delivery<'a>(
        &'a self,
        provider: Provider,
        delivery_id: &'a str,
        at: SystemTime,
        ttl: Duration,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let now = epoch_seconds(at);
            let mut s = self.lock();
            let key = (provider, delivery_id.to_owned());
            if s.deliveries.get(&key).is_some_and(|&exp| exp > now) {
                return Ok(false);
            }
            s.deliveries.insert(key, epoch_seconds(at + ttl));
            Ok(true)
        })
    }

    fn upsert_agent<'a>(&'a self, agent: &'a Agent) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut state = self.lock();
            let key = (agent.env.clone(), agent.host.clone());
            if state
                .agents
                .get(&key)
                .is_some_and(|a| a.observed_at >= agent.observed_at)
            {
                return Ok(false);
            }
            for app in inventory_versions(agent).into_keys() {
                state.reported_apps.insert((app, agent.env.clone()));
            }
            state.agents.insert(key, agent.clone());
            Ok(true)
        })
    }

    fn list_agents<'a>(&'a self, env: Option<&'a str>) -> BoxFuture<'a, Vec<Agent>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .agents
                .values()
                .filter(|a| env.is_none_or(|e| e == a.env))
                .cloned()
                .collect())
        })
    }

    fn agents_page<'a>(
        &'a self,
        env: Option<&'a str>,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<Agent>> {
        Box::pin(async move {
            let items = self
                .lock()
                .agents
                .values()
                .filter(|a| env.is_none_or(|e| e == a.env))
                .map(|a| (format!("{}#{}", a.env, a.host), a.clone()))
                .collect();
            page_of(items, page, false)
        })
    }

    fn record_release<'a>(&'a self, deployment: &'a Deployment) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            check_released(deployment)?;
            let order = deployment_order(&deployment.created_at, &deployment.id);
            let mut s = self.lock();
            for app in deployment.plan.apps() {
                let key = (app.app.clone(), deployment.environment.clone());
                if s.releases.get(&key).is_some_and(|(o, _)| *o >= order) {
                    continue;
                }
                let release = Release {
                    repository: deployment.repository.clone(),
                    version: deployment.version.clone(),
                    deployment: deployment.id.clone(),
                    targets: app.targets.clone(),
                };
                s.releases.insert(key, (order.clone(), release));
            }
            Ok(())
        })
    }

    fn app_names<'a>(&'a self, page: &'a PageRequest) -> BoxFuture<'a, Page<String>> {
        Box::pin(async move {
            let s = self.lock();
            let names: BTreeSet<String> = s
                .releases
                .keys()
                .chain(&s.reported_apps)
                .map(|(a, _)| a.clone())
                .collect();
            page_of(
                names.into_iter().map(|n| (n.clone(), n)).collect(),
                page,
                false,
            )
        })
    }

    fn app_records<'a>(&'a self, app: &'a str) -> BoxFuture<'a, AppRecords> {
        Box::pin(async move {
            let s = self.lock();
            let mut envs: BTreeMap<String, Option<Release>> = s
                .releases
                .iter()
                .filter(|((a, _), _)| a == app)
                .map(|((_, env), (_, r))| (env.clone(), Some(r.clone())))
                .collect();
            for (_, env) in s.reported_apps.iter().filter(|(a, _)| a == app) {
                envs.entry(env.clone()).or_default();
            }
            let mut hosts = Vec::new();
            for agent in s.agents.values() {
                if let Some(version) = inventory_versions(agent).remove(app) {
                    hosts.push(AppOnHost {
                        env: agent.env.clone(),
                        host: agent.host.clone(),
                        version,
                    });
                }
            }
            Ok(AppRecords {
                environments: envs
                    .into_iter()
                    .map(|(env, release)| AppEnvironment { env, release })
                    .collect(),
                hosts,
            })
        })
    }

    fn released_apps<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let apps: BTreeSet<String> = self
                .lock()
                .releases
                .iter()
                .filter(|(_, (_, r))| r.repository == repo)
                .map(|((app, _), _)| app.clone())
                .collect();
            Ok(apps.into_iter().collect())
        })
    }

    fn older_versions<'a>(
        &'a self,
        than: &'a VersionRecord,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<VersionRecord>> {
        Box::pin(async move {
            let below = version_list_key(than);
            let items = self
                .lock()
                .versions
                .values()
                .filter(|v| v.version.repository == than.version.repository)
                .map(|v| (version_list_key(v), v.clone()))
                .filter(|(k, _)| *k < below)
                .collect();
            page_desc(items, page)
        })
    }

    fn put_task_output<'a>(&'a self, id: &'a str, output: &'a TaskOutput) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let key = (
                id.to_owned(),
                output.app.clone(),
                output.target.clone(),
                output.action.clone(),
            );
            self.lock().outputs.insert(key, output.clone());
            Ok(())
        })
    }

    fn task_outputs<'a>(
        &'a self,
        id: &'a str,
        app: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Vec<TaskOutput>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .outputs
                .iter()
                .filter(|((d, a, t, _), _)| d == id && a == app && t == target)
                .map(|(_, o)| o.clone())
                .collect())
        })
    }

    fn claim_notification<'a>(
        &'a self,
        id: &'a str,
        claim: &'a NotificationClaim,
    ) -> BoxFuture<'a, Option<Notification>> {
        Box::pin(async move {
            let key = (id.to_owned(), claim.sink.clone(), claim.event.clone());
            let mut state = self.lock();
            let existing = state.notifications.get(&key);
            if !super::claimable(existing, &claim.stale_before) {
                return Ok(None);
            }
            let claimed = Notification {
                sink: claim.sink.clone(),
                event: claim.event.clone(),
                state: DeliveryState::Sending,
                attempts: existing.map_or(0, |n| n.attempts) + 1,
                updated_at: claim.at.clone(),
                summary: claim.summary.clone(),
                error: existing.and_then(|n| n.error.clone()),
                remote_id: existing.and_then(|n| n.remote_id),
            };
            state.notifications.insert(key, claimed.clone());
            Ok(Some(claimed))
        })
    }

    fn settle_notification<'a>(
        &'a self,
        id: &'a str,
        settled: &'a Notification,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let key = (id.to_owned(), settled.sink.clone(), settled.event.clone());
            let mut state = self.lock();
            match state.notifications.get_mut(&key) {
                Some(n) if n.state == DeliveryState::Sending && n.attempts == settled.attempts => {
                    *n = settled.clone();
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn notifications<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Vec<Notification>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .notifications
                .iter()
                .filter(|((d, _, _), _)| d == id)
                .map(|(_, n)| n.clone())
                .collect())
        })
    }

    fn note_deployment_error<'a>(&'a self, id: &'a str, error: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut state = self.lock();
            match state.deployments.get_mut(id) {
                Some(d) if d.error.is_none() && d.status == DeploymentStatus::Running => {
                    d.error = Some(error.to_owned());
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn put_analysis<'a>(
        &'a self,
        id: &'a str,
        record: &'a AnalysisRecord,
        previous: usize,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let key = (
                id.to_owned(),
                record.app.clone(),
                record.batch,
                record.check.clone(),
            );
            let mut state = self.lock();
            // As the table's condition: absent for a first write, else holding `previous`.
            let stored = state.analyses.get(&key).map(|r| r.measurements.len());
            if stored != (previous > 0).then_some(previous) {
                return Ok(false);
            }
            state.analyses.insert(key, record.clone());
            Ok(true)
        })
    }

    fn analyses<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Vec<AnalysisRecord>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .analyses
                .iter()
                .filter(|((d, ..), _)| d == id)
                .map(|(_, r)| r.clone())
                .collect())
        })
    }

    fn put_waiver<'a>(&'a self, id: &'a str, waiver: &'a Waiver) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut state = self.lock();
            let waivers = &mut state.policies.entry(id.to_owned()).or_default().waivers;
            if waivers.iter().any(|w| w.condition == waiver.condition) {
                return Ok(false);
            }
            waivers.push(waiver.clone());
            // In key order, as the table reads them.
            waivers.sort_by_key(|w| w.condition.to_string());
            Ok(true)
        })
    }

    fn put_override<'a>(&'a self, id: &'a str, grant: &'a Override) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock()
                .policies
                .entry(id.to_owned())
                .or_default()
                .override_ = Some(grant.clone());
            Ok(())
        })
    }

    fn set_hold<'a>(&'a self, id: &'a str, hold: Option<&'a Hold>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock().policies.entry(id.to_owned()).or_default().hold = hold.cloned();
            Ok(())
        })
    }

    fn holds<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, BTreeMap<String, Hold>> {
        Box::pin(async move {
            let s = self.lock();
            Ok(ids
                .iter()
                .filter_map(|id| Some((id.clone(), s.policies.get(id)?.hold.clone()?)))
                .collect())
        })
    }

    fn put_supersedes<'a>(&'a self, id: &'a str, older: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let list = &mut state.policies.entry(id.to_owned()).or_default().supersedes;
            if !list.iter().any(|o| o == older) {
                list.push(older.to_owned());
                list.sort();
            }
            Ok(())
        })
    }

    fn deployment_policy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, DeploymentPolicy> {
        Box::pin(async move { Ok(self.lock().policies.get(id).cloned().unwrap_or_default()) })
    }

    fn put_freeze<'a>(&'a self, freeze: &'a ManagedFreeze) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut state = self.lock();
            if state.freezes.contains_key(&freeze.freeze.name) {
                return Ok(false);
            }
            state
                .freezes
                .insert(freeze.freeze.name.clone(), freeze.clone());
            Ok(true)
        })
    }

    fn delete_freeze<'a>(&'a self, name: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move { Ok(self.lock().freezes.remove(name).is_some()) })
    }

    fn freezes(&self) -> BoxFuture<'_, Vec<ManagedFreeze>> {
        Box::pin(async move { Ok(self.lock().freezes.values().cloned().collect()) })
    }

    fn put_review<'a>(&'a self, id: &'a str, review: &'a StoredReview) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // The same bound as the table's.
            StoredPlan::encode(id, &review.proposal)?;
            self.lock().reviews.insert(id.to_owned(), review.clone());
            Ok(())
        })
    }

    fn review<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<StoredReview>> {
        Box::pin(async move { Ok(self.lock().reviews.get(id).cloned()) })
    }

    fn set_confirmed_by<'a>(&'a self, id: &'a str, by: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let d = state
                .deployments
                .get_mut(id)
                .ok_or_else(|| Error::not_found(format!("deployment {id}")))?;
            d.confirmed_by = Some(by.to_owned());
            Ok(())
        })
    }

    fn record_runs<'a>(
        &'a self,
        deployment: &'a Deployment,
        apps: &'a [AppRun],
        hosts: &'a [HostRun],
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let order = deployment_order(&deployment.created_at, &deployment.id);
            let mut state = self.lock();
            for run in apps {
                state
                    .app_runs
                    .insert((run.app.clone(), order.clone()), run.clone());
            }
            for run in hosts {
                let key = (
                    run.environment.clone(),
                    run.host.clone(),
                    format!("{order}#{}", run.app),
                );
                state.host_runs.insert(key, run.clone());
            }
            Ok(())
        })
    }

    fn app_runs<'a>(
        &'a self,
        app: &'a str,
        environment: Option<&'a str>,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<AppRun>> {
        Box::pin(async move {
            let runs = self
                .lock()
                .app_runs
                .iter()
                .filter(|((a, _), run)| {
                    a == app && environment.is_none_or(|e| e == run.environment)
                })
                .map(|((_, order), run)| (order.clone(), run.clone()))
                .collect();
            page_desc(runs, page)
        })
    }

    fn host_runs<'a>(
        &'a self,
        environment: &'a str,
        host: &'a str,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<HostRun>> {
        Box::pin(async move {
            let runs = self
                .lock()
                .host_runs
                .iter()
                .filter(|((e, h, _), _)| e == environment && h == host)
                .map(|((_, _, order), run)| (order.clone(), run.clone()))
                .collect();
            page_desc(runs, page)
        })
    }

    fn notification_defaults(&self) -> BoxFuture<'_, Option<NotificationDefaults>> {
        Box::pin(async move { Ok(self.lock().notification_defaults.clone()) })
    }

    fn put_notification_defaults<'a>(
        &'a self,
        defaults: &'a NotificationDefaults,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock().notification_defaults = Some(defaults.clone());
            Ok(())
        })
    }

    fn put_api_token<'a>(&'a self, secret: &'a str, token: &'a ApiToken) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut s = self.lock();
            let hash = token_hash(secret);
            if s.token_names.contains_key(&token.name) || s.tokens.contains_key(&hash) {
                return Err(Error::AlreadyExists {
                    what: format!("api token {}", token.name),
                });
            }
            s.token_names.insert(token.name.clone(), hash.clone());
            s.tokens.insert(hash, token.clone());
            Ok(())
        })
    }

    fn get_api_token<'a>(&'a self, secret: &'a str) -> BoxFuture<'a, Option<ApiToken>> {
        Box::pin(async move { Ok(self.lock().tokens.get(&token_hash(secret)).cloned()) })
    }

    fn list_api_tokens(&self) -> BoxFuture<'_, Vec<ApiToken>> {
        Box::pin(async move {
            let s = self.lock();
            Ok(s.token_names
                .values()
                .filter_map(|hash| s.tokens.get(hash).cloned())
                .collect())
        })
    }

    fn revoke_api_token<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Option<ApiToken>> {
        Box::pin(async move {
            let mut s = self.lock();
            let Some(hash) = s.token_names.remove(name) else {
                return Ok(None);
            };
            Ok(s.tokens.remove(&hash))
        })
    }

    fn touch_api_token<'a>(
        &'a self,
        secret: &'a str,
        at: &'a str,
        unless_since: &'a str,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut s = self.lock();
            let Some(token) = s.tokens.get_mut(&token_hash(secret)) else {
                return Ok(false);
            };
            if token
                .last_used
                .as_deref()
                .is_some_and(|used| used >= unless_since)
            {
                return Ok(false);
            }
            token.last_used = Some(at.to_owned());
            Ok(true)
        })
    }

    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock()
                .audit
                .insert(format!("{}#{}", entry.at, entry.id), entry.clone());
            Ok(())
        })
    }

    fn list_audit<'a>(
        &'a self,
        range: &'a TimeRange,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<AuditEntry>> {
        Box::pin(async move {
            let items = self
                .lock()
                .audit
                .iter()
                .filter(|(k, _)| range.holds(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            page_desc(items, page)
        })
    }
}

pub(super) fn plan_frozen(id: &str, status: DeploymentStatus) -> Error {
    Error::Conflict {
        what: format!("deployment {id}"),
        reason: format!("the plan can only change while planned, and it is {status}"),
    }
}

pub(super) fn gate_decided(id: &str, gate: &str, status: GateStatus) -> Error {
    Error::Conflict {
        what: format!("gate {gate} of deployment {id}"),
        reason: format!("already {status}"),
    }
}

pub(super) fn host_decided(id: &str, latest: &HostDecision) -> Error {
    Error::Conflict {
        what: format!(
            "decision on {} of app {} in deployment {id}",
            latest.target, latest.app
        ),
        reason: match latest.action {
            Some(a) => format!("attempt {} was decided already ({a})", latest.attempt),
            None => format!("attempt {} is the one waiting", latest.attempt),
        },
    }
}

pub(super) fn no_host_decision(id: &str, app: &str, target: &str) -> Error {
    Error::not_found(format!(
        "decision on {target} of app {app} in deployment {id}"
    ))
}

pub(super) fn lock_held(env: &str, app: &str, holder: &str) -> Error {
    Error::Conflict {
        what: format!("run lock of app {app} in {env}"),
        reason: format!("held by deployment {holder}"),
    }
}
