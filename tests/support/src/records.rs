//! Store records (versions, deployments, agents) with the values most tests do not care about, and plans of the example
//! configuration. Tests override what they check with struct update syntax
//! (`VersionRecord { status, ..version("shop", "v1", commit) }`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use boreas_aws::emulator::workspace_root;
use boreas_aws::store::{Agent, NewDeployment, VersionRecord, rfc3339};
use boreas_core::config::{AppKind, BatchSize, Pause};
use boreas_core::plan::{AppPlan, BatchPlan, PausePlan, Plan, Stage};
use boreas_core::planner::{PlanInput, config_targets, plan};
use boreas_core::rollout::split_targets;
use boreas_core::status::VersionStatus;
use boreas_core::version::{CommitId, Version, VersionState};

/// A fixed instant `second` seconds after 2026-11-29T10:00:00Z (up to an hour), so that tests
/// order records by time without reading the clock.
pub fn at(second: u32) -> String {
    format!(
        "2026-11-29T10:{:02}:{:02}.000Z",
        second / 60 % 60,
        second % 60
    )
}

/// The example `boreas.yaml` of the repository (`examples/boreas.yaml`).
pub fn example_yaml() -> String {
    example("boreas.yaml")
}

/// An example file of the repository (`examples/{name}`).
pub fn example(name: &str) -> String {
    let path = workspace_root().join("examples").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The planner's plan of the example configuration for `environment` and `version`, every app
/// changed, no version running yet.
pub fn example_plan(environment: &str, version: &str) -> Plan {
    let config = boreas_core::config::parse(&example_yaml()).expect("the example validates");
    let targets = config_targets(&config, environment).targets;
    plan(&PlanInput {
        config: &config,
        environment,
        version,
        changed_paths: None,
        targets: &targets,
        current_versions: &BTreeMap::new(),
    })
    .expect("the example plans")
}

/// A plan of `apps` PM apps of `hosts` hosts each in one stage, named as real fleets name hosts
/// (`web-0007-03.prod.eu-west-1.example.com`), each rolled out in batches of 1, 25 % and 100 %
/// split as the planner splits them.
pub fn fleet_plan(environment: &str, apps: usize, hosts: usize) -> Plan {
    let apps = (0..apps)
        .map(|a| {
            let targets: Vec<String> = (0..hosts)
                .map(|h| format!("web-{a:04}-{h:02}.{environment}.eu-west-1.example.com"))
                .collect();
            let batch_sizes = vec![
                BatchSize::Count(1),
                BatchSize::Percent(25),
                BatchSize::Percent(100),
            ];
            let batches = (0u32..)
                .zip(split_targets(&batch_sizes, &targets))
                .map(|(index, batch)| BatchPlan {
                    index,
                    targets: batch.to_vec(),
                    weight: None,
                    pause: PausePlan::None,
                })
                .collect();
            AppPlan {
                app: format!("app{a:04}"),
                kind: AppKind::Pm,
                depends_on: Vec::new(),
                current_version: Some("v1".into()),
                targets,
                batch_sizes,
                pause: Pause::None,
                parallelism: 5,
                heartbeat_seconds: 60,
                timeout_seconds: 600,
                batches,
            }
        })
        .collect();
    Plan {
        environment: environment.into(),
        version: "v2".into(),
        stages: vec![Stage {
            parallelism: 10,
            apps,
        }],
        skipped: Vec::new(),
    }
}

/// A plan no store can hold: one app of 60,000 hosts whose names do not repeat, so that even
/// compressed it is over [`boreas_aws::store::PLAN_RECORD_LIMIT`].
pub fn unstorable_plan(environment: &str) -> Plan {
    let mut plan = fleet_plan(environment, 1, 0);
    plan.stages[0].apps[0].targets = (0..60_000_u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            format!("{:016x}{:016x}", x.rotate_left(17), x.rotate_left(41) ^ i)
        })
        .collect();
    plan
}

/// A version just received by intake: normal state, no errors, pushed by nobody known.
pub fn version(repository: &str, name: &str, commit: &str) -> VersionRecord {
    VersionRecord {
        version: Version {
            repository: repository.to_owned(),
            name: name.to_owned(),
            commit: CommitId(commit.to_owned()),
            state: VersionState::Normal,
        },
        status: VersionStatus::Received,
        diverged: false,
        errors: Vec::new(),
        received_at: rfc3339(SystemTime::now()),
        pushed_by: None,
    }
}

/// A deployment of `plan` (its environment and version) for the repository `shop`, created now.
pub fn new_deployment(id: &str, plan: Plan) -> NewDeployment {
    NewDeployment {
        id: id.to_owned(),
        repository: "shop".to_owned(),
        version: plan.version.clone(),
        environment: plan.environment.clone(),
        plan,
        created_at: rfc3339(SystemTime::now()),
        revert: false,
    }
}

/// A host of `group` in `env` that reported just now and runs nothing.
pub fn agent(env: &str, host: &str, group: &str) -> Agent {
    Agent {
        env: env.to_owned(),
        host: host.to_owned(),
        group: group.to_owned(),
        last_seen: rfc3339(SystemTime::now()),
        observed_at: rfc3339(SystemTime::now()),
        live_until: None,
        apps: serde_json::json!({}),
    }
}
