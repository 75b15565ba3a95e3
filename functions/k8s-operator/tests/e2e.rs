//! End to end on the emulator: the product state machine sends Kubernetes batch commands to the
//! cluster queue; the operator (as the Lambda, and as the in-cluster poller) carries them out on
//! the fixture cluster over HTTP and answers the state machine's task tokens.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
use boreas_k8s_fixture::FixtureOptions;
use boreas_k8s_operator::poller::{self, PollOptions};
use common::{NS, Platform, input, stable};

/// Delivers the cluster queue's messages to the Lambda handler the way the SQS event source does
/// (deleting what it does not report as failed) until the execution ends; returns the shapes of
/// the stable and canary Deployments after each handled command.
async fn drive_lambda(
    p: &Platform,
    arn: &str,
    app: &str,
) -> Vec<(Option<(u64, String)>, Option<(u64, String)>)> {
    let operator = p.lambda_operator(Duration::from_secs(60));
    let queues = SqsQueues::from_config(&p.config);
    let sfn = aws_sdk_sfn::Client::new(&p.config);
    let mut shapes = Vec::new();
    loop {
        let status = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap();
        if status.status().as_str() != "RUNNING" {
            return shapes;
        }
        let options = ReceiveOptions {
            wait: Duration::from_secs(1),
            max_messages: 10,
            visibility: Some(Duration::from_secs(120)),
        };
        let messages = queues.receive(&p.queue_url, &options).await.unwrap();
        if messages.is_empty() {
            continue;
        }
        let mut event = SqsEvent::default();
        for m in &messages {
            let mut record = SqsMessage::default();
            record.message_id = Some(m.id.clone());
            record.receipt_handle = Some(m.receipt_handle.clone());
            record.body = Some(m.body.clone());
            event.records.push(record);
        }
        let response = operator.handle_sqs(event).await;
        for m in &messages {
            if !response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == m.id)
            {
                queues
                    .delete(&p.queue_url, &m.receipt_handle)
                    .await
                    .unwrap();
            }
        }
        shapes.push((p.shape(app), p.shape(&format!("{app}-canary"))));
    }
}

#[tokio::test]
async fn the_lambda_rolls_out_10_50_100_and_answers_the_state_machine() {
    let p = Platform::start(FixtureOptions::default()).await;
    p.cluster.create(&stable("web", 10, "shop/web:v1")).unwrap();
    let deployment = "dep-web-v2";
    let arn = p
        .execute(&input(deployment, "web", "v2", "v1", &[10, 50, 100]))
        .await;
    let shapes = drive_lambda(&p, &arn, "web").await;
    let (status, error) = p.finished(&arn, Duration::from_secs(30)).await;
    assert_eq!(status, "SUCCEEDED", "{error:?}");
    let v1 = "shop/web:v1".to_owned();
    let v2 = "shop/web:v2".to_owned();
    assert_eq!(
        shapes,
        vec![
            (Some((9, v1.clone())), Some((1, v2.clone()))),
            (Some((5, v1)), Some((5, v2.clone()))),
            (Some((10, v2)), None),
        ],
        "10% → 1 canary of R=10, 50% → 5, 100% → the stable on v2 with R and no canary"
    );
    let web = p.cluster.get(NS, "web").unwrap();
    assert_eq!(web["status"]["readyReplicas"], 10);
    assert_eq!(
        web["metadata"]["annotations"]["boreas.io/stable-replicas"],
        "10"
    );
    assert_eq!(web["metadata"]["labels"]["boreas.io/version"], "v2");
    assert_eq!(
        web["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "boreas"
    );
    // The user's own fields are untouched: the env var, the selector, the app label.
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "prod"
    );
    assert_eq!(web["spec"]["template"]["metadata"]["labels"]["app"], "web");
    assert_eq!(
        p.target_attr(deployment, "web", "status").await.as_deref(),
        Some("succeeded")
    );
    // Every change was a server-side apply by `boreas`.
    let patches: Vec<_> = p
        .cluster
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert!(!patches.is_empty());
    for r in &patches {
        assert_eq!(r.content_type, "application/apply-patch+yaml", "{r:?}");
        assert!(
            r.uri.contains("fieldManager=boreas") && r.uri.contains("force=true"),
            "{r:?}"
        );
    }
    // Waiting watched: WATCH requests, not a stream of GETs of the object.
    let requests = p.cluster.requests();
    assert!(requests.iter().any(|r| r.uri.contains("watch=true")));
    let gets = requests
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.uri
                    .starts_with("/apis/apps/v1/namespaces/shop/deployments/")
        })
        .count();
    assert!(
        gets <= 12,
        "{gets} single-object GETs: waiting must not poll"
    );
    // Inventory per workload after each command.
    let inventories = p.inventories().await;
    assert!(inventories.len() >= 3, "{inventories:?}");
    let last = inventories.last().unwrap();
    assert_eq!(last["target"], "c1");
    assert_eq!(last["kind"], "k8s");
    let apps = last["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "the canary is gone: {apps:?}");
    assert_eq!(apps[0]["app"], "web");
    assert_eq!(apps[0]["version"], "v2");
    assert_eq!(apps[0]["ready_replicas"], 10);
    assert_eq!(apps[0]["track"], "stable");
    boreas_core::command::Event::from_json(&last.to_string()).expect("a Boreas inventory event");
    p.cluster.stop().await;
}

async fn start_poller(
    p: &Platform,
    lease: Duration,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::watch::Sender<bool>,
) {
    let operator = Arc::new(p.poller_operator(Duration::from_secs(60)).await);
    let mut options = PollOptions::new(p.queue_url.clone());
    options.wait = Duration::from_secs(1);
    options.lease = lease;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    (tokio::spawn(poller::run(operator, options, shutdown)), stop)
}

#[tokio::test]
async fn a_never_ready_image_fails_the_batch_and_the_rollback_restores_the_stable_image() {
    let p = Platform::start(FixtureOptions::default()).await;
    p.cluster.create(&stable("api", 4, "shop/api:v1")).unwrap();
    p.cluster.never_ready("shop/api:v2");
    let deployment = "dep-api-v2";
    let arn = p
        .execute(&input(deployment, "api", "v2", "v1", &[50, 100]))
        .await;
    let (task, stop) = start_poller(&p, Duration::from_secs(30)).await;
    let (status, error) = p.finished(&arn, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    task.await.unwrap();
    assert_ne!(status, "SUCCEEDED", "{error:?}");
    assert_eq!(
        p.target_attr(deployment, "api", "error_type")
            .await
            .as_deref(),
        Some("Boreas.RolloutTimeout")
    );
    assert_eq!(
        p.target_attr(deployment, "api", "status").await.as_deref(),
        Some("rolled_back")
    );
    assert_eq!(
        p.shape("api"),
        Some((4, "shop/api:v1".to_owned())),
        "stable image and R restored"
    );
    assert_eq!(p.shape("api-canary"), None, "the canary is deleted");
    let api = p.cluster.get(NS, "api").unwrap();
    assert_eq!(api["status"]["readyReplicas"], 4);
    p.cluster.stop().await;
}

#[tokio::test]
async fn a_command_retried_after_a_crash_computes_the_same_replicas() {
    // Slow pods, so that the operator is surely still waiting when it is killed.
    let options = FixtureOptions {
        tick: Duration::from_millis(400),
        ..FixtureOptions::default()
    };
    let p = Platform::start(options).await;
    p.cluster
        .create(&stable("cart", 4, "shop/cart:v1"))
        .unwrap();
    let deployment = "dep-cart-v2";
    let arn = p
        .execute(&input(deployment, "cart", "v2", "v1", &[50]))
        .await;
    let (first, _stop_first) = start_poller(&p, Duration::from_secs(2)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while p.shape("cart-canary").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the canary never appeared"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The crash: the poller dies mid-wait without answering or deleting the message.
    first.abort();
    let _ = first.await;
    assert_eq!(p.shape("cart"), Some((2, "shop/cart:v1".to_owned())));
    assert_eq!(p.shape("cart-canary"), Some((2, "shop/cart:v2".to_owned())));
    let (second, stop) = start_poller(&p, Duration::from_secs(2)).await;
    let (status, error) = p.finished(&arn, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    second.await.unwrap();
    assert_eq!(status, "SUCCEEDED", "{error:?}");
    // Redelivered and redone from the recorded R = 4, not from the scaled-down 2 (which would give 1 + 1).
    assert_eq!(p.shape("cart"), Some((2, "shop/cart:v1".to_owned())));
    assert_eq!(p.shape("cart-canary"), Some((2, "shop/cart:v2".to_owned())));
    let cart = p.cluster.get(NS, "cart").unwrap();
    assert_eq!(
        cart["metadata"]["annotations"]["boreas.io/stable-replicas"],
        "4"
    );
    p.cluster.stop().await;
}

/// A command whose task no longer waits (the execution moved on, its token is dead) is dropped
/// before anything on the cluster changes.
#[tokio::test]
async fn a_stale_command_never_touches_the_cluster() {
    use boreas_core::command::{
        Action, Command, K8sWorkload, SCHEMA_VERSION, Workload, command_id,
    };
    let p = Platform::start(FixtureOptions::default()).await;
    p.cluster.create(&stable("web", 4, "shop/web:v1")).unwrap();
    let operator = p.poller_operator(Duration::from_secs(30)).await;
    let stale = Command {
        schema_version: SCHEMA_VERSION,
        command_id: command_id("dep-web-v2", "web", 0, common::CLUSTER, "deploy"),
        environment: "prod".into(),
        target: common::CLUSTER.into(),
        task_token: Some("a-token-no-task-waits-for-any-more".into()),
        heartbeat_seconds: Some(10),
        timeout_seconds: None,
        action: Action::Deploy {
            deployment_id: "dep-web-v2".into(),
            app: "web".into(),
            batch: 0,
            version: "v2".into(),
            workload: Workload::K8s(K8sWorkload {
                namespace: NS.into(),
                deployment: "web".into(),
                container: "web".into(),
                image: "shop/web:v2".into(),
            }),
            weight: Some(100),
            attempt: 0,
        },
    };
    let outcome = operator.handle_message(&stale.to_json()).await;
    assert!(
        matches!(outcome, boreas_k8s_operator::Outcome::Abandoned(_)),
        "{outcome:?}"
    );
    assert_eq!(p.shape("web"), Some((4, "shop/web:v1".to_owned())));
    assert_eq!(p.shape("web-canary"), None);
    p.cluster.stop().await;
}

/// The rollback of an app's first deployment names no Deployment: it finds the one this deployment
/// changed, never another repository's app of the same name.
#[tokio::test]
async fn a_first_deployment_rollback_leaves_another_apps_deployment_alone() {
    use boreas_core::command::{Action, Command, SCHEMA_VERSION, command_id};
    let p = Platform::start(FixtureOptions::default()).await;
    let mut other = stable("web", 3, "other/web:v1");
    other["metadata"]["labels"]["boreas.io/app"] = "web".into();
    other["metadata"]["labels"]["boreas.io/track"] = "stable".into();
    other["metadata"]["annotations"] = serde_json::json!({
        "boreas.io/rollout": "dep-of-another-repository",
        "boreas.io/stable-replicas": "3",
        "boreas.io/original-image": "other/web:v0",
    });
    p.cluster.create(&other).unwrap();
    let operator = p.poller_operator(Duration::from_secs(30)).await;
    let rollback = Command {
        schema_version: SCHEMA_VERSION,
        command_id: command_id("dep-mine", "web", 0, common::CLUSTER, "rollback"),
        environment: "prod".into(),
        target: common::CLUSTER.into(),
        task_token: None,
        heartbeat_seconds: Some(10),
        timeout_seconds: None,
        action: Action::Rollback {
            deployment_id: "dep-mine".into(),
            app: "web".into(),
            batch: 0,
            from_version: "v1".into(),
            to_version: None,
            workload: None,
        },
    };
    let outcome = operator.handle_message(&rollback.to_json()).await;
    assert!(
        matches!(&outcome, boreas_k8s_operator::Outcome::Succeeded(r) if r.version.is_none()),
        "{outcome:?}"
    );
    let after = p.cluster.get(NS, "web").unwrap();
    assert_eq!(
        after["metadata"]["annotations"],
        other["metadata"]["annotations"]
    );
    assert_eq!(p.shape("web"), Some((3, "other/web:v1".to_owned())));
    p.cluster.stop().await;
}
