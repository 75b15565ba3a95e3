//! Support for running the functions' binaries as Lambda functions on one machine: their build,
//! `cargo lambda watch` (its invoke server on 127.0.0.1), `cargo lambda invoke`, fixture events
//! with placeholders, and the environment the functions read.
//!
//! Used by the wiring test (`tests/watch.rs`, debug binaries) and the init-time benchmark
//! (`benches/lambda_init.rs`, the release binaries Lambda runs).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary of every function Boreas deploys as a Lambda, which is also the function name
/// `cargo lambda watch` runs it under.
pub const FUNCTIONS: [&str; 8] = [
    "boreas-intake",
    "boreas-api",
    "boreas-planner",
    "boreas-recorder",
    "boreas-notifier",
    "boreas-analysis",
    "boreas-k8s-operator",
    "boreas-dashboard-publisher",
];

/// The cargo profile the binaries are built with.
///
/// The wiring test proves what each `main.rs` reads and answers, which the debug build shows as
/// well as the release one: it reuses what `cargo test` has compiled and takes seconds where the
/// release build (thin LTO) takes most of twenty minutes on two cores. Size and init time are
/// the release build's own, so the benchmark builds that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `dev`, in `target/debug`.
    Dev,
    /// `release`, in `target/release`.
    Release,
}

impl Profile {
    /// The arguments that select it, for `cargo build` and `cargo lambda watch` alike.
    fn args(self) -> &'static [&'static str] {
        match self {
            Profile::Dev => &[],
            Profile::Release => &["--release"],
        }
    }
}

/// How long `cargo lambda watch` may take to listen.
const WATCH_STARTUP: Duration = Duration::from_secs(60);
/// Lines of a log shown when something fails.
const LOG_TAIL: usize = 60;

/// What went wrong while building, starting or invoking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program could not be run or did not succeed.
    #[error("{command}: {message}")]
    Command {
        /// The command line.
        command: String,
        /// What happened, with its output.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A fixture event or an answer is not what it must be.
    #[error("{what}: {message}")]
    Invalid {
        /// Which file or answer.
        what: String,
        /// What is wrong.
        message: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// The workspace root of this checkout.
pub fn workspace_root() -> PathBuf {
    boreas_aws::emulator::workspace_root()
}

/// `cargo` as the running cargo names it (`$CARGO`), else from `PATH`.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The `cargo-lambda` of the project virtualenv (`requirements-dev.txt` pins it).
pub fn cargo_lambda() -> Result<PathBuf, Error> {
    let root = workspace_root();
    let path = boreas_aws::emulator::venv_dir(&root).join("bin/cargo-lambda");
    if path.exists() {
        Ok(path)
    } else {
        Err(Error::Invalid {
            what: path.display().to_string(),
            message: "missing: run `make venv` (requirements-dev.txt pins cargo-lambda)".into(),
        })
    }
}

/// Runs `command` to completion. Not starting, or a failed exit, is an error whose message
/// `failure` writes from the output.
fn run(command: &mut Command, failure: impl FnOnce(&Output) -> String) -> Result<Output, Error> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| Error::Command {
        command: shown.clone(),
        message: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(Error::Command {
            command: shown,
            message: failure(&output),
        });
    }
    Ok(output)
}

/// Builds `binaries` with `profile` in one cargo call; returns each one's path.
///
/// Packages are not named (`-p`): `cargo lambda watch` runs `cargo run --bin NAME` at the
/// workspace root, which resolves features for the whole workspace, and only the same resolution
/// lets it find these binaries fresh instead of building them again.
pub fn build(binaries: &[&str], profile: Profile) -> Result<BTreeMap<String, PathBuf>, Error> {
    let mut command = Command::new(cargo());
    command
        .current_dir(workspace_root())
        .args([
            "build",
            "--locked",
            "--message-format=json-render-diagnostics",
        ])
        .args(profile.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for binary in binaries {
        command.args(["--bin", binary]);
    }
    let shown = format!("{command:?}");
    let output = run(&mut command, |o| {
        format!("failed with {} (its diagnostics are above)", o.status)
    })?;
    let mut built = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let (Some(name), Some(executable)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) else {
            continue;
        };
        if binaries.contains(&name) {
            built.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    if let Some(missing) = binaries.iter().find(|b| !built.contains_key(**b)) {
        return Err(Error::Command {
            command: shown,
            message: format!("reported no executable for {missing}"),
        });
    }
    Ok(built)
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> Result<u16, Error> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| Error::Io {
            path: "127.0.0.1:0".into(),
            source,
        })
}

/// The environment every function gets: the template's variables for an installation with this
/// `prefix`, and the emulator at `endpoint` with static test credentials (so the SDK never asks
/// instance metadata). `extra` adds or replaces variables.
pub fn function_env(
    endpoint: &str,
    prefix: &str,
    extra: &[(&str, String)],
) -> BTreeMap<String, String> {
    let names = boreas_aws::names::Names::new(prefix);
    let mut env: BTreeMap<String, String> = [
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("BOREAS_PREFIX", prefix.to_owned()),
        ("BOREAS_TABLE", names.table()),
        ("BOREAS_ADMIN_TOKEN_PARAM", names.admin_token_param()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), v.clone());
    }
    env
}

/// Reads a fixture event and replaces every `{{NAME}}` inside its strings by `vars[NAME]`. The
/// values are inserted as text into JSON strings, so they need no escaping of their own.
pub fn fill_event(path: &Path, vars: &BTreeMap<&str, String>) -> Result<Value, Error> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    let mut event: Value = serde_json::from_str(&text).map_err(|e| Error::Invalid {
        what: path.display().to_string(),
        message: format!("not JSON: {e}"),
    })?;
    fill(&mut event, vars);
    let left = serde_json::to_string(&event).unwrap_or_default();
    if let Some(start) = left.find("{{") {
        let name: String = left[start..].chars().take_while(|c| *c != '}').collect();
        return Err(Error::Invalid {
            what: path.display().to_string(),
            message: format!("placeholder {name}}}}} has no value"),
        });
    }
    Ok(event)
}

fn fill(value: &mut Value, vars: &BTreeMap<&str, String>) {
    match value {
        Value::String(s) => {
            for (name, v) in vars {
                let placeholder = format!("{{{{{name}}}}}");
                if s.contains(&placeholder) {
                    *s = s.replace(&placeholder, v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| fill(v, vars)),
        Value::Object(fields) => fields.values_mut().for_each(|v| fill(v, vars)),
        _ => {}
    }
}

/// One `cargo lambda watch` serving every function of the workspace on 127.0.0.1,
/// run under `supervise.py` so that it (and the functions it started) stop with it, and with the
/// test process even when that is killed. Stopped on drop.
#[derive(Debug)]
pub struct Watch {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Watch {
    /// Starts the server on a free port, running the `profile` binaries with `env` (passed with
    /// `--env-file`, written to `dir`), its output in `dir/watch.log`, and waits until it listens.
    pub fn start(
        dir: &Path,
        env: &BTreeMap<String, String>,
        profile: Profile,
    ) -> Result<Watch, Error> {
        let root = workspace_root();
        let env_file = dir.join("functions.env");
        let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        fs::write(&env_file, text).map_err(io_error(&env_file))?;
        let log = dir.join("watch.log");
        let out = fs::File::create(&log).map_err(io_error(&log))?;
        let err = out.try_clone().map_err(io_error(&log))?;
        let port = free_port()?;
        let python = boreas_aws::emulator::venv_dir(&root).join("bin/python");
        let mut command = Command::new(&python);
        command
            .current_dir(&root)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("supervise.py"))
            .arg(cargo_lambda()?)
            .args(["lambda", "watch", "--locked", "--ignore-changes"])
            .args(profile.args())
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .arg("--env-file")
            .arg(&env_file)
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let shown = format!("{command:?}");
        let child = command.spawn().map_err(|e| Error::Command {
            command: shown.clone(),
            message: e.to_string(),
        })?;
        let mut watch = Watch {
            child: Some(child),
            port,
            log,
        };
        let deadline = Instant::now() + WATCH_STARTUP;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let exited = watch
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                return Err(Error::Command {
                    command: shown,
                    message: format!("exited with {status}:\n{}", watch.log_tail()),
                });
            }
            if Instant::now() > deadline {
                return Err(Error::Command {
                    command: shown,
                    message: format!(
                        "not listening on {addr} after {WATCH_STARTUP:?}:\n{}",
                        watch.log_tail()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(watch)
    }

    /// The invoke port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The last lines of the server's (and the functions') output.
    pub fn log_tail(&self) -> String {
        let Ok(file) = fs::File::open(&self.log) else {
            return String::new();
        };
        let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
    }

    /// Invokes `binary` with `event` through `cargo lambda invoke`; returns the function's answer.
    /// The event is written to `dir/<binary>.event.json` first, as the data file.
    pub fn invoke(&self, dir: &Path, binary: &str, event: &Value) -> Result<Value, Error> {
        let data = dir.join(format!("{binary}.event.json"));
        let text = serde_json::to_string_pretty(event).unwrap_or_default();
        fs::write(&data, text).map_err(io_error(&data))?;
        let mut command = Command::new(cargo_lambda()?);
        command
            .args(["lambda", "invoke", binary, "--output-format", "json"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(&data)
            .stdin(Stdio::null());
        let output = run(&mut command, |o| {
            format!(
                "failed with {}: {}{}\nwatch log:\n{}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr),
                self.log_tail()
            )
        })?;
        serde_json::from_slice(&output.stdout).map_err(|e| Error::Invalid {
            what: format!("the answer of {binary}"),
            message: format!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            ),
        })
    }

    /// Stops the server and every function it started, and waits until they are gone.
    pub fn stop(mut self) -> Result<(), Error> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<(), Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        // SIGTERM lets the supervisor stop the whole session; it exits once all of it is gone.
        if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            && e != nix::errno::Errno::ESRCH
        {
            let _ = child.kill();
        }
        child.wait().map(drop).map_err(|e| Error::Command {
            command: "cargo lambda watch".into(),
            message: format!("waiting for it to stop: {e}"),
        })
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}
