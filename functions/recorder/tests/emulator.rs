//! The recorder handler against the emulator's DynamoDB: SQS batches as Lambda delivers them.

use std::sync::Arc;
use std::time::SystemTime;

use aws_lambda_events::sqs::SqsEvent;
use boreas_aws::names::Names;
use boreas_aws::store::{Decision, Store, Transition, rfc3339};
use boreas_core::command::{AppInventory, Channel, Event, EventBody};
use boreas_core::config::AppKind;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::status::GateStatus;
use boreas_recorder::{Outcome, Recorder, handle, record};
use boreas_test_support::emulator::Prefix;
use boreas_test_support::records::{example_plan, new_deployment};

async fn setup() -> (Recorder, Arc<dyn Store>, Names) {
    let (recorder, store, prefix) = setup_notifying().await;
    (recorder, store, prefix.names)
}

/// A recorder that announces gates and outcomes on the prefix's notifications queue.
async fn setup_notifying() -> (Recorder, Arc<dyn Store>, Prefix) {
    let prefix = Prefix::shared('r').await;
    let store: Arc<dyn Store> = Arc::new(prefix.store());
    let recorder =
        Recorder::new(store.clone(), prefix.names.clone()).with_notices(prefix.notices());
    (recorder, store, prefix)
}

/// An SQS event as Lambda delivers it from `queue`, one record per (message id, body).
fn sqs_event(queue: &str, messages: &[(&str, String)]) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795971600000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{queue}"),
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event")
}

fn failures(resp: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    resp.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

fn gate_event(id: &str, token: &str) -> String {
    Event::new(EventBody::GateWaiting {
        deployment_id: id.into(),
        app: "api".into(),
        batch: 0,
        gate: "api.0".into(),
        task_token: token.into(),
    })
    .to_json()
}

fn decision_event(id: &str, attempt: u32, token: &str) -> String {
    Event::new(EventBody::DecisionWaiting {
        deployment_id: id.into(),
        app: "web".into(),
        target: "h1".into(),
        batch: 1,
        attempt,
        task_token: token.into(),
    })
    .to_json()
}

fn inventory_event(host: &str, version: &str) -> String {
    inventory_at(host, version, &rfc3339(SystemTime::now()))
}

fn inventory_at(host: &str, version: &str, observed_at: &str) -> String {
    Event::new(EventBody::Inventory {
        target: host.into(),
        observed_at: observed_at.into(),
        kind: AppKind::Pm,
        environment: "prod".into(),
        group: Some("edge".into()),
        apps: vec![AppInventory {
            app: "web".into(),
            version: Some(version.into()),
            previous: None,
            healthy: true,
            pid: None,
        }],
        interval_seconds: Some(30),
    })
    .to_json()
}

fn finished_event(id: &str, status: &str, failed_target: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "schema_version": 1, "type": "deployment_finished", "deployment_id": id, "status": status
    });
    if let Some(t) = failed_target {
        v["failed_target"] = t.into();
    }
    v.to_string()
}

/// A deployment of the example plan, `running`, holding its run locks; returns its apps.
async fn running_deployment(store: &Arc<dyn Store>, id: &str) -> Vec<String> {
    let plan = example_plan("prod", "v2");
    let apps = plan.apps().map(|a| a.app.clone()).collect::<Vec<_>>();
    store
        .create_deployment(&new_deployment(id, plan))
        .await
        .unwrap();
    store
        .transition_deployment(
            id,
            &Transition::to(DeploymentStatus::Running, rfc3339(SystemTime::now())),
        )
        .await
        .unwrap();
    store.acquire_run_locks(id, "prod", &apps).await.unwrap();
    apps
}

#[tokio::test]
async fn gate_tokens_are_stored_readable_and_kept_once_decided() {
    let (recorder, store, prefix) = setup_notifying().await;
    let names = &prefix.names;
    let resp = handle(
        &recorder,
        sqs_event(
            &names.events_queue(),
            &[("m1", gate_event("dep-1", "tok-1"))],
        ),
    )
    .await;
    assert_eq!(failures(&resp), Vec::<String>::new());
    let gate = store.get_gate("dep-1", "api.0").await.unwrap().unwrap();
    assert_eq!(
        (gate.task_token.as_str(), gate.status),
        ("tok-1", GateStatus::Waiting)
    );

    // A retried state sends a new token while the gate waits: the new one is kept.
    assert_eq!(
        record(&recorder, Channel::Platform, &gate_event("dep-1", "tok-2"))
            .await
            .unwrap(),
        Outcome::GateStored
    );
    assert_eq!(
        store
            .get_gate("dep-1", "api.0")
            .await
            .unwrap()
            .unwrap()
            .task_token,
        "tok-2"
    );

    store
        .decide_gate("dep-1", "api.0", Decision::Approve, "ops", Some("ok"))
        .await
        .unwrap();
    // A redelivery after the decision changes nothing and is not a failure.
    let resp = handle(
        &recorder,
        sqs_event(
            &names.events_queue(),
            &[("m2", gate_event("dep-1", "tok-1"))],
        ),
    )
    .await;
    assert_eq!(failures(&resp), Vec::<String>::new());
    let gate = store.get_gate("dep-1", "api.0").await.unwrap().unwrap();
    assert_eq!(
        (gate.task_token.as_str(), gate.status),
        ("tok-2", GateStatus::Approved)
    );
    // The notifier hears of the waiting gate each time it is stored (it sends it once), and
    // not once it is decided.
    let gate_notice = ("dep-1".to_owned(), "gate_waiting:api.0".to_owned());
    assert_eq!(
        prefix.take_notices().await,
        [gate_notice.clone(), gate_notice]
    );
}

/// A failed host's decision token arrives only on the platform channel, and a late message
/// about an earlier attempt never replaces the attempt that waits now.
#[tokio::test]
async fn decision_tokens_are_stored_per_attempt_from_the_platform_only() {
    let (recorder, store, names) = setup().await;
    let resp = handle(
        &recorder,
        sqs_event(
            &names.inventory_queue(),
            &[("forged", decision_event("dep-1", 0, "host-token"))],
        ),
    )
    .await;
    assert_eq!(failures(&resp), ["forged"], "a host cannot open a decision");
    assert_eq!(
        store.get_host_decision("dep-1", "web", "h1").await.unwrap(),
        None
    );

    for (attempt, token, outcome) in [
        (0, "tok-0", Outcome::DecisionStored),
        (1, "tok-1", Outcome::DecisionStored),
        (0, "tok-late", Outcome::DecisionAlreadyTaken),
    ] {
        assert_eq!(
            record(
                &recorder,
                Channel::Platform,
                &decision_event("dep-1", attempt, token)
            )
            .await
            .unwrap(),
            outcome,
            "{token}"
        );
    }
    let waiting = store
        .get_host_decision("dep-1", "web", "h1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            waiting.attempt,
            waiting.task_token.as_str(),
            waiting.batch,
            waiting.action
        ),
        (1, "tok-1", 1, None)
    );
}

#[tokio::test]
async fn inventories_upsert_agents() {
    let (recorder, store, names) = setup().await;
    let resp = handle(
        &recorder,
        sqs_event(
            &names.inventory_queue(),
            &[
                ("m1", inventory_event("h1", "v1")),
                ("m2", inventory_event("h2", "v1")),
            ],
        ),
    )
    .await;
    assert_eq!(failures(&resp), Vec::<String>::new());
    let first_seen = store.list_agents(Some("prod")).await.unwrap();
    assert_eq!(first_seen.len(), 2);
    assert_eq!(
        (first_seen[0].host.as_str(), first_seen[0].group.as_str()),
        ("h1", "edge")
    );
    assert_eq!(
        first_seen[0].apps,
        serde_json::json!([{"app": "web", "version": "v1", "healthy": true}])
    );

    // A newer report replaces the old one (and a redelivery of it leaves the same record).
    for _ in 0..2 {
        record(&recorder, Channel::Inventory, &inventory_event("h1", "v2"))
            .await
            .unwrap();
    }
    let agents = store.list_agents(Some("prod")).await.unwrap();
    assert_eq!(agents.len(), 2);
    assert_eq!(agents[0].apps[0]["version"], "v2");
    assert!(agents[0].last_seen >= first_seen[0].last_seen);
    assert_eq!(agents[1], first_seen[1]);
}

#[tokio::test]
async fn an_inventory_sets_how_long_its_host_counts_as_reachable() {
    let (recorder, store, _) = setup().await;
    let before = SystemTime::now();
    record(&recorder, Channel::Inventory, &inventory_event("h1", "v1"))
        .await
        .unwrap();
    let agent = &store.list_agents(Some("prod")).await.unwrap()[0];
    // Two 30 s intervals and the slack.
    let window = std::time::Duration::from_secs(75);
    let until = agent.live_until.clone().expect("a liveness window");
    assert!(until >= rfc3339(before + window), "{until}");
    assert!(until <= rfc3339(SystemTime::now() + window), "{until}");
    assert!(!agent.unreachable_at(&rfc3339(SystemTime::now())));
    assert!(agent.unreachable_at(&rfc3339(SystemTime::now() + window + window)));
}

#[tokio::test]
async fn hook_output_is_stored_per_target_and_action() {
    let (recorder, store, names) = setup().await;
    let body = |action: &str, output: &str| {
        Event::new(EventBody::TaskOutput {
            deployment_id: "d-1".into(),
            app: "web".into(),
            target: "h1".into(),
            action: action.into(),
            output: output.into(),
            truncated: action == "deploy",
        })
        .to_json()
    };
    let resp = handle(
        &recorder,
        sqs_event(
            &names.inventory_queue(),
            &[
                ("m1", body("deploy", "== validate failed: exit status: 1\n")),
                ("m2", body("rollback", "== rollback succeeded\n")),
            ],
        ),
    )
    .await;
    assert_eq!(failures(&resp), Vec::<String>::new());
    // A redelivery replaces, never duplicates.
    assert_eq!(
        record(
            &recorder,
            Channel::Inventory,
            &body("deploy", "== validate failed: exit status: 1\n")
        )
        .await
        .unwrap(),
        Outcome::OutputStored
    );
    let mut outputs = store.task_outputs("d-1", "web", "h1").await.unwrap();
    outputs.sort_by(|a, b| a.action.cmp(&b.action));
    assert_eq!(outputs.len(), 2);
    assert_eq!(
        (outputs[0].action.as_str(), outputs[0].truncated),
        ("deploy", true)
    );
    assert_eq!(outputs[1].output, "== rollback succeeded\n");
    // Output is what hosts send: the platform channel refuses it.
    assert!(
        record(&recorder, Channel::Platform, &body("deploy", "forged"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_finished_deployment_gets_its_status_and_releases_its_locks_once() {
    let (recorder, store, prefix) = setup_notifying().await;
    let names = &prefix.names;
    let apps = running_deployment(&store, "dep-1").await;
    assert!(apps.len() > 1, "the example plans several apps");
    // Another environment's lock on the same app is not this deployment's to release.
    store
        .acquire_run_locks("dep-9", "staging", &apps[..1])
        .await
        .unwrap();

    let resp = handle(
        &recorder,
        sqs_event(
            &names.events_queue(),
            &[("m1", finished_event("dep-1", "rolled_back", Some("h3")))],
        ),
    )
    .await;
    assert_eq!(failures(&resp), Vec::<String>::new());
    let d = store.get_deployment("dep-1").await.unwrap().unwrap();
    assert_eq!(d.status, DeploymentStatus::RolledBack);
    assert_eq!(d.failed_target.as_deref(), Some("h3"));
    assert!(d.ended_at.is_some());
    for app in &apps {
        assert_eq!(store.run_lock_holder("prod", app).await.unwrap(), None);
    }
    assert_eq!(
        store.run_lock_holder("staging", &apps[0]).await.unwrap(),
        Some("dep-9".into())
    );

    // Redelivered: nothing changes.
    let outcome = record(
        &recorder,
        Channel::Platform,
        &finished_event("dep-1", "rolled_back", Some("h3")),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::AlreadyFinished(DeploymentStatus::RolledBack)
    );
    assert_eq!(store.get_deployment("dep-1").await.unwrap().unwrap(), d);
    // Announced on the redelivery too (a crash may have come between the two): the notifier
    // sends it once.
    let rolled_back = ("dep-1".to_owned(), "rolled_back".to_owned());
    assert_eq!(
        prefix.take_notices().await,
        [rolled_back.clone(), rolled_back]
    );
}

#[tokio::test]
async fn a_cancelled_deployment_keeps_its_status_but_its_locks_are_released() {
    let (recorder, store, _names) = setup().await;
    let apps = running_deployment(&store, "dep-2").await;
    let cancelled = store
        .transition_deployment(
            "dep-2",
            &Transition::to(DeploymentStatus::Cancelled, rfc3339(SystemTime::now())),
        )
        .await
        .unwrap();
    let outcome = record(
        &recorder,
        Channel::Platform,
        &finished_event("dep-2", "succeeded", None),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::AlreadyFinished(DeploymentStatus::Cancelled)
    );
    assert_eq!(
        store.get_deployment("dep-2").await.unwrap().unwrap(),
        cancelled
    );
    for app in &apps {
        assert_eq!(store.run_lock_holder("prod", app).await.unwrap(), None);
    }
}

#[tokio::test]
async fn bad_messages_fail_alone_and_the_rest_of_the_batch_is_recorded() {
    let (recorder, store, names) = setup().await;
    running_deployment(&store, "dep-3").await;
    let resp = handle(
        &recorder,
        sqs_event(
            &names.events_queue(),
            &[
                ("ok-gate", gate_event("dep-3", "tok")),
                ("not-json", "{\"schema_version\": 1, \"type\":".to_owned()),
                (
                    "old-schema",
                    gate_event("dep-3", "tok")
                        .replace("\"schema_version\":1", "\"schema_version\":7"),
                ),
                (
                    "unknown-type",
                    r#"{"schema_version":1,"type":"explode"}"#.to_owned(),
                ),
                ("not-terminal", finished_event("dep-3", "running", None)),
                (
                    "unknown-deployment",
                    finished_event("dep-404", "succeeded", None),
                ),
                ("ok-finished", finished_event("dep-3", "succeeded", None)),
            ],
        ),
    )
    .await;
    assert_eq!(
        failures(&resp),
        [
            "not-json",
            "old-schema",
            "unknown-type",
            "not-terminal",
            "unknown-deployment"
        ]
    );
    assert!(store.get_gate("dep-3", "api.0").await.unwrap().is_some());
    assert_eq!(
        store.get_deployment("dep-3").await.unwrap().unwrap().status,
        DeploymentStatus::Succeeded
    );

    // The errors say what is wrong.
    let err = record(
        &recorder,
        Channel::Platform,
        &finished_event("dep-3", "running", None),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "deployment dep-3: deployment_finished reports status running, which is not terminal"
    );
    let err = record(&recorder, Channel::Platform, "[]")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("schema_version"), "{err}");
    assert_eq!(err.error_type(), "Boreas.InvalidCommand");
}

/// Agents and operators send on the inventory queue; nothing they send there can finish a
/// deployment or touch a gate, and a platform event is accepted only from the events queue.
#[tokio::test]
async fn events_on_the_wrong_queue_are_refused_and_change_nothing() {
    let (recorder, store, names) = setup().await;
    running_deployment(&store, "dep-5").await;
    let inventory_queue = names.inventory_queue();
    let resp = handle(
        &recorder,
        sqs_event(
            &inventory_queue,
            &[
                ("forged-finish", finished_event("dep-5", "succeeded", None)),
                ("forged-gate", gate_event("dep-5", "forged-token")),
                ("inventory", inventory_event("h1", "v1")),
            ],
        ),
    )
    .await;
    assert_eq!(failures(&resp), ["forged-finish", "forged-gate"]);
    assert_eq!(
        store.get_deployment("dep-5").await.unwrap().unwrap().status,
        DeploymentStatus::Running
    );
    assert!(store.get_gate("dep-5", "api.0").await.unwrap().is_none());
    assert_eq!(store.list_agents(None).await.unwrap().len(), 1);

    let resp = handle(
        &recorder,
        sqs_event(
            &names.events_queue(),
            &[("inventory-on-events", inventory_event("h2", "v1"))],
        ),
    )
    .await;
    assert_eq!(failures(&resp), ["inventory-on-events"]);
    assert_eq!(store.list_agents(None).await.unwrap().len(), 1);
    let resp = handle(
        &recorder,
        sqs_event("boreas-plan", &[("elsewhere", inventory_event("h3", "v1"))]),
    )
    .await;
    assert_eq!(failures(&resp), ["elsewhere"]);

    let err = record(
        &recorder,
        Channel::Inventory,
        &finished_event("dep-5", "succeeded", None),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "a deployment_finished event arrived on the inventory queue; it is accepted only on the \
         platform events queue"
    );
    assert_eq!(err.error_type(), "WrongChannel");
}

/// Inventories of one host may arrive out of order: an older observation never replaces a newer
/// one, and one without a proper instant is refused.
#[tokio::test]
async fn an_older_inventory_never_overwrites_a_newer_one() {
    let (recorder, store, _names) = setup().await;
    let newer = inventory_at("h1", "v2", "2026-12-01T10:00:05.000Z");
    let older = inventory_at("h1", "v1", "2026-12-01T10:00:01.000Z");
    assert_eq!(
        record(&recorder, Channel::Inventory, &newer).await.unwrap(),
        Outcome::InventoryStored
    );
    for stale in [&older, &newer] {
        assert_eq!(
            record(&recorder, Channel::Inventory, stale).await.unwrap(),
            Outcome::InventoryStale
        );
    }
    let agents = store.list_agents(Some("prod")).await.unwrap();
    assert_eq!(agents[0].apps[0]["version"], "v2");
    assert_eq!(agents[0].observed_at, "2026-12-01T10:00:05.000Z");
    let later = inventory_at("h1", "v3", "2026-12-01T10:00:06.000Z");
    assert_eq!(
        record(&recorder, Channel::Inventory, &later).await.unwrap(),
        Outcome::InventoryStored
    );

    let err = record(
        &recorder,
        Channel::Inventory,
        &inventory_at("h1", "v9", "tomorrow"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "BadObservedAt");
    assert!(err.to_string().contains("\"tomorrow\""), "{err}");
}
