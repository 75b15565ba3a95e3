//! Fixtures for the agent tests: the shared emulator, a one-task state machine that hands out real
//! task tokens, release artifacts of a tiny Python HTTP app, and real agent processes.

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different part.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use boreas_aws::orchestrator::{Execution, ExecutionStatus, Orchestrator, SfnOrchestrator};
use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
use boreas_core::command::{
    Action, Command, Health, PmWorkload, SCHEMA_VERSION, Workload, command_id,
};
use boreas_core::config::{HealthCheck, RunSpec};
use sha2::{Digest, Sha256};

pub const HOST: &str = "h1";
pub const ENV: &str = "test";

use boreas_aws::emulator::unique_prefix;

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The app: answers every GET with its version; `sick` answers 500; `slow` waits before listening.
const APP: &str = r#"import http.server, json, os, sys, time
VERSION = "@VERSION@"
if os.environ.get("ENV_DUMP"):
    with open(os.environ["ENV_DUMP"], "w") as f:
        json.dump({"env": dict(os.environ), "uid": os.getuid(), "cwd": os.getcwd()}, f)
port, mode = int(sys.argv[1]), sys.argv[2]
if mode == "slow":
    time.sleep(float(sys.argv[3]))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (VERSION + "\n").encode()
        self.send_response(500 if mode == "sick" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

/// A release artifact: `app.py` of `version` plus filler so downloads take a few reads.
pub fn artifact(version: &str, filler: usize) -> Vec<u8> {
    artifact_with(version, filler, &[])
}

/// [`artifact`] with more files: (name, content, mode).
pub fn artifact_with(version: &str, filler: usize, files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    };
    add(
        "app.py",
        APP.replace("@VERSION@", version).as_bytes(),
        0o644,
    );
    // Incompressible filler (a hash chain), so the archive really is `filler` bytes larger.
    let mut filler_bytes = Vec::with_capacity(filler + 32);
    let mut block = Sha256::digest(version.as_bytes());
    while filler_bytes.len() < filler {
        filler_bytes.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    add("filler.bin", &filler_bytes, 0o644);
    for (name, content, mode) in files {
        add(name, content.as_bytes(), *mode);
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Release `version` of the app as a file artifact under `dir` (`web-VERSION.tar.gz`), and the
/// workload that runs it on `port` in `mode`.
pub fn file_workload(dir: &Path, version: &str, port: u16, mode: &[&str]) -> Workload {
    let bytes = artifact(version, 1000);
    let path = dir.join(format!("web-{version}.tar.gz"));
    std::fs::write(&path, &bytes).unwrap();
    workload(
        &format!("file://{}", path.display()),
        &sha256_hex(&bytes),
        port,
        mode,
    )
}

/// A PM workload running the app on `port` in `mode`.
pub fn workload(url: &str, sha256: &str, port: u16, mode: &[&str]) -> Workload {
    let mut command = vec!["python3".to_owned(), "app.py".to_owned(), port.to_string()];
    command.extend(mode.iter().map(|s| (*s).to_owned()));
    Workload::Pm(PmWorkload {
        artifact_url: url.to_owned(),
        sha256: Some(sha256.to_owned()),
        sha256_url: None,
        commit: None,
        run_as: None,
        hooks: Default::default(),
        release_hooks: Vec::new(),
        env: Default::default(),
        run: Some(RunSpec::Command { command }),
        health: Health {
            check: HealthCheck::Http {
                http: format!("http://127.0.0.1:{port}/healthz"),
            },
            timeout_seconds: 2,
            retries: 40,
        },
    })
}

pub fn deploy(deployment: &str, host: &str, version: &str, workload: Workload) -> Command {
    Command {
        schema_version: SCHEMA_VERSION,
        command_id: command_id(deployment, "web", 0, host, "deploy"),
        environment: ENV.to_owned(),
        target: host.to_owned(),
        task_token: None,
        heartbeat_seconds: Some(30),
        timeout_seconds: None,
        action: Action::Deploy {
            deployment_id: deployment.to_owned(),
            app: "web".to_owned(),
            batch: 0,
            version: version.to_owned(),
            workload,
            weight: None,
            attempt: 0,
        },
    }
}

/// A rollback of `web` from `from` to `to` (`None`: the deployment was its first here).
pub fn rollback(deployment: &str, from: &str, to: Option<&str>) -> Command {
    Command {
        schema_version: SCHEMA_VERSION,
        command_id: command_id(deployment, "web", 0, HOST, "rollback"),
        environment: ENV.to_owned(),
        target: HOST.to_owned(),
        task_token: None,
        heartbeat_seconds: Some(30),
        timeout_seconds: None,
        action: Action::Rollback {
            deployment_id: deployment.to_owned(),
            app: "web".to_owned(),
            batch: 0,
            from_version: from.to_owned(),
            to_version: to.map(str::to_owned),
            workload: None,
        },
    }
}

/// Everything one test needs on the emulator: its own prefix, queues, bucket and a one-task state
/// machine whose task puts its token on a relay queue, so the test (playing the deployment state
/// machine) sends the agent commands with real task tokens.
pub struct Fixture {
    pub endpoint: String,
    pub aws: aws_config::SdkConfig,
    pub prefix: String,
    pub queues: SqsQueues,
    pub orchestrator: SfnOrchestrator,
    pub sfn: aws_sdk_sfn::Client,
    pub relay_url: String,
    pub agent_url: String,
    pub inventory_url: String,
    pub bucket: String,
    pub state_machine_arn: String,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let emulator = boreas_aws::emulator::shared().await;
        let aws = boreas_aws::sdk_config(Some(emulator.endpoint())).await;
        let prefix = unique_prefix('a');
        let names = boreas_aws::names::Names::new(&prefix);
        let queues = SqsQueues::from_config(&aws);
        let relay_url = queues
            .ensure_queue(&format!("{prefix}-relay"))
            .await
            .unwrap();
        let agent_url = queues
            .ensure_queue(&names.agent_queue(ENV, HOST))
            .await
            .unwrap();
        let inventory_url = queues.ensure_queue(&names.inventory_queue()).await.unwrap();
        let bucket = names.artifacts_bucket();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&aws)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let definition = serde_json::json!({
            "StartAt": "Command",
            "States": {"Command": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": relay_url, "MessageBody": {"task_token.$": "$$.Task.Token"}},
                // As the deployment's tasks: the agent checks its task is alive by heartbeat.
                "HeartbeatSeconds": 60,
                "End": true
            }}
        });
        let sfn = aws_sdk_sfn::Client::new(&aws);
        let state_machine_arn = sfn
            .create_state_machine()
            .name(format!("{prefix}-fixture"))
            .definition(definition.to_string())
            .role_arn("arn:aws:iam::123456789012:role/fixture")
            .send()
            .await
            .unwrap()
            .state_machine_arn;
        let orchestrator = SfnOrchestrator::from_config(&aws, &state_machine_arn, "");
        Fixture {
            endpoint: emulator.endpoint().to_owned(),
            aws,
            prefix,
            queues,
            orchestrator,
            sfn,
            relay_url,
            agent_url,
            inventory_url,
            bucket,
            state_machine_arn,
        }
    }

    /// Uploads an artifact to the emulator's S3; returns its `s3://` URL.
    pub async fn put_s3(&self, key: &str, bytes: Vec<u8>) -> String {
        let artifacts =
            boreas_aws::artifacts::S3Artifacts::from_config(&self.aws, self.bucket.clone());
        boreas_aws::artifacts::Artifacts::put(&artifacts, key, bytes, "application/gzip")
            .await
            .unwrap();
        format!("s3://{}/{key}", self.bucket)
    }

    /// Starts execution `name` and returns the task token its one task hands out.
    pub async fn task_token(&self, name: &str) -> String {
        let input = boreas_core::execution::Slices {
            input: "{}".to_owned(),
            objects: vec![],
        };
        self.orchestrator.start(name, &input).await.unwrap();
        let options = ReceiveOptions {
            wait: Duration::from_secs(2),
            max_messages: 1,
            visibility: None,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let received = self
                .queues
                .receive(&self.relay_url, &options)
                .await
                .unwrap();
            if let Some(m) = received.into_iter().next() {
                self.queues
                    .delete(&self.relay_url, &m.receipt_handle)
                    .await
                    .unwrap();
                let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
                return body["task_token"].as_str().unwrap().to_owned();
            }
        }
        panic!("execution {name} handed out no task token");
    }

    /// Sends `command` with a fresh execution's task token; returns the execution name.
    pub async fn send_with_token(&self, name: &str, mut command: Command) -> (String, Command) {
        command.task_token = Some(self.task_token(name).await);
        self.send(&command).await;
        (name.to_owned(), command)
    }

    pub async fn send(&self, command: &Command) {
        self.send_raw(&command.to_json()).await;
    }

    /// Sends `command` to the queue of its own environment's agent, with a fresh execution's
    /// task token; returns the execution name.
    pub async fn send_in_env(&self, name: &str, mut command: Command) -> String {
        command.task_token = Some(self.task_token(name).await);
        let names = boreas_aws::names::Names::new(&self.prefix);
        let url = self
            .queues
            .ensure_queue(&names.agent_queue(&command.environment, &command.target))
            .await
            .unwrap();
        self.queues
            .send(&url, &command.to_json(), &BTreeMap::new())
            .await
            .unwrap();
        name.to_owned()
    }

    pub async fn send_raw(&self, body: &str) {
        self.queues
            .send(&self.agent_url, body, &BTreeMap::new())
            .await
            .unwrap();
    }

    /// Waits until execution `name` ends.
    pub async fn finished(&self, name: &str) -> Execution {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let e = self.orchestrator.describe(name).await.unwrap();
            if e.status != ExecutionStatus::Running {
                return e;
            }
            assert!(Instant::now() < deadline, "execution {name} still running");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The error of the execution's failed task (`Boreas.…`), if it failed.
    pub async fn task_error(&self, name: &str) -> Option<String> {
        let history = self
            .sfn
            .get_execution_history()
            .execution_arn(self.orchestrator.execution_arn(name))
            .send()
            .await
            .unwrap();
        history.events.iter().find_map(|e| {
            e.task_failed_event_details()
                .and_then(|d| d.error().map(str::to_owned))
        })
    }

    /// The whole history of an execution, as text (to search it).
    pub async fn history_text(&self, name: &str) -> String {
        let history = self
            .sfn
            .get_execution_history()
            .execution_arn(self.orchestrator.execution_arn(name))
            .send()
            .await
            .unwrap();
        format!("{:?}", history.events)
    }

    /// How many results (TaskSucceeded or TaskFailed) the execution's task received.
    pub async fn results(&self, name: &str) -> usize {
        let history = self
            .sfn
            .get_execution_history()
            .execution_arn(self.orchestrator.execution_arn(name))
            .send()
            .await
            .unwrap();
        history
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e.r#type.as_str(),
                    "TaskSucceeded" | "TaskFailed" | "TaskTimedOut"
                )
            })
            .count()
    }

    /// Every inventory event sent so far.
    pub async fn inventories(&self) -> Vec<serde_json::Value> {
        let options = ReceiveOptions {
            wait: Duration::from_secs(1),
            max_messages: 10,
            visibility: None,
        };
        let mut out = Vec::new();
        loop {
            let batch = self
                .queues
                .receive(&self.inventory_url, &options)
                .await
                .unwrap();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                out.push(serde_json::from_str(&m.body).unwrap());
                self.queues
                    .delete(&self.inventory_url, &m.receipt_handle)
                    .await
                    .unwrap();
            }
        }
    }
}

/// A real `boreas-agent` process. Dropping it kills the agent and every app it left running.
pub struct AgentProcess {
    child: Option<Child>,
    pub work_dir: PathBuf,
    pub log: PathBuf,
    endpoint: String,
    prefix: String,
    environment: String,
    extra_env: Vec<(String, String)>,
}

impl AgentProcess {
    pub fn start(fixture: &Fixture, work_dir: &Path) -> AgentProcess {
        Self::start_in(fixture, work_dir, ENV, &[])
    }

    /// An agent of `environment`, with `extra_env` in its own environment.
    pub fn start_in(
        fixture: &Fixture,
        work_dir: &Path,
        environment: &str,
        extra_env: &[(&str, &str)],
    ) -> AgentProcess {
        let mut agent = AgentProcess {
            child: None,
            work_dir: work_dir.to_path_buf(),
            log: work_dir.join("agent.log"),
            endpoint: fixture.endpoint.clone(),
            prefix: fixture.prefix.clone(),
            environment: environment.to_owned(),
            extra_env: extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        agent.spawn();
        agent
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.work_dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_boreas-agent"))
            .args(["--host", HOST, "--environment", &self.environment])
            .args(["--group", "edge"])
            .args(["--prefix", &self.prefix, "--endpoint", &self.endpoint])
            .arg("--work-dir")
            .arg(&self.work_dir)
            .args(["--poll-seconds", "2", "--visibility-seconds", "6"])
            .args(["--probe-interval-ms", "200", "--inventory-seconds", "600"])
            .env("RUST_LOG", "info")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL, as a crash or power loss would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Starts the agent again on the same work directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGTERM and wait: the agent stops its apps.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The agent's log lines (JSON) that mention `text`.
    pub fn log_lines(&self, text: &str) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(text))
            .map(str::to_owned)
            .collect()
    }

    pub fn current(&self) -> Option<String> {
        std::fs::read_link(self.work_dir.join("apps/web/current"))
            .ok()
            .and_then(|p| p.file_name()?.to_str().map(str::to_owned))
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
        // Apps run in their own process groups and outlive a killed agent: end them too.
        if let Ok(pid) = std::fs::read_to_string(self.work_dir.join("apps/web/pid")) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", pid.trim())])
                .status();
        }
    }
}

/// GET `/healthz` on the app; the body (its version) when it answers 200.
pub fn answer(port: u16) -> Option<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    if !text.starts_with("HTTP/1.0 200") {
        return None;
    }
    Some(text.split("\r\n\r\n").nth(1)?.trim().to_owned())
}

/// Polls `check` until it is true or `secs` pass.
pub async fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
