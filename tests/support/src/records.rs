//! Store records (versions, deployments, agents) with the values most tests do not care about, and plans of the example
//! configuration. Tests override what they check with struct update syntax
//! (`VersionRecord { status, ..version("shop", "v1", commit) }`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use boreas_aws::emulator::workspace_root;
use boreas_aws::store::{Agent, NewDeployment, VersionRecord, rfc3339};
use boreas_core::plan::Plan;
use boreas_core::planner::{PlanInput, config_targets, plan};
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
    let path = workspace_root().join("examples/boreas.yaml");
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
