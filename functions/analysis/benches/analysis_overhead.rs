//! Benchmark of what an analysis adds to a batch beyond its checks' own schedule: the deployment
//! state machine on the emulator, one PM app of `BATCHES` one-host batches with instantly
//! answering agents, run twice on the same emulator and load:
//! - analysed: each batch judged by the real analysis worker (polling the analysis queue as
//!   `boreas dev` does) with one HTTP check of two measurements one second apart, on a local
//!   server: the checks' own time is 1 s per batch;
//! - paused: the same batches, each followed by a 1 s `Wait` instead (what a plain pause of the
//!   checks' own time costs).
//!
//! Overhead per batch = (analysed − paused) / batches: the request's trip through SQS, the
//! worker's reads, measurements and writes, and the answer's trip back. The target is at most one
//! interval (1 s here) plus 1 s.
//!
//! Run: `cargo bench -p boreas-analysis --bench analysis_overhead` (prints a Markdown table).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use boreas_analysis::providers::SdkCloudWatch;
use boreas_analysis::{Analyst, handle};
use boreas_aws::batch::lambda_event;
use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
use boreas_aws::secrets::SsmSecrets;
use boreas_aws::store::{DynamoStore, Store, Transition};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::execution::ExecutionInput;
use boreas_core::plan::{BatchPlan, PausePlan};
use boreas_test_support::http::{RecordingServer, Response};
use boreas_test_support::records::{self, at};
use boreas_test_support::sfn::{Harness, Reply, Workers, always, input, pm_app};
use serde_json::json;

/// Batches per run.
const BATCHES: usize = 6;
/// The checks' own time per batch: two measurements one interval apart.
const INTERVAL: Duration = Duration::from_secs(1);

fn plan_input(analysed: bool) -> ExecutionInput {
    let hosts: Vec<String> = (0..BATCHES).map(|i| format!("h{i}")).collect();
    let batches: Vec<Vec<&str>> = hosts.iter().map(|h| vec![h.as_str()]).collect();
    let batches: Vec<&[&str]> = batches.iter().map(Vec::as_slice).collect();
    let mut app = pm_app("api", &batches, 1);
    for b in &mut app.batches {
        b.analysis = analysed;
        if !analysed {
            b.pause = PausePlan::Wait {
                seconds: INTERVAL.as_secs(),
            };
        }
    }
    input(vec![(1, vec![app])])
}

fn config(url: &str) -> String {
    format!(
        "environments:\n  - name: {env}\napps:\n  - name: api\n    kind: pm\n    pm:\n      hosts:\n        {env}: [h0]\n      artifact:\n        url: \"https://releases.example.com/api-{{version}}.tar.gz\"\n        sha256_url: \"https://releases.example.com/api-{{version}}.tar.gz.sha256\"\n      run:\n        command: [\"./api\"]\n      health:\n        command: [\"./check\"]\n    analysis:\n      - name: error-rate\n        http:\n          url: \"{url}/ratio\"\n          json_path: \"$.ratio\"\n        condition: \"< 0.01\"\n        interval: {}s\n        count: 2\n",
        INTERVAL.as_secs(),
        env = boreas_test_support::sfn::ENV,
    )
}

/// Records the deployment of `input` running, with its plan and the version's config, as the
/// planner and the api do.
async fn record(store: &DynamoStore, input: &ExecutionInput, yaml: &str) {
    store
        .put_version(&records::version(
            "shop",
            &input.version,
            &format!("{:040x}", 2),
        ))
        .await
        .unwrap();
    store
        .put_version_config("shop", &input.version, yaml)
        .await
        .unwrap();
    let mut plan = records::example_plan(&input.environment, &input.version);
    let mut app = plan.stages[0].apps[0].clone();
    app.app = "api".to_owned();
    app.batches = input.stages[0].apps[0]
        .batches
        .iter()
        .map(|b| BatchPlan {
            index: b.index,
            targets: b.targets.clone(),
            weight: None,
            pause: b.pause.clone(),
        })
        .collect();
    plan.stages = vec![boreas_core::plan::Stage {
        parallelism: 1,
        apps: vec![app],
    }];
    store
        .create_deployment(&records::new_deployment(&input.deployment_id, plan))
        .await
        .unwrap();
    store
        .transition_deployment(
            &input.deployment_id,
            &Transition::to(DeploymentStatus::Running, at(1)),
        )
        .await
        .unwrap();
}

/// Runs `input` to its end on a fresh prefix; the wall time from StartExecution to the end.
async fn run(input: &ExecutionInput, metrics: &str) -> Duration {
    let p = Harness::shared(input).await;
    let workers = Workers::spawn_hosts(&p, input, &always(Reply::Succeed, Duration::ZERO));
    let sdk = boreas_aws::sdk_config(Some(boreas_aws::emulator::shared().await.endpoint())).await;
    let store = DynamoStore::from_config(&sdk, p.names.table());
    record(&store, input, &config(metrics)).await;
    let queues = SqsQueues::from_config(&sdk);
    let analyst = Analyst::new(
        Arc::new(store),
        Arc::new(p.orchestrator.clone()),
        Arc::new(queues.clone()),
        Arc::new(SsmSecrets::from_config(&sdk)),
        Arc::new(SdkCloudWatch::from_config(&sdk)),
        p.names.clone(),
    )
    .unwrap();
    let url = p.analysis_url();
    let arn = format!(
        "arn:aws:sqs:us-east-1:123456789012:{}",
        p.names.analysis_queue()
    );
    // The analysis worker, polling its queue as `boreas dev` runs it.
    let poller = tokio::spawn(async move {
        let options = ReceiveOptions {
            wait: Duration::from_secs(1),
            ..ReceiveOptions::default()
        };
        loop {
            let Ok(messages) = queues.receive(&url, &options).await else {
                continue;
            };
            if messages.is_empty() {
                continue;
            }
            let response = handle(&analyst, lambda_event(&arn, &messages)).await;
            for m in &messages {
                let back = response
                    .batch_item_failures
                    .iter()
                    .any(|f| f.item_identifier == m.id);
                if !back {
                    let _ = queues.delete(&url, &m.receipt_handle).await;
                }
            }
        }
    });
    let started = Instant::now();
    let execution = p.start_execution(input).await;
    let (status, error) = p.wait(&execution, Duration::from_secs(300)).await;
    let took = started.elapsed();
    poller.abort();
    workers.stop().await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let server = RecordingServer::start(|_| Response::json(200, json!({"ratio": 0.001})));
    let analysed = run(&plan_input(true), &server.url()).await;
    let measured = server.requests().len();
    let paused = run(&plan_input(false), &server.url()).await;
    assert_eq!(measured, 2 * BATCHES, "two measurements per batch");
    let per_batch = analysed.saturating_sub(paused).as_secs_f64() / BATCHES as f64;
    println!(
        "| batches | analysed | paused {} s each | overhead per batch | target | analysed / paused |",
        INTERVAL.as_secs()
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| {BATCHES} | {:.2} s | {:.2} s | {per_batch:.2} s | ≤ {:.0} s | {:.2} |",
        analysed.as_secs_f64(),
        paused.as_secs_f64(),
        INTERVAL.as_secs_f64() + 1.0,
        analysed.as_secs_f64() / paused.as_secs_f64()
    );
}
