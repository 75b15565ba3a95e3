//! End to end on the emulator: the product state machine sends Kubernetes batch commands to the
//! cluster queue; the operator (as the Lambda, and as the in-cluster poller) carries them out on
//! the fixture cluster over HTTP and answers the state machine's task tokens.

mod common;

use std::sync::Arc;
use std::time::Duration;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use boreas_aws::batch::lambda_event;
use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
use boreas_k8s_fixture::FixtureOptions;
use boreas_k8s_operator::Operator;
use boreas_k8s_operator::operator::{LAMBDA_RESERVE, wait_until};
use boreas_k8s_operator::poller::{self, PollOptions};
use common::{NS, Platform, input, stable};

/// The operator as a Lambda function behind the cluster queue's SQS event source: each invocation
/// gets what one poll received and a deadline `timeout` away; SQS deletes what the function does
/// not report failed.
struct LambdaSource<'a> {
    p: &'a Platform,
    operator: Operator,
    queues: SqsQueues,
    queue_arn: String,
    timeout: Duration,
}

/// One invocation of the function.
struct Invocation {
    /// The commands it was given.
    bodies: Vec<String>,
    /// How long it ran.
    took: Duration,
    /// How many it reported failed (left for another delivery).
    redelivered: usize,
}

impl<'a> LambdaSource<'a> {
    async fn new(p: &'a Platform, timeout: Duration) -> Self {
        let queue_arn = aws_sdk_sqs::Client::new(&p.config)
            .get_queue_attributes()
            .queue_url(&p.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        Self {
            p,
            operator: p.lambda_operator(Duration::from_secs(900)),
            queues: SqsQueues::from_config(&p.config),
            queue_arn,
            timeout,
        }
    }

    /// One poll and, when it received commands, one invocation with them.
    async fn invoke_once(&self) -> Option<Invocation> {
        let options = ReceiveOptions {
            wait: Duration::from_secs(1),
            max_messages: 10,
            // The template's visibility timeout of the cluster queue.
            visibility: Some(Duration::from_secs(360)),
        };
        let messages = self
            .queues
            .receive(&self.p.queue_url, &options)
            .await
            .unwrap();
        if messages.is_empty() {
            return None;
        }
        let deadline = SystemTime::now() + self.timeout;
        let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
        let started = Instant::now();
        let response = self
            .operator
            .handle_sqs(
                lambda_event(&self.queue_arn, &messages),
                Some(wait_until(u64::try_from(deadline_ms).unwrap())),
            )
            .await;
        let took = started.elapsed();
        let failed = |id: &str| {
            response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id)
        };
        for m in messages.iter().filter(|m| !failed(&m.id)) {
            self.queues
                .delete(&self.p.queue_url, &m.receipt_handle)
                .await
                .unwrap();
        }
        Some(Invocation {
            bodies: messages.iter().map(|m| m.body.clone()).collect(),
            took,
            redelivered: response.batch_item_failures.len(),
        })
    }
}

/// `(replicas, image)` of the stable and the canary Deployment.
type Shapes = (Option<(u64, String)>, Option<(u64, String)>);

/// What driving an execution through the Lambda saw.
struct Driven {
    /// The shapes after each invocation.
    shapes: Vec<Shapes>,
    invocations: Vec<Invocation>,
}

/// Runs the Lambda (deadline `timeout` per invocation) on the cluster queue until the execution
/// ends.
async fn drive_lambda(p: &Platform, arn: &str, app: &str, timeout: Duration) -> Driven {
    let source = LambdaSource::new(p, timeout).await;
    let sfn = aws_sdk_sfn::Client::new(&p.config);
    let mut driven = Driven {
        shapes: Vec::new(),
        invocations: Vec::new(),
    };
    loop {
        let status = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap();
        if status.status().as_str() != "RUNNING" {
            return driven;
        }
        if let Some(invocation) = source.invoke_once().await {
            driven.invocations.push(invocation);
            driven
                .shapes
                .push((p.shape(app), p.shape(&format!("{app}-canary"))));
        }
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
    let shapes = drive_lambda(&p, &arn, "web", Duration::from_secs(60))
        .await
        .shapes;
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

/// A rollout that takes 90 s under a 60 s Lambda timeout: the first invocation applies and waits
/// until its time is nearly up, then hands the command back to the queue; a later one goes on
/// waiting (re-applying nothing new) and answers the state machine.
#[tokio::test]
async fn a_rollout_longer_than_the_lambda_timeout_goes_on_in_a_later_invocation() {
    let p = Platform::start(FixtureOptions::default()).await;
    p.cluster
        .create(&stable("slow", 2, "shop/slow:v1"))
        .unwrap();
    p.cluster
        .ready_after("shop/slow:v2", Duration::from_secs(90));
    let deployment = "dep-slow-v2";
    let mut plan = input(deployment, "slow", "v2", "v1", &[100]);
    plan.stages[0].apps[0].timeout_seconds = 180;
    let arn = p.execute(&plan).await;
    let timeout = Duration::from_secs(60);
    let driven = drive_lambda(&p, &arn, "slow", timeout).await;
    let (status, error) = p.finished(&arn, Duration::from_secs(30)).await;
    assert_eq!(status, "SUCCEEDED", "{error:?}");
    let took: Vec<Duration> = driven.invocations.iter().map(|i| i.took).collect();
    assert!(took.len() >= 2, "the rollout spans invocations: {took:?}");
    for t in &took {
        assert!(
            *t < timeout,
            "every invocation ends before its deadline: {took:?}"
        );
    }
    // The first invocation waited until the reserve before its deadline, and handed the command back.
    assert!(
        took[0] >= timeout - LAMBDA_RESERVE - Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(driven.invocations[0].redelivered, 1);
    assert_eq!(driven.invocations.last().unwrap().redelivered, 0);
    assert_eq!(p.shape("slow"), Some((2, "shop/slow:v2".to_owned())));
    assert_eq!(
        p.target_attr(deployment, "slow", "status").await.as_deref(),
        Some("succeeded")
    );
    // Each later invocation re-applied the same documents: one generation for the rollout.
    let slow = p.cluster.get(NS, "slow").unwrap();
    assert_eq!(slow["metadata"]["generation"], 2, "{slow}");
    p.cluster.stop().await;
}

/// The rollout's time limit counts from the command's first delivery, however short each
/// invocation is; after the rollback, a late delivery of the same deploy changes nothing.
#[tokio::test]
async fn the_rollout_limit_spans_invocations_and_a_late_deploy_never_undoes_the_rollback() {
    let p = Platform::start(FixtureOptions {
        // Only the operator's own limit ends this rollout.
        progress_deadline: Duration::from_secs(600),
        ..FixtureOptions::default()
    })
    .await;
    p.cluster
        .create(&stable("late", 2, "shop/late:v1"))
        .unwrap();
    p.cluster.never_ready("shop/late:v2");
    let deployment = "dep-late-v2";
    let mut plan = input(deployment, "late", "v2", "v1", &[100]);
    // The operator gives up 10 s after the first delivery, before the task's own 12 s timeout.
    plan.stages[0].apps[0].timeout_seconds = 12;
    let arn = p.execute(&plan).await;
    // Invocations of at most 3 s of waiting each.
    let driven = drive_lambda(&p, &arn, "late", LAMBDA_RESERVE + Duration::from_secs(3)).await;
    let (status, error) = p.finished(&arn, Duration::from_secs(30)).await;
    assert_ne!(status, "SUCCEEDED", "{error:?}");
    assert_eq!(
        p.target_attr(deployment, "late", "error_type")
            .await
            .as_deref(),
        Some("Boreas.RolloutTimeout"),
        "the operator's limit, counted across invocations, fired before the task timed out"
    );
    assert_eq!(
        p.target_attr(deployment, "late", "status").await.as_deref(),
        Some("rolled_back")
    );
    let deploy = driven
        .invocations
        .iter()
        .flat_map(|i| &i.bodies)
        .find(|b| {
            matches!(
                boreas_core::command::Command::from_json(b).map(|c| c.action),
                Ok(boreas_core::command::Action::Deploy { .. })
            )
        })
        .expect("the deploy command")
        .clone();
    assert!(
        driven
            .invocations
            .iter()
            .filter(|i| i.bodies.contains(&deploy))
            .count()
            >= 2,
        "the deploy waited over several invocations"
    );
    // Standard queues may deliver a message again late: the deploy comes once more.
    let source = LambdaSource::new(&p, Duration::from_secs(60)).await;
    source
        .queues
        .send(&p.queue_url, &deploy, &Default::default())
        .await
        .unwrap();
    let late = loop {
        if let Some(i) = source.invoke_once().await {
            break i;
        }
    };
    assert_eq!(late.bodies, [deploy]);
    assert_eq!(late.redelivered, 0, "dropped, not kept for another try");
    assert_eq!(p.shape("late"), Some((2, "shop/late:v1".to_owned())));
    assert_eq!(p.shape("late-canary"), None);
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
    let outcome = operator
        .handle_message(&stale.to_json(), Default::default())
        .await;
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
    let outcome = operator
        .handle_message(&rollback.to_json(), Default::default())
        .await;
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
