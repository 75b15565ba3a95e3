//! The planner: (config, environment, changed paths, targets, current versions) → [`Plan`].
//!
//! Rules:
//! - **Affected apps.** With `changed_paths: None` (unknown, e.g. the first deployment to an
//!   environment) every app is affected. Otherwise an app is affected when a changed path matches
//!   one of its `paths` globs; an app without `paths` is affected by any change, and an empty
//!   change list affects nothing. Globs are matched against repository-relative paths with `/`
//!   separators; `*` stays inside one path segment, `**` crosses segments, and a glob also
//!   matches everything below it when it names a directory (`services/api` ≡ `services/api/**`);
//!   a leading `/` is ignored (paths are relative to the repository root).
//! - **Following.** An app that is not affected is still planned when it sets
//!   `follow_dependencies: true` and an app in its `depends_on` chain (transitively) is affected.
//! - **Skipped.** An app that would be planned but already runs this version (per
//!   `current_versions`) or has no targets in the environment is left out. Every app of the
//!   config that is not planned is listed in [`Plan::skipped`] with its [`SkipReason`].
//! - **Stages** are the topological layers of `depends_on` over the planned apps: an app runs one
//!   stage after the latest of its planned dependencies. A dependency that is not planned keeps
//!   running its version and gets no stage (no gap); it passes its own planned dependencies on,
//!   so with `web → api → db` and only `web` and `db` planned, `web` still runs after `db`.
//!   These effective dependencies are what [`AppPlan::depends_on`] holds, so a plan can be
//!   validated on its own. Apps are sorted by name inside a stage, and a stage runs all its apps
//!   at once (`parallelism` = number of apps).
//! - **Batches** come from [`crate::rollout`]; targets keep the order given in
//!   [`PlanInput::targets`] with duplicates removed (a host named explicitly and also in a group).
//! - **Pauses**: a duration becomes [`crate::plan::PausePlan::Wait`], `manual` becomes a
//!   [`crate::plan::PausePlan::Gate`] with id `<app>.<batch index>`; the last batch never pauses.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::config::{App, AppKind, Config, HostRef};
use crate::plan::{AppPlan, Plan, SkipReason, SkippedApp, Stage};
use crate::review::{AppReason, PATHS_SHOWN, Why};

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
    plan_with_reasons(input).map(|(plan, _)| plan)
}

/// [`plan`], and for every app of the config (by name) why it is in the plan or left out.
pub fn plan_with_reasons(input: &PlanInput<'_>) -> Result<(Plan, Vec<AppReason>), PlanError> {
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

    let matches = affected_apps(config, input.changed_paths)?;
    let affected: Vec<bool> = matches.iter().map(|m| m.affected).collect();
    let followed = follow(config, &deps, &affected);
    let wanted: Vec<bool> = followed.iter().map(Option::is_some).collect();

    let mut planned = vec![false; config.apps.len()];
    let mut skipped = Vec::new();
    let mut reasons = Vec::with_capacity(config.apps.len());
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
        let why = match followed[i] {
            _ if input.changed_paths.is_none() => Why::FirstDeployment,
            Some(by) if by == i => Why::Changed,
            Some(by) => Why::Follows {
                dependency: config.apps[by].name.clone(),
            },
            None => Why::Unchanged,
        };
        let m = &matches[i];
        reasons.push(AppReason {
            app: app.name.clone(),
            why,
            skipped: reason,
            paths: m.paths.clone(),
            matched_paths: u32::try_from(m.matched).unwrap_or(u32::MAX),
        });
    }
    skipped.sort_by(|a, b| a.app.cmp(&b.app));
    reasons.sort_by(|a, b| a.app.cmp(&b.app));

    let effective = effective_dependencies(&deps, &planned);
    let layers = layers(config, &effective, &planned)?;
    let mut stages: Vec<Vec<AppPlan>> =
        vec![Vec::new(); layers.iter().flatten().max().map_or(0, |m| m + 1)];
    for (i, layer) in layers.iter().enumerate() {
        if let Some(layer) = layer {
            let mut depends_on: Vec<String> = effective[i]
                .iter()
                .map(|&d| config.apps[d].name.clone())
                .collect();
            depends_on.sort();
            stages[*layer].push(app_plan(input, &config.apps[i], depends_on));
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
    let plan = Plan {
        environment: input.environment.to_owned(),
        version: input.version.to_owned(),
        stages,
        skipped,
    };
    Ok((plan, reasons))
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

/// How the changed paths touch one app.
#[derive(Debug, Clone, Default)]
struct Matches {
    /// The change affects the app directly.
    affected: bool,
    /// The first [`PATHS_SHOWN`] changed paths that match its `paths`.
    paths: Vec<String>,
    /// How many match.
    matched: usize,
}

impl Matches {
    fn add(&mut self, path: &str) {
        self.affected = true;
        self.matched += 1;
        if self.paths.len() < PATHS_SHOWN {
            self.paths.push(path.to_owned());
        }
    }
}

/// Which apps the changed paths affect directly, and through which paths.
fn affected_apps(config: &Config, changed: Option<&[String]>) -> Result<Vec<Matches>, PlanError> {
    let n = config.apps.len();
    let Some(changed) = changed else {
        let every = Matches {
            affected: true,
            ..Matches::default()
        };
        return Ok(vec![every; n]);
    };
    let mut affected = vec![Matches::default(); n];
    if changed.is_empty() {
        return Ok(affected);
    }
    // One set for every app's globs, so each changed path is matched once.
    let mut builder = GlobSetBuilder::new();
    let mut owner = Vec::new();
    for (i, app) in config.apps.iter().enumerate() {
        if app.paths.is_empty() {
            // Every change is the app's.
            affected[i] = Matches {
                affected: true,
                paths: changed.iter().take(PATHS_SHOWN).cloned().collect(),
                matched: changed.len(),
            };
        }
        for glob in &app.paths {
            // Paths are repository-relative: a leading `/` only anchors at the root.
            let trimmed = glob.trim_matches('/');
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
    let set: GlobSet = builder.build().map_err(|e| {
        // Every glob compiled alone above; the set can still fail as a whole (size limits).
        let glob = e.glob().unwrap_or_default();
        let app = config
            .apps
            .iter()
            .find(|a| {
                a.paths
                    .iter()
                    .any(|p| glob.starts_with(p.trim_matches('/')))
            })
            .map_or_else(String::new, |a| a.name.clone());
        PlanError::InvalidGlob {
            app,
            glob: glob.to_owned(),
            reason: e.kind().to_string(),
        }
    })?;
    let mut hits = Vec::new();
    let mut apps = Vec::new();
    for path in changed {
        let path = path.trim_start_matches("./");
        set.matches_into(path, &mut hits);
        // An app's two patterns (the glob, and everything below it) may both match: once each.
        apps.clear();
        apps.extend(hits.iter().map(|&hit| owner[hit]));
        apps.sort_unstable();
        apps.dedup();
        for &app in &apps {
            affected[app].add(path);
        }
    }
    Ok(affected)
}

/// Per app, why it is wanted: itself when affected, the affected app it follows somewhere down
/// its `depends_on` when it sets `follow_dependencies`, `None` when it is not wanted.
fn follow(config: &Config, deps: &[Vec<usize>], affected: &[bool]) -> Vec<Option<usize>> {
    // reaches(i): an affected transitive dependency of i (the first found in `depends_on`
    // order). Memoised DFS; `visiting` guards against cycles in a config that skipped
    // validation.
    fn reaches(
        i: usize,
        deps: &[Vec<usize>],
        affected: &[bool],
        memo: &mut [Option<Option<usize>>],
        visiting: &mut [bool],
    ) -> Option<usize> {
        if let Some(known) = memo[i] {
            return known;
        }
        if visiting[i] {
            return None;
        }
        visiting[i] = true;
        let mut found = None;
        for &d in &deps[i] {
            found = if affected[d] {
                Some(d)
            } else {
                reaches(d, deps, affected, memo, visiting)
            };
            if found.is_some() {
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
            if affected[i] {
                Some(i)
            } else if app.follow_dependencies {
                reaches(i, deps, affected, &mut memo, &mut visiting)
            } else {
                None
            }
        })
        .collect()
}

/// For every planned app, the planned apps it must run after: its planned direct dependencies,
/// and through each unplanned one, that one's (transitively). Empty for unplanned apps.
fn effective_dependencies(deps: &[Vec<usize>], planned: &[bool]) -> Vec<Vec<usize>> {
    // through[u], for an unplanned app u: the planned apps reached from u via unplanned apps.
    fn through(
        u: usize,
        deps: &[Vec<usize>],
        planned: &[bool],
        memo: &mut [Option<BTreeSet<usize>>],
        visiting: &mut [bool],
    ) -> BTreeSet<usize> {
        if let Some(known) = &memo[u] {
            return known.clone();
        }
        let mut reached = BTreeSet::new();
        // A cycle of unplanned apps (in a config that skipped validation) adds nothing.
        if visiting[u] {
            return reached;
        }
        visiting[u] = true;
        for &d in &deps[u] {
            if planned[d] {
                reached.insert(d);
            } else {
                reached.extend(through(d, deps, planned, memo, visiting));
            }
        }
        visiting[u] = false;
        memo[u] = Some(reached.clone());
        reached
    }
    let mut memo = vec![None; deps.len()];
    let mut visiting = vec![false; deps.len()];
    (0..deps.len())
        .map(|i| {
            if !planned[i] {
                return Vec::new();
            }
            let mut reached = BTreeSet::new();
            for &d in &deps[i] {
                if planned[d] {
                    reached.insert(d);
                } else {
                    reached.extend(through(d, deps, planned, &mut memo, &mut visiting));
                }
            }
            reached.into_iter().collect()
        })
        .collect()
}

/// Stage index of every planned app (None for the others): one after the latest of its
/// (effective) dependencies.
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

fn app_plan(input: &PlanInput<'_>, app: &App, depends_on: Vec<String>) -> AppPlan {
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
        depends_on,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        ArtifactSpec, BatchSize, DurationSpec, Environment, HealthCheck, HealthSpec, K8sSpec,
        Pause, PmSpec, Rollout, RunSpec, Triggers,
    };
    use crate::plan::PausePlan;

    fn pm(name: &str, deps: &[&str], paths: &[&str]) -> App {
        App {
            name: name.to_owned(),
            kind: AppKind::Pm,
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
            analysis: Vec::new(),
            follow_dependencies: false,
            rollout: Rollout::default(),
            pm: Some(PmSpec {
                hosts: BTreeMap::from([(
                    "prod".to_owned(),
                    vec![
                        HostRef::Host(format!("{name}-1")),
                        HostRef::Group {
                            group: format!("{name}-pool"),
                        },
                        HostRef::Host(format!("{name}-2")),
                    ],
                )]),
                artifact: ArtifactSpec {
                    url: "s3://releases/{version}.tar.gz".to_owned(),
                    sha256: None,
                    sha256_url: Some("s3://releases/{version}.sha256".to_owned()),
                },
                run_as: None,
                hooks: Default::default(),
                release_hooks: Vec::new(),
                env: Default::default(),
                run: Some(RunSpec::Systemd {
                    systemd: format!("{name}.service"),
                }),
                health: HealthSpec {
                    check: HealthCheck::Tcp {
                        tcp: "127.0.0.1:8080".to_owned(),
                    },
                    timeout: HealthSpec::default_timeout(),
                    retries: HealthSpec::default_retries(),
                },
            }),
            k8s: None,
        }
    }

    fn k8s(name: &str, deps: &[&str]) -> App {
        App {
            kind: AppKind::K8s,
            pm: None,
            k8s: Some(K8sSpec {
                clusters: BTreeMap::from([(
                    "prod".to_owned(),
                    vec!["eu-1".to_owned(), "us-1".to_owned()],
                )]),
                namespace: K8sSpec::default_namespace(),
                deployment: name.to_owned(),
                container: name.to_owned(),
                image: format!("registry.example.com/{name}:{{version}}"),
            }),
            ..pm(name, deps, &[])
        }
    }

    fn config(apps: Vec<App>) -> Config {
        Config {
            environments: vec![
                Environment {
                    name: "staging".to_owned(),
                    auto_confirm: true,
                    promotion: None,
                },
                Environment {
                    name: "prod".to_owned(),
                    auto_confirm: false,
                    promotion: None,
                },
            ],
            triggers: Triggers::default(),
            apps,
            notifications: None,
            freezes: Vec::new(),
        }
    }

    fn hosts(app: &str, n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("{app}-{i}")).collect()
    }

    fn targets_for(config: &Config, n: usize) -> BTreeMap<String, Vec<String>> {
        config
            .apps
            .iter()
            .map(|a| (a.name.clone(), hosts(&a.name, n)))
            .collect()
    }

    fn run(
        config: &Config,
        changed: Option<&[String]>,
        targets: &BTreeMap<String, Vec<String>>,
        current: &BTreeMap<String, String>,
    ) -> Result<Plan, PlanError> {
        plan(&PlanInput {
            config,
            environment: "prod",
            version: "v2",
            changed_paths: changed,
            targets,
            current_versions: current,
        })
    }

    /// Stages as lists of app names.
    fn shape(plan: &Plan) -> Vec<Vec<&str>> {
        plan.stages
            .iter()
            .map(|s| s.apps.iter().map(|a| a.app.as_str()).collect())
            .collect()
    }

    fn skipped(plan: &Plan) -> Vec<(&str, SkipReason)> {
        plan.skipped
            .iter()
            .map(|s| (s.app.as_str(), s.reason))
            .collect()
    }

    fn paths(list: &[&str]) -> Vec<String> {
        list.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn unknown_environment_is_an_error() {
        let c = config(vec![pm("api", &[], &[])]);
        let err = plan(&PlanInput {
            config: &c,
            environment: "qa",
            version: "v2",
            changed_paths: None,
            targets: &BTreeMap::new(),
            current_versions: &BTreeMap::new(),
        })
        .unwrap_err();
        assert_eq!(err.rule(), "unknown_environment");
        assert_eq!(
            err.to_string(),
            "environment \"qa\" is not declared in boreas.yaml (declared: staging, prod)"
        );
    }

    #[test]
    fn targets_for_an_undeclared_app_are_an_error() {
        let c = config(vec![pm("api", &[], &[])]);
        let targets = BTreeMap::from([("apii".to_owned(), hosts("apii", 1))]);
        let err = run(&c, None, &targets, &BTreeMap::new()).unwrap_err();
        assert_eq!(err.rule(), "unknown_app");
        assert!(err.to_string().contains("\"apii\""), "{err}");
    }

    #[test]
    fn unknown_dependency_is_an_error() {
        let c = config(vec![pm("web", &["api"], &[])]);
        let err = run(&c, None, &targets_for(&c, 1), &BTreeMap::new()).unwrap_err();
        assert_eq!(err.rule(), "unknown_dependency");
        assert_eq!(
            err.to_string(),
            "app \"web\" depends on \"api\", which boreas.yaml does not declare"
        );
    }

    #[test]
    fn dependency_cycle_is_named() {
        let c = config(vec![
            pm("a", &["c"], &[]),
            pm("b", &["a"], &[]),
            pm("c", &["b"], &[]),
        ]);
        let err = run(&c, None, &targets_for(&c, 1), &BTreeMap::new()).unwrap_err();
        assert_eq!(err.rule(), "dependency_cycle");
        assert_eq!(err.to_string(), "dependency cycle: a -> c -> b -> a");
    }

    #[test]
    fn invalid_glob_names_app_and_glob() {
        let c = config(vec![pm("api", &[], &["src/[a-"])]);
        let err = run(
            &c,
            Some(&paths(&["x"])),
            &targets_for(&c, 1),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(err.rule(), "invalid_glob");
        assert!(
            err.to_string()
                .starts_with("app \"api\": path glob \"src/[a-\" is invalid")
        );
    }

    #[test]
    fn stages_are_topological_layers_sorted_by_name() {
        let c = config(vec![
            pm("web", &["api", "auth"], &[]),
            pm("db", &[], &[]),
            pm("api", &["db"], &[]),
            pm("auth", &[], &[]),
            k8s("cdn", &[]),
            pm("admin", &["web"], &[]),
        ]);
        let p = run(&c, None, &targets_for(&c, 2), &BTreeMap::new()).unwrap();
        assert_eq!(
            shape(&p),
            vec![
                vec!["auth", "cdn", "db"],
                vec!["api"],
                vec!["web"],
                vec!["admin"]
            ]
        );
        assert_eq!(
            p.stages.iter().map(|s| s.parallelism).collect::<Vec<_>>(),
            vec![3, 1, 1, 1]
        );
        assert!(p.skipped.is_empty());
        assert_eq!((p.environment.as_str(), p.version.as_str()), ("prod", "v2"));
        let (_, web) = p.find_app("web").unwrap();
        assert_eq!(web.depends_on, vec!["api", "auth"]);
    }

    #[test]
    fn the_same_input_gives_the_same_plan() {
        let c = config(vec![
            pm("b", &["a"], &[]),
            pm("a", &[], &[]),
            k8s("c", &["a"]),
        ]);
        let t = targets_for(&c, 7);
        let first = run(&c, None, &t, &BTreeMap::new()).unwrap();
        let second = run(&c, None, &t, &BTreeMap::new()).unwrap();
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&second).unwrap()
        );
    }

    #[test]
    fn only_apps_whose_paths_match_are_planned() {
        let c = config(vec![
            pm("api", &[], &["services/api/**", "shared/*.proto"]),
            pm("db", &[], &["/services/db/"]),
            pm("docs", &[], &["*.md"]),
            pm("all", &[], &[]),
        ]);
        let t = targets_for(&c, 1);
        let none = BTreeMap::new();
        let p = run(&c, Some(&paths(&["services/api/src/main.rs"])), &t, &none).unwrap();
        assert_eq!(shape(&p), vec![vec!["all", "api"]]);
        assert_eq!(
            skipped(&p),
            vec![
                ("db", SkipReason::NotAffected),
                ("docs", SkipReason::NotAffected)
            ]
        );
        // A glob naming a directory covers what is below it.
        let p = run(
            &c,
            Some(&paths(&["services/db/migrations/1.sql"])),
            &t,
            &none,
        )
        .unwrap();
        assert_eq!(shape(&p), vec![vec!["all", "db"]]);
        // `*` does not cross `/`: docs/guide.md is not `*.md`, README.md is.
        let p = run(&c, Some(&paths(&["docs/guide.md"])), &t, &none).unwrap();
        assert_eq!(shape(&p), vec![vec!["all"]]);
        let p = run(
            &c,
            Some(&paths(&["README.md", "shared/x.proto"])),
            &t,
            &none,
        )
        .unwrap();
        assert_eq!(shape(&p), vec![vec!["all", "api", "docs"]]);
        let p = run(&c, Some(&paths(&["./services/db/a.sql"])), &t, &none).unwrap();
        assert_eq!(shape(&p), vec![vec!["all", "db"]]);
        let p = run(&c, Some(&paths(&["shared/deep/x.proto"])), &t, &none).unwrap();
        assert_eq!(shape(&p), vec![vec!["all"]]);
    }

    #[test]
    fn no_changed_paths_plans_nothing_and_unknown_changes_plan_everything() {
        let c = config(vec![pm("api", &[], &["api/**"]), pm("all", &[], &[])]);
        let t = targets_for(&c, 1);
        let p = run(&c, Some(&[]), &t, &BTreeMap::new()).unwrap();
        assert!(p.stages.is_empty());
        assert_eq!(
            skipped(&p),
            vec![
                ("all", SkipReason::NotAffected),
                ("api", SkipReason::NotAffected)
            ]
        );
        let p = run(&c, None, &t, &BTreeMap::new()).unwrap();
        assert_eq!(shape(&p), vec![vec!["all", "api"]]);
    }

    #[test]
    fn dependents_follow_only_when_configured_and_transitively() {
        let mut follower = pm("web", &["api"], &["web/**"]);
        follower.follow_dependencies = true;
        let mut far = pm("admin", &["web"], &["admin/**"]);
        far.follow_dependencies = true;
        let c = config(vec![
            pm("db", &[], &["db/**"]),
            pm("api", &["db"], &["api/**"]),
            follower,
            far,
            pm("batch", &["db"], &["batch/**"]),
        ]);
        let t = targets_for(&c, 1);
        let p = run(&c, Some(&paths(&["db/schema.sql"])), &t, &BTreeMap::new()).unwrap();
        // api does not follow; web follows db through api; admin follows through web.
        assert_eq!(shape(&p), vec![vec!["db"], vec!["web"], vec!["admin"]]);
        // web runs after db even though api, between them, is not planned.
        assert_eq!(p.find_app("web").unwrap().1.depends_on, vec!["db"]);
        assert_eq!(
            skipped(&p),
            vec![
                ("api", SkipReason::NotAffected),
                ("batch", SkipReason::NotAffected)
            ]
        );
    }

    #[test]
    fn unplanned_dependencies_make_no_stage_gap() {
        let c = config(vec![
            pm("db", &[], &["db/**"]),
            pm("api", &["db"], &["api/**"]),
            pm("web", &["api"], &["web/**"]),
        ]);
        let t = targets_for(&c, 1);
        let p = run(&c, Some(&paths(&["api/x", "web/y"])), &t, &BTreeMap::new()).unwrap();
        assert_eq!(shape(&p), vec![vec!["api"], vec!["web"]]);
        let p = run(&c, Some(&paths(&["web/y"])), &t, &BTreeMap::new()).unwrap();
        assert_eq!(shape(&p), vec![vec!["web"]]);
        assert!(p.find_app("web").unwrap().1.depends_on.is_empty());
    }

    #[test]
    fn long_dependency_chains_plan_without_deep_recursion_trouble() {
        // 3,000 apps in a chain, only both ends affected: the last runs right after the first.
        let n = 3000;
        let apps: Vec<App> = (0..n)
            .map(|i| {
                let deps: Vec<String> = if i == 0 {
                    vec![]
                } else {
                    vec![format!("a{}", i - 1)]
                };
                let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
                let own = format!("a{i}/**");
                pm(&format!("a{i}"), &deps, &[own.as_str()])
            })
            .collect();
        let c = config(apps);
        let changed = paths(&["a0/x", &format!("a{}/x", n - 1)]);
        let p = run(&c, Some(&changed), &targets_for(&c, 1), &BTreeMap::new()).unwrap();
        assert_eq!(shape(&p), vec![vec!["a0"], vec!["a2999"]]);
        let p = run(&c, None, &targets_for(&c, 1), &BTreeMap::new()).unwrap();
        assert_eq!(p.stages.len(), n);
    }

    #[test]
    fn apps_without_targets_or_already_on_the_version_are_skipped() {
        let c = config(vec![
            pm("api", &[], &[]),
            pm("db", &[], &[]),
            pm("web", &["api"], &[]),
        ]);
        let mut t = targets_for(&c, 2);
        t.insert("db".to_owned(), Vec::new());
        let current = BTreeMap::from([
            ("api".to_owned(), "v2".to_owned()),
            ("web".to_owned(), "v1".to_owned()),
        ]);
        let p = run(&c, None, &t, &current).unwrap();
        assert_eq!(shape(&p), vec![vec!["web"]]);
        assert_eq!(
            skipped(&p),
            vec![("api", SkipReason::UpToDate), ("db", SkipReason::NoTargets)]
        );
        assert_eq!(
            p.find_app("web").unwrap().1.current_version.as_deref(),
            Some("v1")
        );
        t.remove("web");
        let p = run(&c, None, &t, &current).unwrap();
        assert!(p.stages.is_empty());
        assert!(skipped(&p).contains(&("web", SkipReason::NoTargets)));
    }

    #[test]
    fn pm_batches_cover_targets_in_order_with_pauses() {
        let mut api = pm("api", &[], &[]);
        api.rollout.batches = vec![
            BatchSize::Count(1),
            BatchSize::Percent(50),
            BatchSize::Percent(100),
        ];
        api.rollout.pause = Pause::Manual;
        let mut db = pm("db", &[], &[]);
        db.rollout.batches = vec![BatchSize::Count(1), BatchSize::Percent(100)];
        db.rollout.pause = Pause::Wait(DurationSpec(300));
        let c = config(vec![api, db]);
        let mut t = targets_for(&c, 5);
        // A duplicate (named explicitly and in a group) is deployed once.
        t.get_mut("api").unwrap().push("api-1".to_owned());
        let p = run(&c, None, &t, &BTreeMap::new()).unwrap();
        let (_, api) = p.find_app("api").unwrap();
        assert_eq!(api.targets, hosts("api", 5));
        let batches: Vec<(Vec<String>, PausePlan)> = api
            .batches
            .iter()
            .map(|b| (b.targets.clone(), b.pause.clone()))
            .collect();
        assert_eq!(
            batches,
            vec![
                (
                    paths(&["api-1"]),
                    PausePlan::Gate {
                        gate: "api.0".to_owned()
                    }
                ),
                (
                    paths(&["api-2", "api-3"]),
                    PausePlan::Gate {
                        gate: "api.1".to_owned()
                    }
                ),
                (paths(&["api-4", "api-5"]), PausePlan::None),
            ]
        );
        assert!(api.batches.iter().all(|b| b.weight.is_none()));
        let (_, db) = p.find_app("db").unwrap();
        assert_eq!(db.batches[0].pause, PausePlan::Wait { seconds: 300 });
        assert_eq!(db.batches[1].pause, PausePlan::None);
        assert_eq!(db.batches[1].targets.len(), 4);
    }

    #[test]
    fn fewer_hosts_than_batches_gives_one_host_per_batch() {
        let mut api = pm("api", &[], &[]);
        api.rollout.batches = vec![
            BatchSize::Count(1),
            BatchSize::Percent(10),
            BatchSize::Percent(50),
            BatchSize::Percent(100),
        ];
        api.rollout.pause = Pause::Manual;
        let c = config(vec![api]);
        let p = run(&c, None, &targets_for(&c, 2), &BTreeMap::new()).unwrap();
        let api = &p.stages[0].apps[0];
        assert_eq!(api.batches.len(), 2);
        assert_eq!(api.batches[0].targets, paths(&["api-1"]));
        assert_eq!(
            api.batches[0].pause,
            PausePlan::Gate {
                gate: "api.0".to_owned()
            }
        );
        assert_eq!(api.batches[1].targets, paths(&["api-2"]));
        assert_eq!(api.batches[1].pause, PausePlan::None);
    }

    #[test]
    fn k8s_batches_are_weights_over_every_cluster() {
        let mut web = k8s("web", &[]);
        web.rollout.batches = vec![
            BatchSize::Percent(10),
            BatchSize::Percent(50),
            BatchSize::Percent(100),
        ];
        web.rollout.pause = Pause::Wait(DurationSpec(60));
        let c = config(vec![web]);
        let t = config_targets(&c, "prod").targets;
        let p = run(&c, None, &t, &BTreeMap::new()).unwrap();
        let web = &p.stages[0].apps[0];
        let clusters = paths(&["eu-1", "us-1"]);
        assert_eq!(
            web.batches.iter().map(|b| b.weight).collect::<Vec<_>>(),
            vec![Some(10), Some(50), Some(100)]
        );
        assert!(web.batches.iter().all(|b| b.targets == clusters));
        assert_eq!(web.batches[1].pause, PausePlan::Wait { seconds: 60 });
        assert_eq!(web.batches[2].pause, PausePlan::None);
    }

    #[test]
    fn config_targets_lists_explicit_hosts_and_clusters_and_groups_apart() {
        let c = config(vec![pm("api", &[], &[]), k8s("web", &[])]);
        let prod = config_targets(&c, "prod");
        assert_eq!(prod.targets["api"], paths(&["api-1", "api-2"]));
        assert_eq!(prod.targets["web"], paths(&["eu-1", "us-1"]));
        assert_eq!(
            prod.unresolved_groups,
            BTreeMap::from([("api".to_owned(), BTreeSet::from(["api-pool".to_owned()]))])
        );
        assert_eq!(config_targets(&c, "staging"), ConfigTargets::default());
    }

    #[test]
    fn table_rendering_shows_stages_apps_batches_and_skips() {
        let mut api = pm("api", &[], &["api/**"]);
        api.rollout.batches = vec![BatchSize::Count(1), BatchSize::Percent(100)];
        api.rollout.pause = Pause::Manual;
        let mut web = k8s("web", &["api"]);
        web.paths = paths(&["web/**"]);
        web.rollout.batches = vec![BatchSize::Percent(20), BatchSize::Percent(100)];
        web.rollout.pause = Pause::Wait(DurationSpec(90));
        let c = config(vec![api, web, pm("db", &[], &["db/**"])]);
        let mut t = config_targets(&c, "prod").targets;
        t.insert("api".to_owned(), hosts("api", 3));
        let current = BTreeMap::from([("api".to_owned(), "v1".to_owned())]);
        let p = run(&c, Some(&paths(&["api/main.rs"])), &t, &current).unwrap();
        let text = p.to_string();
        let expected = "\
Plan: version v2 to prod: 1 stage, 1 app, 3 targets

Stage 1 (1 app, 1 at a time)
  api [pm] 3 hosts, batches 1 100%, pause manual, 5 at a time, now v1
    batch 0: api-1  -> gate api.0
    batch 1: api-2, api-3

Skipped
  db   not affected by the change
  web  not affected by the change
";
        assert_eq!(text, expected);
        let p = run(&c, None, &t, &current).unwrap();
        assert!(
            p.to_string().contains(
                "Stage 2 (1 app, 1 at a time)\n  web [k8s] 2 clusters, batches 20% 100%, \
                 pause 1m30s, after api\n    batch 0: weight 20% on eu-1, us-1  -> wait 1m30s\n    \
                 batch 1: weight 100% on eu-1, us-1\n"
            ),
            "{p}"
        );
    }

    #[test]
    fn every_app_has_its_reason_with_the_paths_that_matched() {
        let mut worker = pm("worker", &["db"], &["services/worker"]);
        worker.follow_dependencies = true;
        let mut report = pm("report", &["worker"], &["services/report"]);
        report.follow_dependencies = true;
        let c = config(vec![
            pm("db", &[], &["services/db"]),
            pm("api", &[], &["services/api"]),
            worker,
            report,
            pm("web", &[], &[]),
            pm("docs", &[], &["docs"]),
            pm("edge", &[], &["services/edge"]),
        ]);
        let mut changed: Vec<String> = (0..25)
            .map(|i| format!("services/db/m{i:02}.sql"))
            .collect();
        changed.push("services/edge/main.rs".to_owned());
        changed.push("services/api/main.rs".to_owned());
        let mut targets = targets_for(&c, 1);
        targets.remove("edge");
        let current = BTreeMap::from([("api".to_owned(), "v2".to_owned())]);
        let reasons = |changed: Option<&[String]>| {
            let input = PlanInput {
                config: &c,
                environment: "prod",
                version: "v2",
                changed_paths: changed,
                targets: &targets,
                current_versions: &current,
            };
            let (plan, reasons) = plan_with_reasons(&input).unwrap();
            assert_eq!(plan, super::plan(&input).unwrap(), "the same plan");
            reasons
        };
        let got = reasons(Some(&changed));
        let by: BTreeMap<&str, &AppReason> = got.iter().map(|r| (r.app.as_str(), r)).collect();
        assert_eq!(
            got.iter().map(|r| r.app.as_str()).collect::<Vec<_>>(),
            ["api", "db", "docs", "edge", "report", "web", "worker"],
            "every app, by name"
        );
        // db changed: 25 paths, the first 20 listed.
        assert_eq!(by["db"].why, Why::Changed);
        assert_eq!(by["db"].matched_paths, 25);
        assert_eq!(by["db"].paths.len(), PATHS_SHOWN);
        assert_eq!(by["db"].paths[0], "services/db/m00.sql");
        assert_eq!(by["db"].skipped, None);
        assert_eq!(by["db"].describe(), "changed (25 paths)");
        // worker and report follow db (report through worker).
        for app in ["worker", "report"] {
            assert_eq!(
                by[app].why,
                Why::Follows {
                    dependency: "db".to_owned()
                },
                "{app}"
            );
            assert_eq!(by[app].matched_paths, 0);
            assert_eq!(by[app].describe(), "follows db, which changed");
        }
        // web has no `paths`: every change is its.
        assert_eq!(by["web"].why, Why::Changed);
        assert_eq!(by["web"].matched_paths, 27);
        // Changed, but left out: api already runs v2, edge has no hosts in prod.
        assert_eq!(by["api"].paths, ["services/api/main.rs"]);
        assert_eq!(by["api"].skipped, Some(SkipReason::UpToDate));
        assert_eq!(
            by["api"].describe(),
            "changed (1 path), but already runs this version"
        );
        assert_eq!(by["edge"].skipped, Some(SkipReason::NoTargets));
        assert_eq!(by["docs"].why, Why::Unchanged);
        assert_eq!(by["docs"].skipped, Some(SkipReason::NotAffected));
        assert_eq!(by["docs"].describe(), "not affected by the change");
        // Nothing known to run there: every app, as a first deployment.
        let first = reasons(None);
        assert!(
            first.iter().all(|r| r.why == Why::FirstDeployment),
            "{first:?}"
        );
        assert_eq!(
            first.iter().find(|r| r.app == "api").unwrap().skipped,
            Some(SkipReason::UpToDate)
        );
    }
}
