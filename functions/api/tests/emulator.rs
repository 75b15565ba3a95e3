//! The api against the emulator: DynamoDB store, the product's state machine (provisioned from
//! `statemachine/deployment.asl.json`), SSM for the bootstrap admin token, and a one-task fixture
//! state machine whose task tokens the gate routes answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use boreas_api::routes::ROUTES;
use boreas_api::{Api, ApiRequest, ApiResponse, handle};
use boreas_aws::artifacts::{Artifacts, S3Artifacts};
use boreas_aws::emulator;
use boreas_aws::lifecycle::Lifecycle;
use boreas_aws::names::Names;
use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::secrets::SsmSecrets;
use boreas_aws::store::{
    Agent, ApiToken, DynamoStore, HostDecision, MemoryStore, NewDeployment, PageRequest, Store,
    Transition, VersionRecord,
};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::role::Role;
use boreas_core::status::VersionStatus;
use boreas_core::version::VersionState;
use boreas_test_support::emulator::Prefix;
use boreas_test_support::http::{DynamoReads, dynamodb_reads};
use boreas_test_support::records::{
    agent, at, example_plan, example_yaml, new_deployment, version,
};
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[path = "../src/conformance.rs"]
mod conformance;

const ADMIN_SECRET: &str = "emulator-admin-secret";

fn token(role: Role) -> String {
    format!("emulator-token-{role}")
}

struct Platform {
    prefix: Prefix,
    config: aws_config::SdkConfig,
    api: Api,
    store: Arc<DynamoStore>,
    names: Names,
    machine_arn: String,
    sfn: aws_sdk_sfn::Client,
    sqs: aws_sdk_sqs::Client,
}

async fn platform() -> Platform {
    let prefix = Prefix::shared('a').await;
    let (config, names) = (prefix.sdk.clone(), prefix.names.clone());
    let provisioned = prefix.provisioned.clone();
    let sqs = aws_sdk_sqs::Client::new(&config);
    // Queues of every staging target, so that executions wait on their first command.
    for host in [
        "db-staging-1",
        "api-staging-1",
        "api-staging-2",
        "worker-staging-1",
    ] {
        sqs.create_queue()
            .queue_name(names.agent_queue("staging", host))
            .send()
            .await
            .unwrap();
    }
    sqs.create_queue()
        .queue_name(names.k8s_queue("staging-eu"))
        .send()
        .await
        .unwrap();
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
        .name(names.admin_token_param())
        .value(ADMIN_SECRET)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let store = Arc::new(DynamoStore::from_config(&config, names.table()));
    for role in [Role::Viewer, Role::Deployer, Role::Approver, Role::Admin] {
        store
            .put_api_token(
                &token(role),
                &ApiToken::new(format!("{role}-person"), role, "2026-11-29T09:00:00.000Z"),
            )
            .await
            .unwrap();
    }
    let api = Api::new(
        store.clone(),
        Arc::new(SfnOrchestrator::from_config(
            &config,
            &provisioned.state_machine_arn,
            names.plans_bucket(),
        )),
        Arc::new(SsmSecrets::from_config(&config)),
        &names,
    )
    .with_notices(prefix.notices());
    Platform {
        prefix,
        config: config.clone(),
        api,
        store,
        names,
        sfn: aws_sdk_sfn::Client::new(&config),
        sqs,
        machine_arn: provisioned.state_machine_arn,
    }
}

impl Platform {
    /// Cancels `id` as a client would: a 503 (the emulator's StopExecution sometimes answers a
    /// server error while the execution still runs) is retried, a few times.
    async fn cancel(&self, id: &str) -> ApiResponse {
        let path = format!("/api/deployments/{id}/cancel");
        for _ in 0..5 {
            let r = self.call(post(&path, Role::Deployer)).await;
            if r.status != StatusCode::SERVICE_UNAVAILABLE {
                return r;
            }
            assert_eq!(r.body["error"], "unavailable", "{r:?}");
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        panic!("cancelling {id} stayed unavailable");
    }

    /// Answers `req`, holding the answer to the OpenAPI document.
    async fn call(&self, req: ApiRequest) -> ApiResponse {
        let res = handle(&self.api, req.clone()).await;
        conformance::check(&req, &res);
        res
    }

    async fn version(&self, name: &str, commit: &str, second: u32) {
        self.store
            .put_version(&VersionRecord {
                status: VersionStatus::Planned,
                received_at: at(second),
                ..version("shop", name, commit)
            })
            .await
            .unwrap();
        self.store
            .put_version_config("shop", name, &example_yaml())
            .await
            .unwrap();
    }

    /// The api over a store whose DynamoDB client goes through `endpoint`.
    fn api_through(&self, endpoint: &str) -> Api {
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.config)
                .endpoint_url(endpoint)
                .build(),
        );
        Api::new(
            Arc::new(DynamoStore::new(client, self.names.table())),
            Arc::new(SfnOrchestrator::from_config(
                &self.config,
                &self.machine_arn,
                self.names.plans_bucket(),
            )),
            Arc::new(SsmSecrets::from_config(&self.config)),
            &self.names,
        )
    }

    async fn deployment(&self, id: &str, version: &str, second: u32) {
        // The emulator notices a stop only when a waiting task wakes, at the latest at its
        // heartbeat (AWS stops at once): short heartbeats keep cancel tests quick.
        let mut plan = example_plan("staging", version);
        for stage in &mut plan.stages {
            for app in &mut stage.apps {
                app.heartbeat_seconds = 10;
            }
        }
        self.store
            .create_deployment(&NewDeployment {
                created_at: at(second),
                ..new_deployment(id, plan)
            })
            .await
            .unwrap();
    }

    async fn executions(&self) -> Vec<String> {
        self.sfn
            .list_executions()
            .state_machine_arn(&self.machine_arn)
            .send()
            .await
            .unwrap()
            .executions()
            .iter()
            .map(|e| e.name().to_owned())
            .collect()
    }

    async fn execution_status(&self, arn_of: &str, name: &str) -> (String, Option<String>) {
        let arn = format!(
            "{}:{name}",
            arn_of.replacen(":stateMachine:", ":execution:", 1)
        );
        let d = self
            .sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap();
        (d.status().as_str().to_owned(), d.error().map(str::to_owned))
    }

    async fn wait_status(&self, arn_of: &str, name: &str, want: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, error) = self.execution_status(arn_of, name).await;
            if status == want {
                return error;
            }
            assert!(Instant::now() < deadline, "{name} is {status}, not {want}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The first command the execution sent to `host`'s queue.
    async fn first_command(&self, host: &str) -> Value {
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(self.names.agent_queue("staging", host))
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned();
        let out = self
            .sqs
            .receive_message()
            .queue_url(url)
            .wait_time_seconds(20)
            .send()
            .await
            .unwrap();
        serde_json::from_str(out.messages()[0].body().unwrap()).unwrap()
    }

    /// Waits until execution `name` of the product's machine is stopped: AWS reports ABORTED;
    /// the emulator ends a run stopped inside a Distributed Map as FAILED with States.Runtime.
    async fn wait_stopped(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, error) = self.execution_status(&self.machine_arn, name).await;
            match (status.as_str(), error.as_deref()) {
                ("ABORTED", _) | ("FAILED", Some("States.Runtime")) => return,
                ("RUNNING", _) => {}
                other => panic!("{name} ended {other:?}"),
            }
            assert!(Instant::now() < deadline, "{name} still running");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn audit(&self) -> Vec<(String, String, String)> {
        self.store
            .list_audit(&Default::default(), &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| (e.who, e.action, e.target))
            .collect()
    }

    async fn status(&self, id: &str) -> DeploymentStatus {
        self.store.get_deployment(id).await.unwrap().unwrap().status
    }
}

fn post(path: &str, role: Role) -> ApiRequest {
    ApiRequest::new(Method::POST, path).bearer(&token(role))
}

fn get(path: &str) -> ApiRequest {
    ApiRequest::new(Method::GET, path).bearer(&token(Role::Viewer))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_starts_one_execution_and_a_second_confirm_is_409() {
    let p = platform().await;
    p.version("v1", "c1", 1).await;
    p.deployment("dep-v1", "v1", 1).await;

    let r = p
        .call(post("/api/deployments/dep-v1/confirm", Role::Deployer))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["status"], "running");
    assert!(
        r.body["execution_arn"]
            .as_str()
            .unwrap()
            .ends_with(":dep-v1")
    );
    let (status, _) = p.execution_status(&p.machine_arn, "dep-v1").await;
    assert_eq!(status, "RUNNING");
    // The execution records its own start; its first command shows it got past that.
    let first = p.first_command("db-staging-1").await;
    assert!(first.to_string().contains("\"dep-v1\""), "{first}");
    let input: Value = serde_json::from_str(
        p.sfn
            .describe_execution()
            .execution_arn(r.body["execution_arn"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .input()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(input["deployment_id"], "dep-v1");
    // The input names its stages; their apps are in the plans bucket, stored before the start.
    let key = input["stages"][0]["apps_key"].as_str().unwrap();
    assert!(key.starts_with("executions/dep-v1/"), "{key}");
    let apps: Value = serde_json::from_slice(
        &S3Artifacts::from_config(&p.config, p.names.plans_bucket())
            .get(key)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(apps[0]["app"], "db-migrate");
    assert_eq!(input["stages"][0]["apps"], apps.as_array().unwrap().len());
    assert_eq!(
        p.store
            .run_lock_holder("staging", "api")
            .await
            .unwrap()
            .as_deref(),
        Some("dep-v1")
    );

    let r = p
        .call(post("/api/deployments/dep-v1/confirm", Role::Deployer))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("illegal_transition"))
    );
    assert_eq!(p.executions().await, ["dep-v1"], "one execution");

    // Another deployment of the same apps waits for the locks, naming the holder.
    p.deployment("dep-v1b", "v1", 2).await;
    let r = p
        .call(post("/api/deployments/dep-v1b/confirm", Role::Deployer))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("run_lock"))
    );
    assert!(
        r.body["message"].as_str().unwrap().contains("dep-v1"),
        "{r:?}"
    );
    assert_eq!(p.status("dep-v1b").await, DeploymentStatus::Planned);
    assert_eq!(p.executions().await, ["dep-v1"], "nothing else started");

    // Cancelling the running one stops its execution and frees its locks.
    let r = p.cancel("dep-v1").await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (StatusCode::OK, Some("cancelled")),
        "{r:?}"
    );
    p.wait_stopped("dep-v1").await;
    assert_eq!(
        p.store.run_lock_holder("staging", "api").await.unwrap(),
        None
    );
    let r = p.cancel("dep-v1").await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let r = p
        .call(post("/api/deployments/dep-v1b/confirm", Role::Deployer))
        .await;
    assert_eq!(r.status, StatusCode::OK, "the locks are free again: {r:?}");
    let mut started = p.executions().await;
    started.sort();
    assert_eq!(started, ["dep-v1", "dep-v1b"]);
    let actions: Vec<String> = p
        .audit()
        .await
        .into_iter()
        .map(|(who, action, target)| format!("{who} {action} {target}"))
        .collect();
    assert_eq!(
        actions,
        [
            "deployer-person deployment.confirm dep-v1b",
            "deployer-person deployment.cancel dep-v1",
            "deployer-person deployment.confirm dep-v1",
        ]
    );
    p.cancel("dep-v1b").await;
    // The notifier heard each start and each cancel once per change.
    let notice = |id: &str, event: &str| (id.to_owned(), event.to_owned());
    assert_eq!(
        p.prefix.take_notices().await,
        [
            notice("dep-v1", "cancelled"),
            notice("dep-v1", "started"),
            notice("dep-v1b", "cancelled"),
            notice("dep-v1b", "started"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_without_a_recorded_config_or_as_a_viewer_starts_nothing() {
    let p = platform().await;
    p.deployment("dep-noconf", "v7", 1).await;
    let r = p
        .call(post("/api/deployments/dep-noconf/confirm", Role::Viewer))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = p
        .call(ApiRequest::new(
            Method::POST,
            "/api/deployments/dep-noconf/confirm",
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = p
        .call(post("/api/deployments/dep-noconf/confirm", Role::Deployer))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("config_unavailable"))
    );
    let r = p
        .call(post("/api/deployments/nope/confirm", Role::Deployer))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(p.status("dep-noconf").await, DeploymentStatus::Planned);
    assert_eq!(
        p.store.run_lock_holder("staging", "api").await.unwrap(),
        None
    );
    assert!(p.executions().await.is_empty(), "no execution started");
    assert!(p.audit().await.is_empty(), "nothing audited");
}

/// A confirm whose execution does not start answers 502 and leaves the deployment `failed` with
/// the error, its run locks free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_whose_execution_does_not_start_is_failed_with_the_error() {
    let p = platform().await;
    p.version("v1", "c1", 1).await;
    p.deployment("dep-nostart", "v1", 1).await;
    let config = boreas_aws::sdk_config(Some(emulator::shared().await.endpoint())).await;
    let api = Api::new(
        p.store.clone(),
        Arc::new(SfnOrchestrator::from_config(
            &config,
            format!("{}-missing", p.machine_arn),
            p.names.plans_bucket(),
        )),
        Arc::new(SsmSecrets::from_config(&config)),
        &p.names,
    );
    let r = handle(
        &api,
        post("/api/deployments/dep-nostart/confirm", Role::Deployer),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("execution_start_failed")),
        "{r:?}"
    );
    // The SDK's detail is logged and kept on the deployment, not answered.
    assert_eq!(
        r.body["message"],
        "a platform service refused the request; see the api's log"
    );
    let d = p
        .store
        .get_deployment("dep-nostart")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, DeploymentStatus::Failed);
    assert!(
        d.error
            .as_deref()
            .is_some_and(|e| e.starts_with("the execution did not start: ")),
        "{d:?}"
    );
    assert_eq!(
        p.store.run_lock_holder("staging", "api").await.unwrap(),
        None
    );
    assert!(p.audit().await.is_empty(), "nothing was confirmed");
}

/// A queue and a state machine with one task waiting on a token sent to it: (queue URL, machine).
async fn waiting_machine(p: &Platform) -> (String, String) {
    let queue_url = p
        .sqs
        .create_queue()
        .queue_name(format!("{}-gate-fixture", p.names.prefix()))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let definition = json!({
        "StartAt": "Gate",
        "States": {"Gate": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
            "End": true
        }}
    });
    let machine = p
        .sfn
        .create_state_machine()
        .name(format!("{}-gate-fixture", p.names.prefix()))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/fixture")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    (queue_url, machine)
}

/// Starts `name` on the fixture machine and returns the task token it sent.
async fn token_of(p: &Platform, machine: &str, queue_url: &str, name: &str) -> String {
    p.sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input("{}")
        .send()
        .await
        .unwrap();
    let out = p
        .sqs
        .receive_message()
        .queue_url(queue_url)
        .wait_time_seconds(10)
        .send()
        .await
        .unwrap();
    let message = &out.messages()[0];
    p.sqs
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(message.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_send_the_decision_with_the_stored_token_once() {
    let p = platform().await;
    let (queue_url, machine) = waiting_machine(&p).await;
    for (id, run) in [("dep-ok", "run-ok"), ("dep-no", "run-no")] {
        p.deployment(id, "v1", 1).await;
        p.store
            .transition_deployment(id, &Transition::to(DeploymentStatus::Running, at(2)))
            .await
            .unwrap();
        let token = token_of(&p, &machine, &queue_url, run).await;
        p.store.put_gate(id, "api.0", &token).await.unwrap();
    }

    let approve = |id: &str, role| {
        post(&format!("/api/deployments/{id}/gates/api.0/approve"), role)
            .json(&json!({"comment": "looks good"}))
    };
    let r = p.call(approve("dep-ok", Role::Deployer)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(p.execution_status(&machine, "run-ok").await.0, "RUNNING");
    let r = p.call(approve("dep-ok", Role::Approver)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["by"], "approver-person");
    p.wait_status(&machine, "run-ok", "SUCCEEDED").await;
    let r = p.call(approve("dep-ok", Role::Approver)).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("gate_decided"))
    );
    let r = p
        .call(post(
            "/api/deployments/dep-ok/gates/api.0/reject",
            Role::Approver,
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "decided once");

    let r = p
        .call(
            post("/api/deployments/dep-no/gates/api.0/reject", Role::Approver)
                .json(&json!({"comment": "error rate too high"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let error = p.wait_status(&machine, "run-no", "FAILED").await;
    assert_eq!(error.as_deref(), Some(boreas_api::GATE_REJECTED));
    let gate = p.store.get_gate("dep-no", "api.0").await.unwrap().unwrap();
    assert_eq!(
        (
            gate.status.as_str(),
            gate.comment.as_deref(),
            gate.by.as_deref()
        ),
        (
            "rejected",
            Some("error rate too high"),
            Some("approver-person")
        )
    );
    let r = p.call(get("/api/deployments/dep-no")).await;
    assert_eq!(r.body["progress"]["gates"][0]["status"], "rejected");
    assert!(!r.body.to_string().contains(&gate.task_token));
    let actions: Vec<String> = p
        .audit()
        .await
        .into_iter()
        .map(|(_, a, t)| format!("{a} {t}"))
        .collect();
    assert_eq!(
        actions,
        ["gate.reject dep-no/api.0", "gate.approve dep-ok/api.0"]
    );
}

/// A failed host's decision (`rollout.on_failure: pause`) is an approver's, reaches the waiting
/// task once as the action the state machine branches on, and is audited; its token never shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_host_decisions_reach_the_waiting_task_once_and_are_audited() {
    let p = platform().await;
    let (queue_url, machine) = waiting_machine(&p).await;
    p.deployment("dep-1", "v1", 1).await;
    p.store
        .transition_deployment("dep-1", &Transition::to(DeploymentStatus::Running, at(2)))
        .await
        .unwrap();
    let token = token_of(&p, &machine, &queue_url, "run-1").await;
    p.store
        .put_host_decision("dep-1", &HostDecision::waiting("api", "h1", 0, 0, &token))
        .await
        .unwrap();

    let decide = |target: &str, role, body: Value| {
        post(
            &format!("/api/deployments/dep-1/targets/api/{target}/decision"),
            role,
        )
        .json(&body)
    };
    let retry = json!({"action": "retry", "comment": "disk freed"});
    let r = p.call(decide("h1", Role::Deployer, retry.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = p
        .call(decide("h1", Role::Approver, json!({"action": "explode"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = p.call(decide("h9", Role::Approver, retry.clone())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    assert_eq!(p.execution_status(&machine, "run-1").await.0, "RUNNING");

    let r = p.call(decide("h1", Role::Approver, retry.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (&r.body["action"], &r.body["attempt"], &r.body["by"]),
        (&json!("retry"), &json!(0), &json!("approver-person"))
    );
    p.wait_status(&machine, "run-1", "SUCCEEDED").await;
    let output = p
        .sfn
        .describe_execution()
        .execution_arn(machine.replace(":stateMachine:", ":execution:") + ":run-1")
        .send()
        .await
        .unwrap()
        .output()
        .map(str::to_owned)
        .unwrap();
    let output: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(
        output["action"], "retry",
        "the state machine branches on it"
    );

    // The same answer again (a double click) is sent again and refused by Step Functions; another
    // answer is refused by the record. Either way: already decided.
    for action in ["retry", "skip"] {
        let r = p
            .call(decide("h1", Role::Approver, json!({"action": action})))
            .await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (StatusCode::CONFLICT, Some("decided")),
            "{action}: {r:?}"
        );
    }
    let r = p.call(get("/api/deployments/dep-1")).await;
    let decision = &r.body["progress"]["decisions"][0];
    assert_eq!(
        (
            &decision["target"],
            &decision["action"],
            &decision["comment"]
        ),
        (&json!("h1"), &json!("retry"), &json!("disk freed"))
    );
    assert!(!r.body.to_string().contains(&token));
    let actions: Vec<String> = p
        .audit()
        .await
        .into_iter()
        .map(|(_, a, t)| format!("{a} {t}"))
        .collect();
    assert_eq!(actions, ["target.retry dep-1/api/h1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_marks_the_version_and_plans_back_to_the_newest_older_normal_one() {
    let p = platform().await;
    p.version("v1", "c1", 1).await;
    p.version("v2", "c2", 2).await;
    p.version("v3", "c3", 3).await;
    p.store
        .set_version_state("shop", "v2", VersionState::Revert)
        .await
        .unwrap();
    p.deployment("dep-v3", "v3", 3).await;
    p.store
        .transition_deployment("dep-v3", &Transition::to(DeploymentStatus::Running, at(4)))
        .await
        .unwrap();
    Lifecycle::new(p.store.as_ref())
        .finish("dep-v3", DeploymentStatus::Succeeded, None)
        .await
        .unwrap();
    let revert = |body: Value| post("/api/versions/shop/v3/revert", Role::Approver).json(&body);

    // Bad input: 400 and nothing written.
    for bad in [json!({}), json!({"reason": "  "}), json!({"reason": 3})] {
        let r = p.call(revert(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {r:?}");
    }
    let r = p
        .call(post("/api/versions/shop/v3/revert", Role::Deployer).json(&json!({"reason": "x"})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = p
        .call(post("/api/versions/shop/v9/revert", Role::Approver).json(&json!({"reason": "x"})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let v3 = p.store.get_version("shop", "v3").await.unwrap().unwrap();
    assert_eq!(v3.version.state, VersionState::Normal);
    let before = p
        .store
        .list_deployments(&Default::default(), &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(before, 1);

    let r = p.call(revert(json!({"reason": "corrupts orders"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["version"]["state"], "revert");
    assert_eq!(r.body["rollback_to"], "v1", "v2 is withdrawn too");
    let created = r.body["deployments"].as_array().unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(
        (
            created[0]["environment"].as_str(),
            created[0]["version"].as_str(),
            created[0]["status"].as_str()
        ),
        (Some("staging"), Some("v1"), Some("planned"))
    );
    let id = created[0]["id"].as_str().unwrap();
    let stored = p.store.get_deployment(id).await.unwrap().unwrap();
    assert!(stored.revert, "marked, so that no policy holds it");
    let plan = stored.plan;
    let apps: Vec<&str> = plan.apps().map(|a| a.app.as_str()).collect();
    assert_eq!(apps, ["db-migrate", "api", "worker", "web"]);
    assert_eq!(
        plan.find_app("api").unwrap().1.current_version.as_deref(),
        Some("v3")
    );
    let v3 = p.store.get_version("shop", "v3").await.unwrap().unwrap();
    assert_eq!(v3.version.state, VersionState::Revert);
    assert_eq!(
        p.audit().await,
        [(
            "approver-person".to_owned(),
            "version.revert".to_owned(),
            "shop/v3: corrupts orders".to_owned()
        )]
    );
    let r = p.call(revert(json!({"reason": "again"}))).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::CONFLICT, Some("already_reverted"))
    );
    assert!(
        p.executions().await.is_empty(),
        "a revert plans; it starts nothing"
    );
}

/// Versions `v{i}` and succeeded deployments `dep-{i}` of them for every `i` of `range`, with
/// host `api-staging-1` reporting the newest.
async fn history(p: &Platform, range: std::ops::RangeInclusive<u32>) {
    for i in range {
        p.version(&format!("v{i}"), &format!("c{i}"), i).await;
        let id = format!("dep-{i}");
        p.deployment(&id, &format!("v{i}"), i).await;
        p.store
            .transition_deployment(&id, &Transition::to(DeploymentStatus::Running, at(i)))
            .await
            .unwrap();
        Lifecycle::new(p.store.as_ref())
            .finish(&id, DeploymentStatus::Succeeded, None)
            .await
            .unwrap();
        let inventory = json!([{"app": "api", "version": format!("v{i}"), "healthy": true}]);
        p.store
            .upsert_agent(&Agent {
                observed_at: at(i),
                apps: inventory,
                ..agent("staging", "api-staging-1", "api")
            })
            .await
            .unwrap();
    }
}

/// Answers `req` through the api, returning the items it read from the table per request.
async fn reads_of(api: &Api, reads: &DynamoReads, req: ApiRequest) -> Vec<(String, u64)> {
    reads.lock().unwrap().clear();
    let path = req.path.clone();
    let res = handle(api, req.clone()).await;
    conformance::check(&req, &res);
    assert!(res.status.is_success(), "{path}: {res:?}");
    std::mem::take(&mut *reads.lock().unwrap())
}

/// No read grows with history, and none scans: every read route (asked for pages of 5), and a
/// revert, read as many items with 45 deployments and versions stored as with 5, counted from
/// what DynamoDB answered through a proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_api_read_grows_with_history_or_scans_the_table() {
    let p = platform().await;
    let (proxy, reads) = dynamodb_reads(p.config.endpoint_url().unwrap());
    let api = p.api_through(&proxy.url());
    for i in 0..6 {
        p.store
            .append_audit(
                &boreas_aws::store::AuditEntry::new("someone", "token.create", &format!("t{i}"))
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let reads_at = |newest: u32| {
        let (api, reads) = (&api, &reads);
        async move {
            let mut out = Vec::new();
            let paths = [
                "/api/versions?limit=5".to_owned(),
                "/api/versions?repo=shop&limit=5".to_owned(),
                format!("/api/versions/shop/v{newest}"),
                "/api/deployments?limit=5".to_owned(),
                "/api/deployments?status=succeeded&limit=5".to_owned(),
                "/api/deployments?env=staging&limit=5".to_owned(),
                "/api/deployments?repo=shop&limit=5".to_owned(),
                "/api/deployments?status=succeeded&env=staging&limit=5".to_owned(),
                format!("/api/deployments/dep-{newest}"),
                "/api/apps?limit=5".to_owned(),
                "/api/apps/api".to_owned(),
                "/api/agents?env=staging&limit=5".to_owned(),
                "/api/audit?limit=5".to_owned(),
            ];
            for path in paths {
                let (route, query) = path.split_once('?').unwrap_or((&path, ""));
                let mut req = get(route);
                for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
                    req = req.param(k, v);
                }
                out.push((path.clone(), reads_of(api, reads, req).await));
            }
            let revert = post(
                &format!("/api/versions/shop/v{newest}/revert"),
                Role::Approver,
            )
            .json(&json!({"reason": "measured"}));
            out.push(("revert".to_owned(), reads_of(api, reads, revert).await));
            out
        }
    };
    history(&p, 1..=5).await;
    let small = reads_at(5).await;
    history(&p, 6..=45).await;
    let large = reads_at(45).await;
    for ((route, small), (_, large)) in small.iter().zip(&large) {
        for (op, _) in small.iter().chain(large) {
            assert_ne!(op, "Scan", "{route} scanned the table");
        }
        let total = |reads: &[(String, u64)]| reads.iter().map(|(_, n)| n).sum::<u64>();
        assert!(
            total(large) <= total(small),
            "{route} read {} items with 5 deployments and {} with 45: {large:?}",
            total(small),
            total(large)
        );
        assert!(total(large) > 0, "{route} read nothing: {large:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_bootstrap_admin_and_pagination_on_dynamodb() {
    let p = platform().await;
    for route in ROUTES.iter().filter(|r| r.role.is_some()) {
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let path = route
            .path
            .replace("{repo}", "shop")
            .replace("{name}", "none")
            .replace("{id}", "none")
            .replace("{gate}", "g.0");
        let needed = route.role.unwrap();
        let r = p.call(ApiRequest::new(method.clone(), &path)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        let r = p
            .call(ApiRequest::new(method.clone(), &path).bearer("forged"))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        for role in [Role::Viewer, Role::Deployer, Role::Approver] {
            let r = p
                .call(ApiRequest::new(method.clone(), &path).bearer(&token(role)))
                .await;
            assert_eq!(
                r.status == StatusCode::FORBIDDEN,
                role < needed,
                "{path} as {role}: {r:?}"
            );
        }
        let r = p
            .call(ApiRequest::new(method, &path).bearer(ADMIN_SECRET))
            .await;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&r.status),
            "{path}"
        );
    }
    assert!(p.audit().await.is_empty());

    // The bootstrap admin creates a token; the token's secret is returned once and works.
    let r = p
        .call(
            ApiRequest::new(Method::POST, "/api/tokens")
                .bearer(ADMIN_SECRET)
                .json(&json!({"name": "ci", "role": "viewer"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let secret = r.body["token"].as_str().unwrap();
    for i in 0..7 {
        p.deployment(&format!("dep-{i}"), "v1", i).await;
    }
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = ApiRequest::new(Method::GET, "/api/deployments")
            .bearer(secret)
            .param("limit", "3")
            .param("env", "staging");
        if let Some(c) = &cursor {
            req = req.param("cursor", c);
        }
        let r = p.call(req).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        ids.extend(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        ids,
        (0..7).rev().map(|i| format!("dep-{i}")).collect::<Vec<_>>()
    );
    let r = p.call(get("/api/audit").param("limit", "1")).await;
    assert_eq!(r.body["items"][0]["who"], "admin");
    assert_eq!(r.body["items"][0]["action"], "token.create");
    let r = p
        .call(get("/api/deployments").param("cursor", "not-a-cursor"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = p.call(ApiRequest::new(Method::GET, "/api/health")).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The store's version configs, on both implementations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_configs_round_trip_in_both_stores() {
    let p = platform().await;
    let stores: [Arc<dyn Store>; 2] = [p.store.clone(), Arc::new(MemoryStore::new())];
    for store in stores {
        assert_eq!(store.get_version_config("shop", "v1").await.unwrap(), None);
        store
            .put_version_config("shop", "v1", "apps: []\n")
            .await
            .unwrap();
        store
            .put_version_config("shop", "v2", "second")
            .await
            .unwrap();
        store
            .put_version_config("shop", "v1", "replaced")
            .await
            .unwrap();
        assert_eq!(
            store
                .get_version_config("shop", "v1")
                .await
                .unwrap()
                .as_deref(),
            Some("replaced")
        );
        assert_eq!(
            store
                .get_version_config("shop", "v2")
                .await
                .unwrap()
                .as_deref(),
            Some("second")
        );
        assert_eq!(store.get_version_config("other", "v1").await.unwrap(), None);
    }
}
