//! The deployment state machine (`statemachine/deployment.asl.json`) on the emulator, with only
//! what it touches: a table, the events queue, one queue per target of an execution input, the
//! plans bucket and the state machine, under a prefix of their own. Scripted workers long-poll the target queues, read
//! each command with `boreas_core::command` and answer SendTaskSuccess, SendTaskFailure or nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_sfn::types::ExecutionStatus;
use boreas_aws::artifacts::S3Artifacts;
use boreas_aws::emulator::unique_prefix;
use boreas_aws::names::Names;
use boreas_aws::orchestrator::{Orchestrator, SfnOrchestrator};
use boreas_core::command::{Action, Command, Event, EventBody, SCHEMA_VERSION, TaskResult};
use boreas_core::config::{AppKind, OnFailure, Unreachable};
use boreas_core::execution::{AppInput, BatchInput, ExecutionInput, RollbackInput, StageInput};
use boreas_core::notify::Notice;
use boreas_core::plan::PausePlan;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::emulator::definition;

/// The environment of every execution input built here.
pub const ENV: &str = "prod";

/// One provisioned copy of the platform's state-machine side.
#[derive(Debug)]
pub struct Harness {
    /// Step Functions client.
    pub sfn: aws_sdk_sfn::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB client.
    pub ddb: aws_sdk_dynamodb::Client,
    /// The prefix's names.
    pub names: Names,
    /// Queue URLs are this and the queue name.
    pub queue_base: String,
    /// The events queue.
    pub events_url: String,
    /// The state machine.
    pub machine_arn: String,
    /// Starts executions of it as the api does (objects first).
    pub orchestrator: SfnOrchestrator,
    /// S3 client (path-style, for the emulator).
    pub s3: aws_sdk_s3::Client,
}

impl Harness {
    /// [`Harness::provision`] on this process's shared emulator.
    pub async fn shared(input: &ExecutionInput) -> Harness {
        Self::provision(boreas_aws::emulator::shared().await.endpoint(), input).await
    }

    /// Creates the table, the events queue, one queue per PM host and cluster of `input`, and the
    /// state machine with the definition's substitutions applied, on the emulator at `endpoint`.
    pub async fn provision(endpoint: &str, input: &ExecutionInput) -> Harness {
        let config = boreas_aws::sdk_config(Some(endpoint)).await;
        let (sfn, sqs, ddb) = (
            aws_sdk_sfn::Client::new(&config),
            aws_sdk_sqs::Client::new(&config),
            aws_sdk_dynamodb::Client::new(&config),
        );
        let names = Names::new(&unique_prefix('s'));
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
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket(names.plans_bucket())
            .send()
            .await
            .unwrap();
        let events_url = create_queue(&sqs, &names.events_queue()).await;
        create_queue(&sqs, &names.notifications_queue()).await;
        create_queue(&sqs, &names.analysis_queue()).await;
        let queue_base = events_url
            .strip_suffix(&names.events_queue())
            .unwrap()
            .to_owned();
        for (kind, target) in targets(input) {
            create_queue(&sqs, &queue_name(&names, kind, &target)).await;
        }
        let definition = substituted(&names, &events_url, &queue_base);
        let machine_arn = create_machine(&sfn, &names.state_machine(), definition).await;
        let orchestrator = SfnOrchestrator::new(
            sfn.clone(),
            &machine_arn,
            Arc::new(S3Artifacts::new(s3.clone(), names.plans_bucket())),
        );
        Harness {
            orchestrator,
            s3,
            sfn,
            sqs,
            ddb,
            names,
            queue_base,
            events_url,
            machine_arn,
        }
    }

    /// Runs the apps of `input`'s stage `stage` in a machine whose `Apps` Map is the definition's
    /// but inline, so that each app's states land in one recorded history, and returns the events
    /// the apps' child executions write: what that history holds beyond its own execution and
    /// Map (6 events; each iteration's start and end stand for a child's).
    pub async fn apps_history(&self, input: &ExecutionInput, stage: usize) -> usize {
        let definition: serde_json::Value = serde_json::from_str(&substituted(
            &self.names,
            &self.events_url,
            &self.queue_base,
        ))
        .unwrap();
        let mut apps = definition["States"]["Stages"]["ItemProcessor"]["States"]["Apps"].clone();
        let map = apps.as_object_mut().unwrap();
        map.remove("ItemReader");
        map.insert("ItemsPath".into(), "$.apps".into());
        map["ItemProcessor"]["ProcessorConfig"] = serde_json::json!({"Mode": "INLINE"});
        let machine = create_machine(
            &self.sfn,
            &format!("{}-apps-{stage}", self.names.state_machine()),
            serde_json::json!({"StartAt": "Apps", "States": {"Apps": apps}}).to_string(),
        )
        .await;
        let slices = input.slices();
        let start: serde_json::Value = serde_json::from_str(&slices.input).unwrap();
        let stage_ref = &start["stages"][stage];
        let body = &slices
            .objects
            .iter()
            .find(|o| o.key == stage_ref["apps_key"].as_str().unwrap())
            .unwrap()
            .body;
        for o in &slices.objects {
            self.plans_put(&o.key, &o.body).await;
        }
        put_deployment(&self.ddb, &self.names, &input.deployment_id, "running").await;
        let execution = self
            .sfn
            .start_execution()
            .state_machine_arn(machine)
            .name(format!("{}-apps-{stage}", input.deployment_id))
            .input(
                serde_json::json!({
                    "deployment_id": input.deployment_id,
                    "environment": input.environment,
                    "version": input.version,
                    "stage": stage_ref,
                    "apps": serde_json::from_str::<serde_json::Value>(body).unwrap(),
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap()
            .execution_arn()
            .to_owned();
        let (status, error) = self.wait(&execution, Duration::from_secs(120)).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "{error:?}");
        self.history(&execution).await.0 - 6
    }

    async fn plans_put(&self, key: &str, body: &str) {
        use boreas_aws::artifacts::Artifacts;
        S3Artifacts::new(self.s3.clone(), self.names.plans_bucket())
            .put(key, body.as_bytes().to_vec(), "application/json")
            .await
            .unwrap();
    }

    /// The command queue of a target.
    pub fn queue_url(&self, kind: AppKind, target: &str) -> String {
        format!(
            "{}{}",
            self.queue_base,
            queue_name(&self.names, kind, target)
        )
    }

    /// The notifications queue, where the state machine announces finished batches.
    pub fn notifications_url(&self) -> String {
        format!("{}{}", self.queue_base, self.names.notifications_queue())
    }

    /// The analysis queue, where the state machine asks for each analysed batch's verdict.
    pub fn analysis_url(&self) -> String {
        format!("{}{}", self.queue_base, self.names.analysis_queue())
    }

    /// Takes every notice waiting on the notifications queue.
    ///
    /// # Panics
    /// When one is not a notice of this build's schema.
    pub async fn take_notices(&self) -> Vec<Notice> {
        let queues = boreas_aws::queues::SqsQueues::new(self.sqs.clone());
        crate::emulator::drain_notices(&queues, &self.notifications_url()).await
    }

    /// Writes the deployment record of the input's deployment with `status`, replacing it.
    pub async fn put_deployment(&self, deployment_id: &str, status: &str) {
        put_deployment(&self.ddb, &self.names, deployment_id, status).await;
    }

    /// Starts the execution the way the api does: the deployment record `running`, the
    /// execution named by the deployment id.
    pub async fn start(&self, input: &ExecutionInput) -> String {
        start_as_api(&self.ddb, &self.orchestrator, &self.names, input).await
    }

    /// Starts the execution named by the deployment id, leaving the deployment record as it is.
    pub async fn start_execution(&self, input: &ExecutionInput) -> String {
        start_execution(&self.orchestrator, input).await
    }

    /// Status and error of the execution once it is no longer running; panics after `limit`.
    pub async fn wait(
        &self,
        execution: &str,
        limit: Duration,
    ) -> (ExecutionStatus, Option<String>) {
        wait_finished(&self.sfn, execution, limit).await
    }

    /// Every record of the deployment, by sort key, attributes as strings.
    pub async fn records(&self, deployment_id: &str) -> BTreeMap<String, HashMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut start = None;
        loop {
            let page = self
                .ddb
                .query()
                .table_name(self.names.table())
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&format!("DEP#{deployment_id}")))
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in page.items() {
                let flat: HashMap<String, String> = item
                    .iter()
                    .filter_map(|(k, v)| match v {
                        AttributeValue::S(x) | AttributeValue::N(x) => Some((k.clone(), x.clone())),
                        _ => None,
                    })
                    .collect();
                out.insert(flat["sk"].clone(), flat);
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return out;
            }
        }
    }

    /// Every event of the execution's history.
    pub async fn history_events(&self, execution: &str) -> Vec<aws_sdk_sfn::types::HistoryEvent> {
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sfn
                .get_execution_history()
                .execution_arn(execution)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            events.extend_from_slice(page.events());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return events;
            }
        }
    }

    /// The execution's history: (event count, state transitions = states entered).
    pub async fn history(&self, execution: &str) -> (usize, usize) {
        let events = self.history_events(execution).await;
        let entered = events
            .iter()
            .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
            .count();
        (events.len(), entered)
    }

    /// The largest state data in the execution's history: every state's input and output, every
    /// task's parameters and result, the execution's input (bytes).
    pub async fn largest_payload(&self, execution: &str) -> usize {
        let events = self.history_events(execution).await;
        events
            .iter()
            .flat_map(|e| {
                [
                    e.state_entered_event_details()
                        .and_then(|d| d.input())
                        .map(str::len),
                    e.state_exited_event_details()
                        .and_then(|d| d.output())
                        .map(str::len),
                    e.task_scheduled_event_details()
                        .map(|d| d.parameters().len()),
                    e.task_succeeded_event_details()
                        .and_then(|d| d.output())
                        .map(str::len),
                    e.execution_started_event_details()
                        .and_then(|d| d.input())
                        .map(str::len),
                ]
            })
            .flatten()
            .max()
            .unwrap_or(0)
    }

    /// Collects the events the state machine sends to the events queue.
    pub fn events(&self) -> Events {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (sqs, url, flag) = (self.sqs.clone(), self.events_url.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::Relaxed) {
                for body in take(&sqs, &url, 1).await {
                    let _ = tx.send(
                        Event::from_json(&body).expect("the state machine sends valid events"),
                    );
                }
            }
        });
        Events { rx, stop, task }
    }
}

/// Creates state machine `name` with `definition` under the deployment role; its ARN.
async fn create_machine(sfn: &aws_sdk_sfn::Client, name: &str, definition: String) -> String {
    sfn.create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/boreas-deployment")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned()
}

/// The definition with the substitutions of `names`.
fn substituted(names: &Names, events_url: &str, queue_base: &str) -> String {
    std::fs::read_to_string(definition())
        .unwrap()
        .replace("${TableName}", &names.table())
        .replace("${EventsQueueUrl}", events_url)
        .replace(
            "${NotificationsQueueUrl}",
            &format!("{queue_base}{}", names.notifications_queue()),
        )
        .replace(
            "${AnalysisQueueUrl}",
            &format!("{queue_base}{}", names.analysis_queue()),
        )
        .replace(
            "${QueueUrlPrefix}",
            &format!("{queue_base}{}-", names.prefix()),
        )
        .replace("${PlanBucket}", &names.plans_bucket())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn queue_name(names: &Names, kind: AppKind, target: &str) -> String {
    match kind {
        AppKind::Pm => names.agent_queue(ENV, target),
        AppKind::K8s => names.k8s_queue(target),
    }
}

/// Long-polls `url` once for up to `wait_seconds` and deletes what arrived; returns the bodies
/// (none when the receive failed: the caller polls again).
pub async fn take(sqs: &aws_sdk_sqs::Client, url: &str, wait_seconds: i32) -> Vec<String> {
    let Ok(out) = sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(wait_seconds)
        .send()
        .await
    else {
        return Vec::new();
    };
    let mut bodies = Vec::new();
    for m in out.messages() {
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
        bodies.push(m.body().unwrap().to_owned());
    }
    bodies
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned()
}

async fn put_deployment(
    ddb: &aws_sdk_dynamodb::Client,
    names: &Names,
    deployment_id: &str,
    status: &str,
) {
    ddb.put_item()
        .table_name(names.table())
        .item("pk", s(&format!("DEP#{deployment_id}")))
        .item("sk", s("META"))
        .item("status", s(status))
        .send()
        .await
        .unwrap();
}

async fn start_execution(orchestrator: &SfnOrchestrator, input: &ExecutionInput) -> String {
    orchestrator
        .start(&input.deployment_id, &input.slices())
        .await
        .unwrap()
        .execution_arn
}

/// Starts an execution through `orchestrator` the way the api does: the deployment record
/// `running` in the table of `names`, the input's objects stored, the execution named by the
/// deployment id.
pub async fn start_as_api(
    ddb: &aws_sdk_dynamodb::Client,
    orchestrator: &SfnOrchestrator,
    names: &Names,
    input: &ExecutionInput,
) -> String {
    put_deployment(ddb, names, &input.deployment_id, "running").await;
    start_execution(orchestrator, input).await
}

/// Status and error of an execution once it is no longer running; panics after `limit`.
pub async fn wait_finished(
    sfn: &aws_sdk_sfn::Client,
    execution: &str,
    limit: Duration,
) -> (ExecutionStatus, Option<String>) {
    let deadline = Instant::now() + limit;
    loop {
        let d = sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .unwrap();
        if *d.status() != ExecutionStatus::Running {
            return (d.status().clone(), d.error().map(str::to_owned));
        }
        assert!(
            Instant::now() < deadline,
            "execution still running after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every (kind, target) an input sends commands to.
pub fn targets(input: &ExecutionInput) -> BTreeSet<(AppKind, String)> {
    input
        .stages
        .iter()
        .flat_map(|s| &s.apps)
        .flat_map(|a| {
            a.batches
                .iter()
                .flat_map(move |b| b.targets.iter().map(move |t| (a.kind, t.clone())))
        })
        .collect()
}

// ---- execution inputs

/// A PM app from v1 to v2 in `batches` of hosts, `parallelism` hosts at a time.
pub fn pm_app(name: &str, batches: &[&[&str]], parallelism: u32) -> AppInput {
    app(name, AppKind::Pm, batches, parallelism)
}

/// An app of `kind` from v1 to v2 in `batches` of targets, `parallelism` at a time; a
/// Kubernetes batch's weight is its share of the batches so far.
pub fn app(name: &str, kind: AppKind, batches: &[&[&str]], parallelism: u32) -> AppInput {
    let workload = |v: &str| match kind {
        AppKind::Pm => {
            serde_json::json!({"kind": "pm", "artifact_url": format!("s3://artifacts/{name}/{v}.tar.gz"),
            "sha256": "ab".repeat(32), "run": {"systemd": format!("{name}.service")},
            "health": {"tcp": "127.0.0.1:8080", "timeout_seconds": 5, "retries": 3}})
        }
        AppKind::K8s => {
            serde_json::json!({"kind": "k8s", "namespace": "default", "deployment": name,
            "container": name, "image": format!("registry.example.com/{name}:{v}")})
        }
    };
    let n = batches.len();
    AppInput {
        app: name.into(),
        kind,
        parallelism,
        heartbeat_seconds: 60,
        timeout_seconds: 600,
        unreachable: Unreachable::Fail,
        on_failure: OnFailure::Rollback,
        workload: serde_json::from_value(workload("v2")).unwrap(),
        rollback: RollbackInput {
            to_version: Some("v1".into()),
            workload: Some(serde_json::from_value(workload("v1")).unwrap()),
        },
        last_batch: u32::try_from(n - 1).unwrap(),
        batches: batches
            .iter()
            .enumerate()
            .map(|(i, targets)| BatchInput {
                index: u32::try_from(i).unwrap(),
                key: format!("{i:04}"),
                targets: targets.iter().map(|t| (*t).to_owned()).collect(),
                weight: (kind == AppKind::K8s).then(|| u8::try_from(100 * (i + 1) / n).unwrap()),
                analysis: false,
                pause: PausePlan::None,
            })
            .collect(),
    }
}

/// What the largest app of `input` asks of its child execution: its input (one item of its
/// stage's object, bytes) and its longest history (counted, events).
pub fn largest_app(input: &ExecutionInput) -> (usize, usize) {
    let slices = input.slices();
    let start: serde_json::Value = serde_json::from_str(&slices.input).unwrap();
    let keys: BTreeSet<&str> = start["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["apps_key"].as_str().unwrap())
        .collect();
    let bytes = slices
        .objects
        .iter()
        .filter(|o| keys.contains(o.key.as_str()))
        .flat_map(|o| serde_json::from_str::<Vec<serde_json::Value>>(&o.body).unwrap())
        .map(|app| app.to_string().len())
        .max()
        .unwrap_or(0);
    let events = input
        .stages
        .iter()
        .flat_map(|s| &s.apps)
        .map(|a| boreas_core::execution::app_history_events(a).longest)
        .max()
        .unwrap_or(0);
    (bytes, events)
}

/// A fleet-sized input: `apps` PM apps in one stage (`parallelism` at a time), each on `targets`
/// hosts of a pool of `pool` (`fleet-0000`, …; app `i` starts at host `i·targets`), in
/// `batches` batches, 10 hosts at a time.
pub fn fleet_input(
    apps: usize,
    targets: usize,
    pool: usize,
    batches: usize,
    parallelism: u32,
) -> ExecutionInput {
    let hosts: Vec<String> = (0..pool).map(|i| format!("fleet-{i:04}")).collect();
    let per = targets.div_ceil(batches);
    let apps = (0..apps)
        .map(|a| {
            let mine: Vec<&str> = (0..targets)
                .map(|t| hosts[(a * targets + t) % pool].as_str())
                .collect();
            let chunks: Vec<&[&str]> = mine.chunks(per).collect();
            pm_app(&format!("app{a:04}"), &chunks, 10)
        })
        .collect();
    input(vec![(parallelism, apps)])
}

/// The input of a deployment of v2 to [`ENV`] with these stages, each (parallelism, apps), and a
/// deployment id no other test uses.
pub fn input(stages: Vec<(u32, Vec<AppInput>)>) -> ExecutionInput {
    ExecutionInput {
        schema_version: SCHEMA_VERSION,
        deployment_id: format!("dep-{}", unique_prefix('s')),
        environment: ENV.into(),
        version: "v2".into(),
        stages: stages
            .into_iter()
            .enumerate()
            .map(|(i, (parallelism, apps))| StageInput {
                index: u32::try_from(i).unwrap(),
                parallelism,
                apps,
            })
            .collect(),
    }
}

// ---- scripted workers

/// How a worker answers one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// SendTaskSuccess after the hold time.
    Succeed,
    /// SendTaskFailure (health check failed) after the hold time.
    Fail,
    /// Never answers (a dead or hung agent).
    Silent,
}

/// One command as a worker received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// When.
    pub at: Instant,
    /// What.
    pub command: Command,
}

impl Received {
    /// `deploy`, `rollback` or `status`.
    pub fn kind(&self) -> &'static str {
        self.command.action.as_str()
    }

    /// The app the command is about (empty for `status`).
    pub fn app(&self) -> &str {
        match &self.command.action {
            Action::Deploy { app, .. } | Action::Rollback { app, .. } => app,
            Action::Status {} => "",
        }
    }
}

/// How a worker answers a command, and after how long.
pub type Script = Arc<dyn Fn(&Command) -> (Reply, Duration) + Send + Sync>;

/// The same answer to every command.
pub fn always(reply: Reply, hold: Duration) -> Script {
    Arc::new(move |_| (reply, hold))
}

#[derive(Debug, Default)]
struct Log {
    received: Vec<Received>,
    /// Per app: commands received and not yet answered, and the most seen at once.
    in_flight: HashMap<String, (u32, u32)>,
}

/// One long-polling worker per target queue of an input.
#[derive(Debug)]
pub struct Workers {
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// One long-polling task per target queue of `input`, answering by `script`, and one that
    /// answers the freeze checks before later batches as open (see [`open_freeze_checks`]).
    pub fn spawn(harness: &Harness, input: &ExecutionInput, script: &Script) -> Workers {
        let mut workers = Self::spawn_hosts(harness, input, script);
        workers.tasks.push(open_freeze_checks(
            harness.sqs.clone(),
            harness.sfn.clone(),
            harness.analysis_url(),
            workers.stop.clone(),
        ));
        workers
    }

    /// Only the target queues' tasks, for a test that answers the analysis queue itself.
    pub fn spawn_hosts(harness: &Harness, input: &ExecutionInput, script: &Script) -> Workers {
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = targets(input)
            .into_iter()
            .map(|(kind, target)| {
                let (sqs, sfn) = (harness.sqs.clone(), harness.sfn.clone());
                let url = harness.queue_url(kind, &target);
                let (log, stop, script) = (log.clone(), stop.clone(), script.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        for body in take(&sqs, &url, 1).await {
                            let command = Command::from_json(&body)
                                .expect("the state machine sends valid commands");
                            assert_eq!(command.target, target);
                            assert!(command.has_expected_id(), "{}", command.command_id);
                            let (reply, hold) = script(&command);
                            let received = Received {
                                at: Instant::now(),
                                command,
                            };
                            let app = received.app().to_owned();
                            {
                                let mut log = log.lock().unwrap();
                                let slot = log.in_flight.entry(app.clone()).or_default();
                                slot.0 += 1;
                                slot.1 = slot.1.max(slot.0);
                                log.received.push(received.clone());
                            }
                            tokio::spawn(answer(sfn.clone(), log.clone(), received, reply, hold));
                        }
                    }
                })
            })
            .collect();
        Workers { log, stop, tasks }
    }

    /// Every command received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    /// The most commands of `app` that were unanswered at once.
    pub fn max_in_flight(&self, app: &str) -> u32 {
        self.log
            .lock()
            .unwrap()
            .in_flight
            .get(app)
            .map_or(0, |s| s.1)
    }

    /// The targets that received a command of `kind`.
    pub fn sent_to(&self, kind: &str) -> BTreeSet<String> {
        self.received()
            .into_iter()
            .filter(|r| r.kind() == kind)
            .map(|r| r.command.target)
            .collect()
    }

    /// Stops polling and waits for every worker.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
    }
}

/// Answers every freeze check on the analysis queue at `url` as the freeze worker does when no
/// window stops the batch, until `stop`; an analysis request there fails its task, since a test
/// with analysed batches answers them itself.
pub fn open_freeze_checks(
    sqs: aws_sdk_sqs::Client,
    sfn: aws_sdk_sfn::Client,
    url: String,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    use boreas_core::analysis::run::{BoundaryCheck, Request};
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            for body in take(&sqs, &url, 1).await {
                let r = Request::from_json(&body).expect("the state machine sends requests");
                // An execution stopped meanwhile no longer takes the answer: ignored.
                if r.check == BoundaryCheck::Freeze {
                    let _ = sfn
                        .send_task_success()
                        .task_token(&r.task_token)
                        .output(r#"{"freeze":"open"}"#)
                        .send()
                        .await;
                } else {
                    let _ = sfn
                        .send_task_failure()
                        .task_token(&r.task_token)
                        .error("UnexpectedAnalysis")
                        .cause("this test answers only freeze checks")
                        .send()
                        .await;
                }
            }
        }
    })
}

/// Answers one command after `hold`, in a task of its own so that a held command does not block
/// the worker's queue.
async fn answer(
    sfn: aws_sdk_sfn::Client,
    log: Arc<Mutex<Log>>,
    received: Received,
    reply: Reply,
    hold: Duration,
) {
    if reply == Reply::Silent {
        return;
    }
    tokio::time::sleep(hold).await;
    let app = received.app().to_owned();
    log.lock().unwrap().in_flight.get_mut(&app).unwrap().0 -= 1;
    let token = received
        .command
        .task_token
        .clone()
        .expect("commands carry a task token");
    let _ = match reply {
        Reply::Succeed => {
            let result = TaskResult {
                schema_version: SCHEMA_VERSION,
                target: received.command.target.clone(),
                app,
                version: Some("v2".into()),
                previous: Some("v1".into()),
            };
            sfn.send_task_success()
                .task_token(token)
                .output(result.to_json())
                .send()
                .await
                .map_err(|e| e.to_string())
                .map(drop)
        }
        _ => sfn
            .send_task_failure()
            .task_token(token)
            .error("Boreas.HealthCheckFailed")
            .cause("no healthy probe")
            .send()
            .await
            .map_err(|e| e.to_string())
            .map(drop),
    };
}

/// The events the state machine sent, as they arrive.
#[derive(Debug)]
pub struct Events {
    rx: UnboundedReceiver<Event>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Events {
    /// The next event; panics when none comes within 60 s.
    pub async fn next(&mut self) -> EventBody {
        tokio::time::timeout(Duration::from_secs(60), self.rx.recv())
            .await
            .expect("an event within 60 s")
            .unwrap()
            .body
    }

    /// Stops collecting and waits for the collector.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
    }
}
