//! The harness of the end-to-end tests and the local-platform benchmark: a real `boreas dev`
//! (emulator, functions, agents, demo repository) started as a child process, driven through its
//! HTTP API, the `boreas` CLI and the git CLI, and inspected through the agents' directories and
//! the demo apps' own ports.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use boreas_aws::store::parse_rfc3339;
use boreas_core::webhook::Provider;
use boreas_test_support::git::git;
use boreas_test_support::webhook::{signed_headers, tag_push};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// How long `boreas dev` may take to be ready (the first run installs the emulator).
const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// Seconds since the epoch of an RFC 3339 timestamp, as the records and the agents' logs write
/// them (the benchmarks subtract them).
pub fn epoch(ts: &str) -> f64 {
    parse_rfc3339(ts)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_else(|| panic!("timestamp {ts:?}"))
        .as_secs_f64()
}

/// The directory holding the `boreas` and `boreas-agent` binaries of this build profile, built
/// first if cargo is at hand (a `cargo test -p boreas-e2e` alone does not build other packages' binaries).
pub fn binaries() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test> or target/<profile>/examples/<bench>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a target directory")
        .to_owned();
    let release = dir.file_name().is_some_and(|n| n == "release");
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "boreas-cli", "-p", "boreas-agent"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build of boreas and boreas-agent failed"
        );
    }
    for bin in ["boreas", "boreas-agent"] {
        assert!(
            dir.join(bin).is_file(),
            "{} is missing: build it with `cargo build -p boreas-cli -p boreas-agent`",
            dir.join(bin).display()
        );
    }
    dir
}

/// A running `boreas dev`.
#[derive(Debug)]
pub struct Platform {
    child: Child,
    bin_dir: PathBuf,
    state_dir: PathBuf,
    /// The contents of `dev.json`.
    pub dev: Value,
    http: reqwest::blocking::Client,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Platform {
    /// Starts `boreas dev` with `agents` agents in `state_dir` (which must not hold another
    /// platform) and waits until it wrote `dev.json`. `extra` are more `boreas dev` flags.
    pub fn start(state_dir: &Path, agents: u16, extra: &[&str]) -> Platform {
        let bin_dir = binaries();
        std::fs::create_dir_all(state_dir).expect("create the state directory");
        let dev_json = state_dir.join("dev.json");
        let _ = std::fs::remove_file(&dev_json);
        let log = std::fs::File::create(state_dir.join("boreas-dev.log")).expect("log file");
        let prefix = format!("e{:x}", std::process::id());
        let child = Command::new(bin_dir.join("boreas"))
            .arg("dev")
            .arg("--state-dir")
            .arg(state_dir)
            .args(["--port", "0", "--agents", &agents.to_string()])
            .args(["--prefix", &prefix, "--stop-on-stdin-eof"])
            .args(extra)
            .env("BOREAS_AGENT_BIN", bin_dir.join("boreas-agent"))
            // The pipe closes when this process ends, however it ends: `boreas dev` then stops.
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start boreas dev");
        let mut platform = Platform {
            child,
            bin_dir,
            state_dir: state_dir.to_owned(),
            dev: Value::Null,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
        };
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&dev_json)
                && let Ok(dev) = serde_json::from_str::<Value>(&text)
            {
                platform.dev = dev;
                return platform;
            }
            if let Ok(Some(status)) = platform.child.try_wait() {
                panic!(
                    "boreas dev exited with {status} before it was ready:\n{}",
                    platform.log_tail()
                );
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "boreas dev was not ready within {READY_TIMEOUT:?}:\n{}",
                platform.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last lines of the `boreas dev` log, to explain a failure.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.state_dir.join("boreas-dev.log")) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn field(&self, key: &str) -> &str {
        self.dev[key].as_str().unwrap_or_default()
    }

    /// The directory of the `boreas` and `boreas-agent` binaries in use.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The demo repository's working tree.
    pub fn demo_repo(&self) -> PathBuf {
        PathBuf::from(self.field("demo_repo"))
    }

    /// `GET /api{path}` with the admin token.
    pub fn get(&self, path: &str) -> Value {
        let a = self.call("GET", path, None);
        assert!(
            a.status == 200,
            "GET /api{path} answered {}: {}",
            a.status,
            a.body
        );
        a.body
    }

    /// `POST /api{path}` with the admin token.
    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.call("POST", path, Some(body))
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let url = format!("{}{path}", self.field("api_url"));
        let mut req = match method {
            "GET" => self.http.get(&url),
            _ => self.http.post(&url),
        }
        .bearer_auth(self.field("api_token"));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// Posts a webhook body to the GitHub route with exactly these headers.
    pub fn post_webhook(&self, headers: &[(&str, String)], body: Vec<u8>) -> Answer {
        let mut req = self
            .http
            .post(self.field("webhook_url"))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().expect("deliver the webhook");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// Delivers `payload` as a GitHub `push`, signed with the demo repository's secret.
    pub fn deliver(&self, payload: &Value, delivery_id: &str) -> Answer {
        let body = payload.to_string().into_bytes();
        let headers = signed_headers(
            Provider::GitHub,
            "push",
            delivery_id,
            &body,
            self.field("webhook_secret"),
        );
        self.post_webhook(&headers, body)
    }

    /// Runs the `boreas` CLI against this platform.
    pub fn boreas(&self, args: &[&str]) -> Output {
        Command::new(self.bin_dir.join("boreas"))
            .args(args)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .output()
            .expect("run boreas")
    }

    /// Runs the `boreas` CLI against this platform with `input` on its standard input.
    pub fn boreas_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = Command::new(self.bin_dir.join("boreas"))
            .args(args)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run boreas");
        std::io::Write::write_all(
            &mut child.stdin.take().expect("piped stdin"),
            input.as_bytes(),
        )
        .expect("write boreas's standard input");
        child.wait_with_output().expect("wait for boreas")
    }

    /// `boreas demo tag VERSION FLAGS… --json`: commit, tag, build, deliver. Returns its JSON.
    pub fn tag(&self, version: &str, flags: &[&str]) -> Value {
        let mut args = vec!["demo", "tag", version, "--json"];
        args.extend(flags);
        let out = self.boreas(&args);
        assert!(
            out.status.success(),
            "boreas demo tag {version} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("demo tag prints JSON")
    }

    /// Commits and tags `version` in the demo repository with the git CLI only (no webhook).
    /// Returns the commit id.
    pub fn git_tag(&self, version: &str) -> String {
        let repo = self.demo_repo();
        std::fs::write(repo.join("RELEASE"), format!("{version}\n")).expect("write RELEASE");
        git(&repo, &["add", "RELEASE"]);
        git(
            &repo,
            &["commit", "--quiet", "-m", &format!("release {version}")],
        );
        git(&repo, &["tag", version]);
        git(&repo, &["rev-parse", "HEAD"])
    }

    /// The agent of `host` in `dev.json`.
    pub fn agent(&self, host: &str) -> &Value {
        self.dev["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["host"] == host))
            .unwrap_or_else(|| panic!("no agent {host}"))
    }

    /// Hosts of `environment`.
    pub fn hosts(&self, environment: &str) -> Vec<String> {
        self.dev["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["environment"] == environment)
            .filter_map(|a| a["host"].as_str().map(str::to_owned))
            .collect()
    }

    /// The release the `current` link of `app` on `host` points to.
    pub fn current_release(&self, host: &str, app: &str) -> Option<String> {
        let dir = PathBuf::from(self.agent(host)["work_dir"].as_str()?);
        let target = std::fs::read_link(dir.join("apps").join(app).join("current")).ok()?;
        target.file_name().map(|n| n.to_string_lossy().into_owned())
    }

    /// Whether the agent of `host` has unpacked `version` of `app` into its releases.
    pub fn release_installed(&self, host: &str, app: &str, version: &str) -> bool {
        let Some(dir) = self.agent(host)["work_dir"].as_str() else {
            return false;
        };
        Path::new(dir)
            .join("apps")
            .join(app)
            .join("releases")
            .join(version)
            .is_dir()
    }

    /// The version the live demo app process of `app` on `host` answers with.
    pub fn live_version(&self, host: &str, app: &str) -> Option<String> {
        let port = self.agent(host)["ports"][app].as_u64()?;
        let resp = self
            .http
            .get(format!("http://127.0.0.1:{port}/"))
            .timeout(Duration::from_secs(3))
            .send()
            .ok()?;
        let v: Value = serde_json::from_str(&resp.text().ok()?).ok()?;
        v["version"].as_str().map(str::to_owned)
    }

    /// The pid of the agent of `host` (from its pid file).
    pub fn agent_pid(&self, host: &str) -> Option<i32> {
        let dir = PathBuf::from(self.agent(host)["work_dir"].as_str()?);
        std::fs::read_to_string(dir.join("agent.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Sends SIGKILL to the agent of `host`; returns the pid killed.
    pub fn kill_agent(&self, host: &str) -> i32 {
        let pid = self.agent_pid(host).expect("the agent's pid file");
        kill(Pid::from_raw(pid), Signal::SIGKILL).expect("SIGKILL the agent");
        pid
    }

    /// Every deployment (newest first).
    pub fn deployments(&self) -> Vec<Value> {
        self.get("/deployments?limit=1000")["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits for the deployment of `version` in `environment`.
    pub fn deployment_of(&self, version: &str, environment: &str, timeout: Duration) -> Value {
        wait_for(
            &format!("a deployment of {version} to {environment}"),
            timeout,
            || {
                self.deployments()
                    .into_iter()
                    .find(|d| d["version"] == version && d["environment"] == environment)
            },
        )
    }

    /// A deployment with its plan and progress.
    pub fn deployment(&self, id: &str) -> Value {
        self.get(&format!("/deployments/{id}"))
    }

    /// Waits until deployment `id` has a status in `statuses`; returns it with its progress.
    pub fn wait_status(&self, id: &str, statuses: &[&str], timeout: Duration) -> Value {
        wait_for(
            &format!("deployment {id} to reach {statuses:?}"),
            timeout,
            || {
                let d = self.deployment(id);
                statuses.iter().any(|s| d["status"] == *s).then_some(d)
            },
        )
    }

    /// Waits until gate `gate` of `id` waits for a decision.
    pub fn wait_gate(&self, id: &str, gate: &str, timeout: Duration) {
        wait_for(&format!("gate {gate} of {id}"), timeout, || {
            let d = self.deployment(id);
            progress(&d, "gates")
                .iter()
                .any(|g| g["gate"] == gate && g["status"] == "waiting")
                .then_some(())
        });
    }

    /// Confirms the planned deployment `id` through the api.
    pub fn confirm(&self, id: &str) {
        let a = self.post(&format!("/deployments/{id}/confirm"), &json!({}));
        assert_eq!(a.status, 200, "confirm {id}: {}", a.body);
    }

    /// Confirms `id`, approves every gate as it comes, and waits for a terminal status.
    pub fn drive(&self, id: &str, timeout: Duration) -> Value {
        self.confirm(id);
        let started = Instant::now();
        loop {
            let d = self.deployment(id);
            if TERMINAL.iter().any(|s| d["status"] == *s) {
                return d;
            }
            for g in progress(&d, "gates") {
                if g["status"] == "waiting" {
                    let gate = g["gate"].as_str().unwrap_or_default();
                    let a = self.post(
                        &format!("/deployments/{id}/gates/{gate}/approve"),
                        &json!({"comment": "e2e"}),
                    );
                    assert_eq!(a.status, 200, "approve {gate}: {}", a.body);
                }
            }
            assert!(
                started.elapsed() < timeout,
                "deployment {id} did not finish within {timeout:?}: {d}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Statuses a deployment does not leave.
pub const TERMINAL: [&str; 5] = [
    "succeeded",
    "failed",
    "rolled_back",
    "cancelled",
    "superseded",
];

/// The progress records of `kind` (`apps`, `batches`, `targets`, `gates`) of a deployment.
pub fn progress<'a>(d: &'a Value, kind: &str) -> &'a [Value] {
    d["progress"][kind].as_array().map_or(&[], Vec::as_slice)
}

/// The batch-by-batch targets of `app` in a deployment's plan.
pub fn batches(d: &Value, app: &str) -> Vec<Vec<String>> {
    for stage in d["plan"]["stages"].as_array().into_iter().flatten() {
        for a in stage["apps"].as_array().into_iter().flatten() {
            if a["app"] == app {
                return a["batches"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| {
                        b["targets"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|t| t.as_str().map(str::to_owned))
                            .collect()
                    })
                    .collect();
            }
        }
    }
    Vec::new()
}

/// Polls `f` every 200 ms until it gives a value; panics after `timeout`, naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// GitHub's push of a new tag `tag` on `commit` of the demo repository.
pub fn push_tag_payload(tag: &str, commit: &str) -> Value {
    let mut payload = tag_push(Provider::GitHub, "boreas/demo", tag, commit);
    // The demo repository is served from a local path: its web URL names no other host.
    payload["repository"]["html_url"] = "file:///boreas/demo".into();
    payload
}

impl Drop for Platform {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(40) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
