//! The adapters against the emulator (one per test process, shared by every test here), and the
//! in-memory store against the same behaviour suite as the DynamoDB store.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boreas_aws::Error;
use boreas_aws::names::Names;
use boreas_aws::store::{
    Agent, ApiToken, AppProgress, AppStatus, AuditEntry, BatchProgress, BatchStatus, Decision,
    DeploymentFilter, DynamoStore, GateStatus, MemoryStore, NewDeployment, PageRequest, Repository,
    Role, Store, TargetProgress, TargetStatus, Transition, VersionRecord, VersionStatus,
};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::version::{CommitId, Version, VersionState};

/// Emulator SDK configuration and a fresh prefix with every resource provisioned.
async fn provisioned() -> (aws_config::SdkConfig, Names) {
    let emulator = boreas_aws::emulator::shared().await;
    let config = boreas_aws::sdk_config(Some(emulator.endpoint())).await;
    let names = Names::new(&common::unique_prefix());
    let asl = common::Asl::get();
    boreas_aws::provision::provision(&config, &names, &asl.path)
        .await
        .expect("provision the test prefix");
    (config, names)
}

async fn dynamo_store() -> Arc<dyn Store> {
    let (config, names) = provisioned().await;
    Arc::new(DynamoStore::from_config(&config, names.table()))
}

fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// Runs each behaviour check against a fresh in-memory store and a fresh DynamoDB table.
macro_rules! store_behaviour {
    ($($check:ident),+ $(,)?) => {
        mod memory_store {
            $(#[tokio::test]
            async fn $check() {
                super::$check(super::memory_store()).await;
            })+
        }
        mod dynamo_store {
            $(#[tokio::test]
            async fn $check() {
                super::$check(super::dynamo_store().await).await;
            })+
        }
    };
}

store_behaviour!(
    repositories_round_trip,
    versions_are_put_once_and_listed_newest_first,
    version_status_and_state_change,
    deployment_lifecycle_follows_the_rules,
    deployments_list_newest_first_with_filters_and_cursor,
    concurrent_starts_of_one_deployment_let_exactly_one_win,
    progress_records_read_back_in_key_order,
    gates_are_decided_once,
    run_locks_are_all_or_nothing,
    concurrent_run_lock_claims_let_exactly_one_win,
    twenty_concurrent_writers_of_one_delivery_id_one_wins,
    agents_upsert_and_list,
    api_tokens_resolve_by_secret,
    audit_lists_newest_first,
    bad_page_requests_are_rejected,
);

fn at(second: u32) -> String {
    format!("2026-01-01T00:{:02}:{:02}.000Z", second / 60, second % 60)
}

fn version(repo: &str, name: &str, second: u32) -> VersionRecord {
    VersionRecord {
        version: Version {
            repository: repo.to_owned(),
            name: name.to_owned(),
            commit: CommitId(format!("{:040x}", second)),
            state: VersionState::Normal,
        },
        status: VersionStatus::Received,
        diverged: false,
        errors: Vec::new(),
        received_at: at(second),
    }
}

fn new_deployment(id: &str, env: &str, second: u32) -> NewDeployment {
    NewDeployment {
        id: id.to_owned(),
        repository: "shop".to_owned(),
        version: "v1.0.0".to_owned(),
        environment: env.to_owned(),
        plan: format!(r#"{{"stages":[],"id":"{id}"}}"#),
        created_at: at(second),
    }
}

fn apps(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Reads every page of a list with page size `limit`.
async fn all_pages<T, F, Fut>(limit: u32, mut list: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<boreas_aws::store::Page<T>, Error>>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = list(PageRequest { limit, cursor })
            .await
            .expect("list page");
        assert!(
            page.items.len() <= limit as usize,
            "page larger than its limit"
        );
        if page.next.is_some() {
            assert_eq!(
                page.items.len(),
                limit as usize,
                "a page with a cursor is full"
            );
        }
        out.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("pagination did not end");
}

async fn repositories_round_trip(store: Arc<dyn Store>) {
    let mut shop = Repository {
        name: "shop".to_owned(),
        clone_url: "https://git.example/shop.git".to_owned(),
        provider: "github".to_owned(),
        secret_param: "/boreas/webhook-secrets/shop".to_owned(),
        triggers: vec!["refs/tags/v*".to_owned()],
    };
    let blog = Repository {
        name: "blog".to_owned(),
        triggers: Vec::new(),
        ..shop.clone()
    };
    store.put_repository(&shop).await.unwrap();
    store.put_repository(&blog).await.unwrap();
    assert_eq!(
        store.get_repository("shop").await.unwrap(),
        Some(shop.clone())
    );
    assert_eq!(store.get_repository("nope").await.unwrap(), None);
    shop.triggers.push("refs/heads/main".to_owned());
    store.put_repository(&shop).await.unwrap();
    assert_eq!(store.list_repositories().await.unwrap(), vec![blog, shop]);
}

async fn versions_are_put_once_and_listed_newest_first(store: Arc<dyn Store>) {
    let all = [
        version("shop", "v1.0.0", 1),
        version("blog", "v0.1.0", 2),
        version("shop", "v1.1.0", 3),
        version("shop", "v1.2.0", 4),
        version("blog", "v0.2.0", 5),
    ];
    for v in &all {
        assert!(
            store.put_version(v).await.unwrap(),
            "{} is new",
            v.version.name
        );
    }
    let mut again = version("shop", "v1.0.0", 9);
    again.version.commit = CommitId("f".repeat(40));
    assert!(
        !store.put_version(&again).await.unwrap(),
        "put only if absent"
    );
    assert_eq!(
        store.get_version("shop", "v1.0.0").await.unwrap(),
        Some(all[0].clone()),
        "the first record stays"
    );
    assert_eq!(store.get_version("shop", "v9").await.unwrap(), None);

    let newest_first: Vec<_> = all.iter().rev().cloned().collect();
    for limit in [1, 2, 5, 10] {
        let listed = all_pages(limit, |p| {
            let store = store.clone();
            async move { store.list_versions(None, &p).await }
        })
        .await;
        assert_eq!(listed, newest_first, "page size {limit}");
    }
    let shop = all_pages(2, |p| {
        let store = store.clone();
        async move { store.list_versions(Some("shop"), &p).await }
    })
    .await;
    let names: Vec<_> = shop.iter().map(|v| v.version.name.as_str()).collect();
    assert_eq!(names, ["v1.2.0", "v1.1.0", "v1.0.0"]);
}

async fn version_status_and_state_change(store: Arc<dyn Store>) {
    store
        .put_version(&version("shop", "v2.0.0", 1))
        .await
        .unwrap();
    let errors = vec!["boreas.yaml:3:5: unknown field `replica`".to_owned()];
    store
        .set_version_status(
            "shop",
            "v2.0.0",
            VersionStatus::InvalidConfig,
            true,
            &errors,
        )
        .await
        .unwrap();
    store
        .set_version_state("shop", "v2.0.0", VersionState::Revert)
        .await
        .unwrap();
    let got = store.get_version("shop", "v2.0.0").await.unwrap().unwrap();
    assert_eq!(got.status, VersionStatus::InvalidConfig);
    assert!(got.diverged);
    assert_eq!(got.errors, errors);
    assert_eq!(got.version.state, VersionState::Revert);

    let err = store
        .set_version_status("shop", "v9", VersionStatus::Planned, false, &[])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
    assert!(err.to_string().contains("shop/v9"), "{err}");
    let err = store
        .set_version_state("shop", "v9", VersionState::Normal)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
    assert_eq!(
        store.get_version("shop", "v9").await.unwrap(),
        None,
        "no record created"
    );
}

async fn deployment_lifecycle_follows_the_rules(store: Arc<dyn Store>) {
    use DeploymentStatus::*;
    let new = new_deployment("dep-1", "staging", 1);
    let created = store.create_deployment(&new).await.unwrap();
    assert_eq!(created.status, Planned);
    assert_eq!(
        store.get_deployment("dep-1").await.unwrap(),
        Some(created.clone())
    );
    let err = store.create_deployment(&new).await.unwrap_err();
    assert_eq!(err.error_type(), "AlreadyExists", "{err}");

    store
        .update_plan("dep-1", r#"{"stages":[1]}"#)
        .await
        .unwrap();
    let illegal = store
        .transition_deployment("dep-1", &Transition::to(Succeeded, at(2)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &illegal,
            Error::IllegalTransition {
                from: Planned,
                to: Succeeded,
                ..
            }
        ),
        "{illegal:?}"
    );
    let running = store
        .transition_deployment("dep-1", &Transition::to(Running, at(3)))
        .await
        .unwrap();
    assert_eq!(running.status, Running);
    assert_eq!(running.started_at.as_deref(), Some(at(3).as_str()));
    assert_eq!(running.plan, r#"{"stages":[1]}"#);
    assert_eq!(running.ended_at, None);

    let err = store.update_plan("dep-1", "{}").await.unwrap_err();
    assert_eq!(err.error_type(), "Conflict", "{err}");
    for to in [Planned, Running, Superseded] {
        let err = store
            .transition_deployment("dep-1", &Transition::to(to, at(4)))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::IllegalTransition { from: Running, to: t, .. } if *t == to),
            "{err:?}"
        );
        assert_eq!(err.error_type(), "IllegalTransition");
    }
    assert_eq!(
        store.get_deployment("dep-1").await.unwrap(),
        Some(running.clone()),
        "rejected changes leave the record as it was"
    );

    let failed = store
        .transition_deployment(
            "dep-1",
            &Transition {
                to: Failed,
                at: at(5),
                failed_target: Some("web-3".to_owned()),
                error: Some("health check timed out".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.status, Failed);
    assert_eq!(failed.started_at, running.started_at);
    assert_eq!(failed.ended_at.as_deref(), Some(at(5).as_str()));
    assert_eq!(failed.failed_target.as_deref(), Some("web-3"));
    assert_eq!(failed.error.as_deref(), Some("health check timed out"));
    for to in DeploymentStatus::ALL {
        let err = store
            .transition_deployment("dep-1", &Transition::to(to, at(6)))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "IllegalTransition", "failed → {to}");
    }
    assert_eq!(store.get_deployment("dep-1").await.unwrap(), Some(failed));

    let err = store
        .transition_deployment("nope", &Transition::to(Running, at(7)))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
    let err = store.update_plan("nope", "{}").await.unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
    assert_eq!(store.get_deployment("nope").await.unwrap(), None);

    store
        .create_deployment(&new_deployment("dep-2", "staging", 8))
        .await
        .unwrap();
    let superseded = store
        .transition_deployment("dep-2", &Transition::to(Superseded, at(9)))
        .await
        .unwrap();
    assert_eq!(superseded.started_at, None);
    assert_eq!(superseded.ended_at.as_deref(), Some(at(9).as_str()));
}

async fn deployments_list_newest_first_with_filters_and_cursor(store: Arc<dyn Store>) {
    use DeploymentStatus::*;
    let specs = [
        ("d1", "staging", Planned),
        ("d2", "prod", Running),
        ("d3", "staging", Running),
        ("d4", "prod", Planned),
        ("d5", "staging", Cancelled),
        ("d6", "prod", Running),
        ("d7", "staging", Planned),
    ];
    for (i, (id, env, status)) in specs.iter().enumerate() {
        store
            .create_deployment(&new_deployment(id, env, i as u32))
            .await
            .unwrap();
        if *status != Planned {
            store
                .transition_deployment(id, &Transition::to(*status, at(100)))
                .await
                .unwrap();
        }
    }
    let ids = |filter: DeploymentFilter, limit: u32| {
        let store = store.clone();
        async move {
            let filter = Arc::new(filter);
            all_pages(limit, |p| {
                let (store, filter) = (store.clone(), filter.clone());
                async move { store.list_deployments(&filter, &p).await }
            })
            .await
            .into_iter()
            .map(|d| d.id)
            .collect::<Vec<_>>()
        }
    };
    for limit in [1, 2, 3, 7, 50] {
        assert_eq!(
            ids(DeploymentFilter::default(), limit).await,
            ["d7", "d6", "d5", "d4", "d3", "d2", "d1"],
            "page size {limit}"
        );
        let staging = DeploymentFilter {
            environment: Some("staging".to_owned()),
            status: None,
        };
        assert_eq!(ids(staging, limit).await, ["d7", "d5", "d3", "d1"]);
        let running_prod = DeploymentFilter {
            environment: Some("prod".to_owned()),
            status: Some(Running),
        };
        assert_eq!(ids(running_prod, limit).await, ["d6", "d2"]);
        let planned = DeploymentFilter {
            environment: None,
            status: Some(Planned),
        };
        assert_eq!(ids(planned, limit).await, ["d7", "d4", "d1"]);
    }
    let none = DeploymentFilter {
        environment: Some("qa".to_owned()),
        status: None,
    };
    assert!(ids(none, 2).await.is_empty());
}

async fn concurrent_starts_of_one_deployment_let_exactly_one_win(store: Arc<dyn Store>) {
    store
        .create_deployment(&new_deployment("race", "prod", 1))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .transition_deployment(
                        "race",
                        &Transition::to(DeploymentStatus::Running, at(10 + i)),
                    )
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(d) => winners.push(d),
            Err(Error::IllegalTransition { from, to, .. }) => {
                assert_eq!(
                    (from, to),
                    (DeploymentStatus::Running, DeploymentStatus::Running)
                );
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one start wins");
    assert_eq!(
        store.get_deployment("race").await.unwrap().unwrap(),
        winners[0],
        "the record is the winner's"
    );
}

async fn progress_records_read_back_in_key_order(store: Arc<dyn Store>) {
    store
        .create_deployment(&new_deployment("prog", "prod", 1))
        .await
        .unwrap();
    let apps_in = [
        AppProgress {
            app: "web".to_owned(),
            status: AppStatus::Running,
            started_at: Some(at(2)),
            ended_at: None,
        },
        AppProgress {
            app: "api".to_owned(),
            status: AppStatus::Succeeded,
            started_at: Some(at(1)),
            ended_at: Some(at(3)),
        },
    ];
    for p in &apps_in {
        store.put_app_progress("prog", p).await.unwrap();
    }
    for index in [1, 0, 10] {
        store
            .put_batch_progress(
                "prog",
                &BatchProgress {
                    app: "web".to_owned(),
                    index,
                    status: if index == 0 {
                        BatchStatus::Succeeded
                    } else {
                        BatchStatus::Running
                    },
                    started_at: Some(at(index)),
                    ended_at: None,
                },
            )
            .await
            .unwrap();
    }
    let target = |name: &str, status| TargetProgress {
        app: "web".to_owned(),
        target: name.to_owned(),
        status,
        batch: 1,
        updated_at: at(4),
        error_type: None,
        error: None,
    };
    store
        .put_target_progress("prog", &target("host-b", TargetStatus::Running))
        .await
        .unwrap();
    let mut failed = target("host-a", TargetStatus::Failed);
    failed.error_type = Some("HealthCheckFailed".to_owned());
    failed.error = Some("HTTP 503".to_owned());
    store.put_target_progress("prog", &failed).await.unwrap();
    // A later write replaces the target's record.
    store
        .put_target_progress("prog", &target("host-b", TargetStatus::Succeeded))
        .await
        .unwrap();
    store
        .put_gate("prog", "after-web-1", "token-1")
        .await
        .unwrap();
    // Another deployment's records stay out.
    store
        .create_deployment(&new_deployment("other", "prod", 2))
        .await
        .unwrap();
    store.put_app_progress("other", &apps_in[0]).await.unwrap();

    let progress = store.progress("prog").await.unwrap();
    assert_eq!(progress.apps, [apps_in[1].clone(), apps_in[0].clone()]);
    let batches: Vec<_> = progress.batches.iter().map(|b| b.index).collect();
    assert_eq!(batches, [0, 1, 10]);
    assert_eq!(progress.batches[0].status, BatchStatus::Succeeded);
    assert_eq!(
        progress.targets,
        [failed, target("host-b", TargetStatus::Succeeded)]
    );
    assert_eq!(progress.gates.len(), 1);
    assert_eq!(progress.gates[0].task_token, "token-1");
    assert_eq!(store.progress("none").await.unwrap(), Default::default());
}

async fn gates_are_decided_once(store: Arc<dyn Store>) {
    store.put_gate("dep", "g1", "token-a").await.unwrap();
    // A redelivered gate request carries a new token while the gate waits.
    store.put_gate("dep", "g1", "token-b").await.unwrap();
    let gate = store.get_gate("dep", "g1").await.unwrap().unwrap();
    assert_eq!(
        (gate.status, gate.task_token.as_str()),
        (GateStatus::Waiting, "token-b")
    );

    let decided = store
        .decide_gate("dep", "g1", Decision::Approve, "alice", Some("looks good"))
        .await
        .unwrap();
    assert_eq!(decided.status, GateStatus::Approved);
    assert_eq!(decided.task_token, "token-b");
    assert_eq!(decided.by.as_deref(), Some("alice"));
    assert_eq!(decided.comment.as_deref(), Some("looks good"));

    let err = store
        .decide_gate("dep", "g1", Decision::Reject, "bob", None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Conflict", "{err}");
    assert!(err.to_string().contains("already approved"), "{err}");
    let err = store.put_gate("dep", "g1", "token-c").await.unwrap_err();
    assert_eq!(err.error_type(), "Conflict", "{err}");
    assert_eq!(store.get_gate("dep", "g1").await.unwrap(), Some(decided));

    store.put_gate("dep", "g2", "token-d").await.unwrap();
    let rejected = store
        .decide_gate("dep", "g2", Decision::Reject, "bob", None)
        .await
        .unwrap();
    assert_eq!(
        (rejected.status, rejected.comment),
        (GateStatus::Rejected, None)
    );
    let err = store
        .decide_gate("dep", "g3", Decision::Approve, "alice", None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
    assert_eq!(store.get_gate("dep", "g3").await.unwrap(), None);
}

async fn run_locks_are_all_or_nothing(store: Arc<dyn Store>) {
    store
        .acquire_run_locks("dep-a", "staging", &apps(&["web", "api"]))
        .await
        .unwrap();
    // Taking what one holds again succeeds.
    store
        .acquire_run_locks("dep-a", "staging", &apps(&["api", "web"]))
        .await
        .unwrap();
    let err = store
        .acquire_run_locks("dep-b", "staging", &apps(&["db", "api"]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Conflict", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("api") && message.contains("dep-a"),
        "{message}"
    );
    assert_eq!(
        store.run_lock_holder("staging", "db").await.unwrap(),
        None,
        "a failed claim takes no lock"
    );
    // Environments are independent.
    store
        .acquire_run_locks("dep-b", "prod", &apps(&["api"]))
        .await
        .unwrap();
    // Releasing someone else's lock leaves it.
    store
        .release_run_locks("dep-b", "staging", &apps(&["web"]))
        .await
        .unwrap();
    assert_eq!(
        store
            .run_lock_holder("staging", "web")
            .await
            .unwrap()
            .as_deref(),
        Some("dep-a")
    );
    store
        .release_run_locks("dep-a", "staging", &apps(&["web", "api"]))
        .await
        .unwrap();
    store
        .release_run_locks("dep-a", "staging", &apps(&["web", "api"]))
        .await
        .expect("releasing twice is harmless");
    store
        .acquire_run_locks("dep-b", "staging", &apps(&["db", "api"]))
        .await
        .unwrap();
    assert_eq!(
        store
            .run_lock_holder("staging", "api")
            .await
            .unwrap()
            .as_deref(),
        Some("dep-b")
    );

    for bad in [apps(&[]), apps(&["web", "web"])] {
        let err = store
            .acquire_run_locks("dep-c", "staging", &bad)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{bad:?}: {err}");
    }
}

async fn concurrent_run_lock_claims_let_exactly_one_win(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("dep-{i}");
                store
                    .acquire_run_locks(&id, "prod", &apps(&["web", "api"]))
                    .await
                    .map(|()| id)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(id) => winners.push(id),
            Err(err) => assert_eq!(err.error_type(), "Conflict", "{err}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one claim wins: {winners:?}");
    for app in ["web", "api"] {
        assert_eq!(
            store.run_lock_holder("prod", app).await.unwrap().as_ref(),
            Some(&winners[0])
        );
    }
}

async fn twenty_concurrent_writers_of_one_delivery_id_one_wins(store: Arc<dyn Store>) {
    let now = SystemTime::now();
    let ttl = Duration::from_secs(3600);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.record_delivery("github", "d-1", now, ttl).await })
        })
        .collect();
    let mut first = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            first += 1;
        }
    }
    assert_eq!(first, 1, "exactly one writer records the delivery");
    assert!(
        !store
            .record_delivery("github", "d-1", now, ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_delivery("gitlab", "d-1", now, ttl)
            .await
            .unwrap(),
        "ids are per provider"
    );
    // Once expired (DynamoDB may not have deleted it yet) the id counts as new.
    let later = now + ttl + Duration::from_secs(1);
    assert!(
        store
            .record_delivery("github", "d-1", later, ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_delivery("github", "d-1", later, ttl)
            .await
            .unwrap()
    );
}

async fn agents_upsert_and_list(store: Arc<dyn Store>) {
    let agent = |env: &str, host: &str, second| Agent {
        env: env.to_owned(),
        host: host.to_owned(),
        group: "web".to_owned(),
        last_seen: at(second),
        apps: serde_json::json!({"shop": {"version": "v1.0.0", "healthy": true}}),
    };
    for a in [
        agent("staging", "s-2", 1),
        agent("prod", "p-1", 2),
        agent("staging", "s-1", 3),
    ] {
        store.upsert_agent(&a).await.unwrap();
    }
    let mut seen_again = agent("staging", "s-2", 9);
    seen_again.apps = serde_json::json!({});
    store.upsert_agent(&seen_again).await.unwrap();

    let all = store.list_agents(None).await.unwrap();
    let keys: Vec<_> = all
        .iter()
        .map(|a| format!("{}/{}", a.env, a.host))
        .collect();
    assert_eq!(keys, ["prod/p-1", "staging/s-1", "staging/s-2"]);
    let staging = store.list_agents(Some("staging")).await.unwrap();
    assert_eq!(staging, [agent("staging", "s-1", 3), seen_again]);
    assert!(store.list_agents(Some("stag")).await.unwrap().is_empty());
}

async fn api_tokens_resolve_by_secret(store: Arc<dyn Store>) {
    let grant = ApiToken {
        name: "ci".to_owned(),
        role: Role::Deployer,
    };
    store.put_api_token("s3cr3t-value", &grant).await.unwrap();
    assert_eq!(
        store.get_api_token("s3cr3t-value").await.unwrap(),
        Some(grant)
    );
    assert_eq!(store.get_api_token("s3cr3t-valuE").await.unwrap(), None);
    assert!(Role::Viewer < Role::Deployer && Role::Approver < Role::Admin);
}

async fn audit_lists_newest_first(store: Arc<dyn Store>) {
    let entries: Vec<_> = (0..5)
        .map(|i| AuditEntry {
            at: at(i / 2),
            id: format!("e{i}"),
            who: "alice".to_owned(),
            action: "confirm".to_owned(),
            target: format!("dep-{i}"),
        })
        .collect();
    for e in &entries {
        store.append_audit(e).await.unwrap();
    }
    let listed = all_pages(2, |p| {
        let store = store.clone();
        async move { store.list_audit(&p).await }
    })
    .await;
    let expected: Vec<_> = entries.into_iter().rev().collect();
    assert_eq!(listed, expected);
}

async fn bad_page_requests_are_rejected(store: Arc<dyn Store>) {
    for page in [
        PageRequest::first(0),
        PageRequest::first(1001),
        PageRequest {
            limit: 10,
            cursor: Some("not-a-cursor".to_owned()),
        },
    ] {
        let err = store
            .list_deployments(&DeploymentFilter::default(), &page)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{page:?}: {err}");
        let err = store.list_audit(&page).await.unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{page:?}: {err}");
    }
}

/// The table holds only the token's hash, never the secret.
#[tokio::test]
async fn dynamo_store_keeps_token_secrets_out_of_the_table() {
    let (config, names) = provisioned().await;
    let store = DynamoStore::from_config(&config, names.table());
    let secret = "plain-secret-4711";
    store
        .put_api_token(
            secret,
            &ApiToken {
                name: "admin".to_owned(),
                role: Role::Admin,
            },
        )
        .await
        .unwrap();
    let scan = aws_sdk_dynamodb::Client::new(&config)
        .scan()
        .table_name(names.table())
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", scan.items());
    assert!(dump.contains("TOKEN#"), "{dump}");
    assert!(!dump.contains(secret), "the secret is stored: {dump}");
}
