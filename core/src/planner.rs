//! The planner: (config, environment, changed paths, targets, current versions) → [`Plan`].
//!
//! Rules:
//! - **Affected apps.** With `changed_paths: None` (unknown, e.g. the first deployment to an
//!   environment) every app is affected. Otherwise an app is affected when a changed path matches
//!   one of its `paths` globs; an app without `paths` is affected by any change, and an empty
//!   change list affects nothing. Globs are matched against repository-relative paths with `/`
//!   separators; `*` stays inside one path segment, `**` crosses segments, and a glob also
//!   matches everything below it when it names a directory (`services/api` ≡ `services/api/**`).
//! - **Following.** An app that is not affected is still planned when it sets
//!   `follow_dependencies: true` and an app in its `depends_on` chain (transitively) is affected.
//! - **Skipped.** An app that would be planned but already runs this version (per
//!   `current_versions`) or has no targets in the environment is left out. Every app of the
//!   config that is not planned is listed in [`Plan::skipped`] with its [`SkipReason`].
//! - **Stages** are the topological layers of `depends_on` over the planned apps: an app runs one
//!   stage after the latest of its planned dependencies; dependencies that are not planned are
//!   already running and impose nothing (they create no empty stage). Apps are sorted by name
//!   inside a stage, and a stage runs all its apps at once (`parallelism` = number of apps).
//! - **Batches** come from [`crate::rollout`]; targets keep the order given in
//!   [`PlanInput::targets`] with duplicates removed (a host named explicitly and also in a group).
//! - **Pauses**: a duration becomes [`PausePlan::Wait`], `manual` becomes a
//!   [`PausePlan::Gate`] with id `<app>.<batch index>`; the last batch never pauses.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::config::{App, AppKind, Config, HostRef};
use crate::plan::{AppPlan, Plan, SkipReason, SkippedApp, Stage};

/// Everything the planner needs. The caller does the I/O: reads the config at the version's
/// commit, diffs the paths, resolves `{group: NAME}` host references from registered agents and
/// looks up what runs now.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The `boreas.yaml` at the version's commit (already validated).
    pub config: &'a Config,
    /// Environment to plan for; must be one of `config.environments`.
    pub environment: &'a str,
    /// Version being deployed.
    pub version: &'a str,
    /// Repository paths changed since the version running now; `None` when unknown (first
    /// deployment), which makes every app affected.
    pub changed_paths: Option<&'a [String]>,
    /// Resolved targets per app name in this environment: PM host names or cluster names, in
    /// rollout order. An app missing here has no targets.
    pub targets: &'a BTreeMap<String, Vec<String>>,
    /// Version each app runs in this environment now; apps already on `version` are skipped.
    pub current_versions: &'a BTreeMap<String, String>,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The environment is not declared in the config.
    #[error("environment {name:?} is not declared in boreas.yaml (declared: {known})")]
    UnknownEnvironment {
        /// The environment asked for.
        name: String,
        /// Declared environments, comma-separated.
        known: String,
    },
    /// Targets were given for an app the config does not declare.
    #[error("targets given for app {app:?}, which boreas.yaml does not declare")]
    UnknownTargetApp {
        /// The app named in the targets.
        app: String,
    },
    /// A `depends_on` entry names no app.
    #[error("app {app:?} depends on {dependency:?}, which boreas.yaml does not declare")]
    UnknownDependency {
        /// The app.
        app: String,
        /// The missing dependency.
        dependency: String,
    },
    /// A `paths` glob does not parse.
    #[error("app {app:?}: path glob {glob:?} is invalid: {reason}")]
    InvalidGlob {
        /// The app.
        app: String,
        /// The glob.
        glob: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Planned apps depend on each other in a cycle.
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    DependencyCycle {
        /// The apps of the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
}

impl PlanError {
    /// Stable machine code of the error.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::UnknownEnvironment { .. } => "unknown_environment",
            Self::UnknownTargetApp { .. } => "unknown_app",
            Self::UnknownDependency { .. } => "unknown_dependency",
            Self::InvalidGlob { .. } => "invalid_glob",
            Self::DependencyCycle { .. } => "dependency_cycle",
        }
    }
}

/// Plan one version for one environment. Deterministic: the same input gives the same plan.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let config = input.config;
    if !config
        .environments
        .iter()
        .any(|e| e.name == input.environment)
    {
        return Err(PlanError::UnknownEnvironment {
            name: input.environment.to_owned(),
            known: config
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let index: BTreeMap<&str, usize> = config
        .apps
        .iter()
        .enumerate()
        .map(|(i, app)| (app.name.as_str(), i))
        .collect();
    if let Some(app) = input
        .targets
        .keys()
        .find(|k| !index.contains_key(k.as_str()))
    {
        return Err(PlanError::UnknownTargetApp { app: app.clone() });
    }
    let deps = dependency_indices(config, &index)?;

    let affected = affected_apps(config, input.changed_paths)?;
    let wanted = follow(config, &deps, &affected);

    let mut planned = vec![false; config.apps.len()];
    let mut skipped = Vec::new();
    for (i, app) in config.apps.iter().enumerate() {
        let reason = if !wanted[i] {
            Some(SkipReason::NotAffected)
        } else if input.current_versions.get(&app.name).map(String::as_str) == Some(input.version) {
            Some(SkipReason::UpToDate)
        } else if input.targets.get(&app.name).is_none_or(Vec::is_empty) {
            Some(SkipReason::NoTargets)
        } else {
            None
        };
        match reason {
            Some(reason) => skipped.push(SkippedApp {
                app: app.name.clone(),
                reason,
            }),
            None => planned[i] = true,
        }
    }
    skipped.sort_by(|a, b| a.app.cmp(&b.app));

    let layers = layers(config, &deps, &planned)?;
    let mut stages: Vec<Vec<AppPlan>> =
        vec![Vec::new(); layers.iter().flatten().max().map_or(0, |m| m + 1)];
    for (i, layer) in layers.iter().enumerate() {
        if let Some(layer) = layer {
            stages[*layer].push(app_plan(input, &config.apps[i]));
        }
    }
    let stages = stages
        .into_iter()
        .map(|mut apps| {
            apps.sort_by(|a, b| a.app.cmp(&b.app));
            Stage {
                parallelism: u32::try_from(apps.len()).unwrap_or(u32::MAX),
                apps,
            }
        })
        .collect();
    Ok(Plan {
        environment: input.environment.to_owned(),
        version: input.version.to_owned(),
        stages,
        skipped,
    })
}

/// `depends_on` as app indices, checked.
fn dependency_indices(
    config: &Config,
    index: &BTreeMap<&str, usize>,
) -> Result<Vec<Vec<usize>>, PlanError> {
    config
        .apps
        .iter()
        .map(|app| {
            app.depends_on
                .iter()
                .map(|dep| {
                    index
                        .get(dep.as_str())
                        .copied()
                        .ok_or_else(|| PlanError::UnknownDependency {
                            app: app.name.clone(),
                            dependency: dep.clone(),
                        })
                })
                .collect()
        })
        .collect()
}

/// Which apps the changed paths affect directly.
fn affected_apps(config: &Config, changed: Option<&[String]>) -> Result<Vec<bool>, PlanError> {
    let Some(changed) = changed else {
        return Ok(vec![true; config.apps.len()]);
    };
    if changed.is_empty() {
        return Ok(vec![false; config.apps.len()]);
    }
    // One set for every app's globs, so each changed path is matched once.
    let mut builder = GlobSetBuilder::new();
    let mut owner = Vec::new();
    let mut affected = vec![false; config.apps.len()];
    for (i, app) in config.apps.iter().enumerate() {
        if app.paths.is_empty() {
            affected[i] = true;
        }
        for glob in &app.paths {
            let trimmed = glob.trim_end_matches('/');
            for pattern in [trimmed.to_owned(), format!("{trimmed}/**")] {
                let compiled = GlobBuilder::new(&pattern)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| PlanError::InvalidGlob {
                        app: app.name.clone(),
                        glob: glob.clone(),
                        reason: e.kind().to_string(),
                    })?;
                builder.add(compiled);
                owner.push(i);
            }
        }
    }
    let set: GlobSet = builder.build().map_err(|e| PlanError::InvalidGlob {
        app: String::new(),
        glob: e.glob().unwrap_or_default().to_owned(),
        reason: e.kind().to_string(),
    })?;
    let mut hits = Vec::new();
    for path in changed {
        set.matches_into(path.trim_start_matches("./"), &mut hits);
        for &hit in &hits {
            affected[owner[hit]] = true;
        }
    }
    Ok(affected)
}

/// Affected apps plus the apps that follow an affected app somewhere down their `depends_on`.
fn follow(config: &Config, deps: &[Vec<usize>], affected: &[bool]) -> Vec<bool> {
    // reaches[i]: some transitive dependency of i is affected. Memoised DFS; `visiting` guards
    // against cycles in a config that skipped validation.
    fn reaches(
        i: usize,
        deps: &[Vec<usize>],
        affected: &[bool],
        memo: &mut [Option<bool>],
        visiting: &mut [bool],
    ) -> bool {
        if let Some(known) = memo[i] {
            return known;
        }
        if visiting[i] {
            return false;
        }
        visiting[i] = true;
        let mut found = false;
        for &d in &deps[i] {
            if affected[d] || reaches(d, deps, affected, memo, visiting) {
                found = true;
                break;
            }
        }
        visiting[i] = false;
        memo[i] = Some(found);
        found
    }
    let mut memo = vec![None; config.apps.len()];
    let mut visiting = vec![false; config.apps.len()];
    config
        .apps
        .iter()
        .enumerate()
        .map(|(i, app)| {
            affected[i]
                || (app.follow_dependencies && reaches(i, deps, affected, &mut memo, &mut visiting))
        })
        .collect()
}

/// Stage index of every planned app (None for the others): one after the latest planned
/// direct dependency.
fn layers(
    config: &Config,
    deps: &[Vec<usize>],
    planned: &[bool],
) -> Result<Vec<Option<usize>>, PlanError> {
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; config.apps.len()];
    let mut layer: Vec<Option<usize>> = vec![None; config.apps.len()];
    // Iterative depth-first search (a long dependency chain must not exhaust the stack); the
    // stack holds each open app and the position of its next dependency to look at.
    for root in (0..config.apps.len()).filter(|&i| planned[i]) {
        if state[root] == DONE {
            continue;
        }
        state[root] = OPEN;
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&(node, pos)) = stack.last() {
            let next = deps[node][pos..].iter().position(|&d| planned[d]);
            if let Some(offset) = next {
                let dep = deps[node][pos + offset];
                if let Some(top) = stack.last_mut() {
                    top.1 = pos + offset + 1;
                }
                match state[dep] {
                    NEW => {
                        state[dep] = OPEN;
                        stack.push((dep, 0));
                    }
                    OPEN => {
                        let from = stack.iter().position(|&(n, _)| n == dep).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|&(n, _)| config.apps[n].name.clone())
                            .collect();
                        cycle.push(config.apps[dep].name.clone());
                        return Err(PlanError::DependencyCycle { cycle });
                    }
                    _ => {}
                }
            } else {
                layer[node] = Some(
                    deps[node]
                        .iter()
                        .filter_map(|&d| layer[d].map(|l| l + 1))
                        .max()
                        .unwrap_or(0),
                );
                state[node] = DONE;
                stack.pop();
            }
        }
    }
    Ok(layer)
}

fn app_plan(input: &PlanInput<'_>, app: &App) -> AppPlan {
    let mut seen = HashSet::new();
    let targets: Vec<String> = input
        .targets
        .get(&app.name)
        .into_iter()
        .flatten()
        .filter(|t| seen.insert(t.as_str()))
        .cloned()
        .collect();
    let mut plan = AppPlan {
        app: app.name.clone(),
        kind: app.kind,
        depends_on: app.depends_on.clone(),
        current_version: input.current_versions.get(&app.name).cloned(),
        targets,
        batch_sizes: app.rollout.batches.clone(),
        pause: app.rollout.pause,
        parallelism: app.rollout.parallelism,
        heartbeat_seconds: app.rollout.heartbeat.seconds(),
        timeout_seconds: app.rollout.timeout.seconds(),
        batches: Vec::new(),
    };
    plan.batches = plan.derive_batches();
    plan
}

/// The targets `boreas.yaml` itself names for an environment, for planning without a registry
/// of agents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigTargets {
    /// Explicit host names (PM apps) and cluster names (k8s apps) per app, in config order.
    /// Only apps with an entry for the environment appear.
    pub targets: BTreeMap<String, Vec<String>>,
    /// `{group: NAME}` references per app that only registered agents can resolve.
    pub unresolved_groups: BTreeMap<String, BTreeSet<String>>,
}

/// The explicit host and cluster lists of every app in `environment`; group references are
/// returned apart, since only the registry of agents knows their members.
pub fn config_targets(config: &Config, environment: &str) -> ConfigTargets {
    let mut out = ConfigTargets::default();
    for app in &config.apps {
        match app.kind {
            AppKind::Pm => {
                let Some(hosts) = app.pm.as_ref().and_then(|pm| pm.hosts.get(environment)) else {
                    continue;
                };
                let mut names = Vec::new();
                for host in hosts {
                    match host {
                        HostRef::Host(name) => names.push(name.clone()),
                        HostRef::Group { group } => {
                            out.unresolved_groups
                                .entry(app.name.clone())
                                .or_default()
                                .insert(group.clone());
                        }
                    }
                }
                out.targets.insert(app.name.clone(), names);
            }
            AppKind::K8s => {
                if let Some(clusters) = app.k8s.as_ref().and_then(|k| k.clusters.get(environment)) {
                    out.targets.insert(app.name.clone(), clusters.clone());
                }
            }
        }
    }
    out
}
