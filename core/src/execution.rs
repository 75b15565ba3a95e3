//! The input of the deployment state machine (`statemachine/deployment.asl.json`).
//!
//! [`ExecutionInput`] is the whole of it; the execution receives it by reference
//! ([`ExecutionInput::slices`]): its own input names the stages, each stage's apps are one S3
//! object that the stage's Distributed Map reads (one child execution per app), and each large
//! PM batch's hosts are one object that the batch's Distributed Map reads (one child execution
//! per host). So no state's data (at most 256 KiB in Step Functions) grows with the number of
//! apps or hosts, and no execution's history grows with the number of apps. A batch of a few
//! hosts lists them itself and runs in an inline Map ([`INLINE_BATCH_HOSTS`]): a Map Run and a
//! child execution per host would cost it more time than its hosts' work.
//!
//! The definition builds every command with JSONPath, so an app carries its command fields
//! once (`workload`, `rollback`) and a target only its name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Health, Hook, K8sWorkload, PmWorkload, SCHEMA_VERSION, Workload};
use crate::config::{App, AppKind, Config, OnFailure, Unreachable, env_for};
use crate::plan::{PausePlan, Plan};

/// Step Functions' limit on an execution's input and on every state's data.
pub const PAYLOAD_LIMIT: usize = 256 * 1024;

/// Step Functions' quota on the events of one execution's history.
pub const HISTORY_LIMIT: usize = 25_000;

/// A PM batch of at most this many hosts runs in an inline Map, in its app's execution; a larger
/// one in a Distributed Map. 40 is as many iterations as an inline Map runs at once.
pub const INLINE_BATCH_HOSTS: usize = 40;

/// At most this many of an app's hosts run inline, so that their events (about 22 each) leave
/// most of the app's history to its batches; the app's later small batches go distributed.
pub const INLINE_APP_HOSTS: usize = 200;

/// Why no execution input could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    /// The deployment id cannot name an execution.
    #[error(
        "deployment id `{0}` cannot name an execution: use 1–80 characters of A–Z, a–z, 0–9, `-` and `_`"
    )]
    InvalidDeploymentId(String),
    /// The plan names an app the config does not declare.
    #[error("the plan's app `{0}` is not declared in the config")]
    UnknownApp(String),
    /// The app's kind section is missing.
    #[error("app `{app}` is of kind {kind} but has no `{kind}` section")]
    MissingSection {
        /// App name.
        app: String,
        /// Its kind.
        kind: AppKind,
    },
    /// The plan's app has no batches.
    #[error("the plan's app `{0}` has no batches")]
    NoBatches(String),
    /// A timing Step Functions refuses.
    #[error(
        "app `{app}`: heartbeat ({heartbeat}s) must be at least 1s and shorter than the timeout ({timeout}s)"
    )]
    Timing {
        /// App name.
        app: String,
        /// Heartbeat seconds.
        heartbeat: u64,
        /// Timeout seconds.
        timeout: u64,
    },
    /// An execution's history could outgrow Step Functions' quota before it ends.
    #[error(
        "{execution} could write {events} events to its history (every batch rolled back), over Step Functions' quota of {HISTORY_LIMIT}: split it into fewer batches or stages"
    )]
    HistoryTooLong {
        /// `the deployment's execution` or `app X's execution`.
        execution: String,
        /// Events on the longest path ([`HistoryEvents::longest`]).
        events: usize,
    },
    /// A state's data would be over Step Functions' payload limit.
    #[error(
        "{what} is {size} bytes, over Step Functions' limit of {PAYLOAD_LIMIT}: split the deployment"
    )]
    TooLarge {
        /// `the execution input` or `app X's execution input`.
        what: String,
        /// Serialised size in bytes.
        size: usize,
    },
}

/// The whole execution input, as the state machine sees it once it has read every slice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionInput {
    /// [`SCHEMA_VERSION`]; the definition refuses any other.
    pub schema_version: u32,
    /// Deployment id (also the execution name).
    pub deployment_id: String,
    /// Environment name.
    pub environment: String,
    /// Version being deployed.
    pub version: String,
    /// Stages, run strictly in order.
    pub stages: Vec<StageInput>,
}

/// One stage: its apps run in parallel, at most `parallelism` at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageInput {
    /// Position of the stage, from 0.
    pub index: u32,
    /// Apps of this stage running at the same time (the Map's `MaxConcurrencyPath`).
    pub parallelism: u32,
    /// Apps of the stage.
    pub apps: Vec<AppInput>,
}

/// One app's rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInput {
    /// App name.
    pub app: String,
    /// `pm` (commands to `agent-{env}-{host}` queues) or `k8s` (to `k8s-{cluster}` queues).
    pub kind: AppKind,
    /// Targets of one batch commanded at the same time (PM; clusters all go at once).
    pub parallelism: u32,
    /// `HeartbeatSecondsPath` of every command.
    pub heartbeat_seconds: u64,
    /// `TimeoutSecondsPath` of every command.
    pub timeout_seconds: u64,
    /// What a host whose agent is past its liveness window does to the batch (PM).
    pub unreachable: Unreachable,
    /// What a failed host does to the batch (PM): roll the app back, or wait for a decision.
    pub on_failure: OnFailure,
    /// What a deploy command runs, resolved for the version.
    pub workload: Workload,
    /// What a rollback command goes back to.
    pub rollback: RollbackInput,
    /// Index of the last batch (the batch loop's bound).
    pub last_batch: u32,
    /// Batches, run in order.
    pub batches: Vec<BatchInput>,
}

/// The previous version of an app, for rollback commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackInput {
    /// The version the app ran before; `None` for a first deployment.
    pub to_version: Option<String>,
    /// Its workload, resolved for `to_version`.
    pub workload: Option<Workload>,
}

/// One batch of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInput {
    /// Position in the app, from 0.
    pub index: u32,
    /// `index` as the four digits of the `BATCH#{app}#{index:04}` record key.
    pub key: String,
    /// Host names (PM) or cluster names (k8s).
    pub targets: Vec<String>,
    /// K8s: share of replicas on the new version after this batch.
    pub weight: Option<u8>,
    /// Whether the app's analysis checks judge the batch before what follows it.
    pub analysis: bool,
    /// What follows the batch.
    pub pause: PausePlan,
}

/// What starting an execution takes: the StartExecution `input` and the S3 objects it names,
/// which must be stored (in the plans bucket) before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slices {
    /// The StartExecution `input` (JSON).
    pub input: String,
    /// Objects the execution reads, by key.
    pub objects: Vec<PlanObject>,
}

/// One object of [`Slices`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanObject {
    /// Key in the plans bucket.
    pub key: String,
    /// JSON body.
    pub body: String,
}

/// The execution's own input: the stages and where their apps are.
#[derive(Serialize)]
struct StartInput<'a> {
    schema_version: u32,
    deployment_id: &'a str,
    environment: &'a str,
    version: &'a str,
    stages: Vec<StageRef>,
}

/// A stage as the execution's input carries it.
#[derive(Serialize)]
struct StageRef {
    index: u32,
    parallelism: u32,
    /// How many apps the stage's object lists.
    apps: usize,
    /// The object listing the stage's apps ([`AppSlice`]s).
    apps_key: String,
}

/// An app as its child execution receives it: PM batches name the object of their hosts.
#[derive(Serialize)]
struct AppSlice<'a> {
    app: &'a str,
    kind: AppKind,
    parallelism: u32,
    heartbeat_seconds: u64,
    timeout_seconds: u64,
    unreachable: Unreachable,
    on_failure: OnFailure,
    workload: &'a Workload,
    rollback: &'a RollbackInput,
    last_batch: u32,
    batches: Vec<BatchSlice<'a>>,
}

#[derive(Serialize)]
struct BatchSlice<'a> {
    index: u32,
    key: &'a str,
    /// Clusters (k8s), read by the inline cluster Map; empty for PM.
    targets: &'a [String],
    /// The hosts of a small PM batch, read by the inline host Map (the definition's choice).
    #[serde(skip_serializing_if = "Option::is_none")]
    hosts: Option<&'a [String]>,
    /// The object listing the hosts of a large PM batch, read by the host Distributed Map.
    #[serde(skip_serializing_if = "Option::is_none")]
    hosts_key: Option<String>,
    weight: Option<u8>,
    /// Read by the `Pause` choice: the analysis worker judges the batch first.
    analysis: bool,
    pause: &'a PausePlan,
}

/// Child executions get the app's slice plus the ids and the batch cursor (the `Apps` Map's
/// `ItemSelector`): the ids and the states' own results take at most this much beyond the slice
/// and its largest batch.
const APP_INPUT_OVERHEAD: usize = 1024;

/// Where an input's objects go: `executions/{deployment}/{digest}`, the digest of the whole
/// input, so starting the same deployment again writes the same objects and another input under
/// the same name (which Step Functions refuses) never replaces the objects of the one running.
fn objects_prefix(input: &ExecutionInput) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(json(input).as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("executions/{}/{hex}", input.deployment_id)
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("execution slices always serialise")
}

impl ExecutionInput {
    /// The input as the state machine receives it: its own input and the objects it reads.
    pub fn slices(&self) -> Slices {
        let prefix = objects_prefix(self);
        let mut objects = Vec::new();
        let mut stages = Vec::with_capacity(self.stages.len());
        for stage in &self.stages {
            let apps: Vec<AppSlice<'_>> = stage
                .apps
                .iter()
                .map(|app| app_slice(&prefix, app, &mut objects))
                .collect();
            let apps_key = format!("{prefix}/stage-{:04}.json", stage.index);
            objects.push(PlanObject {
                key: apps_key.clone(),
                body: json(&apps),
            });
            stages.push(StageRef {
                index: stage.index,
                parallelism: stage.parallelism,
                apps: apps.len(),
                apps_key,
            });
        }
        Slices {
            input: json(&StartInput {
                schema_version: self.schema_version,
                deployment_id: &self.deployment_id,
                environment: &self.environment,
                version: &self.version,
                stages,
            }),
            objects,
        }
    }
}

/// `app`'s slice; the host lists of its distributed PM batches go to `objects`, under `prefix`.
fn app_slice<'a>(prefix: &str, app: &'a AppInput, objects: &mut Vec<PlanObject>) -> AppSlice<'a> {
    let inline = inline_batches(app);
    let batches = app
        .batches
        .iter()
        .zip(inline)
        .map(|(b, inline)| {
            // Where the batch's targets travel: clusters and small host batches in the slice,
            // a large host batch's list in an object of its own.
            let (targets, hosts, hosts_key): (&[String], _, _) = match app.kind {
                AppKind::Pm if inline => (&[], Some(b.targets.as_slice()), None),
                AppKind::Pm => {
                    let key = format!("{prefix}/{}/batch-{}.json", app.app, b.key);
                    objects.push(PlanObject {
                        key: key.clone(),
                        body: json(&b.targets),
                    });
                    (&[], None, Some(key))
                }
                AppKind::K8s => (&b.targets, None, None),
            };
            BatchSlice {
                index: b.index,
                key: &b.key,
                targets,
                hosts,
                hosts_key,
                weight: b.weight,
                analysis: b.analysis,
                pause: &b.pause,
            }
        })
        .collect();
    AppSlice {
        app: &app.app,
        kind: app.kind,
        parallelism: app.parallelism,
        heartbeat_seconds: app.heartbeat_seconds,
        timeout_seconds: app.timeout_seconds,
        unreachable: app.unreachable,
        on_failure: app.on_failure,
        workload: &app.workload,
        rollback: &app.rollback,
        last_batch: app.last_batch,
        batches,
    }
}

/// Whether `id` is a valid Step Functions execution name as Boreas uses them.
pub fn is_valid_execution_name(id: &str) -> bool {
    (1..=80).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Builds the state machine's input for a confirmed `plan`. `config` is the `boreas.yaml` of the
/// plan's version, built from `commit`; rollbacks return each app to its plan's
/// `current_version`, run as that release's own config says (`previous`, by version: its artifact,
/// checksum, run command and hooks), or as `config` says when that config is not known.
pub fn execution_input(
    deployment_id: &str,
    plan: &Plan,
    config: &Config,
    commit: &str,
    previous: &BTreeMap<String, Config>,
) -> Result<ExecutionInput, ExecutionError> {
    if !is_valid_execution_name(deployment_id) {
        return Err(ExecutionError::InvalidDeploymentId(
            deployment_id.to_owned(),
        ));
    }
    let mut stages = Vec::with_capacity(plan.stages.len());
    for (index, stage) in plan.stages.iter().enumerate() {
        let mut apps = Vec::with_capacity(stage.apps.len());
        for app_plan in &stage.apps {
            let app = config
                .apps
                .iter()
                .find(|a| a.name == app_plan.app)
                .ok_or_else(|| ExecutionError::UnknownApp(app_plan.app.clone()))?;
            let last_batch = app_plan
                .batches
                .len()
                .checked_sub(1)
                .ok_or_else(|| ExecutionError::NoBatches(app.name.clone()))?;
            let (heartbeat, timeout) = (app_plan.heartbeat_seconds, app_plan.timeout_seconds);
            if heartbeat == 0 || heartbeat >= timeout {
                return Err(ExecutionError::Timing {
                    app: app.name.clone(),
                    heartbeat,
                    timeout,
                });
            }
            let to_version = app_plan.current_version.clone();
            let rollback_workload = to_version
                .as_deref()
                .map(|v| {
                    let released = previous
                        .get(v)
                        .and_then(|c| c.apps.iter().find(|a| a.name == app.name))
                        .filter(|a| a.kind == app.kind)
                        .unwrap_or(app);
                    workload(released, v, &plan.environment, None)
                })
                .transpose()?;
            apps.push(AppInput {
                app: app.name.clone(),
                kind: app_plan.kind,
                parallelism: app_plan.parallelism.max(1),
                heartbeat_seconds: heartbeat,
                timeout_seconds: timeout,
                unreachable: app.rollout.unreachable,
                on_failure: app.rollout.on_failure,
                workload: workload(app, &plan.version, &plan.environment, Some(commit))?,
                rollback: RollbackInput {
                    to_version,
                    workload: rollback_workload,
                },
                last_batch: u32::try_from(last_batch).unwrap_or(u32::MAX),
                batches: app_plan
                    .batches
                    .iter()
                    .map(|b| BatchInput {
                        index: b.index,
                        key: format!("{:04}", b.index),
                        targets: b.targets.clone(),
                        weight: b.weight,
                        analysis: app.analysis.iter().any(|c| c.follows(b.index)),
                        pause: b.pause.clone(),
                    })
                    .collect(),
            });
        }
        stages.push(StageInput {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            parallelism: stage.parallelism.max(1),
            apps,
        });
    }
    let input = ExecutionInput {
        schema_version: SCHEMA_VERSION,
        deployment_id: deployment_id.to_owned(),
        environment: plan.environment.clone(),
        version: plan.version.clone(),
        stages,
    };
    check_limits(&input)?;
    Ok(input)
}

/// Refuses an input that some execution could not carry through to its end. Checked before it
/// starts: an execution stopped by a quota mid-rollback would leave hosts on the new version.
fn check_limits(input: &ExecutionInput) -> Result<(), ExecutionError> {
    let size = input.slices().input.len();
    if size > PAYLOAD_LIMIT {
        return Err(ExecutionError::TooLarge {
            what: "the execution input".to_owned(),
            size,
        });
    }
    let events = history_events(input).longest;
    if events > HISTORY_LIMIT {
        return Err(ExecutionError::HistoryTooLong {
            execution: "the deployment's execution".to_owned(),
            events,
        });
    }
    let prefix = objects_prefix(input);
    let mut scratch = Vec::new();
    for app in input.stages.iter().flat_map(|s| &s.apps) {
        scratch.clear();
        let slice = app_slice(&prefix, app, &mut scratch);
        let cursor = slice.batches.iter().map(|b| json(b).len()).max();
        let size = json(&slice).len() + cursor.unwrap_or(0) + APP_INPUT_OVERHEAD;
        if size > PAYLOAD_LIMIT {
            return Err(ExecutionError::TooLarge {
                what: format!("app `{}`'s execution input", app.app),
                size,
            });
        }
        let events = app_history_events(app).longest;
        if events > HISTORY_LIMIT {
            return Err(ExecutionError::HistoryTooLong {
                execution: format!("app `{}`'s execution", app.app),
                events,
            });
        }
    }
    Ok(())
}

/// Events of one execution's own history (apps and hosts run in child executions, which have
/// theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEvents {
    /// When every batch succeeds.
    pub succeeded: usize,
    /// The longest path: every batch runs, then every batch is rolled back.
    pub longest: usize,
}

/// Events a state of each kind writes to the history, in Step Functions as in the emulator: a
/// Task is entered, scheduled, started, succeeds and is exited; one waiting for a task token is
/// also submitted; a Choice, Pass or Wait is entered and exited; a Distributed Map also starts,
/// starts its map run, which succeeds, and succeeds (its iterations have their own histories); an
/// inline Map also starts and succeeds, and each iteration starts and succeeds. An execution
/// starts and ends.
mod events {
    pub(super) const EXECUTION: usize = 2;
    pub(super) const TASK: usize = 5;
    pub(super) const TOKEN_TASK: usize = 6;
    pub(super) const FLOW: usize = 2;
    pub(super) const DISTRIBUTED_MAP: usize = 6;
    pub(super) const INLINE_MAP: usize = 4;
    pub(super) const ITERATION: usize = 2;
}

/// The events the deployment's execution writes to its history, counted along the definition
/// (`statemachine/deployment.asl.json`; the state machine tests compare with measured
/// histories). It grows with stages only: each app runs in a child execution
/// ([`app_history_events`]).
pub fn history_events(input: &ExecutionInput) -> HistoryEvents {
    use events::{DISTRIBUTED_MAP, EXECUTION, FLOW, INLINE_MAP, ITERATION, TASK};
    // The execution, CheckInput, Started, the Stages map, Outcome, Verdict, then the record, the
    // notification and Done; a rollback's end has one Choice more and ends in a Fail state,
    // entered but not exited. Per stage, the iteration, StageCheck and the Apps map.
    let succeeded = EXECUTION
        + FLOW
        + TASK
        + INLINE_MAP
        + TASK
        + FLOW
        + TASK
        + TASK
        + FLOW
        + input.stages.len() * (ITERATION + TASK + DISTRIBUTED_MAP);
    HistoryEvents {
        succeeded,
        longest: succeeded + FLOW - 1,
    }
}

/// The events the child execution of `app` writes to its history, counted along the `Apps`
/// Map's item processor.
pub fn app_history_events(app: &AppInput) -> HistoryEvents {
    count_app_events(app, &inline_batches(app))
}

/// Which of `app`'s batches run their hosts in an inline Map: PM batches of at most
/// [`INLINE_BATCH_HOSTS`] hosts, in order, until [`INLINE_APP_HOSTS`] hosts run inline; none
/// when that would take the app's history over the quota (an app of hundreds of batches).
fn inline_batches(app: &AppInput) -> Vec<bool> {
    let none = vec![false; app.batches.len()];
    if app.kind != AppKind::Pm {
        return none;
    }
    let mut left = INLINE_APP_HOSTS;
    let chosen: Vec<bool> = app
        .batches
        .iter()
        .map(|b| {
            let hosts = b.targets.len();
            let inline = hosts <= INLINE_BATCH_HOSTS && hosts <= left;
            if inline {
                left -= hosts;
            }
            inline
        })
        .collect();
    if count_app_events(app, &chosen).longest > HISTORY_LIMIT {
        none
    } else {
        chosen
    }
}

fn count_app_events(app: &AppInput, inline: &[bool]) -> HistoryEvents {
    use events::{DISTRIBUTED_MAP, EXECUTION, FLOW, INLINE_MAP, ITERATION, TASK, TOKEN_TASK};
    // The execution, CheckFirst, AppStarted, and at the end AppSucceeded and Succeeded; a
    // rollback ends in BatchFailed, AppFailed, RollingBack, AppRolledBack and RolledBack instead.
    let mut succeeded = EXECUTION + TASK + TASK + TASK + FLOW;
    let mut rollbacks = 4 * TASK + FLOW - (TASK + FLOW);
    // An inline host that fails instead of being recorded: its failure mode, the target's,
    // batch's and deployment's records and the Fail state (entered only).
    let mut failing = 0;
    // Analysis gates a person is asked at, on the longest path.
    let mut asked = 0;
    for (i, (batch, inline)) in app.batches.iter().zip(inline).enumerate() {
        let hosts = batch.targets.len();
        // Each target's command (waiting for its token) and result record, in an inline Map's
        // iteration for clusters and small host batches (a host's is preceded by the liveness
        // time, the agent read and the reachability choice, its rollback by the target read and
        // a choice); large host batches run in a Distributed Map.
        let (targets, undo) = match app.kind {
            AppKind::Pm if *inline => {
                failing = failing.max(hosts * (FLOW + 3 * TASK + 1 - TASK));
                (
                    INLINE_MAP + hosts * (ITERATION + FLOW + TASK + FLOW + TOKEN_TASK + TASK),
                    INLINE_MAP + hosts * (ITERATION + TASK + FLOW + TOKEN_TASK + TASK),
                )
            }
            AppKind::Pm => (DISTRIBUTED_MAP, DISTRIBUTED_MAP),
            AppKind::K8s => {
                let clusters = INLINE_MAP + hosts * (ITERATION + TOKEN_TASK + TASK);
                (clusters, clusters)
            }
        };
        // BatchStarted, Kind, the targets, BatchSucceeded, BatchFinished (its notice) and Pause
        // (which goes on to the next batch when there is no pause), then NextBatch and CheckNext
        // unless it is the last.
        succeeded += TASK + FLOW + targets + TASK + TASK + FLOW;
        if batch.analysis {
            // The Analysis task (waiting for the worker's token), AnalysisVerdict, then Pause
            // again; an inconclusive one adds AnalysisCheckBeforeGate and the AnalysisGate.
            succeeded += TOKEN_TASK + FLOW + FLOW;
            asked += TASK + TOKEN_TASK;
        }
        succeeded += match batch.pause {
            PausePlan::None => 0,
            // The Wait, then More.
            PausePlan::Wait { .. } => FLOW + FLOW,
            // CheckBeforeGate, the Gate, then More.
            PausePlan::Gate { .. } => TASK + TOKEN_TASK + FLOW,
        };
        if i + 1 < app.batches.len() {
            // NextBatch, CheckNext and the Freeze task: the freeze worker is asked before every
            // later batch, as a window added while the deployment runs may stop it there.
            succeeded += FLOW + TASK + TOKEN_TASK;
        }
        // RollbackKind, the same targets undone, then RollbackMore and RollbackPrevious.
        rollbacks += FLOW + undo + FLOW + FLOW;
    }
    HistoryEvents {
        succeeded,
        longest: succeeded + rollbacks + failing + asked,
    }
}

/// The app's workload with `{version}` substituted, for `environment`.
fn workload(
    app: &App,
    version: &str,
    environment: &str,
    commit: Option<&str>,
) -> Result<Workload, ExecutionError> {
    let at = |template: &str| template.replace("{version}", version);
    let missing = || ExecutionError::MissingSection {
        app: app.name.clone(),
        kind: app.kind,
    };
    Ok(match app.kind {
        AppKind::Pm => {
            let pm = app.pm.as_ref().ok_or_else(missing)?;
            Workload::Pm(PmWorkload {
                artifact_url: at(&pm.artifact.url),
                sha256: pm.artifact.sha256.clone(),
                sha256_url: pm.artifact.sha256_url.as_deref().map(at),
                run: pm.run.clone(),
                health: Health::from(&pm.health),
                commit: commit.map(str::to_owned),
                run_as: pm.run_as.clone(),
                hooks: pm.hooks.iter().map(|(n, h)| (n, Hook::from(h))).collect(),
                release_hooks: pm.release_hooks.clone(),
                env: env_for(&pm.env, environment),
            })
        }
        AppKind::K8s => {
            let k8s = app.k8s.as_ref().ok_or_else(missing)?;
            Workload::K8s(K8sWorkload {
                namespace: k8s.namespace.clone(),
                deployment: k8s.deployment.clone(),
                container: k8s.container.clone(),
                image: at(&k8s.image),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::{
        ArtifactSpec, BatchSize, DurationSpec, HealthCheck, HealthSpec, HostRef, Pause, PmSpec,
        RunSpec,
    };
    use crate::plan::{AppPlan, BatchPlan, Stage};

    fn config() -> Config {
        // Health is filled in below: `HealthSpec` is read from YAML by the config parser only.
        let mut config: Config = serde_json::from_value(serde_json::json!({
            "environments": [{"name": "prod"}],
            "apps": [
                {"name": "web", "kind": "pm"},
                {"name": "api", "kind": "k8s", "k8s": {
                    "clusters": {"prod": ["eu", "us"]}, "deployment": "api", "container": "api",
                    "image": "registry.example.com/api:{version}"}}
            ]
        }))
        .unwrap();
        config.apps[0].pm = Some(PmSpec {
            hosts: BTreeMap::from([("prod".to_owned(), vec![HostRef::Host("h1".into())])]),
            artifact: ArtifactSpec {
                url: "s3://artifacts/web/{version}.tar.gz".into(),
                sha256: None,
                sha256_url: Some("s3://artifacts/web/{version}.sha256".into()),
            },
            run_as: None,
            hooks: Default::default(),
            release_hooks: Vec::new(),
            env: Default::default(),
            run: Some(RunSpec::Systemd {
                systemd: "web.service".into(),
            }),
            health: HealthSpec {
                check: HealthCheck::Tcp {
                    tcp: "127.0.0.1:8080".into(),
                },
                timeout: DurationSpec(5),
                retries: 10,
            },
        });
        config
    }

    fn pm_app(name: &str, hosts: usize, batches: usize) -> AppPlan {
        let targets: Vec<String> = (0..hosts)
            .map(|i| format!("host-{i:05}.prod.example.com"))
            .collect();
        let per = hosts.div_ceil(batches);
        AppPlan {
            app: name.into(),
            kind: AppKind::Pm,
            depends_on: vec![],
            current_version: None,
            targets: targets.clone(),
            batch_sizes: vec![BatchSize::Percent(100)],
            pause: Pause::Manual,
            parallelism: 20,
            heartbeat_seconds: 60,
            timeout_seconds: 900,
            batches: targets
                .chunks(per)
                .enumerate()
                .map(|(i, chunk)| BatchPlan {
                    index: i as u32,
                    targets: chunk.to_vec(),
                    weight: None,
                    pause: if i + 1 == batches {
                        PausePlan::None
                    } else {
                        PausePlan::Gate {
                            gate: format!("{name}.{i}"),
                        }
                    },
                })
                .collect(),
        }
    }

    fn plan(apps: Vec<AppPlan>) -> Plan {
        Plan {
            environment: "prod".into(),
            version: "v2".into(),
            stages: vec![Stage {
                parallelism: 2,
                apps,
            }],
            skipped: vec![],
        }
    }

    /// `apps` PM apps over `stages` stages, each with `batches` batches of one host but the
    /// last, `pause` after every batch but the last.
    fn shaped(stages: usize, apps: usize, batches: usize, pause: &PausePlan) -> ExecutionInput {
        let cfg = config();
        let mut app = pm_app("web", batches + 4, batches);
        for (i, b) in app.batches.iter_mut().enumerate() {
            b.pause = if i + 1 < batches {
                pause.clone()
            } else {
                PausePlan::None
            };
        }
        let one = execution_input("d", &plan(vec![app]), &cfg, "c0ffee", &BTreeMap::new())
            .unwrap()
            .stages[0]
            .apps[0]
            .clone();
        let mut input =
            execution_input("d", &plan(vec![]), &cfg, "c0ffee", &BTreeMap::new()).unwrap();
        input.stages = (0..stages)
            .map(|s| StageInput {
                index: s as u32,
                parallelism: 4,
                apps: (0..apps)
                    .filter(|a| a * stages / apps == s)
                    .map(|a| AppInput {
                        app: format!("app{a}"),
                        ..one.clone()
                    })
                    .collect(),
            })
            .collect();
        input
    }

    #[test]
    fn history_events_are_counted_along_the_definition() {
        use events::{DISTRIBUTED_MAP, INLINE_MAP};
        // The parent grows with stages only: a thousand apps cost it nothing more.
        for stages in 1..4 {
            let parent = history_events(&shaped(stages, 10, 4, &PausePlan::None));
            assert_eq!(parent.succeeded, 32 + 13 * stages);
            assert_eq!(parent.longest - parent.succeeded, 1);
        }
        assert_eq!(
            history_events(&shaped(1, 1000, 4, &PausePlan::None)),
            history_events(&shaped(1, 1, 4, &PausePlan::None))
        );
        let one = execution_input(
            "d",
            &plan(vec![pm_app("web", 1, 1)]),
            &config(),
            "c0ffee",
            &BTreeMap::new(),
        )
        .unwrap()
        .stages[0]
            .apps[0]
            .clone();
        let with = |batches: &[usize], pause: &PausePlan| {
            let mut app = one.clone();
            app.batches = batches
                .iter()
                .enumerate()
                .map(|(i, &hosts)| BatchInput {
                    index: i as u32,
                    key: format!("{i:04}"),
                    targets: (0..hosts).map(|h| format!("h{i}-{h}")).collect(),
                    weight: None,
                    analysis: false,
                    pause: if i + 1 < batches.len() {
                        pause.clone()
                    } else {
                        PausePlan::None
                    },
                })
                .collect();
            app
        };
        let count = |batches: &[usize]| app_history_events(&with(batches, &PausePlan::None));
        // One host, inline: the execution, CheckFirst, AppStarted, BatchStarted, Kind, the Map
        // and its one iteration of 22 events, BatchSucceeded, BatchFinished, Pause, AppSucceeded,
        // Succeeded.
        assert_eq!(
            count(&[1]).succeeded,
            2 + 5 + 5 + 5 + 2 + INLINE_MAP + 22 + 5 + 5 + 2 + 5 + 2
        );
        // Each inline host adds its iteration; a batch of more than 40 hosts is one
        // Distributed Map whatever its size.
        assert_eq!(count(&[2]).succeeded - count(&[1]).succeeded, 22);
        assert_eq!(
            count(&[41]).succeeded,
            count(&[1]).succeeded - INLINE_MAP - 22 + DISTRIBUTED_MAP
        );
        assert_eq!(count(&[41]), count(&[4000]));
        // A batch after another: NextBatch and CheckNext, the Freeze task, 26 more events and
        // the batch's hosts.
        assert_eq!(
            count(&[41, 41]).succeeded - count(&[41]).succeeded,
            7 + events::TOKEN_TASK + 5 + 2 + DISTRIBUTED_MAP + 5 + 5 + 2
        );
        // Until 200 hosts have run inline; later small batches run distributed.
        assert_eq!(
            inline_batches(&with(&[40; 6], &PausePlan::None)),
            [true, true, true, true, true, false]
        );
        assert_eq!(
            inline_batches(&with(&[1, 41, 10], &PausePlan::None)),
            [true, false, true]
        );
        // Every batch rolled back: the rollback's ends, then per batch the choice, the undo Map,
        // RollbackMore and RollbackPrevious; and the failing batch's inline hosts each write
        // their failure records instead of their result.
        let plain = count(&[41, 41, 41, 41]);
        assert_eq!(
            plain.longest - plain.succeeded,
            15 + 4 * (6 + DISTRIBUTED_MAP)
        );
        let small = count(&[1, 2, 3]);
        assert_eq!(
            small.longest - small.succeeded,
            15 + 3 * 6 + 3 * INLINE_MAP + 6 * 20 + 3 * 13
        );
        let gate = PausePlan::Gate {
            gate: "web.0".into(),
        };
        let gated = app_history_events(&with(&[41; 4], &gate));
        assert_eq!(gated.succeeded - plain.succeeded, 3 * 13, "3 gates");
        // The largest app: 396 batches with a gate after each, 499 without; so many batches
        // run distributed, as inline hosts would take them over the quota.
        let largest =
            |n: usize, pause: &PausePlan| app_history_events(&with(&vec![1; n], pause)).longest;
        assert_eq!(largest(396, &gate), 24_956);
        assert!(largest(397, &gate) > HISTORY_LIMIT);
        assert_eq!(largest(499, &PausePlan::None), 24_971);
        assert!(largest(500, &PausePlan::None) > HISTORY_LIMIT);
        assert_eq!(
            inline_batches(&with(&[1; 499], &PausePlan::None)),
            [false; 499]
        );
    }

    #[test]
    fn the_execution_reads_apps_and_hosts_by_reference() {
        let mut api = pm_app("api", 2, 2);
        api.kind = AppKind::K8s;
        for b in &mut api.batches {
            b.targets = vec!["eu".into(), "us".into()];
        }
        // A canary host, then 90 hosts: the first batch runs inline, the other distributed.
        let mut web = pm_app("web", 91, 2);
        let rest = web.batches[0].targets.split_off(1);
        web.batches[1].targets.splice(0..0, rest);
        let input = execution_input(
            "dep-1",
            &plan(vec![web, api]),
            &config(),
            "c0ffee",
            &BTreeMap::new(),
        )
        .unwrap();
        let slices = input.slices();
        let start: serde_json::Value = serde_json::from_str(&slices.input).unwrap();
        let prefix = objects_prefix(&input);
        assert!(prefix.starts_with("executions/dep-1/"), "{prefix}");
        assert_eq!(prefix.len(), "executions/dep-1/".len() + 16, "{prefix}");
        assert_eq!(
            start["stages"],
            serde_json::json!([{"index": 0, "parallelism": 2, "apps": 2,
                "apps_key": format!("{prefix}/stage-0000.json")}])
        );
        let objects: BTreeMap<String, serde_json::Value> = slices
            .objects
            .iter()
            .map(|o| {
                (
                    o.key.replace(&prefix, "P"),
                    serde_json::from_str(&o.body).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            objects.keys().map(String::as_str).collect::<Vec<_>>(),
            ["P/stage-0000.json", "P/web/batch-0001.json"]
        );
        let apps = &objects["P/stage-0000.json"];
        let web = &apps[0];
        assert_eq!(web["app"], "web");
        assert_eq!(
            web["batches"][0]["hosts"],
            serde_json::json!(["host-00000.prod.example.com"])
        );
        assert!(web["batches"][0].get("hosts_key").is_none());
        assert_eq!(
            web["batches"][1]["hosts_key"],
            format!("{prefix}/web/batch-0001.json")
        );
        assert!(web["batches"][1].get("hosts").is_none());
        assert_eq!(web["batches"][1]["targets"], serde_json::json!([]));
        let hosts = objects["P/web/batch-0001.json"].as_array().unwrap();
        assert_eq!(hosts.len(), 90);
        assert_eq!(hosts[0], "host-00001.prod.example.com");
        // Clusters stay in the app's slice, for the inline cluster Map.
        assert_eq!(
            apps[1]["batches"][0]["targets"],
            serde_json::json!(["eu", "us"])
        );
        assert!(apps[1]["batches"][0].get("hosts_key").is_none());
        assert!(apps[1]["batches"][0].get("hosts").is_none());
        // Another input under the same name never writes over these objects.
        let mut other = input.clone();
        other.version = "v3".into();
        assert_ne!(objects_prefix(&other), prefix);
        assert_eq!(input.slices(), slices, "the same input, the same objects");
    }

    #[test]
    fn a_thousand_apps_and_ten_thousand_hosts_fit_every_payload() {
        let apps: Vec<AppPlan> = (0..1000).map(|i| pm_app(&format!("w{i}"), 10, 4)).collect();
        let mut wide = config();
        for i in 0..1000 {
            let mut app = wide.apps[0].clone();
            app.name = format!("w{i}");
            wide.apps.push(app);
        }
        let input = execution_input("d", &plan(apps), &wide, "c0ffee", &BTreeMap::new()).unwrap();
        let slices = input.slices();
        assert!(slices.input.len() < 1024, "{} bytes", slices.input.len());
        // The stage's object is far over 256 KiB: only its items (one app each) are state data.
        let stage = &slices
            .objects
            .iter()
            .find(|o| o.key.ends_with("stage-0000.json"))
            .unwrap();
        assert!(stage.body.len() > PAYLOAD_LIMIT, "{}", stage.body.len());
        let one: Vec<serde_json::Value> = serde_json::from_str(&stage.body).unwrap();
        let largest = one.iter().map(|a| a.to_string().len()).max().unwrap();
        assert!(largest < 4096, "{largest} bytes per app");
    }

    #[test]
    fn carries_what_the_definition_reads() {
        let mut api = pm_app("api", 2, 2);
        api.kind = AppKind::K8s;
        api.batches = vec![
            BatchPlan {
                index: 0,
                targets: vec!["eu".into(), "us".into()],
                weight: Some(10),
                pause: PausePlan::Wait { seconds: 30 },
            },
            BatchPlan {
                index: 1,
                targets: vec!["eu".into(), "us".into()],
                weight: Some(100),
                pause: PausePlan::None,
            },
        ];
        let mut web = pm_app("web", 3, 3);
        web.current_version = Some("v1".into());
        let mut config = config();
        config.apps[0].rollout.unreachable = Unreachable::Skip;
        config.apps[0].rollout.on_failure = OnFailure::Pause;
        // web's one check follows its batches 1 and 3; api has none.
        config.apps[0].analysis = vec![
            serde_json::from_value(serde_json::json!({
                "name": "errors",
                "http": {"url": "http://127.0.0.1:1/x", "json_path": "$.v"},
                "condition": "< 1",
                "batches": [1, 3],
            }))
            .unwrap(),
        ];
        let input = execution_input(
            "dep-1",
            &plan(vec![web, api]),
            &config,
            "c0ffee",
            &BTreeMap::new(),
        )
        .unwrap();
        let v = serde_json::to_value(&input).unwrap();
        assert_eq!(v["schema_version"], 1);
        let web = &v["stages"][0]["apps"][0];
        assert_eq!(web["workload"]["kind"], "pm");
        assert_eq!(
            web["workload"]["artifact_url"],
            "s3://artifacts/web/v2.tar.gz"
        );
        assert_eq!(
            web["workload"]["sha256_url"],
            "s3://artifacts/web/v2.sha256"
        );
        assert_eq!(web["rollback"]["to_version"], "v1");
        assert_eq!(
            web["rollback"]["workload"]["artifact_url"],
            "s3://artifacts/web/v1.tar.gz"
        );
        assert_eq!(web["last_batch"], 2);
        assert_eq!(web["unreachable"], "skip");
        assert_eq!(web["on_failure"], "pause");
        assert_eq!(v["stages"][0]["apps"][1]["unreachable"], "fail");
        assert_eq!(v["stages"][0]["apps"][1]["on_failure"], "rollback");
        assert_eq!(web["batches"][1]["key"], "0001");
        let analysed: Vec<&serde_json::Value> = web["batches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| &b["analysis"])
            .collect();
        assert_eq!(analysed, [true, false, true]);
        assert_eq!(v["stages"][0]["apps"][1]["batches"][0]["analysis"], false);
        assert_eq!(
            web["batches"][1]["pause"],
            serde_json::json!({"type": "gate", "gate": "web.1"})
        );
        let api = &v["stages"][0]["apps"][1];
        assert_eq!(api["workload"]["image"], "registry.example.com/api:v2");
        assert_eq!(api["workload"]["namespace"], "default");
        assert_eq!(
            api["rollback"],
            serde_json::json!({"to_version": null, "workload": null})
        );
        assert_eq!(api["batches"][0]["weight"], 10);
        assert_eq!(
            api["batches"][0]["pause"],
            serde_json::json!({"type": "wait", "seconds": 30})
        );
        let back: ExecutionInput =
            serde_json::from_str(&serde_json::to_string(&input).unwrap()).unwrap();
        assert_eq!(back, input);
    }

    /// A rollback returns to the previous release as its own config ran it: with an inline
    /// checksum in the new config, building the old release from it would fail its checksum.
    #[test]
    fn rollbacks_are_built_from_the_config_of_the_release_they_return_to() {
        fn web_of(config: &mut Config) -> &mut crate::config::PmSpec {
            let web = config.apps.iter_mut().find(|a| a.name == "web").unwrap();
            web.pm.as_mut().unwrap()
        }
        let mut new = config();
        let pm = web_of(&mut new);
        pm.artifact.sha256 = Some("a".repeat(64));
        pm.artifact.sha256_url = None;
        let mut old = config();
        let pm = web_of(&mut old);
        pm.artifact.url = "s3://old-bucket/web/{version}.tar.gz".into();
        pm.artifact.sha256 = Some("b".repeat(64));
        pm.artifact.sha256_url = None;
        let mut web = pm_app("web", 1, 1);
        web.current_version = Some("v1".into());
        let run = |previous: &BTreeMap<String, Config>| {
            let input =
                execution_input("d", &plan(vec![web.clone()]), &new, "c0ffee", previous).unwrap();
            serde_json::to_value(&input.stages[0].apps[0]).unwrap()
        };
        let app = run(&BTreeMap::from([("v1".to_owned(), old)]));
        assert_eq!(app["workload"]["sha256"], "a".repeat(64));
        assert_eq!(app["rollback"]["workload"]["sha256"], "b".repeat(64));
        assert_eq!(
            app["rollback"]["workload"]["artifact_url"],
            "s3://old-bucket/web/v1.tar.gz"
        );
        // The release's config unknown: the new config's way, as before.
        let app = run(&BTreeMap::new());
        assert_eq!(app["rollback"]["workload"]["sha256"], "a".repeat(64));
    }

    #[test]
    fn twenty_thousand_hosts_of_one_app_stay_out_of_every_state() {
        let input = execution_input(
            "dep-1",
            &plan(vec![pm_app("web", 20_000, 10)]),
            &config(),
            "c0ffee",
            &BTreeMap::new(),
        )
        .unwrap();
        let slices = input.slices();
        let stage = &slices.objects[slices.objects.len() - 1];
        assert!(stage.key.ends_with("stage-0000.json"));
        assert!(stage.body.len() < 8192, "{} bytes", stage.body.len());
        // Every host is in one batch object, once.
        let hosts: usize = slices.objects[..slices.objects.len() - 1]
            .iter()
            .map(|o| serde_json::from_str::<Vec<String>>(&o.body).unwrap().len())
            .sum();
        assert_eq!(hosts, 20_000);
    }

    #[test]
    fn bad_plans_are_refused_with_the_reason() {
        let cfg = config();
        let err =
            execution_input("dep 1", &plan(vec![]), &cfg, "c0ffee", &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("`dep 1`"), "{err}");
        let err = execution_input(
            "d",
            &plan(vec![pm_app("db", 1, 1)]),
            &cfg,
            "c0ffee",
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(err, ExecutionError::UnknownApp("db".into()));
        let mut empty = pm_app("web", 1, 1);
        empty.batches.clear();
        assert_eq!(
            execution_input("d", &plan(vec![empty]), &cfg, "c0ffee", &BTreeMap::new()).unwrap_err(),
            ExecutionError::NoBatches("web".into())
        );
        let mut slow = pm_app("web", 1, 1);
        slow.heartbeat_seconds = 900;
        let err =
            execution_input("d", &plan(vec![slow]), &cfg, "c0ffee", &BTreeMap::new()).unwrap_err();
        assert!(
            err.to_string().contains("shorter than the timeout"),
            "{err}"
        );
        // Clusters stay in the app's slice: twenty thousand of them in one batch are too many.
        let mut clusters = pm_app("web", 1, 1);
        clusters.kind = AppKind::K8s;
        clusters.batches[0].targets = (0..20_000).map(|i| format!("cluster-{i:05}")).collect();
        let err = execution_input("d", &plan(vec![clusters]), &cfg, "c0ffee", &BTreeMap::new())
            .unwrap_err();
        assert!(matches!(err, ExecutionError::TooLarge { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("app `web`'s execution input is "),
            "{err}"
        );
        let long = pm_app("web", 600, 600);
        let err =
            execution_input("d", &plan(vec![long]), &cfg, "c0ffee", &BTreeMap::new()).unwrap_err();
        assert!(
            matches!(err, ExecutionError::HistoryTooLong { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("app `web`'s execution could write "),
            "{err}"
        );
        assert!(err.to_string().contains("split it"), "{err}");
        let mut bare = cfg;
        bare.apps[0].pm = None;
        let err = execution_input(
            "d",
            &plan(vec![pm_app("web", 1, 1)]),
            &bare,
            "c0ffee",
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "app `web` is of kind pm but has no `pm` section"
        );
    }
}
