//! The worker on the emulator: an execution waits on the analysis queue for a task token (a
//! one-state machine whose message is the deployment definition's), the worker measures a local
//! HTTP check on its schedule with the real store, and answers the execution: pass, fail (the
//! deployment's error names the check, the value and the condition) or inconclusive (a gate).
//! The same worker answers the freeze check before a batch: at once, when the window closes, or
//! with a failure that rolls the app back.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use boreas_analysis::providers::SdkCloudWatch;
use boreas_analysis::{Analyst, handle};
use boreas_aws::batch::lambda_event;
use boreas_aws::orchestrator::{ExecutionStatus, Orchestrator, SfnOrchestrator};
use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
use boreas_aws::secrets::SsmSecrets;
use boreas_aws::store::{DynamoStore, Store, Transition};
use boreas_core::analysis::Outcome;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::execution::Slices;
use boreas_core::plan::{AppPlan, BatchPlan, PausePlan, Plan, Stage};
use boreas_test_support::emulator::Prefix;
use boreas_test_support::http::{RecordingServer, Response};
use boreas_test_support::records::{self, at};
use serde_json::json;

/// A `boreas.yaml` whose app `api` has one HTTP check: `count` measurements a second apart.
fn config(url: &str, count: u32) -> String {
    format!(
        r#"environments:
  - name: prod
apps:
  - name: api
    kind: pm
    rollout:
      batches: [1, "100%"]
    pm:
      hosts:
        prod: [api-1, api-2]
      artifact:
        url: "https://releases.example.com/api/{{version}}.tar.gz"
        sha256_url: "https://releases.example.com/api/{{version}}.tar.gz.sha256"
      run:
        command: ["./api"]
      health:
        command: ["./check"]
    analysis:
      - name: error-rate
        http:
          url: "{url}/ratio?app={{app}}&batch={{batch}}"
          json_path: "$.data.ratio"
        condition: "< 0.01"
        interval: 1s
        count: {count}
"#
    )
}

fn plan(version: &str) -> Plan {
    let mut plan = records::example_plan("prod", version);
    plan.stages = vec![Stage {
        apps: vec![AppPlan {
            batches: vec![
                BatchPlan {
                    index: 0,
                    targets: vec!["api-1".to_owned()],
                    weight: None,
                    pause: PausePlan::None,
                },
                BatchPlan {
                    index: 1,
                    targets: vec!["api-2".to_owned()],
                    weight: None,
                    pause: PausePlan::None,
                },
            ],
            ..plan.stages[0].apps[0].clone()
        }],
        ..plan.stages[0].clone()
    }];
    plan.stages[0].apps[0].app = "api".to_owned();
    plan
}

/// The one-state machine: the deployment definition's analysis message, then success.
fn definition(queue_url: &str) -> String {
    json!({
        "StartAt": "Analysis",
        "States": {"Analysis": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": queue_url, "MessageBody": {
                "schema_version": 1,
                "deployment_id.$": "$.deployment_id",
                "app.$": "$.app",
                "batch.$": "$.batch",
                "check.$": "$.check",
                "task_token.$": "$$.Task.Token"
            }},
            "HeartbeatSeconds": 600,
            "End": true
        }}
    })
    .to_string()
}

struct Fixture {
    store: DynamoStore,
    queues: SqsQueues,
    queue_url: String,
    queue_arn: String,
    orchestrator: SfnOrchestrator,
    analyst: Analyst,
}

async fn fixture() -> Fixture {
    let prefix = Prefix::shared('n').await;
    let queues = SqsQueues::from_config(&prefix.sdk);
    let queue = prefix.names.analysis_queue();
    let queue_url = queues.ensure_queue(&queue).await.unwrap();
    let queue_arn = format!("arn:aws:sqs:us-east-1:123456789012:{queue}");
    let sfn = aws_sdk_sfn::Client::new(&prefix.sdk);
    let arn = sfn
        .create_state_machine()
        .name(format!("{}-analysis-test", prefix.names.prefix()))
        .definition(definition(&queue_url))
        .role_arn("arn:aws:iam::123456789012:role/boreas-deployment")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    let orchestrator = SfnOrchestrator::from_config(&prefix.sdk, &arn, prefix.names.plans_bucket());
    let store = prefix.store();
    let analyst = Analyst::new(
        Arc::new(store.clone()),
        Arc::new(orchestrator.clone()),
        Arc::new(queues.clone()),
        Arc::new(SsmSecrets::from_config(&prefix.sdk)),
        Arc::new(SdkCloudWatch::from_config(&prefix.sdk)),
        prefix.names.clone(),
    )
    .unwrap();
    Fixture {
        store,
        queues,
        queue_url,
        queue_arn,
        orchestrator,
        analyst,
    }
}

impl Fixture {
    /// A running deployment `id` of version `version` whose recorded config is `yaml`, and its
    /// execution waiting for the analysis of batch `batch`.
    async fn running(&self, id: &str, version: &str, yaml: &str, batch: u32) {
        self.asking(id, version, yaml, batch, "analysis").await;
    }

    /// As [`Self::running`], the execution asking `check` (`analysis` or `freeze`).
    async fn asking(&self, id: &str, version: &str, yaml: &str, batch: u32, check: &str) {
        self.store
            .put_version(&records::version("shop", version, &format!("{:040x}", 7)))
            .await
            .unwrap();
        self.store
            .put_version_config("shop", version, yaml)
            .await
            .unwrap();
        self.store
            .create_deployment(&records::new_deployment(id, plan(version)))
            .await
            .unwrap();
        self.store
            .transition_deployment(id, &Transition::to(DeploymentStatus::Running, at(1)))
            .await
            .unwrap();
        let input =
            json!({"deployment_id": id, "app": "api", "batch": batch, "check": check}).to_string();
        let slices = Slices {
            input,
            objects: Vec::new(),
        };
        self.orchestrator.start(id, &slices).await.unwrap();
    }

    /// Hands what the queue holds to the worker, as Lambda's event source does, until the
    /// execution `id` ends; its status, output and error.
    async fn run(&self, id: &str) -> (ExecutionStatus, Option<String>, Option<String>) {
        for _ in 0..120 {
            let messages = self
                .queues
                .receive(
                    &self.queue_url,
                    &ReceiveOptions {
                        max_messages: 10,
                        wait: Duration::from_secs(1),
                        ..ReceiveOptions::default()
                    },
                )
                .await
                .unwrap();
            if !messages.is_empty() {
                let event = lambda_event(&self.queue_arn, &messages);
                let response = handle(&self.analyst, event).await;
                // What the worker did not ask back is done: Lambda deletes it.
                for m in &messages {
                    let back = response
                        .batch_item_failures
                        .iter()
                        .any(|f| f.item_identifier == m.id);
                    if !back {
                        self.queues
                            .delete(&self.queue_url, &m.receipt_handle)
                            .await
                            .unwrap();
                    }
                }
            }
            let execution = self.orchestrator.describe(id).await.unwrap();
            if execution.status != ExecutionStatus::Running {
                return (execution.status, execution.output, execution.error);
            }
        }
        panic!("execution {id} did not end");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_measures_on_schedule_and_answers_pass_fail_or_a_gate() {
    let ratio = Arc::new(Mutex::new(json!(0.002)));
    let server = {
        let ratio = Arc::clone(&ratio);
        RecordingServer::start(move |_| {
            let r = ratio.lock().unwrap_or_else(PoisonError::into_inner).clone();
            Response::json(200, json!({"data": {"ratio": r}}))
        })
    };
    let f = fixture().await;

    // Pass: two measurements a second apart, then the execution goes on.
    f.running("an-pass", "v1", &config(&server.url(), 2), 1)
        .await;
    let started = SystemTime::now();
    let (status, output, error) = f.run("an-pass").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    let output: serde_json::Value = serde_json::from_str(&output.unwrap()).unwrap();
    assert_eq!(output, json!({"analysis": "pass"}));
    assert!(
        started.elapsed().unwrap() >= Duration::from_secs(1),
        "the second measurement waited for its interval"
    );
    let records = f.store.analyses("an-pass").await.unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.app.as_str(), r.batch, r.check.as_str()),
        ("api", 1, "error-rate")
    );
    assert_eq!(r.measurements.len(), 2);
    assert_eq!(r.verdict, Some(Outcome::Pass));
    assert_eq!(r.condition, "< 0.01");
    // The placeholders were filled.
    let first = &server.requests()[0];
    assert_eq!(first.target, "/ratio?app=api&batch=1");

    // Fail: the first measurement decides; the deployment's error says what was measured.
    *ratio.lock().unwrap() = json!(0.05);
    f.running("an-fail", "v2", &config(&server.url(), 3), 0)
        .await;
    let (status, _, error) = f.run("an-fail").await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("AnalysisFailed"));
    let d = f.store.get_deployment("an-fail").await.unwrap().unwrap();
    assert_eq!(
        d.error.as_deref(),
        Some(
            "app api, batch 1: check error-rate failed: 0.05, wanted < 0.01 (1 of 1 measurements failed)"
        )
    );

    // A failing check answers at once, while another check of the batch still has measurements
    // due in an hour.
    let slow = "      - name: later\n        http:\n          url: \"URL/ratio\"\n          json_path: \"$.data.ratio\"\n        condition: \"< 0.01\"\n        initial_delay: 1h\n".replace("URL", &server.url());
    f.running("an-fast", "v6", &(config(&server.url(), 1) + &slow), 0)
        .await;
    let started = SystemTime::now();
    let (status, _, error) = f.run("an-fast").await;
    assert_eq!(
        (status, error.as_deref()),
        (ExecutionStatus::Failed, Some("AnalysisFailed"))
    );
    assert!(started.elapsed().unwrap() < Duration::from_secs(60));

    // No data: inconclusive by default, so a person decides at the analysis gate.
    *ratio.lock().unwrap() = json!(null);
    f.running("an-none", "v3", &config(&server.url(), 1), 0)
        .await;
    let (status, output, _) = f.run("an-none").await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    let output: serde_json::Value = serde_json::from_str(&output.unwrap()).unwrap();
    assert_eq!(output["analysis"], "inconclusive");
    assert_eq!(output["gate"], "api.0.analysis");
    assert!(
        output["message"]
            .as_str()
            .unwrap()
            .starts_with("check error-rate is inconclusive: no data, wanted < 0.01"),
        "{output}"
    );

    // A check that follows only batch 2 does not measure after batch 1: it passes at once.
    let asked = server.requests().len();
    let second_only =
        config(&server.url(), 1).replace("count: 1\n", "count: 1\n        batches: [2]\n");
    f.running("an-skip", "v5", &second_only, 0).await;
    let (status, output, _) = f.run("an-skip").await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&output.unwrap()).unwrap(),
        json!({"analysis": "pass"})
    );
    assert_eq!(server.requests().len(), asked, "nothing was measured");
    assert!(f.store.analyses("an-skip").await.unwrap().is_empty());

    // A deployment whose version declares no such app: the task fails, never passes.
    f.running(
        "an-broken",
        "v4",
        &config(&server.url(), 1).replace("name: api", "name: web"),
        0,
    )
    .await;
    let (status, _, error) = f.run("an-broken").await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("AnalysisBroken"));
}

/// A `boreas.yaml` whose prod has one window, `incident`, in force from a minute ago for
/// `seconds` more, with `extra` fields.
fn frozen(seconds: u64, extra: &str) -> String {
    let now = SystemTime::now();
    format!(
        "{}freezes:\n  - name: incident\n    reason: INC-7\n    environments: [prod]\n    from: \"{}\"\n    until: \"{}\"\n{extra}",
        config("http://127.0.0.1:9", 1),
        boreas_aws::store::rfc3339(now - Duration::from_secs(60)),
        boreas_aws::store::rfc3339(now + Duration::from_secs(seconds)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_freeze_check_pauses_until_the_window_closes_aborts_or_lets_the_batch_start() {
    let f = fixture().await;

    // `pause`: held until the window closes, then the batch starts; the hold said why.
    f.asking(
        "fz-pause",
        "v1",
        &frozen(4, "    running: pause\n"),
        1,
        "freeze",
    )
    .await;
    let started = std::time::Instant::now();
    let (status, output, _) = f.run("fz-pause").await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    let output: serde_json::Value = serde_json::from_str(&output.unwrap()).unwrap();
    assert_eq!(output, json!({"freeze": "open"}));
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        f.store.deployment_policy("fz-pause").await.unwrap().hold,
        None,
        "cleared"
    );

    // `abort`: the task fails and the deployment's error names the window.
    f.asking(
        "fz-abort",
        "v2",
        &frozen(600, "    running: abort\n"),
        1,
        "freeze",
    )
    .await;
    let (status, _, error) = f.run("fz-abort").await;
    assert_eq!(status, ExecutionStatus::Failed);
    assert_eq!(error.as_deref(), Some("FreezeAbort"));
    assert_eq!(
        f.store
            .get_deployment("fz-abort")
            .await
            .unwrap()
            .unwrap()
            .error
            .as_deref(),
        Some("app api, batch 2: frozen by incident: INC-7; what it changed is rolled back")
    );

    // A window that blocks only starts lets a running deployment finish.
    f.asking(
        "fz-finish",
        "v3",
        &frozen(600, "    blocks: [start]\n"),
        1,
        "freeze",
    )
    .await;
    let (status, ..) = f.run("fz-finish").await;
    assert_eq!(status, ExecutionStatus::Succeeded);

    // A break-glass override in force lets it through an aborting window.
    f.asking(
        "fz-glass",
        "v4",
        &frozen(600, "    running: abort\n"),
        1,
        "freeze",
    )
    .await;
    let grant = boreas_aws::store::Override {
        reason: "the fix for INC-7".to_owned(),
        by: "lead".to_owned(),
        at: at(2),
        expires_at: boreas_aws::store::rfc3339(SystemTime::now() + Duration::from_secs(3600)),
    };
    f.store.put_override("fz-glass", &grant).await.unwrap();
    let (status, ..) = f.run("fz-glass").await;
    assert_eq!(status, ExecutionStatus::Succeeded);

    // An override that has expired lets the aborting window abort.
    let abort = frozen(600, "    running: abort\n");
    f.asking("fz-expired", "v5", &abort, 1, "freeze").await;
    let expired = boreas_aws::store::Override {
        expires_at: boreas_aws::store::rfc3339(SystemTime::now() - Duration::from_secs(1)),
        ..grant
    };
    f.store.put_override("fz-expired", &expired).await.unwrap();
    let (status, _, error) = f.run("fz-expired").await;
    assert_eq!(
        (status, error.as_deref()),
        (ExecutionStatus::Failed, Some("FreezeAbort"))
    );
}
