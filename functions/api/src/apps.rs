//! Apps across environments: desired version, coverage and drift.
//!
//! - **Desired version** of an app in an environment: the version of the newest `succeeded`
//!   deployment whose plan deploys the app there.
//! - **Targets**: the desired deployment's targets of the app, plus every agent of the
//!   environment whose inventory lists the app.
//! - **Reported version** of a target: what its agent's (or operator's) last inventory says.
//! - **Coverage**: the share of targets whose reported version is the desired one or newer.
//! - **Drifted**: targets reporting a version other than the desired one; targets without a
//!   report are listed as `unreported` (and count as not covered).
//!
//! "Newer contains older" needs history, and the api has no git. It uses the order the versions
//! were recorded in, with the planner's `diverged` flag: see [`RecordedOrder`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;

use boreas_api_types as wire;
use boreas_aws::store::{
    Agent, Deployment, DeploymentFilter, MAX_PAGE, PageRequest, VersionRecord,
};
use boreas_core::command::AppInventory;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::version::{Ancestry, CommitId};

use crate::call::Call;
use crate::{Api, Error, paginate};

/// Version order as recorded, for a repository the api cannot ask git about: version `b`
/// contains version `a` when both are bound to the same commit, or when `a` was received before
/// `b` and neither is flagged `diverged` (a diverged version's place in history is unknown, so
/// it contains only its own commit and nothing else contains it).
#[derive(Debug, Default)]
pub(crate) struct RecordedOrder {
    /// Commit → (position of its first recorded version, flagged diverged).
    commits: HashMap<String, (usize, bool)>,
    /// Version name → commit.
    names: HashMap<String, CommitId>,
}

impl RecordedOrder {
    pub(crate) fn new(versions: &[VersionRecord]) -> Self {
        let mut sorted: Vec<&VersionRecord> = versions.iter().collect();
        sorted.sort_by(|a, b| a.received_at.cmp(&b.received_at));
        let mut order = Self::default();
        for (i, v) in sorted.into_iter().enumerate() {
            let entry = order
                .commits
                .entry(v.version.commit.0.clone())
                .or_insert((i, false));
            entry.1 |= v.diverged;
            order
                .names
                .insert(v.version.name.clone(), v.version.commit.clone());
        }
        order
    }

    /// Whether version `newer` contains version `older` (by name); unknown names contain nothing
    /// but themselves.
    pub(crate) fn contains(&self, newer: &str, older: &str) -> bool {
        if newer == older {
            return true;
        }
        match (self.names.get(newer), self.names.get(older)) {
            (Some(n), Some(o)) => self.reachable(o, n),
            _ => false,
        }
    }

    fn reachable(&self, ancestor: &CommitId, descendant: &CommitId) -> bool {
        if ancestor == descendant {
            return true;
        }
        match (
            self.commits.get(&ancestor.0),
            self.commits.get(&descendant.0),
        ) {
            (Some((a, false)), Some((d, false))) => a < d,
            _ => false,
        }
    }
}

impl Ancestry for RecordedOrder {
    type Error = Infallible;

    fn is_ancestor(&self, ancestor: &CommitId, descendant: &CommitId) -> Result<bool, Infallible> {
        Ok(self.reachable(ancestor, descendant))
    }
}

/// Every version of `repo`.
pub(crate) async fn all_versions(api: &Api, repo: &str) -> Result<Vec<VersionRecord>, Error> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(MAX_PAGE);
    loop {
        let found = api.store.list_versions(Some(repo), &page).await?;
        out.extend(found.items);
        match found.next {
            Some(next) => page.cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Every deployment, newest first.
pub(crate) async fn all_deployments(api: &Api) -> Result<Vec<Deployment>, Error> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(MAX_PAGE);
    let filter = DeploymentFilter::default();
    loop {
        let found = api.store.list_deployments(&filter, &page).await?;
        out.extend(found.items);
        match found.next {
            Some(next) => page.cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// What an agent last reported (empty, with a log line, when the record does not parse).
pub(crate) fn inventory(agent: &Agent) -> Vec<AppInventory> {
    serde_json::from_value(agent.apps.clone()).unwrap_or_else(|e| {
        tracing::warn!(env = %agent.env, host = %agent.host, error = %e, "stored inventory does not parse");
        Vec::new()
    })
}

/// What an agent reports running: app → version.
pub(crate) fn reported(agent: &Agent) -> BTreeMap<String, Option<String>> {
    inventory(agent)
        .into_iter()
        .map(|a| (a.app, a.version))
        .collect()
}

/// Everything the app views are computed from, read once per request.
pub(crate) struct Landscape {
    pub(crate) deployments: Vec<Deployment>,
    pub(crate) agents: Vec<Agent>,
}

impl Landscape {
    pub(crate) async fn load(api: &Api) -> Result<Self, Error> {
        Ok(Self {
            deployments: all_deployments(api).await?,
            agents: api.store.list_agents(None).await?,
        })
    }

    /// The newest succeeded deployment deploying `app` to `env`.
    pub(crate) fn desired(&self, env: &str, app: &str) -> Option<&Deployment> {
        self.deployments.iter().find(|d| {
            d.status == DeploymentStatus::Succeeded
                && d.environment == env
                && d.plan.find_app(app).is_some()
        })
    }

    /// Every app any plan or inventory names, with the environments it appears in.
    fn apps(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for d in &self.deployments {
            for app in d.plan.apps() {
                out.entry(app.app.clone())
                    .or_default()
                    .insert(d.environment.clone());
            }
        }
        for agent in &self.agents {
            for app in reported(agent).into_keys() {
                out.entry(app).or_default().insert(agent.env.clone());
            }
        }
        out
    }
}

/// The view of `app` in each of `envs`.
async fn app_view(
    api: &Api,
    land: &Landscape,
    orders: &mut HashMap<String, RecordedOrder>,
    app: &str,
    envs: &BTreeSet<String>,
) -> Result<wire::App, Error> {
    let mut environments = Vec::new();
    for env in envs {
        let desired = land.desired(env, app);
        let mut targets: BTreeMap<String, Option<String>> = BTreeMap::new();
        if let Some(d) = desired
            && let Some((_, a)) = d.plan.find_app(app)
        {
            for t in &a.targets {
                targets.insert(t.clone(), None);
            }
        }
        for agent in land.agents.iter().filter(|a| a.env == *env) {
            if let Some(version) = reported(agent).remove(app) {
                targets.insert(agent.host.clone(), version);
            }
        }
        let (mut drifted, mut unreported, mut covered) = (Vec::new(), Vec::new(), 0u64);
        if let Some(d) = desired {
            if !orders.contains_key(&d.repository) {
                let versions = all_versions(api, &d.repository).await?;
                orders.insert(d.repository.clone(), RecordedOrder::new(&versions));
            }
            let order = &orders[&d.repository];
            for (target, reported) in &targets {
                match reported {
                    None => unreported.push(target.clone()),
                    Some(v) => {
                        if order.contains(v, &d.version) {
                            covered += 1;
                        }
                        if *v != d.version {
                            drifted.push(wire::Drift {
                                target: target.clone(),
                                version: v.clone(),
                            });
                        }
                    }
                }
            }
        }
        let total = targets.len() as u64;
        environments.push(wire::AppEnvironment {
            environment: env.clone(),
            repository: desired.map(|d| d.repository.clone()),
            desired_version: desired.map(|d| d.version.clone()),
            desired_deployment: desired.map(|d| d.id.clone()),
            targets: total,
            covered,
            coverage: (desired.is_some() && total > 0).then(|| covered as f64 / total as f64),
            drifted,
            unreported,
        });
    }
    Ok(wire::App {
        name: app.to_owned(),
        environments,
    })
}

pub(crate) async fn list(api: &Api, call: &Call<'_>) -> Result<wire::List<wire::App>, Error> {
    let page = call.page()?;
    let land = Landscape::load(api).await?;
    let (names, next_cursor) = paginate(
        land.apps()
            .into_iter()
            .map(|(a, envs)| (a.clone(), (a, envs)))
            .collect(),
        &page,
    )?;
    let mut orders = HashMap::new();
    let mut items = Vec::new();
    for (app, envs) in names {
        items.push(app_view(api, &land, &mut orders, &app, &envs).await?);
    }
    Ok(wire::List { items, next_cursor })
}

pub(crate) async fn one(api: &Api, call: &Call<'_>) -> Result<wire::App, Error> {
    let name = call.param("name");
    let land = Landscape::load(api).await?;
    let envs = land
        .apps()
        .remove(name)
        .ok_or_else(|| Error::NotFound(format!("app {name} is in no plan and no inventory")))?;
    app_view(api, &land, &mut HashMap::new(), name, &envs).await
}

#[cfg(test)]
mod tests {
    use boreas_core::status::VersionStatus;
    use boreas_test_support::records::version;

    use super::*;

    fn v(name: &str, commit: &str, at: &str, diverged: bool) -> VersionRecord {
        VersionRecord {
            status: VersionStatus::Planned,
            diverged,
            received_at: at.into(),
            ..version("shop", name, commit)
        }
    }

    #[test]
    fn recorded_order_follows_reception_and_respects_divergence() {
        let order = RecordedOrder::new(&[
            v("v2", "b", "2026-01-02T00:00:00.000Z", false),
            v("v1", "a", "2026-01-01T00:00:00.000Z", false),
            v("side", "x", "2026-01-03T00:00:00.000Z", true),
            v("main-b", "b", "2026-01-04T00:00:00.000Z", false),
        ]);
        assert!(order.contains("v2", "v1"));
        assert!(!order.contains("v1", "v2"));
        assert!(order.contains("main-b", "v2"), "same commit");
        assert!(order.contains("v2", "main-b"), "same commit");
        assert!(
            !order.contains("side", "v1"),
            "diverged contains only itself"
        );
        assert!(!order.contains("v2", "side"));
        assert!(order.contains("side", "side"));
        assert!(!order.contains("v9", "v1"), "unknown names contain nothing");
    }
}
