//! Property tests of the planner and of plan adjustments over random configs: random dependency
//! DAGs, batch specs, pauses, paths, target sets (including none, duplicates, and fewer targets
//! than batches), changed paths and current versions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use boreas_core::adjust::{self, AdjustError, Adjustment};
use boreas_core::config::{
    App, AppKind, ArtifactSpec, BatchSize, Config, DurationSpec, Environment, HealthCheck,
    HealthSpec, HostRef, K8sSpec, Pause, PmSpec, Rollout, RunSpec, Triggers,
};
use boreas_core::plan::{PausePlan, Plan, SkipReason};
use boreas_core::planner::{PlanInput, plan};
use proptest::prelude::*;

const VERSION: &str = "v2";
const GLOBS: [&str; 5] = ["svc/a/**", "svc/b", "*.md", "lib/*", "svc/*/config.yaml"];
const CHANGES: [&str; 6] = [
    "svc/a/main.rs",
    "svc/b/x/y.rs",
    "README.md",
    "lib/util.rs",
    "docs/guide.md",
    "svc/c/config.yaml",
];

/// One generated app, before names are assigned.
#[derive(Debug, Clone)]
struct AppSpec {
    kind: AppKind,
    /// Indices of lower-numbered apps (so the graph is a DAG).
    deps: Vec<usize>,
    follow: bool,
    paths: Vec<usize>,
    batches: Vec<BatchSize>,
    pause: Pause,
    /// Targets drawn from a small pool, so duplicates happen.
    targets: Vec<u8>,
    /// None: never deployed; Some(true): runs VERSION already; Some(false): runs an older one.
    current: Option<bool>,
}

#[derive(Debug, Clone)]
struct Scenario {
    apps: Vec<AppSpec>,
    /// Name of app i is `app-{names[i]}`: names are a permutation, so name order and
    /// dependency order are unrelated.
    names: Vec<usize>,
    changed: Option<Vec<usize>>,
}

fn batch_sizes() -> impl Strategy<Value = Vec<BatchSize>> {
    (
        prop::collection::btree_set(1u32..30, 0..3),
        prop::collection::btree_set(1u8..100, 0..4),
    )
        .prop_map(|(counts, percents)| {
            counts
                .into_iter()
                .map(BatchSize::Count)
                .chain(percents.into_iter().map(BatchSize::Percent))
                .chain([BatchSize::Percent(100)])
                .collect()
        })
}

fn pause() -> impl Strategy<Value = Pause> {
    prop_oneof![
        Just(Pause::None),
        Just(Pause::Manual),
        (1u64..4000).prop_map(|s| Pause::Wait(DurationSpec(s))),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1usize..12).prop_flat_map(|n| {
        let apps = (0..n)
            .map(|i| {
                (
                    prop_oneof![3 => Just(AppKind::Pm), 1 => Just(AppKind::K8s)],
                    prop::collection::btree_set(0..i.max(1), 0..=i.min(3)),
                    any::<bool>(),
                    prop::collection::btree_set(0..GLOBS.len(), 0..3),
                    batch_sizes(),
                    pause(),
                    prop::collection::vec(0u8..16, 0..14),
                    prop::option::of(prop::bool::weighted(0.2)),
                )
                    .prop_map(
                        move |(kind, deps, follow, paths, batches, pause, targets, current)| {
                            AppSpec {
                                kind,
                                // i == 0 draws from 0..1 to keep the range non-empty; drop it.
                                deps: deps.into_iter().filter(|&d| d < i).collect(),
                                follow,
                                paths: paths.into_iter().collect(),
                                batches,
                                pause,
                                targets,
                                current,
                            }
                        },
                    )
            })
            .collect::<Vec<_>>();
        (
            apps,
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
            prop::option::of(prop::collection::vec(0..CHANGES.len(), 0..4)),
        )
            .prop_map(|(apps, names, changed)| Scenario {
                apps,
                names,
                changed,
            })
    })
}

/// The config, targets, current versions and changed paths of a scenario.
struct Built {
    config: Config,
    targets: BTreeMap<String, Vec<String>>,
    current: BTreeMap<String, String>,
    changed: Option<Vec<String>>,
}

fn build(s: &Scenario) -> Built {
    let name = |i: usize| format!("app-{}", s.names[i]);
    let mut targets = BTreeMap::new();
    let mut current = BTreeMap::new();
    let apps = s
        .apps
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let list: Vec<String> = spec
                .targets
                .iter()
                .map(|t| match spec.kind {
                    AppKind::Pm => format!("host-{t}"),
                    AppKind::K8s => format!("cluster-{t}"),
                })
                .collect();
            if !list.is_empty() || i % 2 == 0 {
                targets.insert(name(i), list);
            }
            match spec.current {
                Some(true) => {
                    current.insert(name(i), VERSION.to_owned());
                }
                Some(false) => {
                    current.insert(name(i), "v1".to_owned());
                }
                None => {}
            }
            app(&name(i), spec, spec.deps.iter().map(|&d| name(d)).collect())
        })
        .collect();
    Built {
        config: Config {
            environments: vec![Environment {
                name: "prod".to_owned(),
                auto_confirm: false,
                promotion: None,
            }],
            triggers: Triggers::default(),
            apps,
            notifications: None,
            freezes: Vec::new(),
        },
        targets,
        current,
        changed: s
            .changed
            .as_ref()
            .map(|c| c.iter().map(|&i| CHANGES[i].to_owned()).collect()),
    }
}

fn app(name: &str, spec: &AppSpec, depends_on: Vec<String>) -> App {
    let rollout = Rollout {
        batches: spec.batches.clone(),
        pause: spec.pause,
        ..Rollout::default()
    };
    let (pm, k8s) = match spec.kind {
        AppKind::Pm => (
            Some(PmSpec {
                hosts: BTreeMap::from([(
                    "prod".to_owned(),
                    vec![HostRef::Group {
                        group: "all".to_owned(),
                    }],
                )]),
                artifact: ArtifactSpec {
                    url: "file:///releases/{version}.tar.gz".to_owned(),
                    sha256: Some("0".repeat(64)),
                    sha256_url: None,
                },
                run_as: None,
                hooks: Default::default(),
                release_hooks: Vec::new(),
                env: Default::default(),
                run: Some(RunSpec::Command {
                    command: vec!["./run".to_owned()],
                }),
                health: HealthSpec {
                    check: HealthCheck::Command {
                        command: vec!["true".to_owned()],
                    },
                    timeout: HealthSpec::default_timeout(),
                    retries: 1,
                },
            }),
            None,
        ),
        AppKind::K8s => (
            None,
            Some(K8sSpec {
                clusters: BTreeMap::new(),
                namespace: K8sSpec::default_namespace(),
                deployment: name.to_owned(),
                container: name.to_owned(),
                image: format!("registry.example.com/{name}:{{version}}"),
            }),
        ),
    };
    App {
        name: name.to_owned(),
        kind: spec.kind,
        paths: spec.paths.iter().map(|&g| GLOBS[g].to_owned()).collect(),
        depends_on,
        follow_dependencies: spec.follow,
        rollout,
        pm,
        k8s,
        analysis: Vec::new(),
    }
}

fn make_plan(b: &Built) -> Plan {
    plan(&PlanInput {
        config: &b.config,
        environment: "prod",
        version: VERSION,
        changed_paths: b.changed.as_deref(),
        targets: &b.targets,
        current_versions: &b.current,
    })
    .expect("a valid config plans")
}

/// Stage index of every planned app.
fn stages_of(plan: &Plan) -> HashMap<&str, usize> {
    plan.stages
        .iter()
        .enumerate()
        .flat_map(|(s, stage)| stage.apps.iter().map(move |a| (a.app.as_str(), s)))
        .collect()
}

/// Every batch non-empty; every PM target of an app in exactly one of its batches; every k8s
/// batch on every cluster, weights increasing to 100; pauses only between batches.
fn check_batches(plan: &Plan) -> Result<(), TestCaseError> {
    for app in plan.apps() {
        prop_assert!(!app.batches.is_empty(), "{} has no batches", app.app);
        prop_assert!(app.batches.len() <= app.batch_sizes.len());
        for (i, batch) in app.batches.iter().enumerate() {
            prop_assert!(!batch.targets.is_empty(), "{} batch {} empty", app.app, i);
            prop_assert_eq!(batch.index as usize, i);
            let expected = match app.pause {
                _ if i + 1 == app.batches.len() => PausePlan::None,
                Pause::None => PausePlan::None,
                Pause::Wait(d) => PausePlan::Wait {
                    seconds: d.seconds(),
                },
                Pause::Manual => PausePlan::Gate {
                    gate: format!("{}.{i}", app.app),
                },
            };
            prop_assert_eq!(&batch.pause, &expected);
        }
        let unique: BTreeSet<&String> = app.targets.iter().collect();
        prop_assert_eq!(
            unique.len(),
            app.targets.len(),
            "duplicate target in {}",
            app.app
        );
        match app.kind {
            AppKind::Pm => {
                let mut seen: Vec<&String> = app.batches.iter().flat_map(|b| &b.targets).collect();
                prop_assert_eq!(seen.len(), app.targets.len(), "{}", app.app);
                seen.sort();
                prop_assert_eq!(seen, unique.into_iter().collect::<Vec<_>>());
            }
            AppKind::K8s => {
                let weights: Vec<u8> = app.batches.iter().filter_map(|b| b.weight).collect();
                prop_assert_eq!(weights.len(), app.batches.len());
                prop_assert!(weights.windows(2).all(|w| w[0] < w[1]));
                prop_assert_eq!(weights.last(), Some(&100));
                for batch in &app.batches {
                    prop_assert_eq!(&batch.targets, &app.targets);
                }
            }
        }
    }
    Ok(())
}

/// Every app runs in a later stage than every planned app it depends on.
fn check_order(plan: &Plan) -> Result<(), TestCaseError> {
    let stage = stages_of(plan);
    for app in plan.apps() {
        for dep in &app.depends_on {
            if let Some(&d) = stage.get(dep.as_str()) {
                prop_assert!(
                    d < stage[app.app.as_str()],
                    "{} (stage {}) depends on {} (stage {})",
                    app.app,
                    stage[app.app.as_str()],
                    dep,
                    d
                );
            }
        }
    }
    Ok(())
}

/// Planned apps whose `depends_on` reaches `app` in the config, through any apps.
fn reachable(config: &Config, from: &str) -> BTreeSet<String> {
    let by_name: HashMap<&str, &App> = config.apps.iter().map(|a| (a.name.as_str(), a)).collect();
    let mut out = BTreeSet::new();
    let mut todo = vec![from];
    while let Some(next) = todo.pop() {
        for dep in &by_name[next].depends_on {
            if out.insert(dep.clone()) {
                todo.push(dep);
            }
        }
    }
    out
}

/// Abstract adjustment: app and stage numbers are chosen modulo what the plan holds when the
/// adjustment is made, and some are deliberately out of range.
#[derive(Debug, Clone)]
enum Op {
    MoveStage(usize, usize),
    MoveApp(usize, usize),
    Split(usize, Vec<usize>),
    Merge(usize),
    SetBatches(usize, Vec<BatchSize>),
    SetPause(usize, Pause),
    Drop(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let arbitrary_sizes = prop::collection::vec(
        prop_oneof![
            (0u32..8).prop_map(BatchSize::Count),
            (0u8..=120).prop_map(BatchSize::Percent)
        ],
        0..4,
    );
    prop_oneof![
        2 => (0usize..6, 0usize..6).prop_map(|(a, b)| Op::MoveStage(a, b)),
        3 => (0usize..20, 0usize..6).prop_map(|(a, s)| Op::MoveApp(a, s)),
        2 => (0usize..6, prop::collection::vec(0usize..20, 0..3))
            .prop_map(|(s, a)| Op::Split(s, a)),
        2 => (0usize..6).prop_map(Op::Merge),
        1 => (0usize..20, prop_oneof![batch_sizes(), arbitrary_sizes])
            .prop_map(|(a, b)| Op::SetBatches(a, b)),
        1 => (0usize..20, pause()).prop_map(|(a, p)| Op::SetPause(a, p)),
        1 => (0usize..20).prop_map(Op::Drop),
    ]
}

fn materialize(plan: &Plan, op: &Op) -> Adjustment {
    let names: Vec<&str> = plan.apps().map(|a| a.app.as_str()).collect();
    // One index past the end names an app that is not in the plan.
    let name = |i: usize| {
        names
            .get(i % (names.len() + 1))
            .map_or_else(|| "app-missing".to_owned(), |n| (*n).to_owned())
    };
    // Stage numbers 1..=len+1: the one past the end does not exist (nor does 0, never drawn
    // here; the unit tests cover it).
    let stage = |i: usize| i % (plan.stages.len() + 1) + 1;
    match op {
        Op::MoveStage(a, b) => Adjustment::MoveStage {
            stage: stage(*a),
            to: stage(*b),
        },
        Op::MoveApp(a, s) => Adjustment::MoveApp {
            app: name(*a),
            stage: stage(*s),
        },
        Op::Split(s, picks) => {
            let number = stage(*s);
            // Mostly apps of that stage; an odd pick is any app (maybe of another stage).
            let own: Vec<&str> = plan
                .stages
                .get(number - 1)
                .map(|st| st.apps.iter().map(|a| a.app.as_str()).collect())
                .unwrap_or_default();
            let apps = picks
                .iter()
                .map(|&p| match own.get(p % own.len().max(1)) {
                    Some(app) if p % 5 != 0 => (*app).to_owned(),
                    _ => name(p),
                })
                .collect();
            Adjustment::SplitStage {
                stage: number,
                apps,
            }
        }
        Op::Merge(s) => Adjustment::MergeStages { stage: stage(*s) },
        Op::SetBatches(a, b) => Adjustment::SetBatches {
            app: name(*a),
            batches: b.clone(),
        },
        Op::SetPause(a, p) => Adjustment::SetPause {
            app: name(*a),
            pause: *p,
        },
        Op::Drop(a) => Adjustment::DropApp { app: name(*a) },
    }
}

/// (app, targets) of every planned app, sorted.
fn targets_by_app(plan: &Plan) -> BTreeMap<String, BTreeSet<String>> {
    plan.apps()
        .map(|a| (a.app.clone(), a.targets.iter().cloned().collect()))
        .collect()
}

proptest! {
    // No regression files: the tree is shared and the seeds are printed on failure.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn planned_batches_cover_every_target_once_after_every_dependency(s in scenario()) {
        let built = build(&s);
        let plan = make_plan(&built);
        adjust::validate(&plan).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_batches(&plan)?;
        check_order(&plan)?;

        let stage = stages_of(&plan);
        // Planned and skipped apps partition the config's apps.
        let mut seen: Vec<&str> = plan.apps().map(|a| a.app.as_str()).collect();
        seen.extend(plan.skipped.iter().map(|s| s.app.as_str()));
        seen.sort_unstable();
        let mut all: Vec<&str> = built.config.apps.iter().map(|a| a.name.as_str()).collect();
        all.sort_unstable();
        prop_assert_eq!(seen, all);

        for config_app in &built.config.apps {
            let given: BTreeSet<&String> =
                built.targets.get(&config_app.name).into_iter().flatten().collect();
            let up_to_date =
                built.current.get(&config_app.name).map(String::as_str) == Some(VERSION);
            match plan.find_app(&config_app.name) {
                Some((s, planned)) => {
                    prop_assert!(!up_to_date);
                    // Exactly the given targets, duplicates removed.
                    prop_assert_eq!(&planned.targets.iter().collect::<BTreeSet<_>>(), &given);
                    // After every planned app it depends on, directly or through unplanned ones.
                    for dep in reachable(&built.config, &config_app.name) {
                        if let Some(&d) = stage.get(dep.as_str()) {
                            prop_assert!(d < s, "{} after {}", config_app.name, dep);
                        }
                    }
                    // No gap: a later stage is there because of a dependency in the one before.
                    if s > 0 {
                        let previous = Some(&(s - 1));
                        prop_assert!(
                            planned.depends_on.iter().any(|d| stage.get(d.as_str()) == previous)
                        );
                    }
                }
                None => {
                    let skip = plan
                        .skipped
                        .iter()
                        .find(|x| x.app == config_app.name)
                        .map(|x| x.reason);
                    let expected_reason = match skip {
                        Some(SkipReason::UpToDate) => up_to_date,
                        Some(SkipReason::NoTargets) => given.is_empty(),
                        Some(SkipReason::NotAffected) => built.changed.is_some(),
                        _ => false,
                    };
                    prop_assert!(expected_reason, "{}: {:?}", config_app.name, skip);
                }
            }
            // With unknown changes, every app with targets not yet on the version is planned.
            if built.changed.is_none() && !up_to_date && !given.is_empty() {
                prop_assert!(stage.contains_key(config_app.name.as_str()));
            }
        }
        // Stages: apps sorted by name, all at once.
        for st in &plan.stages {
            prop_assert!(st.apps.windows(2).all(|w| w[0].app < w[1].app));
            prop_assert_eq!(st.parallelism as usize, st.apps.len());
        }
        // Deterministic.
        prop_assert_eq!(make_plan(&built), plan);
    }

    #[test]
    fn adjustments_that_pass_keep_the_properties_and_failures_change_nothing(
        s in scenario(),
        ops in prop::collection::vec(op(), 1..8),
    ) {
        let start = make_plan(&build(&s));
        let mut current = start.clone();
        let mut applied = Vec::new();
        let mut first_failure = None;
        for op in &ops {
            let adjustment = materialize(&current, op);
            let before = current.clone();
            match adjust::apply(&current, std::slice::from_ref(&adjustment)) {
                Ok(next) => {
                    adjust::validate(&next).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    check_batches(&next)?;
                    check_order(&next)?;
                    // Adjustments never add, lose or move targets between apps.
                    let mut kept = targets_by_app(&before);
                    if let Adjustment::DropApp { app } = &adjustment {
                        kept.remove(app);
                        let listed = next
                            .skipped
                            .iter()
                            .any(|x| &x.app == app && x.reason == SkipReason::Dropped);
                        prop_assert!(listed);
                    }
                    prop_assert_eq!(targets_by_app(&next), kept);
                    prop_assert!(next.stages.iter().all(|st| !st.apps.is_empty()));
                    current = next;
                    applied.push(adjustment);
                }
                Err(e) => {
                    prop_assert_eq!(&current, &before);
                    let first = matches!(e, AdjustError::Adjustment { index: 0, .. });
                    prop_assert!(first, "{:?}", e);
                    // A rejected step is reported with a machine code and a message.
                    prop_assert!(!e.rule().is_empty() && !e.to_string().is_empty());
                    if first_failure.is_none() {
                        // The steps that succeeded before it, then it.
                        first_failure = Some((applied.len(), adjustment.clone()));
                    }
                }
            }
        }
        // The successful steps as one list give the same plan.
        let at_once = adjust::apply(&start, &applied)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(at_once, current);
        // A list with a failing step applies nothing and names the failing position.
        if let Some((before, failing)) = first_failure {
            let mut list = applied[..before].to_vec();
            list.push(failing);
            let copy = start.clone();
            match adjust::apply(&start, &list) {
                Err(AdjustError::Adjustment { index, .. }) => prop_assert_eq!(index, before),
                other => prop_assert!(false, "expected a failure at {}, got {:?}", before, other),
            }
            prop_assert_eq!(start, copy);
        }
    }

    #[test]
    fn plans_survive_json(s in scenario()) {
        let plan = make_plan(&build(&s));
        let json = serde_json::to_string(&plan).expect("plans serialize");
        let back: Plan = serde_json::from_str(&json).expect("plans deserialize");
        prop_assert_eq!(back, plan);
    }
}
