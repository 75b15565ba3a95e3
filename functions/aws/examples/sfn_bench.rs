//! Benchmark of the deployment state machine on the emulator: state transitions per deployment
//! shape (measured from the execution history and computed from the definition), the resulting
//! Step Functions cost at list price, and the wall time from StartExecution to the last command
//! with instantly-answering workers.
//!
//! Run: `cargo run -p boreas-aws --example sfn_bench` (prints a Markdown section). The figures are
//! the emulator's (a Python process): a release build of this client changes nothing measurable.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_sfn::types::ExecutionStatus;
use boreas_aws::emulator::{self, Emulator};
use boreas_aws::names::Names;
use boreas_core::command::{Command, SCHEMA_VERSION, Workload};
use boreas_core::config::AppKind;
use boreas_core::execution::{AppInput, BatchInput, ExecutionInput, RollbackInput, StageInput};
use boreas_core::plan::PausePlan;

/// List price of a Standard workflow state transition, in dollars.
const PRICE_PER_TRANSITION: f64 = 0.025 / 1000.0;
const ENV: &str = "prod";

/// A deployment shape: `apps` PM apps spread over `stages`, each with `batches` batches over
/// `hosts` hosts.
#[derive(Debug, Clone, Copy)]
struct Shape {
    stages: usize,
    apps: usize,
    batches: usize,
    hosts: usize,
}

impl Shape {
    /// State transitions of a successful run, from the definition: 8 for the execution, 2 per
    /// stage, 8 per batch + 2 per app (batch start/end records, the host Map, the pause choice,
    /// the loop and the flag check), and 2 per host (its command and its result record, in the
    /// host's child execution).
    fn transitions(self) -> usize {
        8 + 2 * self.stages + self.apps * (8 * self.batches + 2) + 2 * self.apps * self.hosts
    }
    /// The part of [`Shape::transitions`] in the parent execution's own history.
    fn parent_transitions(self) -> usize {
        self.transitions() - 2 * self.apps * self.hosts
    }
}

fn input(shape: Shape) -> ExecutionInput {
    let workload: Workload = serde_json::from_value(serde_json::json!({"kind": "pm",
        "artifact_url": "s3://artifacts/app/v2.tar.gz", "sha256": "ab".repeat(32),
        "run": {"systemd": "app.service"}, "health": {"tcp": "127.0.0.1:8080", "timeout_seconds": 5, "retries": 3}}))
    .unwrap();
    let mut stages: Vec<StageInput> = (0..shape.stages)
        .map(|i| StageInput {
            index: i as u32,
            parallelism: 4,
            apps: vec![],
        })
        .collect();
    for a in 0..shape.apps {
        let hosts: Vec<String> = (0..shape.hosts).map(|h| format!("a{a}-h{h}")).collect();
        // Gray batches: one host each, the rest in the last batch.
        let mut batches: Vec<Vec<String>> = hosts
            .iter()
            .take(shape.batches - 1)
            .map(|h| vec![h.clone()])
            .collect();
        batches.push(hosts[shape.batches - 1..].to_vec());
        stages[a * shape.stages / shape.apps].apps.push(AppInput {
            app: format!("app{a}"),
            kind: AppKind::Pm,
            parallelism: 5,
            heartbeat_seconds: 60,
            timeout_seconds: 600,
            workload: workload.clone(),
            rollback: RollbackInput {
                to_version: Some("v1".into()),
                workload: Some(workload.clone()),
            },
            last_batch: (shape.batches - 1) as u32,
            batches: batches
                .into_iter()
                .enumerate()
                .map(|(i, targets)| BatchInput {
                    index: i as u32,
                    key: format!("{i:04}"),
                    targets,
                    weight: None,
                    pause: PausePlan::None,
                })
                .collect(),
        });
    }
    ExecutionInput {
        schema_version: SCHEMA_VERSION,
        deployment_id: format!("bench-{}", boreas_aws::emulator::unique_prefix('b')),
        environment: ENV.into(),
        version: "v2".into(),
        stages,
    }
}

struct Measured {
    parent_transitions: usize,
    events: usize,
    to_last_command: Duration,
}

async fn run(emulator: &Emulator, shape: Shape) -> Measured {
    let config = boreas_aws::sdk_config(Some(emulator.endpoint())).await;
    let (sfn, sqs, ddb) = (
        aws_sdk_sfn::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
        aws_sdk_dynamodb::Client::new(&config),
    );
    let names = Names::new(&boreas_aws::emulator::unique_prefix('b'));
    let input = input(shape);
    let key = |name: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(names.table())
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    ddb.put_item()
        .table_name(names.table())
        .item(
            "pk",
            AttributeValue::S(format!("DEP#{}", input.deployment_id)),
        )
        .item("sk", AttributeValue::S("META".into()))
        .send()
        .await
        .unwrap();
    let events = sqs
        .create_queue()
        .queue_name(names.events_queue())
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let base = events
        .strip_suffix(&names.events_queue())
        .unwrap()
        .to_owned();
    let hosts: BTreeSet<String> = input
        .stages
        .iter()
        .flat_map(|s| &s.apps)
        .flat_map(|a| &a.batches)
        .flat_map(|b| b.targets.clone())
        .collect();
    let mut urls = Vec::new();
    for h in &hosts {
        let q = sqs
            .create_queue()
            .queue_name(names.agent_queue(ENV, h))
            .send()
            .await
            .unwrap();
        urls.push(q.queue_url().unwrap().to_owned());
    }
    let definition = std::fs::read_to_string(
        emulator::workspace_root().join("statemachine/deployment.asl.json"),
    )
    .unwrap()
    .replace("${TableName}", &names.table())
    .replace("${EventsQueueUrl}", &events)
    .replace("${QueueUrlPrefix}", &format!("{base}{}-", names.prefix()));
    let arn = sfn
        .create_state_machine()
        .name(names.state_machine())
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/boreas-deployment")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();

    // Instantly-answering agents, one long-polling task per host queue.
    let last_command = Arc::new(Mutex::new(None::<Instant>));
    let workers: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let (sqs, sfn, last) = (sqs.clone(), sfn.clone(), last_command.clone());
            tokio::spawn(async move {
                loop {
                    let out = sqs
                        .receive_message()
                        .queue_url(&url)
                        .wait_time_seconds(2)
                        .send()
                        .await
                        .unwrap();
                    for m in out.messages() {
                        *last.lock().unwrap() = Some(Instant::now());
                        let c = Command::from_json(m.body().unwrap()).unwrap();
                        sqs.delete_message()
                            .queue_url(&url)
                            .receipt_handle(m.receipt_handle().unwrap())
                            .send()
                            .await
                            .unwrap();
                        sfn.send_task_success()
                            .task_token(c.task_token.unwrap())
                            .output("{}")
                            .send()
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();

    let started = Instant::now();
    let execution = sfn
        .start_execution()
        .state_machine_arn(arn)
        .name(&input.deployment_id)
        .input(input.to_json())
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_owned();
    loop {
        let d = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .unwrap();
        match d.status() {
            ExecutionStatus::Running => tokio::time::sleep(Duration::from_millis(100)).await,
            ExecutionStatus::Succeeded => break,
            other => panic!("execution ended {other:?}: {:?}", d.error()),
        }
    }
    let to_last_command = last_command.lock().unwrap().expect("commands were sent") - started;
    for w in workers {
        w.abort();
    }
    let (mut events, mut entered, mut token) = (0, 0, None);
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(&execution)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        events += page.events().len();
        entered += page
            .events()
            .iter()
            .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
            .count();
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Measured {
        parent_transitions: entered,
        events,
        to_last_command,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let emulator = Emulator::start().await.expect("start the emulator");
    let reference = Shape {
        stages: 3,
        apps: 10,
        batches: 4,
        hosts: 5,
    };
    let measured_shapes = [
        reference,
        Shape {
            hosts: 20,
            ..reference
        },
        Shape {
            batches: 2,
            ..reference
        },
        Shape {
            apps: 5,
            ..reference
        },
    ];
    println!("## State machine\n");
    println!(
        "Command: `cargo run -p boreas-aws --example sfn_bench` (moto 5.2.5 emulator, 2 cores)."
    );
    println!(
        "Shape: `stages × apps × batches per app × hosts per app` (PM apps, 5 hosts at a time, no pauses)."
    );
    println!(
        "Transitions: parent execution measured from its history (`*StateEntered` events); each host's"
    );
    println!(
        "child execution (Distributed Map, STANDARD) adds 2 (command + result record), which the emulator"
    );
    println!(
        "runs without a history of its own, so that part is computed. Cost at $0.025 per 1,000 transitions.\n"
    );
    println!(
        "| shape | parent measured | parent computed | history events | total transitions | per host | cost | StartExecution → last command |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for shape in measured_shapes {
        let m = run(&emulator, shape).await;
        let total = m.parent_transitions + 2 * shape.apps * shape.hosts;
        println!(
            "| {}×{}×{}×{} | {} | {} | {} | {} | {:.1} | ${:.5} | {:.2} s |",
            shape.stages,
            shape.apps,
            shape.batches,
            shape.hosts,
            m.parent_transitions,
            shape.parent_transitions(),
            m.events,
            total,
            total as f64 / (shape.apps * shape.hosts) as f64,
            total as f64 * PRICE_PER_TRANSITION,
            m.to_last_command.as_secs_f64(),
        );
    }
    println!(
        "\nGrowth, computed from the definition: `8 + 2·stages + apps·(8·batches + 2) + 2·apps·hosts`.\n"
    );
    println!("| shape | transitions | per host | cost |");
    println!("| --- | --- | --- | --- |");
    for shape in [
        reference,
        Shape {
            hosts: 50,
            ..reference
        },
        Shape {
            hosts: 200,
            ..reference
        },
        Shape {
            batches: 8,
            ..reference
        },
        Shape {
            apps: 20,
            stages: 5,
            ..reference
        },
        Shape {
            stages: 1,
            apps: 1,
            batches: 10,
            hosts: 2000,
        },
    ] {
        let t = shape.transitions();
        println!(
            "| {}×{}×{}×{} | {} | {:.2} | ${:.4} |",
            shape.stages,
            shape.apps,
            shape.batches,
            shape.hosts,
            t,
            t as f64 / (shape.apps * shape.hosts) as f64,
            t as f64 * PRICE_PER_TRANSITION
        );
    }
    emulator.stop().await.expect("stop the emulator");
}
