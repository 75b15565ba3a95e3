//! The deployment lifecycle on the in-memory store, with an orchestrator that records what it is
//! asked and fails starts on demand (the emulator's Step Functions is driven in the api, planner
//! and state machine tests).

use std::collections::BTreeMap;
use std::sync::Mutex;

use boreas_aws::BoxFuture;
use boreas_aws::Error;
use boreas_aws::lifecycle::{Actor, Finished, Lifecycle};
use boreas_aws::orchestrator::{Execution, ExecutionStatus, Orchestrator, Started};
use boreas_aws::store::{
    AppProgress, Decision, Deployment, MemoryStore, NewDeployment, PageRequest, Store,
    TargetProgress, Transition, rfc3339,
};
use boreas_core::config::{AppKind, BatchSize, Pause};
use boreas_core::deployment::DeploymentStatus::{self, *};
use boreas_core::execution::Slices;
use boreas_core::plan::{AppPlan, BatchPlan, PausePlan, Plan, Stage};
use boreas_core::status::{AppStatus, TargetStatus};

/// Step Functions as far as the lifecycle uses it: executions by name, starts that fail while
/// `refuse` holds a message, and stops that fail as `stop_fault` says.
#[derive(Debug, Default)]
struct FakeOrchestrator {
    /// Execution name → input.
    started: Mutex<BTreeMap<String, String>>,
    stopped: Mutex<Vec<(String, String, String)>>,
    refuse: Mutex<Option<String>>,
    stop_fault: Mutex<Option<StopFault>>,
}

/// How a stop fails.
#[derive(Debug, Clone, Copy)]
enum StopFault {
    /// The service errs after it aborted the execution (as the emulator does at times).
    AfterAbort,
    /// The service errs and the execution runs on.
    Before,
}

fn service_error() -> Error {
    Error::Sdk {
        service: "stepfunctions",
        message: "service error: 500 Internal Server Error".to_owned(),
    }
}

impl FakeOrchestrator {
    fn refusing(message: &str) -> Self {
        Self {
            refuse: Mutex::new(Some(message.to_owned())),
            ..Self::default()
        }
    }

    fn started(&self) -> Vec<String> {
        self.started.lock().unwrap().keys().cloned().collect()
    }
}

impl Orchestrator for FakeOrchestrator {
    fn start<'a>(&'a self, name: &'a str, input: &'a Slices) -> BoxFuture<'a, Started> {
        Box::pin(async move {
            if let Some(message) = self.refuse.lock().unwrap().clone() {
                return Err(Error::Sdk {
                    service: "stepfunctions",
                    message,
                });
            }
            let created = self
                .started
                .lock()
                .unwrap()
                .insert(name.to_owned(), input.input.clone())
                .is_none();
            Ok(Started {
                execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:m:{name}"),
                created,
            })
        })
    }

    fn stop<'a>(&'a self, name: &'a str, error: &'a str, cause: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if !self.started.lock().unwrap().contains_key(name) {
                return Err(Error::NotFound {
                    what: format!("execution {name}"),
                });
            }
            let fault = *self.stop_fault.lock().unwrap();
            if let Some(StopFault::Before) = fault {
                return Err(service_error());
            }
            self.stopped.lock().unwrap().push((
                name.to_owned(),
                error.to_owned(),
                cause.to_owned(),
            ));
            match fault {
                Some(StopFault::AfterAbort) => Err(service_error()),
                _ => Ok(()),
            }
        })
    }

    fn describe<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Execution> {
        Box::pin(async move {
            if !self.started.lock().unwrap().contains_key(name) {
                return Err(Error::NotFound {
                    what: format!("execution {name}"),
                });
            }
            let stopped = self
                .stopped
                .lock()
                .unwrap()
                .iter()
                .any(|(n, _, _)| n == name);
            Ok(Execution {
                arn: format!("arn:aws:states:us-east-1:123456789012:execution:m:{name}"),
                name: name.to_owned(),
                status: if stopped {
                    ExecutionStatus::Aborted
                } else {
                    ExecutionStatus::Running
                },
                input: None,
                output: None,
                error: None,
                cause: None,
            })
        })
    }

    fn send_task_success<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async { unreachable!("the lifecycle sends no task results") })
    }

    fn send_task_failure<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async { unreachable!("the lifecycle sends no task results") })
    }

    fn send_task_heartbeat<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async { unreachable!("the lifecycle sends no heartbeats") })
    }
}

const ENV: &str = "prod";
const INPUT_JSON: &str = r#"{"deployment_id":"dep"}"#;

fn input() -> Slices {
    Slices {
        input: INPUT_JSON.to_owned(),
        objects: vec![],
    }
}

fn app(name: &str) -> AppPlan {
    AppPlan {
        app: name.to_owned(),
        kind: AppKind::Pm,
        depends_on: Vec::new(),
        current_version: None,
        targets: vec![format!("{name}-1")],
        batch_sizes: vec![BatchSize::Percent(100)],
        pause: Pause::None,
        parallelism: 1,
        heartbeat_seconds: 30,
        timeout_seconds: 600,
        batches: vec![BatchPlan {
            index: 0,
            targets: vec![format!("{name}-1")],
            weight: None,
            pause: PausePlan::None,
        }],
    }
}

fn plan(apps: &[&str]) -> Plan {
    Plan {
        environment: ENV.to_owned(),
        version: "v1".to_owned(),
        stages: vec![Stage {
            parallelism: 1,
            apps: apps.iter().map(|a| app(a)).collect(),
        }],
        skipped: Vec::new(),
    }
}

async fn planned(store: &MemoryStore, id: &str, apps: &[&str]) -> Deployment {
    store
        .create_deployment(&NewDeployment {
            id: id.to_owned(),
            repository: "shop".to_owned(),
            version: "v1".to_owned(),
            environment: ENV.to_owned(),
            plan: plan(apps),
            created_at: rfc3339(std::time::SystemTime::now()),
            revert: false,
        })
        .await
        .unwrap()
}

async fn status(store: &MemoryStore, id: &str) -> DeploymentStatus {
    store.get_deployment(id).await.unwrap().unwrap().status
}

async fn holder(store: &MemoryStore, app: &str) -> Option<String> {
    store.run_lock_holder(ENV, app).await.unwrap()
}

async fn audit(store: &MemoryStore) -> Vec<String> {
    store
        .list_audit(&Default::default(), &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| format!("{} {} {}", e.who, e.action, e.target))
        .collect()
}

#[tokio::test]
async fn a_start_takes_the_locks_runs_and_starts_the_execution_once() {
    let store = MemoryStore::new();
    let sfn = FakeOrchestrator::default();
    let d = planned(&store, "dep", &["api", "web"]).await;
    let started = Lifecycle::new(&store)
        .start(&sfn, &d, &input(), Actor::Token("ana"))
        .await
        .unwrap();
    assert_eq!(started.deployment.status, Running);
    assert!(started.deployment.started_at.is_some());
    assert!(started.execution_arn.ends_with(":dep"));
    assert_eq!(sfn.started(), ["dep"]);
    assert_eq!(sfn.started.lock().unwrap()["dep"], INPUT_JSON);
    for app in ["api", "web"] {
        assert_eq!(holder(&store, app).await.as_deref(), Some("dep"));
    }
    assert_eq!(audit(&store).await, ["ana deployment.confirm dep"]);
    assert_eq!(
        store
            .get_deployment("dep")
            .await
            .unwrap()
            .unwrap()
            .confirmed_by
            .as_deref(),
        Some("ana"),
        "who confirmed is on the deployment"
    );

    // Started by Boreas: a deployment left running before its execution started only starts it.
    let running = store.get_deployment("dep").await.unwrap().unwrap();
    Lifecycle::new(&store)
        .start(&sfn, &running, &input(), Actor::Boreas)
        .await
        .unwrap();
    assert_eq!(sfn.started(), ["dep"], "one execution");
    assert_eq!(audit(&store).await.len(), 1, "Boreas is not audited");
}

#[tokio::test]
async fn a_held_lock_leaves_the_deployment_planned_and_starts_nothing() {
    let store = MemoryStore::new();
    let sfn = FakeOrchestrator::default();
    let first = planned(&store, "first", &["api"]).await;
    Lifecycle::new(&store)
        .start(&sfn, &first, &input(), Actor::Boreas)
        .await
        .unwrap();
    let second = planned(&store, "second", &["web", "api"]).await;
    let err = Lifecycle::new(&store)
        .start(&sfn, &second, &input(), Actor::Token("ana"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { reason, .. } if reason.contains("first")),
        "{err:?}"
    );
    assert_eq!(status(&store, "second").await, Planned);
    assert_eq!(holder(&store, "web").await, None, "all or nothing");
    assert_eq!(sfn.started(), ["first"]);
    assert!(audit(&store).await.is_empty());
}

/// Two starts of one deployment read it `planned`; the second loses the move to `running` after
/// taking the locks it shares with the first (locks are held by deployment id). It must not
/// release them: the running deployment would hold none, and another deployment of the same
/// apps could start beside it. (The planner's `auto_confirm` racing a person's confirm did.)
#[tokio::test]
async fn a_racing_start_that_loses_keeps_the_winners_locks() {
    let store = MemoryStore::new();
    let sfn = FakeOrchestrator::default();
    let read_by_both = planned(&store, "dep", &["api", "web"]).await;
    let lifecycle = Lifecycle::new(&store);
    lifecycle
        .start(&sfn, &read_by_both, &input(), Actor::Token("ana"))
        .await
        .unwrap();
    let err = lifecycle
        .start(&sfn, &read_by_both, &input(), Actor::Boreas)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IllegalTransition { from: Running, .. }),
        "{err:?}"
    );
    assert_eq!(status(&store, "dep").await, Running);
    for app in ["api", "web"] {
        assert_eq!(
            holder(&store, app).await.as_deref(),
            Some("dep"),
            "{app}: the running deployment keeps its lock"
        );
    }
    assert_eq!(sfn.started(), ["dep"], "the loser starts nothing");
    let other = planned(&store, "other", &["web"]).await;
    let err = lifecycle
        .start(&sfn, &other, &input(), Actor::Boreas)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Conflict", "{err}");
}

/// A start that loses to a cancel (or a supersede) gives the locks it took back.
#[tokio::test]
async fn a_start_that_loses_to_a_cancel_releases_its_locks() {
    let store = MemoryStore::new();
    let sfn = FakeOrchestrator::default();
    let read_planned = planned(&store, "dep", &["api"]).await;
    Lifecycle::new(&store)
        .cancel(&sfn, &read_planned, Actor::Token("bo"))
        .await
        .unwrap();
    let err = Lifecycle::new(&store)
        .start(&sfn, &read_planned, &input(), Actor::Token("ana"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::IllegalTransition {
                from: Cancelled,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(holder(&store, "api").await, None);
    assert!(sfn.started().is_empty());
    assert_eq!(audit(&store).await, ["bo deployment.cancel dep"]);
}

/// When the execution does not start the deployment is `failed` with the error and frees its
/// locks, for every caller. (The planner's `auto_confirm` left it `running`, holding them.)
#[tokio::test]
async fn a_start_whose_execution_does_not_start_is_failed_with_the_error() {
    for actor in [Actor::Token("ana"), Actor::Boreas] {
        let store = MemoryStore::new();
        let sfn = FakeOrchestrator::refusing("StateMachineDoesNotExist: no such machine");
        let d = planned(&store, "dep", &["api", "web"]).await;
        let err = Lifecycle::new(&store)
            .start(&sfn, &d, &input(), actor)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::ExecutionNotStarted { id, message }
                if id == "dep" && message.contains("StateMachineDoesNotExist")),
            "{err:?}"
        );
        let failed = store.get_deployment("dep").await.unwrap().unwrap();
        assert_eq!(failed.status, Failed, "{actor:?}");
        assert!(
            failed
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("the execution did not start: ")
                    && e.contains("no such machine")),
            "{failed:?}"
        );
        assert!(failed.ended_at.is_some());
        for app in ["api", "web"] {
            assert_eq!(holder(&store, app).await, None, "{actor:?}: {app}");
        }
        assert!(audit(&store).await.is_empty(), "nothing was confirmed");
    }
}

#[tokio::test]
async fn cancels_stop_a_running_execution_and_free_its_locks() {
    let store = MemoryStore::new();
    let sfn = FakeOrchestrator::default();
    let d = planned(&store, "dep", &["api"]).await;
    let lifecycle = Lifecycle::new(&store);
    let running = lifecycle
        .start(&sfn, &d, &input(), Actor::Boreas)
        .await
        .unwrap()
        .deployment;
    let cancelled = lifecycle
        .cancel(&sfn, &running, Actor::Token("bo"))
        .await
        .unwrap();
    assert_eq!(cancelled.status, Cancelled);
    assert_eq!(
        *sfn.stopped.lock().unwrap(),
        [(
            "dep".to_owned(),
            "Boreas.Cancelled".to_owned(),
            "cancelled by bo".to_owned()
        )]
    );
    assert_eq!(holder(&store, "api").await, None);
    let err = lifecycle
        .cancel(&sfn, &cancelled, Actor::Token("bo"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::IllegalTransition {
                from: Cancelled,
                to: Cancelled,
                ..
            }
        ),
        "{err:?}"
    );

    // A running deployment whose execution never existed is cancelled all the same.
    let lost = planned(&store, "lost", &["api"]).await;
    store
        .transition_deployment("lost", &Transition::to(Running, "2026-01-01T00:00:00.000Z"))
        .await
        .unwrap();
    let lost = store.get_deployment(&lost.id).await.unwrap().unwrap();
    let cancelled = lifecycle.cancel(&sfn, &lost, Actor::Boreas).await.unwrap();
    assert_eq!(cancelled.status, Cancelled);
    assert_eq!(
        audit(&store).await,
        ["bo deployment.cancel dep"],
        "Boreas is not audited"
    );
}

#[tokio::test]
async fn finishing_records_the_outcome_once_and_always_frees_the_locks() {
    let store = MemoryStore::new();
    let sfn = FakeOrchestrator::default();
    let d = planned(&store, "dep", &["api", "web"]).await;
    let lifecycle = Lifecycle::new(&store);
    lifecycle
        .start(&sfn, &d, &input(), Actor::Boreas)
        .await
        .unwrap();
    // api ran and failed on api-1 after its gate was approved; web never started.
    let app_progress = AppProgress {
        app: "api".to_owned(),
        status: AppStatus::RolledBack,
        started_at: Some(rfc3339(std::time::SystemTime::now())),
        ended_at: Some(rfc3339(std::time::SystemTime::now())),
    };
    store.put_app_progress("dep", &app_progress).await.unwrap();
    let target = TargetProgress {
        app: "api".to_owned(),
        target: "api-1".to_owned(),
        status: TargetStatus::RolledBack,
        batch: 0,
        updated_at: rfc3339(std::time::SystemTime::now()),
        error_type: Some("Boreas.HealthCheckFailed".to_owned()),
        error: Some("no healthy probe".to_owned()),
    };
    store.put_target_progress("dep", &target).await.unwrap();
    store.put_gate("dep", "api.0", "token").await.unwrap();
    store
        .decide_gate("dep", "api.0", Decision::Approve, "bob", Some("ship"))
        .await
        .unwrap();
    let finished = lifecycle
        .finish("dep", RolledBack, Some("api-1".to_owned()))
        .await
        .unwrap();
    assert_eq!(finished, Finished::Now(RolledBack));
    // The history: one run per app, one per host.
    let runs = store
        .app_runs("api", None, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(
        (run.outcome, run.app_status, run.failed_target.as_deref()),
        (RolledBack, Some(AppStatus::RolledBack), Some("api-1"))
    );
    assert_eq!(run.confirmed_by.as_deref(), Some("boreas"));
    assert_eq!(run.gates.len(), 1);
    assert_eq!(
        (run.gates[0].gate.as_str(), run.gates[0].by.as_deref()),
        ("api.0", Some("bob"))
    );
    assert_eq!(run.targets, 1);
    assert!(!run.revert);
    let web = store
        .app_runs("web", Some(ENV), &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(
        (web[0].app_status, web[0].failed_target.as_deref()),
        (None, None),
        "never started"
    );
    let on_host = store
        .host_runs(ENV, "api-1", &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(on_host.len(), 1);
    assert_eq!(on_host[0].status, Some(TargetStatus::RolledBack));
    assert_eq!(
        store
            .host_runs(ENV, "web-1", &PageRequest::first(10))
            .await
            .unwrap()
            .items[0]
            .status,
        None,
        "its batch never started"
    );
    let d = store.get_deployment("dep").await.unwrap().unwrap();
    assert_eq!(
        (d.status, d.failed_target.as_deref()),
        (RolledBack, Some("api-1"))
    );
    assert_eq!(holder(&store, "api").await, None);

    // A redelivery keeps the outcome, and releases locks the deployment took again meanwhile.
    store
        .acquire_run_locks("dep", ENV, &["web".to_owned()])
        .await
        .unwrap();
    let again = lifecycle.finish("dep", Succeeded, None).await.unwrap();
    assert_eq!(again, Finished::Already(RolledBack));
    assert_eq!(status(&store, "dep").await, RolledBack);
    assert_eq!(holder(&store, "web").await, None);

    let err = lifecycle.finish("dep", Running, None).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput", "{err}");
    let err = lifecycle.finish("nope", Failed, None).await.unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
}

/// A plan of more apps than one lock call takes is released in several calls.
#[tokio::test]
async fn finishing_releases_more_locks_than_one_call_takes() {
    let store = MemoryStore::new();
    let names: Vec<String> = (0..150).map(|i| format!("app-{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    planned(&store, "big", &refs).await;
    store
        .transition_deployment("big", &Transition::to(Running, "2026-01-01T00:00:00.000Z"))
        .await
        .unwrap();
    for chunk in names.chunks(100) {
        store.acquire_run_locks("big", ENV, chunk).await.unwrap();
    }
    Lifecycle::new(&store)
        .finish("big", Succeeded, None)
        .await
        .unwrap();
    for app in ["app-000", "app-099", "app-100", "app-149"] {
        assert_eq!(holder(&store, app).await, None, "{app}");
    }
}

#[tokio::test]
async fn supersede_moves_a_planned_deployment_and_respects_a_persons_decision() {
    let store = MemoryStore::new();
    let sfn = FakeOrchestrator::default();
    let old = planned(&store, "old", &["api"]).await;
    let new = planned(&store, "new", &["api"]).await;
    let lifecycle = Lifecycle::new(&store);
    assert!(lifecycle.supersede(&old, &new).await.unwrap());
    let d = store.get_deployment("old").await.unwrap().unwrap();
    assert_eq!(d.status, Superseded);
    assert_eq!(
        d.error.as_deref(),
        Some("superseded by deployment new of version v1")
    );
    // One the policy held says what held it.
    let held = planned(&store, "held", &["api"]).await;
    let hold = boreas_aws::store::Hold {
        reasons: vec!["frozen by weekend until 2026-12-07 07:00 UTC: weekend".to_owned()],
        recheck_at: None,
        since: ago(0),
    };
    store.set_hold("held", Some(&hold)).await.unwrap();
    assert!(lifecycle.supersede(&held, &new).await.unwrap());
    assert_eq!(
        store
            .get_deployment("held")
            .await
            .unwrap()
            .unwrap()
            .error
            .as_deref(),
        Some(
            "superseded by deployment new of version v1 while it waited: frozen by weekend until 2026-12-07 07:00 UTC: weekend"
        )
    );

    let confirmed = planned(&store, "confirmed", &["web"]).await;
    lifecycle
        .start(&sfn, &confirmed, &input(), Actor::Token("ana"))
        .await
        .unwrap();
    assert!(!lifecycle.supersede(&confirmed, &new).await.unwrap());
    assert_eq!(status(&store, "confirmed").await, Running);
}

/// A stop that errs after it took effect still cancels; one that errs with the execution still
/// running leaves the deployment running and its locks held, and says why.
#[tokio::test]
async fn a_stop_that_errs_counts_by_whether_the_execution_still_runs() {
    for (fault, cancels) in [(StopFault::AfterAbort, true), (StopFault::Before, false)] {
        let store = MemoryStore::new();
        let sfn = FakeOrchestrator::default();
        let d = planned(&store, "dep", &["api"]).await;
        let lifecycle = Lifecycle::new(&store);
        let running = lifecycle
            .start(&sfn, &d, &input(), Actor::Boreas)
            .await
            .unwrap()
            .deployment;
        *sfn.stop_fault.lock().unwrap() = Some(fault);
        let result = lifecycle.cancel(&sfn, &running, Actor::Token("bo")).await;
        if cancels {
            assert_eq!(result.unwrap().status, Cancelled, "{fault:?}");
            assert_eq!(holder(&store, "api").await, None);
        } else {
            let err = result.unwrap_err();
            assert!(err.to_string().contains("500"), "{err}");
            assert_eq!(status(&store, "dep").await, Running);
            assert_eq!(holder(&store, "api").await.as_deref(), Some("dep"));
        }
    }
}

// ---- the environment policy at start ----

/// `boreas.yaml` with staging and prod, prod after staging with `soak`, and `extra` at the end.
fn policy_config(soak: &str, extra: &str) -> String {
    format!(
        "environments:\n  - name: staging\n  - name: prod\n    promotion: {{after: [staging], soak: {soak}}}\napps:\n  - name: api\n    kind: pm\n    pm:\n      hosts: {{staging: [s-1], prod: [api-1]}}\n      artifact:\n        url: \"s3://b/{{version}}/a.tgz\"\n        sha256_url: \"s3://b/{{version}}/a.tgz.sha256\"\n      run: {{command: [./run]}}\n      health: {{http: \"http://127.0.0.1:8080/healthz\"}}\n{extra}"
    )
}

fn ago(seconds: u64) -> String {
    rfc3339(std::time::SystemTime::now() - std::time::Duration::from_secs(seconds))
}

fn ahead(seconds: u64) -> String {
    rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(seconds))
}

/// A deployment of v1 in `env` that ran from `started` seconds ago and ended `status`
/// `ended` seconds ago.
async fn ran(
    store: &MemoryStore,
    id: &str,
    env: &str,
    status: DeploymentStatus,
    started: u64,
    ended: u64,
) {
    let mut p = plan(&["api"]);
    p.environment = env.to_owned();
    store
        .create_deployment(&NewDeployment {
            id: id.to_owned(),
            repository: "shop".to_owned(),
            version: "v1".to_owned(),
            environment: env.to_owned(),
            plan: p,
            created_at: ago(started + 60),
            revert: false,
        })
        .await
        .unwrap();
    store
        .transition_deployment(id, &Transition::to(Running, ago(started)))
        .await
        .unwrap();
    store
        .transition_deployment(id, &Transition::to(status, ago(ended)))
        .await
        .unwrap();
}

async fn held(store: &MemoryStore, sfn: &FakeOrchestrator, d: &Deployment) -> Vec<String> {
    match Lifecycle::new(store)
        .start(sfn, d, &input(), Actor::Token("ana"))
        .await
    {
        Err(Error::Held { reasons, .. }) => reasons,
        other => panic!("expected the start to be held, got {other:?}"),
    }
}

#[tokio::test]
async fn promotion_holds_a_start_until_the_version_succeeded_and_soaked_upstream() {
    use boreas_aws::store::Waiver;
    let store = MemoryStore::new();
    let sfn = FakeOrchestrator::default();
    store
        .put_version_config("shop", "v1", &policy_config("1h", ""))
        .await
        .unwrap();
    let d = planned(&store, "dep", &["api"]).await;

    assert_eq!(
        held(&store, &sfn, &d).await,
        [
            "waits for staging: not deployed there yet",
            "waits for staging: no success there to soak from"
        ]
    );
    let hold = store.deployment_policy("dep").await.unwrap().hold.unwrap();
    assert_eq!(
        hold.recheck_at, None,
        "an upstream outcome, not a timer, moves it on"
    );
    assert_eq!(
        (status(&store, "dep").await, holder(&store, "api").await),
        (Planned, None)
    );
    assert!(sfn.started().is_empty() && audit(&store).await.is_empty());

    // It failed in staging: prod never starts on its own.
    ran(&store, "stg-1", "staging", RolledBack, 7200, 7000).await;
    assert_eq!(
        held(&store, &sfn, &d).await[0],
        "blocked by staging: rolled_back there"
    );

    // A redeploy there succeeded ten minutes ago: it soaks for an hour from then.
    ran(&store, "stg-2", "staging", Succeeded, 900, 600).await;
    let reasons = held(&store, &sfn, &d).await;
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("soaking in staging until "),
        "{reasons:?}"
    );
    let hold = store.deployment_policy("dep").await.unwrap().hold.unwrap();
    let recheck = boreas_aws::policy::instant(hold.recheck_at.as_deref().unwrap()).unwrap();
    let expected = boreas_aws::policy::instant(&ahead(3000)).unwrap();
    assert!(
        recheck.duration_since(expected).as_secs().abs() <= 2,
        "{recheck} vs {expected}"
    );

    // An approver waives the soak, and only the soak: it starts, and its hold is gone.
    let waiver = Waiver {
        condition: "soak:staging".parse().unwrap(),
        reason: "hotfix".to_owned(),
        by: "lead".to_owned(),
        at: ago(0),
    };
    assert!(store.put_waiver("dep", &waiver).await.unwrap());
    assert!(
        !store.put_waiver("dep", &waiver).await.unwrap(),
        "waived once"
    );
    let started = Lifecycle::new(&store)
        .start(&sfn, &d, &input(), Actor::Token("ana"))
        .await
        .unwrap();
    assert_eq!(started.deployment.status, Running);
    assert_eq!(store.deployment_policy("dep").await.unwrap().hold, None);
}

#[tokio::test]
async fn freeze_windows_hold_starts_but_not_reverts_and_an_override_lets_one_through() {
    use boreas_aws::store::{ManagedFreeze, Override};
    let store = MemoryStore::new();
    let sfn = FakeOrchestrator::default();
    // No soak, and v1 succeeded in staging: only the windows speak.
    let declared = format!(
        "freezes:\n  - name: release-freeze\n    reason: quarter close\n    environments: [prod]\n    from: \"{}\"\n    until: \"{}\"\n    blocks: [start]\n",
        ago(3600),
        ahead(3600)
    );
    store
        .put_version_config("shop", "v1", &policy_config("1s", &declared))
        .await
        .unwrap();
    ran(&store, "stg", "staging", Succeeded, 900, 600).await;
    let d = planned(&store, "dep", &["api"]).await;
    let reasons = held(&store, &sfn, &d).await;
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("frozen by release-freeze until ")
            && reasons[0].ends_with(": quarter close"),
        "{reasons:?}"
    );
    assert!(
        store
            .deployment_policy("dep")
            .await
            .unwrap()
            .hold
            .unwrap()
            .recheck_at
            .is_some()
    );

    // A window added through the API joins the declared one.
    let incident = boreas_core::config::Freeze {
        name: "incident".to_owned(),
        reason: "INC-7".to_owned(),
        environments: vec!["prod".to_owned()],
        apps: vec!["api".to_owned()],
        timezone: "UTC".to_owned(),
        rrule: None,
        cron: None,
        duration: None,
        from: Some(ago(60)),
        until: Some(ahead(600)),
        blocks: vec![boreas_core::config::FreezeBlock::Start],
        running: None,
    };
    let managed = ManagedFreeze {
        freeze: incident,
        added_by: "ops".to_owned(),
        added_at: ago(60),
    };
    assert!(store.put_freeze(&managed).await.unwrap());
    assert!(
        !store.put_freeze(&managed).await.unwrap(),
        "names are unique"
    );
    assert_eq!(held(&store, &sfn, &d).await.len(), 2);

    // An expired override lets nothing through; a current one does.
    let mut grant = Override {
        reason: "fix for INC-7".to_owned(),
        by: "lead".to_owned(),
        at: ago(7200),
        expires_at: ago(3600),
    };
    store.put_override("dep", &grant).await.unwrap();
    assert_eq!(held(&store, &sfn, &d).await.len(), 2);
    grant.expires_at = ahead(1800);
    store.put_override("dep", &grant).await.unwrap();
    Lifecycle::new(&store)
        .start(&sfn, &d, &input(), Actor::Token("ana"))
        .await
        .unwrap();

    // A revert is never held, and its record says it is one, not its id: a deployment whose id
    // only looks like a revert's (a planned one's starts with its environment, which may be
    // named `revert`) is held.
    let lookalike = planned(&store, "revert-v1-0011223344556677", &["web"]).await;
    assert_eq!(held(&store, &sfn, &lookalike).await.len(), 1);
    let revert = store
        .create_deployment(&NewDeployment {
            id: "revert-prod-0011223344556677".to_owned(),
            repository: "shop".to_owned(),
            version: "v1".to_owned(),
            environment: ENV.to_owned(),
            plan: plan(&["web"]),
            created_at: rfc3339(std::time::SystemTime::now()),
            revert: true,
        })
        .await
        .unwrap();
    let started = Lifecycle::new(&store)
        .start(&sfn, &revert, &input(), Actor::Boreas)
        .await
        .unwrap();
    assert_eq!(started.deployment.status, Running);
    Lifecycle::new(&store)
        .finish(&revert.id, Succeeded, None)
        .await
        .unwrap();
    assert!(
        store
            .app_runs("web", None, &PageRequest::first(10))
            .await
            .unwrap()
            .items[0]
            .revert,
        "its run is marked a revert"
    );
    assert!(store.delete_freeze("incident").await.unwrap());
    assert!(!store.delete_freeze("incident").await.unwrap());
    assert_eq!(store.freezes().await.unwrap(), []);
}
