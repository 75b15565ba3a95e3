//! Planner benchmark: 1,000 apps (800 PM, 200 k8s) over a random dependency DAG, 10,000 PM hosts
//! and 50 clusters, seeded so every run plans the same input.
//!
//! Run: `cargo bench -p boreas-core --bench planner`. Prints min/median/max milliseconds of
//! `planner::plan` for a first deployment (every app affected) and for a change touching 200
//! apps' paths, plus `adjust::validate` of the full plan (what the api does with a submitted
//! plan) and the size of the plan's JSON.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use boreas_core::adjust;
use boreas_core::config::{
    App, AppKind, ArtifactSpec, BatchSize, Config, DurationSpec, Environment, HealthCheck,
    HealthSpec, HostRef, K8sSpec, Pause, PmSpec, Rollout, RunSpec, Triggers,
};
use boreas_core::planner::{PlanInput, plan};

const APPS: usize = 1_000;
const K8S_EVERY: usize = 5;
const HOSTS: usize = 10_000;
const CLUSTERS: usize = 50;
/// PM apps installed on every host (node agents, log shippers).
const FLEET_APPS: usize = 5;
const RUNS: usize = 25;

/// xorshift64*: deterministic, good enough to shape a random graph.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("fits")
    }
}

fn name(i: usize) -> String {
    format!("app-{i:04}")
}

fn build(rng: &mut Rng) -> (Config, BTreeMap<String, Vec<String>>) {
    let hosts: Vec<String> = (0..HOSTS).map(|h| format!("host-{h:05}")).collect();
    let clusters: Vec<String> = (0..CLUSTERS).map(|c| format!("cluster-{c:02}")).collect();
    let batch_forms = [
        vec![BatchSize::Percent(100)],
        vec![BatchSize::Count(1), BatchSize::Percent(100)],
        vec![
            BatchSize::Count(1),
            BatchSize::Percent(25),
            BatchSize::Percent(50),
            BatchSize::Percent(100),
        ],
        vec![
            BatchSize::Percent(10),
            BatchSize::Percent(30),
            BatchSize::Percent(60),
            BatchSize::Percent(100),
        ],
    ];
    let pauses = [
        Pause::None,
        Pause::Wait(DurationSpec(30)),
        Pause::Wait(DurationSpec(300)),
        Pause::Manual,
    ];
    let mut targets = BTreeMap::new();
    let mut apps = Vec::with_capacity(APPS);
    for i in 0..APPS {
        let kind = if i % K8S_EVERY == 4 {
            AppKind::K8s
        } else {
            AppKind::Pm
        };
        // Up to three dependencies on earlier apps: a DAG by construction.
        let depends_on: Vec<String> = if i == 0 {
            Vec::new()
        } else {
            let mut deps: Vec<String> = (0..rng.below(4)).map(|_| name(rng.below(i))).collect();
            deps.sort();
            deps.dedup();
            deps
        };
        let app_targets: Vec<String> = match kind {
            AppKind::Pm if i < FLEET_APPS * K8S_EVERY && i % K8S_EVERY == 0 => hosts.clone(),
            AppKind::Pm => {
                let len = 10 + rng.below(6);
                let start = rng.below(HOSTS - len);
                hosts[start..start + len].to_vec()
            }
            AppKind::K8s => {
                let len = 1 + rng.below(CLUSTERS);
                let start = rng.below(CLUSTERS - len + 1);
                clusters[start..start + len].to_vec()
            }
        };
        targets.insert(name(i), app_targets);
        let mut paths = vec![format!("services/{}/**", name(i))];
        if rng.below(10) == 0 {
            paths.push("libs/common/**".to_owned());
        }
        apps.push(App {
            name: name(i),
            kind,
            paths,
            depends_on,
            analysis: Vec::new(),
            follow_dependencies: rng.below(3) == 0,
            rollout: Rollout {
                batches: batch_forms[rng.below(batch_forms.len())].clone(),
                pause: pauses[rng.below(pauses.len())],
                ..Rollout::default()
            },
            pm: (kind == AppKind::Pm).then(|| PmSpec {
                hosts: BTreeMap::from([(
                    "prod".to_owned(),
                    vec![HostRef::Group {
                        group: "fleet".to_owned(),
                    }],
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
                    systemd: format!("{}.service", name(i)),
                }),
                health: HealthSpec {
                    check: HealthCheck::Http {
                        http: "http://127.0.0.1:8080/healthz".to_owned(),
                    },
                    timeout: HealthSpec::default_timeout(),
                    retries: HealthSpec::default_retries(),
                },
            }),
            k8s: (kind == AppKind::K8s).then(|| K8sSpec {
                clusters: BTreeMap::new(),
                namespace: K8sSpec::default_namespace(),
                deployment: name(i),
                container: name(i),
                image: format!("registry.example.com/{}:{{version}}", name(i)),
            }),
        });
    }
    let config = Config {
        environments: vec![Environment {
            name: "prod".to_owned(),
            auto_confirm: false,
            promotion: None,
        }],
        triggers: Triggers::default(),
        apps,
        notifications: None,
        freezes: Vec::new(),
    };
    (config, targets)
}

/// Run `f` a few times to warm up, then `RUNS` times; min, median and max in milliseconds.
fn measure(mut f: impl FnMut()) -> (f64, f64, f64) {
    for _ in 0..3 {
        f();
    }
    let mut ms: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[0], ms[ms.len() / 2], ms[ms.len() - 1])
}

fn report(label: &str, (min, median, max): (f64, f64, f64)) {
    println!("{label:<44} min {min:>7.2} ms   median {median:>7.2} ms   max {max:>7.2} ms");
}

fn main() {
    let mut rng = Rng(0x0B0B_EA5E_2026_1129);
    let (config, targets) = build(&mut rng);
    let current = BTreeMap::new();
    // 200 apps' directories touched (a file each), plus one shared library file.
    let mut changed: Vec<String> = (0..200)
        .map(|_| format!("services/{}/src/main.rs", name(rng.below(APPS))))
        .collect();
    changed.push("libs/common/src/lib.rs".to_owned());

    let first = PlanInput {
        config: &config,
        environment: "prod",
        version: "v2.0.0",
        changed_paths: None,
        targets: &targets,
        current_versions: &current,
    };
    let change = PlanInput {
        changed_paths: Some(&changed),
        ..first
    };
    let full = plan(&first).expect("plans");
    let partial = plan(&change).expect("plans");
    let apps = full.apps().count();
    let pm_targets: usize = full
        .apps()
        .filter(|a| a.kind == AppKind::Pm)
        .map(|a| a.targets.len())
        .sum();
    println!(
        "input: {APPS} apps ({} k8s), {HOSTS} PM hosts, {CLUSTERS} clusters; {RUNS} runs each",
        APPS / K8S_EVERY
    );
    println!(
        "first deployment: {} stages, {apps} apps, {pm_targets} PM host slots; \
         change: {} stages, {} apps",
        full.stages.len(),
        partial.stages.len(),
        partial.apps().count()
    );
    report(
        "plan, first deployment (all 1,000 apps)",
        measure(|| {
            black_box(plan(black_box(&first)).expect("plans"));
        }),
    );
    report(
        "plan, change to 201 paths",
        measure(|| {
            black_box(plan(black_box(&change)).expect("plans"));
        }),
    );
    report(
        "adjust::validate, full plan",
        measure(|| adjust::validate(black_box(&full)).expect("valid")),
    );
    let json = serde_json::to_vec(&full).expect("serializes");
    println!("full plan JSON: {} KiB", json.len() / 1024);
}
