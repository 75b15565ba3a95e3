//! Every function's binary under one `cargo lambda watch`, each invoked once with
//! its fixture event (`events/*.json`) through `cargo lambda invoke`, against the emulator, a git
//! repository made with the git CLI and the fixture Kubernetes API server. Each case checks the
//! function's answer and what it did where it does something: that proves the binary's wiring
//! (its `main.rs`, the environment it reads, the Lambda event and response shapes).
//!
//! The table [`CASES`] lists the functions; another function is one more entry.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use boreas_aws::names::{DEFAULT_K8S_CLUSTER, Names};
use boreas_aws::provision::{DEMO_REPOSITORY, Provisioned};
use boreas_aws::secrets::{SecretValue, Secrets, SsmSecrets};
use boreas_aws::store::{
    DeploymentFilter, DynamoStore, GitCredential, PageRequest, Repository, Store, Transition,
    VersionRecord, rfc3339,
};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::status::VersionStatus;
use boreas_core::webhook::{Provider, sign};
use boreas_k8s_fixture::FixtureCluster;
use boreas_lambda_wiring::{FUNCTIONS, Profile, Watch, build, fill_event, function_env};
use boreas_test_support::emulator::Prefix;
use boreas_test_support::git::GitRepo;
use boreas_test_support::http::{RecordingServer, Request, Response};
use boreas_test_support::records::{example_plan, example_yaml, new_deployment, version};
use boreas_test_support::webhook::fixture;
use serde_json::{Value, json};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;
type Vars = BTreeMap<&'static str, String>;
type Checked = Result<(), String>;

/// One function: its fixture event, what the test prepares and fills in, what it then checks.
struct Case {
    /// The binary (the function name `cargo lambda watch` runs).
    function: &'static str,
    /// File under `events/`.
    event: &'static str,
    /// Seeds what the invocation needs; returns the event's placeholder values.
    prepare: for<'a> fn(&'a Ctx) -> BoxFuture<'a, Vars>,
    /// Checks the answer and the effect.
    check: for<'a> fn(&'a Ctx, Value) -> BoxFuture<'a, Checked>,
}

const CASES: [Case; 8] = [
    Case {
        function: "boreas-intake",
        event: "intake-github-tag-push.json",
        prepare: intake_prepare,
        check: intake_check,
    },
    Case {
        function: "boreas-api",
        event: "api-get-version.json",
        prepare: api_prepare,
        check: api_check,
    },
    Case {
        function: "boreas-planner",
        event: "planner-plan-job.json",
        prepare: planner_prepare,
        check: planner_check,
    },
    Case {
        function: "boreas-recorder",
        event: "recorder-inventory.json",
        prepare: recorder_prepare,
        check: recorder_check,
    },
    Case {
        function: "boreas-notifier",
        event: "notifier-notice.json",
        prepare: notifier_prepare,
        check: notifier_check,
    },
    Case {
        function: "boreas-analysis",
        event: "analysis-request.json",
        prepare: analysis_prepare,
        check: analysis_check,
    },
    Case {
        function: "boreas-k8s-operator",
        event: "k8s-operator-status.json",
        prepare: k8s_prepare,
        check: k8s_check,
    },
    Case {
        function: "boreas-dashboard-publisher",
        event: "dashboard-publisher-create.json",
        prepare: publisher_prepare,
        check: publisher_check,
    },
];

/// Fails a check with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Everything the cases share: one provisioned prefix on the emulator, a fixture cluster, a
/// temporary directory.
struct Ctx {
    sdk: aws_config::SdkConfig,
    names: Names,
    provisioned: Provisioned,
    store: Arc<dyn Store>,
    cluster: FixtureCluster,
    cloudformation: ResponseCatcher,
    /// The notifier's git host (answers the GitHub REST calls) and the analysis check's metrics
    /// endpoint; records every call.
    git_host: RecordingServer,
    dir: tempfile::TempDir,
}

impl Ctx {
    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    async fn secret(&self, param: &str) -> String {
        SsmSecrets::from_config(&self.sdk)
            .get(param)
            .await
            .unwrap_or_else(|e| panic!("read {param}: {e}"))
            .expose()
            .to_owned()
    }

    /// The ARN of a provisioned queue, as SQS reports it (the event source of an SQS event).
    async fn queue_arn(&self, role: &str) -> String {
        let url = &self.provisioned.queues[role].url;
        self.sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("attributes of {url}: {e}"))
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_else(|| panic!("{url} has no QueueArn"))
    }

    /// Bodies of the messages waiting on a provisioned queue (received: hidden afterwards).
    async fn receive(&self, role: &str) -> Vec<String> {
        let url = &self.provisioned.queues[role].url;
        let out = self
            .sqs()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive from {url}: {e}"));
        out.messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect()
    }

    /// Registers repository `id` (`host/full_name`, lowercased) under `full_name`.
    async fn register(&self, id: &str, full_name: &str, clone_url: &str) {
        self.store
            .put_repository(&Repository {
                id: id.to_owned(),
                full_name: full_name.to_owned(),
                host: id.split('/').next().unwrap_or_default().to_owned(),
                clone_url: clone_url.to_owned(),
                provider: Provider::GitHub,
                secret_param: self.names.webhook_secret_param(DEMO_REPOSITORY),
                previous_secret: None,
                credential: None,
                triggers: vec![],
                created_at: rfc3339(SystemTime::now()),
            })
            .await
            .expect("register the repository");
    }

    async fn record_version(&self, repo: &str, name: &str, commit: &str) {
        self.store
            .put_version(&VersionRecord {
                pushed_by: Some("wiring-test".into()),
                ..version(repo, name, commit)
            })
            .await
            .expect("record the version");
    }
}

/// The JSON body of an API Gateway proxy answer, and its status code.
fn http_answer(answer: &Value) -> Result<(u64, Value), String> {
    let status = answer["statusCode"]
        .as_u64()
        .ok_or_else(|| format!("no statusCode in {answer}"))?;
    let body = answer["body"]
        .as_str()
        .ok_or_else(|| format!("no text body in {answer}"))?;
    let body = serde_json::from_str(body).map_err(|e| format!("body {body:?}: {e}"))?;
    Ok((status, body))
}

/// An SQS batch answer with no failed message.
fn no_batch_failures(answer: &Value) -> Checked {
    let failures = answer["batchItemFailures"]
        .as_array()
        .ok_or_else(|| format!("not an SQS batch response: {answer}"))?;
    ensure!(failures.is_empty(), "failed messages: {answer}");
    Ok(())
}

// ------------------------------------------------------------------------------------- intake

const GITHUB_REPO: &str = "Codertocat/Hello-World";
/// Its id: the fixture's repository is on a GitHub Enterprise Server.
const GITHUB_ID: &str = "octocoders.github.io/codertocat/hello-world";
const GITHUB_TAG: &str = "simple-tag";
const GITHUB_COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

/// A published GitHub tag push (the intake's fixture), signed with the provisioned secret, for a
/// registered repository.
fn intake_prepare(ctx: &Ctx) -> BoxFuture<'_, Vars> {
    Box::pin(async move {
        ctx.register(
            GITHUB_ID,
            GITHUB_REPO,
            "https://git.example.com/hello-world.git",
        )
        .await;
        let body = String::from_utf8(fixture("github/push-tag-created-ghes-35.json"))
            .expect("a UTF-8 payload");
        let secret = ctx
            .secret(&ctx.names.webhook_secret_param(DEMO_REPOSITORY))
            .await;
        let signature = sign(Provider::GitHub, body.as_bytes(), secret.as_bytes());
        Vars::from([
            ("BODY", body),
            ("SIGNATURE", signature),
            ("DELIVERY", format!("wiring-{}", ctx.names.prefix())),
        ])
    })
}

/// 202 `queued`, the version recorded `received`, one plan job on the plan queue.
fn intake_check(ctx: &Ctx, answer: Value) -> BoxFuture<'_, Checked> {
    Box::pin(async move {
        let (status, body) = http_answer(&answer)?;
        ensure!(
            status == 202 && body["status"] == "queued",
            "answer {status} {body}"
        );
        let version = ctx
            .store
            .get_version(GITHUB_ID, GITHUB_TAG)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no version recorded")?;
        ensure!(
            version.status == VersionStatus::Received && version.version.commit.0 == GITHUB_COMMIT,
            "version recorded as {version:?}"
        );
        let jobs = ctx.receive("plan").await;
        ensure!(
            jobs.len() == 1 && jobs[0].contains(GITHUB_COMMIT),
            "plan jobs queued: {jobs:?}"
        );
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------- api

const API_REPO: &str = "shop";
const API_VERSION: &str = "v1.2.0";
const API_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A recorded version, read with the admin token from SSM.
fn api_prepare(ctx: &Ctx) -> BoxFuture<'_, Vars> {
    Box::pin(async move {
        ctx.record_version(API_REPO, API_VERSION, API_COMMIT).await;
        let token = ctx.secret(&ctx.names.admin_token_param()).await;
        Vars::from([
            ("REPOSITORY", API_REPO.to_owned()),
            ("VERSION", API_VERSION.to_owned()),
            ("TOKEN", token),
        ])
    })
}

/// 200 with the stored record: the token was checked against SSM and the table was read.
fn api_check(_ctx: &Ctx, answer: Value) -> BoxFuture<'_, Checked> {
    Box::pin(async move {
        let (status, body) = http_answer(&answer)?;
        ensure!(status == 200, "answer {status} {body}");
        ensure!(
            body["repository"] == API_REPO
                && body["name"] == API_VERSION
                && body["commit"] == API_COMMIT
                && body["status"] == "received"
                && body["pushed_by"] == "wiring-test",
            "version answered: {body}"
        );
        Ok(())
    })
}

// ------------------------------------------------------------------------------------ planner

const PLAN_REPO: &str = "storefront";
const PLAN_VERSION: &str = "v1.0.0";

const BOREAS_YAML: &str = r#"environments:
  - name: staging
triggers:
  tags: "v*"
apps:
  - name: api
    kind: pm
    paths: ["api/**"]
    rollout:
      batches: ["100%"]
    pm:
      hosts:
        staging: [api-s1]
      artifact:
        url: "s3://releases/api/{version}/api.tar.gz"
        sha256_url: "s3://releases/api/{version}/api.tar.gz.sha256"
      run:
        systemd: api.service
      health:
        tcp: "127.0.0.1:8080"
"#;

/// A git repository (file://) with `boreas.yaml` and a tag, registered, its version received.
fn planner_prepare(ctx: &Ctx) -> BoxFuture<'_, Vars> {
    Box::pin(async move {
        let repo = GitRepo::init(ctx.dir.path(), "storefront");
        let commit = repo.commit(
            "storefront",
            &[
                ("boreas.yaml", BOREAS_YAML),
                ("api/main.rs", "fn main() {}\n"),
            ],
        );
        repo.tag(PLAN_VERSION);
        ctx.register(PLAN_REPO, PLAN_REPO, &repo.file_url()).await;
        ctx.record_version(PLAN_REPO, PLAN_VERSION, &commit).await;
        Vars::from([
            ("REPOSITORY", PLAN_REPO.to_owned()),
            ("VERSION", PLAN_VERSION.to_owned()),
            ("COMMIT", commit),
            ("QUEUE_ARN", ctx.queue_arn("plan").await),
        ])
    })
}

/// No failed message, the version `planned`, a `planned` staging deployment of it.
fn planner_check(ctx: &Ctx, answer: Value) -> BoxFuture<'_, Checked> {
    Box::pin(async move {
        no_batch_failures(&answer)?;
        let version = ctx
            .store
            .get_version(PLAN_REPO, PLAN_VERSION)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the version is gone")?;
        ensure!(
            version.status == VersionStatus::Planned,
            "version {:?} with errors {:?}",
            version.status,
            version.errors
        );
        let filter = DeploymentFilter {
            status: None,
            environment: Some("staging".into()),
            ..DeploymentFilter::default()
        };
        let deployments = ctx
            .store
            .list_deployments(&filter, &PageRequest::first(10))
            .await
            .map_err(|e| e.to_string())?
            .items;
        ensure!(
            deployments.len() == 1
                && deployments[0].repository == PLAN_REPO
                && deployments[0].version == PLAN_VERSION
                && deployments[0].status == DeploymentStatus::Planned
                && deployments[0]
                    .plan
                    .apps()
                    .any(|a| a.targets.iter().any(|t| t == "api-s1")),
            "staging deployments: {deployments:?}"
        );
        Ok(())
    })
}

// ----------------------------------------------------------------------------------- recorder

fn recorder_prepare(ctx: &Ctx) -> BoxFuture<'_, Vars> {
    Box::pin(async move { Vars::from([("QUEUE_ARN", ctx.queue_arn("inventory").await)]) })
}

/// No failed message, and the agent record of the reporting host holds its inventory.
fn recorder_check(ctx: &Ctx, answer: Value) -> BoxFuture<'_, Checked> {
    Box::pin(async move {
        no_batch_failures(&answer)?;
        let agents = ctx
            .store
            .list_agents(Some("prod"))
            .await
            .map_err(|e| e.to_string())?;
        ensure!(
            agents.len() == 1
                && agents[0].host == "web-1"
                && agents[0].group == "edge"
                && agents[0].apps[0]["app"] == "web"
                && agents[0].apps[0]["version"] == "v1.4.0",
            "agents: {agents:?}"
        );
        Ok(())
    })
}

// ----------------------------------------------------------------------------------- notifier

const NOTIFIED: &str = "dep-notified";

/// A GitHub repository on the local git host with a token, a version whose `boreas.yaml` sends
/// everything to `git`, and its deployment.
fn notifier_prepare(ctx: &Ctx) -> BoxFuture<'_, Vars> {
    Box::pin(async move {
        let host = ctx.git_host.url().trim_start_matches("http://").to_owned();
        let repo = format!("{host}/acme/shop");
        let param = ctx.names.git_credential_param(&repo);
        SsmSecrets::from_config(&ctx.sdk)
            .put(&param, &SecretValue::new("ghp-wiring-token"), true)
            .await
            .expect("store the token");
        ctx.store
            .put_repository(&Repository {
                id: repo.clone(),
                full_name: "acme/shop".into(),
                host: host.clone(),
                clone_url: format!("http://{host}/acme/shop.git"),
                provider: Provider::GitHub,
                secret_param: ctx.names.webhook_secret_param(&repo),
                previous_secret: None,
                credential: Some(GitCredential::Token {
                    param,
                    username: "x-access-token".into(),
                }),
                triggers: vec![],
                created_at: rfc3339(SystemTime::now()),
            })
            .await
            .expect("register the repository");
        let commit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        ctx.store
            .put_version(&version(&repo, "v1.4.2", commit))
            .await
            .expect("record the version");
        let yaml = format!("{}\nnotifications:\n  - sink: git\n", example_yaml());
        ctx.store
            .put_version_config(&repo, "v1.4.2", &yaml)
            .await
            .expect("record its config");
        let mut new = new_deployment(NOTIFIED, example_plan("prod", "v1.4.2"));
        new.repository = repo;
        ctx.store
            .create_deployment(&new)
            .await
            .expect("create the deployment");
        Vars::from([
            ("QUEUE_ARN", ctx.queue_arn("notifications").await),
            ("DEPLOYMENT", NOTIFIED.to_owned()),
        ])
    })
}

/// No failed message; GitHub got the Deployment, its status and the commit status, and each
/// delivery is recorded.
fn notifier_check(ctx: &Ctx, answer: Value) -> BoxFuture<'_, Checked> {
    Box::pin(async move {
        no_batch_failures(&answer)?;
        let calls: Vec<String> = ctx
            .git_host
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect();
        ensure!(
            calls
                == [
                    "POST /api/v3/repos/acme/shop/deployments",
                    "POST /api/v3/repos/acme/shop/deployments/7/statuses",
                    "POST /api/v3/repos/acme/shop/statuses/4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                ],
            "calls: {calls:?}"
        );
        let recorded = ctx
            .store
            .notifications(NOTIFIED)
            .await
            .map_err(|e| e.to_string())?;
        ensure!(
            recorded.len() == 3
                && recorded
                    .iter()
                    .all(|n| n.state == boreas_core::notify::DeliveryState::Delivered),
            "deliveries: {recorded:?}"
        );
        Ok(())
    })
}

// ----------------------------------------------------------------------------------- analysis

const ANALYSED: &str = "dep-analysed";

/// A running deployment whose version's app `api` has one HTTP check on the local metrics
/// endpoint.
fn analysis_prepare(ctx: &Ctx) -> BoxFuture<'_, Vars> {
    Box::pin(async move {
        let metrics = format!("{}/metrics/ratio?app={{app}}", ctx.git_host.url());
        let yaml = format!(
            "environments:\n  - name: prod\napps:\n  - name: api\n    kind: pm\n    pm:\n      hosts:\n        prod: [api-1]\n      artifact:\n        url: \"https://releases.example.com/api-{{version}}.tar.gz\"\n        sha256_url: \"https://releases.example.com/api-{{version}}.tar.gz.sha256\"\n      run:\n        command: [\"./api\"]\n      health:\n        command: [\"./check\"]\n    analysis:\n      - name: error-rate\n        http:\n          url: \"{metrics}\"\n          json_path: \"$.ratio\"\n        condition: \"< 0.01\"\n"
        );
        ctx.store
            .put_version(&version("shop", "v1.4.3", &format!("{:040x}", 43)))
            .await
            .expect("record the version");
        ctx.store
            .put_version_config("shop", "v1.4.3", &yaml)
            .await
            .expect("record its config");
        ctx.store
            .create_deployment(&new_deployment(ANALYSED, example_plan("prod", "v1.4.3")))
            .await
            .expect("create the deployment");
        ctx.store
            .transition_deployment(
                ANALYSED,
                &Transition::to(DeploymentStatus::Running, rfc3339(SystemTime::now())),
            )
            .await
            .expect("start the deployment");
        Vars::from([
            ("QUEUE_ARN", ctx.queue_arn("analysis").await),
            ("DEPLOYMENT", ANALYSED.to_owned()),
        ])
    })
}

/// No failed message; the check was measured on the endpoint, judged and recorded (the task
/// token is no real execution's, which the worker takes as answered).
fn analysis_check(ctx: &Ctx, answer: Value) -> BoxFuture<'_, Checked> {
    Box::pin(async move {
        no_batch_failures(&answer)?;
        let asked = ctx
            .git_host
            .requests()
            .iter()
            .any(|r| r.target == "/metrics/ratio?app=api");
        ensure!(asked, "the metrics endpoint was not asked");
        let records = ctx
            .store
            .analyses(ANALYSED)
            .await
            .map_err(|e| e.to_string())?;
        ensure!(
            records.len() == 1
                && records[0].measurements.len() == 1
                && records[0].verdict == Some(boreas_core::analysis::Outcome::Pass),
            "records: {records:?}"
        );
        Ok(())
    })
}

// ------------------------------------------------------------------------------- k8s-operator

const K8S_NAMESPACE: &str = "shop";

/// The cluster's kubeconfig in SSM (as the operator's Lambda reads it) and one Deployment that
/// Boreas manages there.
fn k8s_prepare(ctx: &Ctx) -> BoxFuture<'_, Vars> {
    Box::pin(async move {
        aws_sdk_ssm::Client::new(&ctx.sdk)
            .put_parameter()
            .name(ctx.names.kubeconfig_param(DEFAULT_K8S_CLUSTER))
            .value(ctx.cluster.kubeconfig(K8S_NAMESPACE))
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .expect("store the kubeconfig");
        ctx.cluster
            .create(&json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {
                    "name": "web", "namespace": K8S_NAMESPACE,
                    "labels": {
                        "app": "web",
                        "app.kubernetes.io/managed-by": "boreas",
                        "boreas.io/app": "web",
                        "boreas.io/track": "stable",
                    },
                    "annotations": {"boreas.io/version": "v2.0.0"},
                },
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:v2.0.0"}]},
                    },
                },
            }))
            .expect("create the Deployment");
        Vars::from([
            ("CLUSTER", DEFAULT_K8S_CLUSTER.to_owned()),
            ("QUEUE_ARN", ctx.queue_arn("k8s").await),
        ])
    })
}

/// No failed message, and the cluster's inventory (read with the kubeconfig from SSM) on the
/// inventory queue.
fn k8s_check(ctx: &Ctx, answer: Value) -> BoxFuture<'_, Checked> {
    Box::pin(async move {
        no_batch_failures(&answer)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            seen.extend(ctx.receive("inventory").await);
            let inventory = seen
                .iter()
                .filter_map(|b| serde_json::from_str::<Value>(b).ok())
                .find(|e| e["type"] == "inventory" && e["target"] == DEFAULT_K8S_CLUSTER);
            if let Some(event) = inventory {
                ensure!(
                    event["kind"] == "k8s"
                        && event["environment"] == "prod"
                        && event["apps"][0]["app"] == "web"
                        && event["apps"][0]["version"] == "v2.0.0"
                        && event["apps"][0]["namespace"] == K8S_NAMESPACE,
                    "inventory sent: {event}"
                );
                return Ok(());
            }
        }
        Err(format!(
            "no inventory on the inventory queue; seen {seen:?}"
        ))
    })
}

// ------------------------------------------------------------------------ dashboard-publisher

const SITE_API_URL: &str = "https://api.wiring.example";

/// The built dashboard the publisher finds in its package (`$LAMBDA_TASK_ROOT/site`).
fn write_site(task_root: &Path) {
    let assets = task_root.join("site/assets");
    std::fs::create_dir_all(&assets).expect("create the site");
    std::fs::write(
        task_root.join("site/index.html"),
        "<!doctype html><title>Boreas</title>",
    )
    .expect("write index.html");
    std::fs::write(assets.join("app-0a1b2c.js"), "console.log('boreas')").expect("write a script");
}

/// Stands in for CloudFormation's presigned response URL: one HTTP server on 127.0.0.1 that
/// answers 200 to every request and hands over each body. Stopped on drop.
struct ResponseCatcher {
    url: String,
    bodies: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl ResponseCatcher {
    async fn start() -> ResponseCatcher {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the response catcher");
        let port = listener.local_addr().expect("its address").port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                // Read the head, then as many body bytes as Content-Length says.
                let body = loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        break None;
                    };
                    if n == 0 {
                        break None;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request);
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break Some(body.to_owned());
                    }
                };
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                if let Some(body) = body {
                    let _ = tx.send(body);
                }
            }
        });
        ResponseCatcher {
            url: format!("http://127.0.0.1:{port}/response?X-Amz-Signature=wiring"),
            bodies: tokio::sync::Mutex::new(rx),
            task,
        }
    }

    /// The next body received, waiting up to ten seconds.
    async fn next(&self) -> Option<String> {
        let mut bodies = self.bodies.lock().await;
        tokio::time::timeout(Duration::from_secs(10), bodies.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for ResponseCatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Create for the provisioned dashboard bucket, answered to the response catcher.
fn publisher_prepare(ctx: &Ctx) -> BoxFuture<'_, Vars> {
    Box::pin(async move {
        Vars::from([
            ("BUCKET", ctx.names.dashboard_bucket()),
            ("API_URL", SITE_API_URL.to_owned()),
            ("RESPONSE_URL", ctx.cloudformation.url.clone()),
        ])
    })
}

/// CloudFormation hears SUCCESS; the site and its `config.json` are in the bucket.
fn publisher_check(ctx: &Ctx, _answer: Value) -> BoxFuture<'_, Checked> {
    Box::pin(async move {
        let response = ctx
            .cloudformation
            .next()
            .await
            .ok_or("no response reached CloudFormation")?;
        let response: Value =
            serde_json::from_str(&response).map_err(|e| format!("response {response:?}: {e}"))?;
        ensure!(
            response["Status"] == "SUCCESS"
                && response["LogicalResourceId"] == "DashboardSite"
                && response["PhysicalResourceId"] == ctx.names.dashboard_bucket().as_str(),
            "CloudFormation was told {response}"
        );
        let s3 = aws_sdk_s3::Client::new(&ctx.sdk);
        let bucket = ctx.names.dashboard_bucket();
        let listed = s3
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| format!("list {bucket}: {e}"))?;
        let mut keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        keys.sort_unstable();
        ensure!(
            keys == ["assets/app-0a1b2c.js", "config.json", "index.html"],
            "objects in {bucket}: {keys:?}"
        );
        let config = s3
            .get_object()
            .bucket(&bucket)
            .key("config.json")
            .send()
            .await
            .map_err(|e| format!("get config.json: {e}"))?
            .body
            .collect()
            .await
            .map_err(|e| format!("read config.json: {e}"))?
            .into_bytes();
        let config: Value = serde_json::from_slice(&config).map_err(|e| e.to_string())?;
        ensure!(config["apiUrl"] == SITE_API_URL, "config.json: {config}");
        Ok(())
    })
}

// ------------------------------------------------------------------------------------- the test

/// The binaries the test builds and `cargo lambda watch` runs.
const PROFILE: Profile = Profile::Dev;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_answers_its_fixture_event_under_cargo_lambda_watch() {
    let started = Instant::now();
    // The slow part first, in one cargo call: watch then finds the binaries fresh.
    let binaries: Vec<&str> = CASES.iter().map(|c| c.function).collect();
    for b in FUNCTIONS {
        assert!(binaries.contains(&b), "{b} has no case");
    }
    // Debug binaries: see `Profile` for why that proves the same wiring.
    tokio::task::spawn_blocking(move || build(&binaries, PROFILE))
        .await
        .expect("the build task")
        .expect("build the functions' binaries");
    let built = started.elapsed();

    let emulator = boreas_aws::emulator::Emulator::start()
        .await
        .expect("start the emulator");
    let Prefix {
        sdk,
        names,
        provisioned,
    } = Prefix::provision(
        emulator.endpoint(),
        Names::new(&boreas_aws::emulator::unique_prefix('w')),
    )
    .await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let env = function_env(
        emulator.endpoint(),
        names.prefix(),
        &[
            (
                "BOREAS_STATE_MACHINE_ARN",
                provisioned.state_machine_arn.clone(),
            ),
            (
                "BOREAS_PLAN_QUEUE_URL",
                provisioned.queues["plan"].url.clone(),
            ),
            (
                "BOREAS_INVENTORY_QUEUE_URL",
                provisioned.queues["inventory"].url.clone(),
            ),
            (
                "BOREAS_DASHBOARD_URL",
                "https://boreas.example.com".to_owned(),
            ),
            (
                "BOREAS_GIT_CACHE",
                dir.path().join("git-cache").display().to_string(),
            ),
            (
                "LAMBDA_TASK_ROOT",
                dir.path().join("publisher").display().to_string(),
            ),
        ],
    );
    write_site(&dir.path().join("publisher"));
    let watch = Watch::start(dir.path(), &env, PROFILE).expect("start cargo lambda watch");
    let ctx = Ctx {
        store: Arc::new(DynamoStore::from_config(&sdk, names.table())),
        sdk,
        names,
        provisioned,
        cluster: FixtureCluster::start().await,
        cloudformation: ResponseCatcher::start().await,
        git_host: RecordingServer::start(|req: &Request| {
            if req.target.starts_with("/metrics/") {
                Response::json(200, json!({"ratio": 0.001}))
            } else if req.target.ends_with("/deployments") {
                Response::json(201, json!({"id": 7}))
            } else {
                Response::json(201, json!({}))
            }
        }),
        dir,
    };

    let mut failures = Vec::new();
    for case in &CASES {
        let vars = (case.prepare)(&ctx).await;
        let event = fill_event(&events_dir().join(case.event), &vars)
            .unwrap_or_else(|e| panic!("{}: {e}", case.function));
        let t = Instant::now();
        let answer =
            tokio::task::block_in_place(|| watch.invoke(ctx.dir.path(), case.function, &event));
        let outcome = match answer {
            Ok(answer) => (case.check)(&ctx, answer).await,
            Err(e) => Err(e.to_string()),
        };
        eprintln!(
            "{}: {} in {:?}",
            case.function,
            if outcome.is_ok() { "ok" } else { "FAILED" },
            t.elapsed()
        );
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", case.function));
        }
    }
    let tail = watch.log_tail();
    tokio::task::block_in_place(|| watch.stop()).expect("stop cargo lambda watch");
    emulator.stop().await.expect("stop the emulator");
    eprintln!("build {built:?}, whole test {:?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "{}\n\nwatch log:\n{tail}",
        failures.join("\n")
    );
}
