//! The adapters against the emulator (one per test process, shared by every test here), and the
//! in-memory store against the same behaviour suite as the DynamoDB store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use boreas_aws::Error;
use boreas_aws::names::Names;
use boreas_aws::store::{
    Agent, ApiToken, AppEnvironment, AppOnHost, AppProgress, AppRecords, AuditEntry, BatchProgress,
    Decision, Deployment, DeploymentFilter, DynamoStore, GitCredential, HostDecision, LastDelivery,
    MemoryStore, NewDeployment, NotificationDefaults, PageRequest, PreviousSecret, Progress,
    Release, Repository, Store, TargetProgress, TaskOutput, TimeRange, Transition, VersionRecord,
};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::plan::{Plan, SkipReason, SkippedApp};
use boreas_core::role::Role;
use boreas_core::status::{
    AppStatus, BatchStatus, FailureAction, GateStatus, TargetStatus, VersionStatus,
};
use boreas_core::version::{CommitId, VersionState};
use boreas_core::webhook::Provider;
use boreas_test_support::emulator::Prefix;
use boreas_test_support::records::{self, at};

/// Emulator SDK configuration and a fresh prefix with every resource provisioned.
async fn provisioned() -> (aws_config::SdkConfig, Names) {
    let prefix = Prefix::shared('t').await;
    (prefix.sdk, prefix.names)
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
    a_thousand_app_plan_is_stored_and_one_too_large_is_refused,
    deployments_list_newest_first_with_filters_and_cursor,
    concurrent_starts_of_one_deployment_let_exactly_one_win,
    progress_records_read_back_in_key_order,
    gates_are_decided_once,
    host_decisions_are_decided_once_per_attempt,
    run_locks_are_all_or_nothing,
    concurrent_run_lock_claims_let_exactly_one_win,
    twenty_concurrent_writers_of_one_delivery_id_one_wins,
    agents_upsert_and_list,
    apps_are_projected_from_releases_and_inventories,
    older_versions_list_below_a_version_newest_first,
    task_outputs_are_kept_per_target_and_action,
    api_tokens_resolve_by_secret,
    notification_defaults_are_replaced_whole,
    analysis_measurements_are_recorded_once_each,
    waivers_overrides_holds_and_freezes_round_trip,
    reviews_and_runs_round_trip_and_runs_list_newest_first,
    audit_lists_newest_first,
    bad_page_requests_are_rejected,
    deployment_ids_are_checked,
);

fn version(repo: &str, name: &str, second: u32) -> VersionRecord {
    VersionRecord {
        received_at: at(second),
        pushed_by: second.is_multiple_of(2).then(|| "octo".to_owned()),
        ..records::version(repo, name, &format!("{second:040x}"))
    }
}

fn new_deployment(id: &str, env: &str, second: u32) -> NewDeployment {
    NewDeployment {
        created_at: at(second),
        ..records::new_deployment(id, empty_plan(env))
    }
}

fn empty_plan(env: &str) -> Plan {
    Plan {
        environment: env.to_owned(),
        version: "v1.0.0".to_owned(),
        stages: Vec::new(),
        skipped: Vec::new(),
    }
}

/// A plan other than [`empty_plan`]: every app dropped.
fn dropped_plan(env: &str) -> Plan {
    Plan {
        skipped: vec![SkippedApp {
            app: "web".to_owned(),
            reason: SkipReason::Dropped,
        }],
        ..empty_plan(env)
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
        id: "github.com/acme/shop".to_owned(),
        full_name: "Acme/Shop".to_owned(),
        host: "github.com".to_owned(),
        clone_url: "https://github.com/Acme/Shop.git".to_owned(),
        provider: Provider::GitHub,
        secret_param: "/boreas/webhook-secrets/github.com_acme_shop".to_owned(),
        previous_secret: None,
        credential: Some(GitCredential::Token {
            param: "/boreas/git-credentials/github.com_acme_shop".to_owned(),
            username: "x-access-token".to_owned(),
        }),
        triggers: vec!["refs/tags/v*".to_owned()],
        created_at: at(1),
    };
    let blog = Repository {
        id: "gitlab.example.com/g/sub/blog".to_owned(),
        full_name: "g/sub/blog".to_owned(),
        host: "gitlab.example.com".to_owned(),
        provider: Provider::GitLab,
        credential: Some(GitCredential::GithubApp {
            app_id: 42,
            key_param: "/boreas/git-credentials/blog".to_owned(),
            api_url: "https://api.github.com".to_owned(),
        }),
        triggers: Vec::new(),
        ..shop.clone()
    };
    assert!(store.create_repository(&shop).await.unwrap());
    assert!(
        !store.create_repository(&shop).await.unwrap(),
        "an id is registered once"
    );
    store.put_repository(&blog).await.unwrap();
    assert_eq!(
        store.get_repository("github.com/acme/shop").await.unwrap(),
        Some(shop.clone())
    );
    assert_eq!(store.get_repository("nope").await.unwrap(), None);
    shop.triggers.push("refs/heads/main".to_owned());
    store.put_repository(&shop).await.unwrap();
    assert_eq!(
        store.list_repositories().await.unwrap(),
        vec![shop.clone(), blog.clone()]
    );

    let previous = PreviousSecret {
        version: 3,
        until: at(50),
    };
    store
        .set_previous_secret(&shop.id, &previous)
        .await
        .unwrap();
    let rotated = store.get_repository(&shop.id).await.unwrap().unwrap();
    assert_eq!(rotated.previous_secret, Some(previous));
    assert_eq!(
        rotated.previous_secret_param(&at(49)).as_deref(),
        Some("/boreas/webhook-secrets/github.com_acme_shop:3")
    );
    assert_eq!(rotated.previous_secret_param(&at(50)), None, "grace over");
    assert_eq!(
        store
            .set_previous_secret(
                "nope",
                &PreviousSecret {
                    version: 1,
                    until: at(2)
                }
            )
            .await
            .unwrap_err()
            .error_type(),
        "NotFound"
    );

    let delivery = LastDelivery {
        at: at(5),
        event: Some("push".to_owned()),
        delivery_id: Some("d-1".to_owned()),
        status: 202,
        outcome: "queued".to_owned(),
        message: "version v1 queued".to_owned(),
    };
    store.put_last_delivery(&shop.id, &delivery).await.unwrap();
    let ids = vec![shop.id.clone(), blog.id.clone()];
    let last = store.last_deliveries(&ids).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last.get(&shop.id), Some(&delivery));

    assert!(store.delete_repository(&shop.id).await.unwrap());
    assert!(!store.delete_repository(&shop.id).await.unwrap());
    assert_eq!(store.get_repository(&shop.id).await.unwrap(), None);
    assert!(store.last_deliveries(&ids).await.unwrap().is_empty());
    assert_eq!(store.list_repositories().await.unwrap(), vec![blog]);
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

/// A plan of 1,000 apps and 10,000 hosts (over a DynamoDB item as JSON) is stored, replaced and
/// listed like any other; one that cannot fit is refused before anything is written.
async fn a_thousand_app_plan_is_stored_and_one_too_large_is_refused(store: Arc<dyn Store>) {
    let fleet = records::fleet_plan("prod", 1000, 10);
    let new = NewDeployment {
        created_at: at(1),
        ..records::new_deployment("dep-big", fleet.clone())
    };
    assert_eq!(store.create_deployment(&new).await.unwrap().plan, fleet);
    let mut adjusted = fleet.clone();
    let dropped = adjusted.stages[0].apps.remove(777);
    adjusted.skipped.push(SkippedApp {
        app: dropped.app,
        reason: SkipReason::Dropped,
    });
    store.update_plan("dep-big", &adjusted).await.unwrap();
    let stored = store.get_deployment("dep-big").await.unwrap().unwrap();
    assert_eq!(stored.plan, adjusted);
    let page = store
        .list_deployments(&DeploymentFilter::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.items, vec![stored]);

    let unstorable = records::unstorable_plan("prod");
    let err = store.update_plan("dep-big", &unstorable).await.unwrap_err();
    assert_eq!(err.error_type(), "TooLarge", "{err}");
    assert!(
        err.to_string()
            .starts_with("plan of deployment dep-big takes "),
        "{err}"
    );
    assert_eq!(
        store.get_deployment("dep-big").await.unwrap().unwrap().plan,
        adjusted,
        "the refused plan left the stored one as it was"
    );
    let err = store
        .create_deployment(&NewDeployment {
            created_at: at(2),
            ..records::new_deployment("dep-huge", unstorable)
        })
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "TooLarge", "{err}");
    assert_eq!(store.get_deployment("dep-huge").await.unwrap(), None);
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
        .update_plan("dep-1", &dropped_plan("staging"))
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
    assert_eq!(running.plan, dropped_plan("staging"));
    assert_eq!(running.ended_at, None);

    let err = store
        .update_plan("dep-1", &empty_plan("staging"))
        .await
        .unwrap_err();
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
    let err = store
        .update_plan("nope", &empty_plan("staging"))
        .await
        .unwrap_err();
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
        // d2 and d5 are of another repository.
        let repository = if ["d2", "d5"].contains(id) {
            "cart"
        } else {
            "shop"
        };
        store
            .create_deployment(&NewDeployment {
                repository: repository.to_owned(),
                ..new_deployment(id, env, i as u32)
            })
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
        let filter =
            |environment: Option<&str>, status, repository: Option<&str>| DeploymentFilter {
                environment: environment.map(str::to_owned),
                status,
                repository: repository.map(str::to_owned),
            };
        for (f, want) in [
            (
                filter(Some("staging"), None, None),
                &["d7", "d5", "d3", "d1"][..],
            ),
            (filter(Some("prod"), Some(Running), None), &["d6", "d2"]),
            (filter(None, Some(Planned), None), &["d7", "d4", "d1"]),
            (filter(None, None, Some("cart")), &["d5", "d2"]),
            (
                filter(Some("staging"), None, Some("shop")),
                &["d7", "d3", "d1"],
            ),
            (filter(None, Some(Running), Some("cart")), &["d2"]),
            (filter(Some("prod"), Some(Running), Some("shop")), &["d6"]),
        ] {
            assert_eq!(
                ids(f.clone(), limit).await,
                want,
                "{f:?}, page size {limit}"
            );
        }
    }
    let none = DeploymentFilter {
        environment: Some("qa".to_owned()),
        ..DeploymentFilter::default()
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

async fn host_decisions_are_decided_once_per_attempt(store: Arc<dyn Store>) {
    let first = HostDecision::waiting("web", "h1", 1, 0, "token-a");
    store.put_host_decision("dep", &first).await.unwrap();
    // A redelivered message of the waiting attempt carries a new token.
    let redelivered = HostDecision::waiting("web", "h1", 1, 0, "token-b");
    store.put_host_decision("dep", &redelivered).await.unwrap();
    assert_eq!(
        store.get_host_decision("dep", "web", "h1").await.unwrap(),
        Some(redelivered.clone())
    );

    let retried = store
        .decide_host(
            "dep",
            &redelivered,
            FailureAction::Retry,
            "alice",
            Some("disk freed"),
        )
        .await
        .unwrap();
    assert_eq!(retried.action, Some(FailureAction::Retry));
    assert_eq!(retried.task_token, "token-b");
    assert_eq!(
        (retried.by.as_deref(), retried.comment.as_deref()),
        (Some("alice"), Some("disk freed"))
    );
    let err = store
        .decide_host("dep", &redelivered, FailureAction::Skip, "bob", None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Conflict", "{err}");
    assert!(
        err.to_string()
            .contains("attempt 0 was decided already (retry)"),
        "{err}"
    );
    // A late redelivery of the decided attempt changes nothing.
    let err = store
        .put_host_decision("dep", &HostDecision::waiting("web", "h1", 1, 0, "token-c"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Conflict", "{err}");

    // The retry failed too: its decision waits, and the first attempt's cannot come back.
    let second = HostDecision::waiting("web", "h1", 1, 1, "token-d");
    store.put_host_decision("dep", &second).await.unwrap();
    let err = store
        .put_host_decision("dep", &HostDecision::waiting("web", "h1", 1, 0, "token-e"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("attempt 1 is the one waiting"),
        "{err}"
    );
    let err = store
        .decide_host("dep", &first, FailureAction::Rollback, "bob", None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Conflict", "{err}");
    let skipped = store
        .decide_host("dep", &second, FailureAction::Skip, "bob", None)
        .await
        .unwrap();
    assert_eq!(
        (skipped.attempt, skipped.action, skipped.comment.clone()),
        (1, Some(FailureAction::Skip), None)
    );
    assert_eq!(store.progress("dep").await.unwrap().decisions, [skipped]);

    let err = store
        .decide_host(
            "dep",
            &HostDecision::waiting("web", "h2", 1, 0, "t"),
            FailureAction::Retry,
            "alice",
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
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
            tokio::spawn(async move {
                store
                    .record_delivery(Provider::GitHub, "d-1", now, ttl)
                    .await
            })
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
            .record_delivery(Provider::GitHub, "d-1", now, ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_delivery(Provider::GitLab, "d-1", now, ttl)
            .await
            .unwrap(),
        "ids are per provider"
    );
    // Once expired (DynamoDB may not have deleted it yet) the id counts as new.
    let later = now + ttl + Duration::from_secs(1);
    assert!(
        store
            .record_delivery(Provider::GitHub, "d-1", later, ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_delivery(Provider::GitHub, "d-1", later, ttl)
            .await
            .unwrap()
    );
}

async fn agents_upsert_and_list(store: Arc<dyn Store>) {
    let agent = |env: &str, host: &str, second| Agent {
        last_seen: at(second),
        observed_at: at(second),
        live_until: Some(at(second + 75)),
        apps: serde_json::json!({"shop": {"version": "v1.0.0", "healthy": true}}),
        ..records::agent(env, host, "web")
    };
    for a in [
        agent("staging", "s-2", 1),
        agent("prod", "p-1", 2),
        agent("staging", "s-1", 3),
    ] {
        assert!(store.upsert_agent(&a).await.unwrap());
    }
    let mut seen_again = agent("staging", "s-2", 9);
    seen_again.apps = serde_json::json!({});
    assert!(store.upsert_agent(&seen_again).await.unwrap());
    // Observed earlier than what is stored (or at the same instant): not written.
    for stale in [agent("staging", "s-2", 5), agent("staging", "s-2", 9)] {
        assert!(!store.upsert_agent(&stale).await.unwrap());
    }

    let all = store.list_agents(None).await.unwrap();
    let keys: Vec<_> = all
        .iter()
        .map(|a| format!("{}/{}", a.env, a.host))
        .collect();
    assert_eq!(keys, ["prod/p-1", "staging/s-1", "staging/s-2"]);
    let staging = store.list_agents(Some("staging")).await.unwrap();
    assert_eq!(staging, [agent("staging", "s-1", 3), seen_again]);
    assert!(store.list_agents(Some("stag")).await.unwrap().is_empty());
    // Page by page, in the same order.
    for limit in [1, 2, 3] {
        for (env, want) in [(None, &all), (Some("staging"), &staging)] {
            let paged = all_pages(limit, |p| {
                let store = store.clone();
                async move { store.agents_page(env, &p).await }
            })
            .await;
            assert_eq!(paged, *want, "{env:?}, {limit} a page");
        }
    }
    let silent = &staging[0];
    assert!(!silent.unreachable_at(&at(3 + 75)));
    assert!(silent.unreachable_at(&at(3 + 76)));
    let unknown = Agent {
        live_until: None,
        ..silent.clone()
    };
    assert!(
        !unknown.unreachable_at(&at(10_000)),
        "no window, no verdict"
    );
}

async fn task_outputs_are_kept_per_target_and_action(store: Arc<dyn Store>) {
    let output = |target: &str, action: &str, text: &str| TaskOutput {
        app: "web".to_owned(),
        target: target.to_owned(),
        action: action.to_owned(),
        output: text.to_owned(),
        truncated: action == "deploy",
        at: at(1),
    };
    for o in [
        output("h1", "deploy", "== validate failed\n"),
        output("h1", "rollback", "== rollback ok\n"),
        output("h10", "deploy", "other host"),
    ] {
        store.put_task_output("d-1", &o).await.unwrap();
    }
    store
        .put_task_output("d-2", &output("h1", "deploy", "other deployment"))
        .await
        .unwrap();
    let mut got = store.task_outputs("d-1", "web", "h1").await.unwrap();
    got.sort_by(|a, b| a.action.cmp(&b.action));
    assert_eq!(
        got,
        [
            output("h1", "deploy", "== validate failed\n"),
            output("h1", "rollback", "== rollback ok\n")
        ]
    );
    // Progress never carries output.
    assert_eq!(store.progress("d-1").await.unwrap(), Progress::default());
}

async fn notification_defaults_are_replaced_whole(store: Arc<dyn Store>) {
    assert_eq!(store.notification_defaults().await.unwrap(), None);
    let rule = |sink: &str| boreas_core::config::NotificationRule {
        sink: sink.to_owned(),
        events: Some(vec![boreas_core::notify::NoticeKind::Failed]),
        environments: vec!["prod".to_owned()],
        apps: Vec::new(),
    };
    let first = NotificationDefaults {
        rules: vec![rule("team-chat"), rule("audit-hook")],
        updated_at: at(1),
        updated_by: "admin".to_owned(),
    };
    store.put_notification_defaults(&first).await.unwrap();
    assert_eq!(store.notification_defaults().await.unwrap(), Some(first));
    let none = NotificationDefaults {
        rules: Vec::new(),
        updated_at: at(2),
        updated_by: "ops".to_owned(),
    };
    store.put_notification_defaults(&none).await.unwrap();
    assert_eq!(store.notification_defaults().await.unwrap(), Some(none));
}

async fn analysis_measurements_are_recorded_once_each(store: Arc<dyn Store>) {
    use boreas_aws::store::AnalysisRecord;
    use boreas_core::analysis::run::Taken;
    use boreas_core::analysis::{Measurement, Outcome};

    let taken = |value: f64, outcome: Outcome| Taken {
        at: at(1),
        measurement: Measurement::Value {
            value,
            samples: Some(40),
        },
        outcome,
    };
    let record = |batch: u32, check: &str, measurements: Vec<Taken>| AnalysisRecord {
        app: "web".to_owned(),
        batch,
        check: check.to_owned(),
        condition: "< 0.01".to_owned(),
        measurements,
        verdict: None,
        message: None,
        updated_at: at(2),
    };
    let first = record(1, "errors", vec![taken(0.001, Outcome::Pass)]);
    assert!(store.put_analysis("d-1", &first, 0).await.unwrap());
    assert!(
        !store.put_analysis("d-1", &first, 0).await.unwrap(),
        "a redelivered first measurement is not written again"
    );
    let mut second = record(
        1,
        "errors",
        vec![taken(0.001, Outcome::Pass), taken(0.5, Outcome::Fail)],
    );
    second.verdict = Some(Outcome::Fail);
    second.message = Some("check errors failed: 0.5, wanted < 0.01".to_owned());
    assert!(!store.put_analysis("d-1", &second, 2).await.unwrap());
    assert!(store.put_analysis("d-1", &second, 1).await.unwrap());
    assert!(!store.put_analysis("d-1", &second, 1).await.unwrap());
    let other = record(0, "latency", vec![taken(0.2, Outcome::Pass)]);
    assert!(store.put_analysis("d-1", &other, 0).await.unwrap());
    assert!(
        store
            .put_analysis("d-2", &record(0, "x", Vec::new()), 0)
            .await
            .unwrap()
    );
    assert_eq!(store.analyses("d-1").await.unwrap(), [other, second]);
    assert_eq!(store.analyses("d-3").await.unwrap(), []);

    // The first failure's message is kept on the deployment and survives its outcome.
    store
        .create_deployment(&new_deployment("d-9", "prod", 1))
        .await
        .unwrap();
    assert!(
        !store
            .note_deployment_error("d-9", "too early")
            .await
            .unwrap()
    );
    store
        .transition_deployment("d-9", &Transition::to(DeploymentStatus::Running, at(2)))
        .await
        .unwrap();
    assert!(
        store
            .note_deployment_error("d-9", "check errors failed")
            .await
            .unwrap()
    );
    assert!(
        !store
            .note_deployment_error("d-9", "a later one")
            .await
            .unwrap()
    );
    store
        .transition_deployment("d-9", &Transition::to(DeploymentStatus::RolledBack, at(3)))
        .await
        .unwrap();
    let d = store.get_deployment("d-9").await.unwrap().unwrap();
    assert_eq!(d.error.as_deref(), Some("check errors failed"));
}

async fn waivers_overrides_holds_and_freezes_round_trip(store: Arc<dyn Store>) {
    use boreas_aws::store::{DeploymentPolicy, Hold, ManagedFreeze, Override, Waiver};
    assert_eq!(
        store.deployment_policy("d-1").await.unwrap(),
        DeploymentPolicy::default()
    );
    let waiver = |condition: &str| Waiver {
        condition: condition.parse().unwrap(),
        reason: "hotfix".into(),
        by: "lead".into(),
        at: "2026-12-07T10:00:00.000Z".into(),
    };
    assert!(
        store
            .put_waiver("d-1", &waiver("soak:staging"))
            .await
            .unwrap()
    );
    assert!(store.put_waiver("d-1", &waiver("after:qa")).await.unwrap());
    assert!(
        !store
            .put_waiver("d-1", &waiver("soak:staging"))
            .await
            .unwrap()
    );
    let mut grant = Override {
        reason: "INC-7".into(),
        by: "lead".into(),
        at: "2026-12-07T10:00:00.000Z".into(),
        expires_at: "2026-12-07T12:00:00.000Z".into(),
    };
    store.put_override("d-1", &grant).await.unwrap();
    grant.expires_at = "2026-12-07T13:00:00.000Z".into();
    store.put_override("d-1", &grant).await.unwrap();
    let hold = Hold {
        reasons: vec!["soaking in staging until 2026-12-07 11:00 UTC".into()],
        recheck_at: Some("2026-12-07T11:00:00.000Z".into()),
        since: "2026-12-07T10:00:00.000Z".into(),
    };
    store.set_hold("d-1", Some(&hold)).await.unwrap();
    assert_eq!(
        store.deployment_policy("d-1").await.unwrap(),
        DeploymentPolicy {
            waivers: vec![waiver("after:qa"), waiver("soak:staging")],
            override_: Some(grant.clone()),
            hold: Some(hold.clone()),
            supersedes: Vec::new(),
        }
    );
    store.put_supersedes("d-1", "d-old-2").await.unwrap();
    store.put_supersedes("d-1", "d-old-1").await.unwrap();
    store.put_supersedes("d-1", "d-old-1").await.unwrap();
    assert_eq!(
        store.deployment_policy("d-1").await.unwrap().supersedes,
        ["d-old-1", "d-old-2"]
    );
    let ids = |ids: &[&str]| -> Vec<String> { ids.iter().map(|&id| id.to_owned()).collect() };
    assert_eq!(
        store.holds(&ids(&["d-2", "d-1", "d-3"])).await.unwrap(),
        BTreeMap::from([("d-1".to_owned(), hold.clone())])
    );
    store.set_hold("d-1", None).await.unwrap();
    store.set_hold("d-2", None).await.unwrap();
    assert_eq!(store.deployment_policy("d-1").await.unwrap().hold, None);
    assert_eq!(
        store.holds(&ids(&["d-1", "d-2"])).await.unwrap(),
        BTreeMap::new(),
        "cleared holds are none"
    );
    // Past one batch read of 100 keys.
    let many: Vec<String> = (0..150).map(|i| format!("d-many-{i:03}")).collect();
    let held = ["d-many-000", "d-many-099", "d-many-100", "d-many-149"];
    for id in held {
        store.set_hold(id, Some(&hold)).await.unwrap();
    }
    assert_eq!(
        store
            .holds(&many)
            .await
            .unwrap()
            .into_keys()
            .collect::<Vec<_>>(),
        held
    );
    assert_eq!(
        store.deployment_policy("d-2").await.unwrap(),
        DeploymentPolicy::default()
    );

    let freeze = |name: &str| ManagedFreeze {
        freeze: boreas_core::config::Freeze {
            name: name.into(),
            reason: "incident".into(),
            environments: vec!["prod".into()],
            apps: vec![],
            timezone: "Europe/Berlin".into(),
            rrule: None,
            cron: Some("0 16 * * FRI".into()),
            duration: Some(boreas_core::config::DurationSpec(3600)),
            from: None,
            until: None,
            blocks: vec![boreas_core::config::FreezeBlock::Start],
            running: None,
        },
        added_by: "ops".into(),
        added_at: "2026-12-07T10:00:00.000Z".into(),
    };
    assert!(store.put_freeze(&freeze("b")).await.unwrap());
    assert!(store.put_freeze(&freeze("a")).await.unwrap());
    assert!(!store.put_freeze(&freeze("a")).await.unwrap());
    assert_eq!(store.freezes().await.unwrap(), [freeze("a"), freeze("b")]);
    assert!(store.delete_freeze("a").await.unwrap());
    assert!(!store.delete_freeze("a").await.unwrap());
    assert_eq!(store.freezes().await.unwrap(), [freeze("b")]);
}

async fn api_tokens_resolve_by_secret(store: Arc<dyn Store>) {
    let mut grant = ApiToken::new("ci", Role::Deployer, at(1));
    grant.expires = Some(at(40));
    store.put_api_token("s3cr3t-value", &grant).await.unwrap();
    assert_eq!(
        store.get_api_token("s3cr3t-value").await.unwrap(),
        Some(grant.clone())
    );
    assert_eq!(store.get_api_token("s3cr3t-valuE").await.unwrap(), None);
    assert!(Role::Viewer < Role::Deployer && Role::Approver < Role::Admin);
    assert_eq!(
        store
            .put_api_token("another-secret", &ApiToken::new("ci", Role::Admin, at(2)))
            .await
            .unwrap_err()
            .error_type(),
        "AlreadyExists",
        "a name is taken once"
    );
    assert_eq!(store.get_api_token("another-secret").await.unwrap(), None);
    let bot = ApiToken::new("bot", Role::Viewer, at(3));
    store.put_api_token("bot-secret", &bot).await.unwrap();
    assert_eq!(
        store.list_api_tokens().await.unwrap(),
        vec![bot.clone(), grant.clone()]
    );

    assert!(
        store
            .touch_api_token("s3cr3t-value", &at(10), &at(5))
            .await
            .unwrap()
    );
    assert!(
        !store
            .touch_api_token("s3cr3t-value", &at(12), &at(9))
            .await
            .unwrap(),
        "used since: not written again"
    );
    let used = store.get_api_token("s3cr3t-value").await.unwrap().unwrap();
    assert_eq!(used.last_used.as_deref(), Some(at(10).as_str()));
    assert!(!used.expired(&at(39)) && used.expired(&at(40)));

    assert_eq!(
        store.revoke_api_token("ci").await.unwrap().map(|t| t.name),
        Some("ci".to_owned())
    );
    assert_eq!(store.get_api_token("s3cr3t-value").await.unwrap(), None);
    assert_eq!(store.revoke_api_token("ci").await.unwrap(), None);
    assert!(
        !store
            .touch_api_token("s3cr3t-value", &at(20), &at(15))
            .await
            .unwrap()
    );
    assert_eq!(store.list_api_tokens().await.unwrap(), vec![bot]);
    let again = ApiToken::new("ci", Role::Viewer, at(30));
    store.put_api_token("new-secret", &again).await.unwrap();
    assert_eq!(
        store.get_api_token("new-secret").await.unwrap(),
        Some(again)
    );
}

async fn audit_lists_newest_first(store: Arc<dyn Store>) {
    let entries: Vec<_> = (0..5)
        .map(|i| AuditEntry {
            at: at(i / 2),
            id: format!("e{i}"),
            who: "alice".to_owned(),
            action: "confirm".to_owned(),
            target: format!("dep-{i}"),
            detail: (0..i).map(|n| format!("change {n}")).collect(),
        })
        .collect();
    for e in &entries {
        store.append_audit(e).await.unwrap();
    }
    let listed = all_pages(2, |p| {
        let store = store.clone();
        async move { store.list_audit(&Default::default(), &p).await }
    })
    .await;
    let expected: Vec<_> = entries.iter().rev().cloned().collect();
    assert_eq!(listed, expected);
    // By time: `since` included, `until` left out, pages within the range. Entries are at
    // seconds 0, 0, 1, 1, 2.
    let second = |n: u32| Some(boreas_aws::store::parse_rfc3339(&at(n)).unwrap());
    for (since, until, want) in [
        (second(1), None, vec!["e4", "e3", "e2"]),
        (None, second(1), vec!["e1", "e0"]),
        (second(1), second(2), vec!["e3", "e2"]),
        (second(3), None, vec![]),
    ] {
        let range = Arc::new(TimeRange::new(since, until).unwrap());
        for limit in [1, 2, 5] {
            let listed = all_pages(limit, |p| {
                let (store, range) = (store.clone(), range.clone());
                async move { store.list_audit(&range, &p).await }
            })
            .await;
            let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(ids, want, "{range:?}, {limit} a page");
        }
    }
    let err = TimeRange::new(second(2), second(2)).unwrap_err();
    assert!(err.to_string().contains("is empty"), "{err}");
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
        let err = store
            .list_audit(&Default::default(), &page)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{page:?}: {err}");
    }
}

async fn deployment_ids_are_checked(store: Arc<dyn Store>) {
    for id in ["", "has space", "dep#1", &"x".repeat(81)] {
        let err = store
            .create_deployment(&new_deployment(id, "prod", 1))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{id:?}: {err}");
    }
    let longest = "A-z_9".repeat(16);
    store
        .create_deployment(&new_deployment(&longest, "prod", 1))
        .await
        .expect("80 characters are allowed");
}

/// A stored plan this build cannot read is a malformed record, named by deployment and attribute,
/// wherever the record is read.
#[tokio::test]
async fn dynamo_store_reports_an_unreadable_plan_as_malformed() {
    let (config, names) = provisioned().await;
    let store = DynamoStore::from_config(&config, names.table());
    store
        .create_deployment(&new_deployment("dep-old", "prod", 1))
        .await
        .unwrap();
    aws_sdk_dynamodb::Client::new(&config)
        .update_item()
        .table_name(names.table())
        .key("pk", AttributeValue::S("DEP#dep-old".to_owned()))
        .key("sk", AttributeValue::S("META".to_owned()))
        .update_expression("SET #plan = :plan")
        .expression_attribute_names("#plan", "plan")
        .expression_attribute_values(":plan", AttributeValue::S(r#"{"stages":"x"}"#.to_owned()))
        .send()
        .await
        .unwrap();
    let expected = "malformed record deployment dep-old: attribute plan: ";
    let err = store.get_deployment("dep-old").await.unwrap_err();
    assert!(err.to_string().starts_with(expected), "{err}");
    let err = store
        .list_deployments(&DeploymentFilter::default(), &PageRequest::first(10))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with(expected), "{err}");
}

/// A succeeded deployment of the example plan (apps `db-migrate`, `api`, `worker`, `web`),
/// created at `second`.
async fn succeeded(store: &Arc<dyn Store>, id: &str, version: &str, second: u32) -> Deployment {
    store
        .create_deployment(&NewDeployment {
            created_at: at(second),
            ..records::new_deployment(id, records::example_plan("staging", version))
        })
        .await
        .unwrap();
    for to in [DeploymentStatus::Running, DeploymentStatus::Succeeded] {
        store
            .transition_deployment(id, &Transition::to(to, at(second)))
            .await
            .unwrap();
    }
    store.get_deployment(id).await.unwrap().unwrap()
}

async fn reviews_and_runs_round_trip_and_runs_list_newest_first(store: Arc<dyn Store>) {
    use boreas_aws::store::StoredReview;
    use boreas_core::history::{AppRun, HostRun, RunGate};
    use boreas_core::review::{AppReason, CommitSummary, Review, Running, Why};
    use boreas_core::status::{GateStatus, TargetStatus};

    // A review, its proposal a large plan (stored compressed in the table).
    let proposal = records::fleet_plan("prod", 100, 30);
    let review = StoredReview {
        review: Review {
            running: Some(Running {
                version: "v1".into(),
                commit: "c".repeat(40),
            }),
            commits: vec![CommitSummary {
                id: "d".repeat(40),
                subject: "api: answer faster".into(),
                author: "Ada".into(),
                at: "2026-01-01T00:00:00Z".into(),
            }],
            more_commits: 3,
            changed_paths: Some(7),
            apps: vec![AppReason {
                app: "api".into(),
                why: Why::Follows {
                    dependency: "db".into(),
                },
                skipped: None,
                paths: Vec::new(),
                matched_paths: 0,
            }],
        },
        proposal,
    };
    assert_eq!(store.review("rv-1").await.unwrap(), None);
    store.put_review("rv-1", &review).await.unwrap();
    assert_eq!(store.review("rv-1").await.unwrap(), Some(review));

    // Who confirmed is recorded on the deployment; an unknown one is not found.
    let d = succeeded(&store, "rv-2", "v2", 5).await;
    store.set_confirmed_by("rv-2", "alice").await.unwrap();
    assert_eq!(
        store
            .get_deployment("rv-2")
            .await
            .unwrap()
            .unwrap()
            .confirmed_by
            .as_deref(),
        Some("alice")
    );
    assert!(matches!(
        store.set_confirmed_by("nope", "alice").await,
        Err(boreas_aws::Error::NotFound { .. })
    ));

    // Runs of three deployments in two environments, newest first, filtered and paged.
    let run = |id: &str, env: &str| AppRun {
        app: "api".into(),
        deployment_id: id.into(),
        repository: "shop".into(),
        version: format!("{id}-version"),
        environment: env.into(),
        outcome: DeploymentStatus::Succeeded,
        app_status: None,
        started_at: None,
        ended_at: None,
        confirmed_by: Some("alice".into()),
        gates: vec![RunGate {
            gate: "api.0".into(),
            status: GateStatus::Approved,
            by: Some("bob".into()),
        }],
        revert: false,
        targets: 2,
        failed_target: None,
    };
    let host = |id: &str| HostRun {
        host: "h1".into(),
        environment: "prod".into(),
        app: "api".into(),
        deployment_id: id.into(),
        version: format!("{id}-version"),
        outcome: DeploymentStatus::Succeeded,
        status: Some(TargetStatus::Succeeded),
        ended_at: at(9),
    };
    for (second, id, env) in [
        (1, "r-a", "prod"),
        (2, "r-b", "staging"),
        (3, "r-c", "prod"),
    ] {
        let ended = Deployment {
            id: id.into(),
            created_at: at(second),
            ..d.clone()
        };
        // Written twice (a redelivered outcome): once each.
        for _ in 0..2 {
            store
                .record_runs(&ended, &[run(id, env)], &[host(id)])
                .await
                .unwrap();
        }
    }
    let ids =
        |runs: Vec<AppRun>| -> Vec<String> { runs.into_iter().map(|r| r.deployment_id).collect() };
    let all = all_pages(2, |p| {
        let store = store.clone();
        async move { store.app_runs("api", None, &p).await }
    })
    .await;
    assert_eq!(ids(all.clone()), ["r-c", "r-b", "r-a"]);
    assert_eq!(all[0], run("r-c", "prod"));
    let prod = all_pages(1, |p| {
        let store = store.clone();
        async move { store.app_runs("api", Some("prod"), &p).await }
    })
    .await;
    assert_eq!(ids(prod), ["r-c", "r-a"]);
    assert!(
        store
            .app_runs("web", None, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let on_host = store
        .host_runs("prod", "h1", &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        on_host
            .items
            .iter()
            .map(|r| r.deployment_id.as_str())
            .collect::<Vec<_>>(),
        ["r-c", "r-b", "r-a"]
    );
    assert!(
        store
            .host_runs("staging", "h1", &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

fn reporting(host: &str, second: u32, apps: serde_json::Value) -> Agent {
    Agent {
        observed_at: at(second),
        apps,
        ..records::agent("staging", host, "web")
    }
}

async fn apps_are_projected_from_releases_and_inventories(store: Arc<dyn Store>) {
    assert_eq!(
        store.app_records("api").await.unwrap(),
        AppRecords::default()
    );
    let d1 = succeeded(&store, "d1", "v1", 1).await;
    let d2 = succeeded(&store, "d2", "v2", 2).await;
    // The newer deployment's outcome arrives first; the older one's never replaces it.
    store.record_release(&d2).await.unwrap();
    store.record_release(&d1).await.unwrap();
    store.record_release(&d2).await.unwrap();
    let planned = store
        .create_deployment(&NewDeployment {
            created_at: at(3),
            ..records::new_deployment("d3", records::example_plan("staging", "v3"))
        })
        .await
        .unwrap();
    let err = store.record_release(&planned).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput", "{err}");

    let listed = |apps: &[(&str, Option<&str>)]| {
        serde_json::Value::Array(
            apps.iter()
                .map(|(app, v)| serde_json::json!({"app": app, "version": v, "healthy": true}))
                .collect(),
        )
    };
    let h1 = reporting(
        "h1",
        10,
        listed(&[("api", Some("v2")), ("legacy", Some("v1"))]),
    );
    let h2 = reporting(
        "h2",
        10,
        listed(&[
            ("api", Some("v1")),
            ("cron", None),
            ("Not An App", Some("v1")),
        ]),
    );
    for a in [&h1, &h2] {
        assert!(store.upsert_agent(a).await.unwrap());
    }
    let api = store.app_records("api").await.unwrap();
    let (_, planned_api) = d2.plan.find_app("api").unwrap();
    assert_eq!(
        api.environments,
        [AppEnvironment {
            env: "staging".to_owned(),
            release: Some(Release {
                repository: "shop".to_owned(),
                version: "v2".to_owned(),
                deployment: "d2".to_owned(),
                targets: planned_api.targets.clone(),
            }),
        }]
    );
    let on = |host: &str, version: Option<&str>| AppOnHost {
        env: "staging".to_owned(),
        host: host.to_owned(),
        version: version.map(str::to_owned),
    };
    assert_eq!(api.hosts, [on("h1", Some("v2")), on("h2", Some("v1"))]);
    let cron = store.app_records("cron").await.unwrap();
    assert_eq!(
        (cron.environments[0].release.as_ref(), &cron.hosts[..]),
        (None, &[on("h2", None)][..]),
        "known from an inventory only"
    );
    assert!(
        store
            .app_records("Not An App")
            .await
            .unwrap()
            .environments
            .is_empty()
    );

    // h2 stops listing api, h1 legacy; a late report that still lists api changes nothing.
    let later = reporting("h2", 20, listed(&[("cron", Some("v7"))]));
    assert!(store.upsert_agent(&later).await.unwrap());
    let later = reporting("h1", 20, listed(&[("api", Some("v2"))]));
    assert!(store.upsert_agent(&later).await.unwrap());
    assert!(!store.upsert_agent(&h2).await.unwrap());
    let api = store.app_records("api").await.unwrap();
    assert_eq!(api.hosts, [on("h1", Some("v2"))]);
    assert_eq!(
        store.app_records("cron").await.unwrap().hosts,
        [on("h2", Some("v7"))]
    );

    let legacy = store.app_records("legacy").await.unwrap();
    assert_eq!(
        (legacy.environments.len(), legacy.hosts.len()),
        (1, 0),
        "still known in staging, on no host"
    );
    let names = ["api", "cron", "db-migrate", "legacy", "web", "worker"];
    for limit in [1, 2, 5] {
        let paged = all_pages(limit, |p| {
            let store = store.clone();
            async move { store.app_names(&p).await }
        })
        .await;
        assert_eq!(paged, names, "{limit} a page");
    }
    assert_eq!(
        store.released_apps("shop").await.unwrap(),
        ["api", "db-migrate", "web", "worker"]
    );
    assert!(store.released_apps("other").await.unwrap().is_empty());
}

async fn older_versions_list_below_a_version_newest_first(store: Arc<dyn Store>) {
    let versions: Vec<VersionRecord> = (1..=4)
        .map(|i| version("shop", &format!("v{i}"), i))
        .collect();
    for v in &versions {
        store.put_version(v).await.unwrap();
    }
    store.put_version(&version("other", "v9", 2)).await.unwrap();
    for limit in [1, 2, 10] {
        let older = all_pages(limit, |p| {
            let (store, than) = (store.clone(), versions[2].clone());
            async move { store.older_versions(&than, &p).await }
        })
        .await;
        let names: Vec<&str> = older.iter().map(|v| v.version.name.as_str()).collect();
        assert_eq!(names, ["v2", "v1"], "{limit} a page");
    }
    let first = store
        .older_versions(&versions[0], &PageRequest::first(10))
        .await
        .unwrap();
    assert!(first.items.is_empty() && first.next.is_none());
}

/// Filtered lists read only their own index partition: a Query on `gsi2`, `gsi3` or `gsi4` by key, with a
/// filter only where both a status and an environment are asked for, and never a Scan (seen
/// through a recording proxy in front of the emulator).
#[tokio::test]
async fn dynamo_store_lists_by_repository_environment_and_status_from_their_own_partitions() {
    use boreas_test_support::http::{RecordingServer, forward};
    let (config, names) = provisioned().await;
    let upstream = config
        .endpoint_url()
        .expect("the emulator's endpoint")
        .to_owned();
    let proxy = RecordingServer::start(move |r| forward(&upstream, r));
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(proxy.url())
            .build(),
    );
    let store = DynamoStore::new(client, names.table());
    let unique = format!("keyed-{}", names.prefix());
    store.put_version(&version(&unique, "v1", 1)).await.unwrap();
    store
        .create_deployment(&NewDeployment {
            repository: unique.clone(),
            ..new_deployment(&format!("{unique}-d"), &unique, 2)
        })
        .await
        .unwrap();
    let page = PageRequest::first(10);
    let versions = store.list_versions(Some(&unique), &page).await.unwrap();
    assert_eq!(versions.items.len(), 1);
    let by_env = DeploymentFilter {
        environment: Some(unique.clone()),
        ..DeploymentFilter::default()
    };
    assert_eq!(
        store
            .list_deployments(&by_env, &page)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let by_status = DeploymentFilter {
        status: Some(DeploymentStatus::Planned),
        ..DeploymentFilter::default()
    };
    assert!(
        !store
            .list_deployments(&by_status, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let both = DeploymentFilter {
        environment: Some(unique.clone()),
        status: Some(DeploymentStatus::Planned),
        ..DeploymentFilter::default()
    };
    assert_eq!(
        store
            .list_deployments(&both, &page)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let by_repo = DeploymentFilter {
        repository: Some(unique.clone()),
        ..DeploymentFilter::default()
    };
    assert_eq!(
        store
            .list_deployments(&by_repo, &page)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let queries: Vec<serde_json::Value> = proxy
        .requests()
        .iter()
        .filter(|r| {
            let target = r.header("x-amz-target").unwrap_or_default();
            assert!(!target.ends_with(".Scan"), "a list scanned the table");
            target.ends_with(".Query")
        })
        .map(|r| r.json())
        .collect();
    let keyed: Vec<(&str, &str, bool)> = queries
        .iter()
        .map(|q| {
            (
                q["IndexName"].as_str().unwrap(),
                q["ExpressionAttributeValues"][":p"]["S"].as_str().unwrap(),
                q.get("FilterExpression").is_some(),
            )
        })
        .collect();
    let (versions_of, to_env, of_repo) = (
        format!("VERSIONS#{unique}"),
        format!("DEPLOYMENTS#ENV#{unique}"),
        format!("DEPLOYMENTS#REPO#{unique}"),
    );
    assert_eq!(
        keyed,
        [
            ("gsi2", versions_of.as_str(), false),
            ("gsi2", to_env.as_str(), false),
            ("gsi3", "DEPLOYMENTS#STATUS#planned", false),
            ("gsi3", "DEPLOYMENTS#STATUS#planned", true),
            ("gsi4", of_repo.as_str(), false),
        ]
    );
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
            &ApiToken::new("admin", Role::Admin, "2026-11-29T09:00:00.000Z"),
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

// ---------------------------------------------------------------------------------------------
// Queues, secrets, artifacts and the orchestrator against the emulator.

use std::collections::BTreeMap;
use std::time::Instant;

use boreas_aws::artifacts::{Artifacts, S3Artifacts};
use boreas_aws::orchestrator::{ExecutionStatus, Orchestrator, SfnOrchestrator};
use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
use boreas_aws::secrets::{Secrets, SsmSecrets};
use boreas_core::execution::{PlanObject, Slices};

fn receive_options(wait_secs: u64, visibility_secs: Option<u64>) -> ReceiveOptions {
    ReceiveOptions {
        wait: Duration::from_secs(wait_secs),
        max_messages: 10,
        visibility: visibility_secs.map(Duration::from_secs),
    }
}

#[tokio::test]
async fn long_poll_receive_returns_promptly_when_a_message_arrives() {
    let (config, names) = provisioned().await;
    let queues = Arc::new(SqsQueues::from_config(&config));
    let url = queues
        .ensure_queue(&names.agent_queue("staging", "host-1"))
        .await
        .unwrap();

    let poller = {
        let (queues, url) = (queues.clone(), url.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let messages = queues
                .receive(&url, &receive_options(20, None))
                .await
                .unwrap();
            (started.elapsed(), messages)
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attributes = BTreeMap::from([("command_id".to_owned(), "c-1".to_owned())]);
    let sent_id = queues
        .send(&url, r#"{"type":"deploy"}"#, &attributes)
        .await
        .unwrap();
    let (elapsed, messages) = poller.await.unwrap();
    println!("long poll (20 s wait) returned after {elapsed:?}, message sent after 1 s");
    assert!(
        elapsed < Duration::from_secs(5),
        "long poll took {elapsed:?} although a message arrived after 1 s"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "the poll did wait: {elapsed:?}"
    );
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].id, sent_id);
    assert_eq!(messages[0].body, r#"{"type":"deploy"}"#);
    assert_eq!(messages[0].attributes, attributes);
    assert_eq!(messages[0].receive_count, 1);
}

#[tokio::test]
async fn queues_are_ensured_once_and_messages_leased_and_deleted() {
    let (config, names) = provisioned().await;
    let queues = Arc::new(SqsQueues::from_config(&config));
    let name = names.agent_queue("prod", "db-7");
    let err = queues.queue_url(&name).await.unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
    assert!(err.to_string().contains(&name), "{err}");

    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (queues, name) = (queues.clone(), name.clone());
            tokio::spawn(async move { queues.ensure_queue(&name).await })
        })
        .collect();
    let mut urls = Vec::new();
    for task in tasks {
        urls.push(task.await.unwrap().unwrap());
    }
    urls.dedup();
    assert_eq!(urls.len(), 1, "one queue: {urls:?}");
    let url = urls.remove(0);
    assert!(url.ends_with(&format!("/{name}")), "{url}");
    assert_eq!(queues.ensure_queue(&name).await.unwrap(), url);
    assert_eq!(queues.queue_url(&name).await.unwrap(), url);
    // A queue a worker creates for itself has a dead-letter queue, as provisioned ones do.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let redrive = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .expect("a redrive policy");
    let redrive: serde_json::Value = serde_json::from_str(&redrive).unwrap();
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", Names::dlq(&name))),
        "{redrive}"
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        boreas_aws::provision::MAX_RECEIVE_COUNT.to_string()
    );

    queues.send(&url, "work", &BTreeMap::new()).await.unwrap();
    let first = queues
        .receive(&url, &receive_options(5, Some(60)))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(first[0].attributes.is_empty());
    assert!(
        queues
            .receive(&url, &receive_options(1, None))
            .await
            .unwrap()
            .is_empty(),
        "a leased message is hidden"
    );
    // Ending the lease early makes it visible again, as a second delivery.
    queues
        .change_visibility(&url, &first[0].receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    let second = queues
        .receive(&url, &receive_options(5, Some(60)))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(
        (second[0].id.as_str(), second[0].receive_count),
        (first[0].id.as_str(), 2)
    );
    // The first receive's time stays with the message (work spanning deliveries counts from it).
    assert!(first[0].first_received.is_some());
    assert_eq!(second[0].first_received, first[0].first_received);
    queues
        .delete(&url, &second[0].receipt_handle)
        .await
        .unwrap();
    queues
        .change_visibility(&url, &second[0].receipt_handle, Duration::ZERO)
        .await
        .ok();
    assert!(
        queues
            .receive(&url, &receive_options(1, None))
            .await
            .unwrap()
            .is_empty(),
        "a deleted message is gone"
    );

    let bad = ReceiveOptions {
        max_messages: 11,
        ..receive_options(1, None)
    };
    assert_eq!(
        queues.receive(&url, &bad).await.unwrap_err().error_type(),
        "InvalidInput"
    );
    let bad = receive_options(21, None);
    assert_eq!(
        queues.receive(&url, &bad).await.unwrap_err().error_type(),
        "InvalidInput"
    );
}

#[tokio::test]
async fn secrets_are_decrypted_and_cached_for_their_ttl() {
    let (config, names) = provisioned().await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let name = names.webhook_secret_param("shop");
    let put = |value: &'static str| {
        ssm.put_parameter()
            .name(&name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
    };
    put("first-secret").await.unwrap();
    let secrets = SsmSecrets::new(
        aws_sdk_ssm::Client::new(&config),
        Duration::from_millis(700),
    );
    assert_eq!(secrets.get(&name).await.unwrap().expose(), "first-secret");
    put("rotated-secret").await.unwrap();
    assert_eq!(
        secrets.get(&name).await.unwrap().expose(),
        "first-secret",
        "served from the cache within the TTL"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        secrets.get(&name).await.unwrap().expose(),
        "rotated-secret",
        "asked again after the TTL"
    );

    // Provisioning generated the admin token.
    let admin = SsmSecrets::from_config(&config)
        .get(&names.admin_token_param())
        .await
        .unwrap();
    assert!(admin.expose().len() >= 32);

    let missing = names.webhook_secret_param("nope");
    let err = secrets.get(&missing).await.unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
}

/// GET over plain HTTP/1.1 (the emulator listens on 127.0.0.1): status code and body.
async fn http_get(url: &str) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, response[split + 4..].to_vec())
}

#[tokio::test]
async fn artifacts_round_trip_and_presigned_links_serve_them() {
    let (config, names) = provisioned().await;
    let artifacts = S3Artifacts::from_config(&config, names.artifacts_bucket());
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let key = "shop/v1.0.0/shop-v1.0.0.tar.gz";
    artifacts
        .put(key, body.clone(), "application/gzip")
        .await
        .unwrap();
    assert_eq!(artifacts.get(key).await.unwrap(), body);

    let err = artifacts.get("shop/v9/none.tar.gz").await.unwrap_err();
    assert_eq!(err.error_type(), "NotFound", "{err}");
    assert!(err.to_string().contains("shop/v9/none.tar.gz"), "{err}");

    let url = artifacts
        .presign_get(key, Duration::from_secs(300))
        .await
        .unwrap();
    assert!(
        url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=300"),
        "{url}"
    );
    let (status, fetched) = http_get(&url).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, body, "the link serves the object");

    let err = artifacts
        .presign_get(key, Duration::from_secs(8 * 24 * 3600))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput", "{err}");
}

/// Creates a state machine named `{prefix}-{suffix}` from `definition` (a test fixture, not the
/// product's definition) and returns its ARN.
async fn fixture_state_machine(
    config: &aws_config::SdkConfig,
    names: &Names,
    suffix: &str,
    definition: &str,
) -> String {
    aws_sdk_sfn::Client::new(config)
        .create_state_machine()
        .name(format!("{}-{suffix}", names.prefix()))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/boreas-test")
        .send()
        .await
        .expect("create the fixture state machine")
        .state_machine_arn
}

/// Describes `name` until it leaves `Running` (10 s at most).
async fn finished(
    orchestrator: &SfnOrchestrator,
    name: &str,
) -> boreas_aws::orchestrator::Execution {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let execution = orchestrator.describe(name).await.unwrap();
        if execution.status != ExecutionStatus::Running || Instant::now() > deadline {
            return execution;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn starting_an_execution_twice_starts_one() {
    let (config, names) = provisioned().await;
    let pass = r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#;
    let arn = fixture_state_machine(&config, &names, "pass", pass).await;
    let orchestrator = SfnOrchestrator::from_config(&config, &arn, names.plans_bucket());
    let slices = |input: &str| Slices {
        input: input.to_owned(),
        objects: vec![PlanObject {
            key: "executions/dep-20260101-shop-v1/0/stage-0000.json".into(),
            body: "[]".into(),
        }],
    };

    let first = orchestrator
        .start(
            "dep-20260101-shop-v1",
            &slices(r#"{"deployment_id":"dep-20260101-shop-v1","n":1}"#),
        )
        .await
        .unwrap();
    assert!(first.created);
    // The objects are stored before the execution starts.
    let plans = S3Artifacts::from_config(&config, names.plans_bucket());
    assert_eq!(
        plans
            .get("executions/dep-20260101-shop-v1/0/stage-0000.json")
            .await
            .unwrap(),
        b"[]"
    );
    assert_eq!(
        first.execution_arn,
        orchestrator.execution_arn("dep-20260101-shop-v1")
    );
    let again = orchestrator
        .start(
            "dep-20260101-shop-v1",
            &slices(r#"{"n": 1, "deployment_id": "dep-20260101-shop-v1"}"#),
        )
        .await
        .unwrap();
    assert_eq!(again.execution_arn, first.execution_arn);
    assert!(!again.created, "the second start starts nothing");
    let err = orchestrator
        .start("dep-20260101-shop-v1", &slices(r#"{"n":2}"#))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "AlreadyExists", "{err}");

    let executions = aws_sdk_sfn::Client::new(&config)
        .list_executions()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1, "one execution exists");

    let done = finished(&orchestrator, "dep-20260101-shop-v1").await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let output: serde_json::Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(output["n"], 1, "a Pass state passes its input through");

    for err in [
        orchestrator.describe("dep-none").await.unwrap_err(),
        orchestrator
            .stop("dep-none", "Cancelled", "test")
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.error_type(), "NotFound", "{err}");
        assert!(err.to_string().contains("dep-none"), "{err}");
    }
}

#[tokio::test]
async fn task_tokens_complete_or_fail_waiting_tasks() {
    let (config, names) = provisioned().await;
    let queues = SqsQueues::from_config(&config);
    let url = queues
        .ensure_queue(&names.agent_queue("staging", "worker"))
        .await
        .unwrap();
    let definition = serde_json::json!({
        "StartAt": "Work",
        "States": {"Work": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            // Heartbeats are only accepted for tasks that declare a heartbeat timeout.
            "HeartbeatSeconds": 60,
            "Parameters": {
                "QueueUrl": url,
                "MessageBody": {"token.$": "$$.Task.Token", "input.$": "$"}
            },
            "End": true
        }}
    });
    let arn = fixture_state_machine(&config, &names, "wait", &definition.to_string()).await;
    let orchestrator = SfnOrchestrator::from_config(&config, &arn, names.plans_bucket());

    let mut tokens = Vec::new();
    for name in ["ok-run", "failing-run"] {
        let input = Slices {
            input: format!(r#"{{"run":"{name}"}}"#),
            objects: vec![],
        };
        orchestrator.start(name, &input).await.unwrap();
        let messages = queues
            .receive(&url, &receive_options(10, None))
            .await
            .unwrap();
        assert_eq!(messages.len(), 1, "{name}: the task sent its command");
        let body: serde_json::Value = serde_json::from_str(&messages[0].body).unwrap();
        assert_eq!(body["input"]["run"], name);
        queues
            .delete(&url, &messages[0].receipt_handle)
            .await
            .unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }

    orchestrator.send_task_heartbeat(&tokens[0]).await.unwrap();
    orchestrator
        .send_task_success(&tokens[0], r#"{"deployed":true}"#)
        .await
        .unwrap();
    let ok = finished(&orchestrator, "ok-run").await;
    assert_eq!(ok.status, ExecutionStatus::Succeeded);
    let output: serde_json::Value = serde_json::from_str(ok.output.as_deref().unwrap()).unwrap();
    assert_eq!(output, serde_json::json!({"deployed": true}));

    orchestrator
        .send_task_failure(&tokens[1], "HealthCheckFailed", "HTTP 503 from /healthz")
        .await
        .unwrap();
    let failed = finished(&orchestrator, "failing-run").await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("HealthCheckFailed"));

    let err = orchestrator
        .send_task_success("not-a-token", "{}")
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidTaskToken", "{err}");
}

#[tokio::test]
async fn an_empty_long_poll_waits_the_full_time_without_error() {
    let (config, names) = provisioned().await;
    let queues = SqsQueues::from_config(&config);
    let url = queues
        .ensure_queue(&names.agent_queue("staging", "idle"))
        .await
        .unwrap();
    let started = Instant::now();
    let messages = queues
        .receive(&url, &receive_options(20, None))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(messages.is_empty());
    assert!(
        elapsed >= Duration::from_secs(19),
        "returned early: {elapsed:?}"
    );
}
