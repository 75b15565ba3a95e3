//! The local AWS emulator: moto's server on 127.0.0.1, run from the project virtualenv.
//!
//! moto is launched through `scripts/emulator.py`, which switches Step Functions execution on before
//! announcing its endpoint and exits as soon as the process that started it is gone. That matters for
//! [`shared`]: a `static` is never dropped, so the emulator of a test process ends with the process.
//!
//! The virtualenv is `.venv` at the workspace root (or `$BOREAS_VENV`); when it is missing or older
//! than `requirements-dev.txt`, [`Emulator::start`] creates it the way `make venv` does, so a fresh
//! clone needs nothing but Python 3.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::OnceCell;

use crate::Error;

/// How long moto may take to announce its endpoint.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Written into the virtualenv once the requirements are installed (the Makefile uses the same file).
const INSTALLED_MARKER: &str = ".installed";
/// A virtualenv lock older than this was left by a process that died while installing.
const STALE_LOCK: Duration = Duration::from_secs(15 * 60);
/// Lines of the emulator's stderr kept to explain a failed start.
const STDERR_TAIL: usize = 40;

/// A running moto server; dropping it kills the process.
#[derive(Debug)]
pub struct Emulator {
    child: Option<Child>,
    endpoint: String,
}

impl Emulator {
    /// Starts moto from the project virtualenv on a free 127.0.0.1 port, switches Step Functions
    /// execution on, and returns once it answers.
    pub async fn start() -> Result<Emulator, Error> {
        Self::start_on(0).await
    }

    /// Like [`Emulator::start`], on `port` (0: any free port).
    pub async fn start_on(port: u16) -> Result<Emulator, Error> {
        Self::launch_with(port, None).await
    }

    /// Like [`Emulator::start`], but Step Functions' service integrations (its DynamoDB and SQS
    /// tasks) call 127.0.0.1:`integrations_port` instead of the emulator itself: a test serves a
    /// proxy there that forwards to [`Emulator::endpoint`] and injects faults.
    pub async fn start_with_integrations_via(integrations_port: u16) -> Result<Emulator, Error> {
        Self::launch_with(0, Some(integrations_port)).await
    }

    async fn launch_with(port: u16, integrations_port: Option<u16>) -> Result<Emulator, Error> {
        tokio::task::spawn_blocking(move || {
            let root = workspace_root();
            let venv = venv_dir(&root);
            ensure_venv(&root, &venv)?;
            launch(&root, &venv, port, integrations_port)
        })
        .await
        .map_err(|e| emulator_error(format!("the start task failed: {e}")))?
    }

    /// The endpoint for every AWS service, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The process id of the emulator.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the emulator and waits until the process is gone.
    pub async fn stop(mut self) -> Result<(), Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || {
            if let Err(e) = child.kill()
                && e.kind() != ErrorKind::InvalidInput
            {
                // InvalidInput: it had already exited, which is what we want.
                return Err(emulator_error(format!(
                    "cannot stop pid {}: {e}",
                    child.id()
                )));
            }
            child
                .wait()
                .map(drop)
                .map_err(|e| emulator_error(format!("waiting for pid {}: {e}", child.id())))
        })
        .await
        .map_err(|e| emulator_error(format!("the stop task failed: {e}")))?
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One emulator per process, started on first use and shared by every test of that process.
///
/// # Panics
/// When the emulator cannot be started: a test cannot run without it, and the message says why.
pub async fn shared() -> &'static Emulator {
    static SHARED: OnceCell<Emulator> = OnceCell::const_new();
    SHARED
        .get_or_init(|| async {
            Emulator::start()
                .await
                .unwrap_or_else(|e| panic!("cannot start the shared AWS emulator: {e}"))
        })
        .await
}

/// The workspace root of this checkout (`functions/aws/../..`).
/// A resource-name prefix that no other test on this machine uses at the same time: `tag`, the
/// process id, the clock's nanoseconds and a per-process counter, at most 20 characters.
pub fn unique_prefix(tag: char) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{tag}{:05x}{:04x}{n:x}",
        std::process::id() & 0xfffff,
        nanos & 0xffff
    )
}

pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    root.canonicalize().unwrap_or(root)
}

/// A program of the project virtualenv (`openapi-spec-validator`, `cfn-lint`, …), installing
/// the virtualenv first when it is missing or older than `requirements-dev.txt`.
pub fn venv_program(name: &str) -> Result<PathBuf, Error> {
    let root = workspace_root();
    let venv = venv_dir(&root);
    ensure_venv(&root, &venv)?;
    let program = venv.join("bin").join(name);
    if program.exists() {
        Ok(program)
    } else {
        Err(emulator_error(format!(
            "{} is missing although the virtualenv is installed; is it in requirements-dev.txt?",
            program.display()
        )))
    }
}

/// `$BOREAS_VENV` when set, else `.venv` in the workspace root.
pub fn venv_dir(root: &Path) -> PathBuf {
    match std::env::var_os("BOREAS_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root.join(".venv"),
    }
}

fn emulator_error(message: impl Into<String>) -> Error {
    Error::Emulator {
        message: message.into(),
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// True when the virtualenv has a Python and was installed from the current requirements.
fn venv_ready(venv: &Path, requirements: &Path) -> bool {
    if !venv.join("bin/python").exists() {
        return false;
    }
    match (
        modified(&venv.join(INSTALLED_MARKER)),
        modified(requirements),
    ) {
        (Some(installed), Some(wanted)) => installed >= wanted,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Creates or refreshes the virtualenv unless it is ready; one process at a time installs.
fn ensure_venv(root: &Path, venv: &Path) -> Result<(), Error> {
    let requirements = root.join("requirements-dev.txt");
    if venv_ready(venv, &requirements) {
        return Ok(());
    }
    let lock_path = {
        let mut name = venv.file_name().unwrap_or_default().to_owned();
        name.push(".lock");
        venv.with_file_name(name)
    };
    let _lock = VenvLock::acquire(&lock_path, || venv_ready(venv, &requirements))?;
    if venv_ready(venv, &requirements) {
        return Ok(());
    }
    if !requirements.exists() {
        return Err(emulator_error(format!(
            "{} is missing, so the emulator cannot be installed",
            requirements.display()
        )));
    }
    if !venv.join("bin/python").exists() {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        tracing::info!(venv = %venv.display(), "creating the project virtualenv");
        run(Command::new(&python).arg("-m").arg("venv").arg(venv))?;
    }
    tracing::info!(venv = %venv.display(), "installing requirements-dev.txt (moto, cfn-lint, aws-sam-translator, openapi-spec-validator)");
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements))?;
    let marker = venv.join(INSTALLED_MARKER);
    fs::write(&marker, b"").map_err(|e| io_error(&marker, e))
}

/// Runs a setup command with its output on our stderr (stdout may carry machine-readable output).
fn run(command: &mut Command) -> Result<(), Error> {
    let shown = format!("{command:?}");
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| emulator_error(format!("cannot run {shown}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(emulator_error(format!("{shown} failed with {status}")))
    }
}

/// An exclusive lock file around virtualenv installation, removed on drop.
#[derive(Debug)]
struct VenvLock {
    path: PathBuf,
}

impl VenvLock {
    /// Takes the lock, or returns `None` once another process has made the venv `ready`.
    fn acquire(path: &Path, ready: impl Fn() -> bool) -> Result<Option<VenvLock>, Error> {
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => {
                    return Ok(Some(VenvLock {
                        path: path.to_owned(),
                    }));
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if ready() {
                        return Ok(None);
                    }
                    let age = modified(path)
                        .and_then(|t| t.elapsed().ok())
                        .unwrap_or_default();
                    if age > STALE_LOCK {
                        tracing::warn!(lock = %path.display(), "removing a stale virtualenv lock");
                        let _ = fs::remove_file(path);
                    } else {
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
                Err(e) => return Err(io_error(path, e)),
            }
        }
    }
}

impl Drop for VenvLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Spawns the launcher and waits for its `{"endpoint": ...}` line.
fn launch(
    root: &Path,
    venv: &Path,
    port: u16,
    integrations_port: Option<u16>,
) -> Result<Emulator, Error> {
    let script = root.join("scripts/emulator.py");
    if !script.exists() {
        return Err(emulator_error(format!("{} is missing", script.display())));
    }
    let python = venv.join("bin/python");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg("--port")
        .arg(port.to_string())
        .args(integrations_port.map(|p| format!("--integrations-port={p}")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| emulator_error(format!("cannot run {}: {e}", python.display())))?;

    // Drain stderr for the emulator's whole life (a full pipe would block it), keeping a tail to
    // explain a failed start.
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(stderr) = child.stderr.take() {
        let tail = Arc::clone(&tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                tracing::debug!(target: "boreas_aws::emulator", "{line}");
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
    }
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| emulator_error("the emulator's stdout is not captured"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });

    let failure = |child: &mut Child, what: String| {
        let _ = child.kill();
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        // Give the stderr reader a moment to collect the last lines of a crash.
        std::thread::sleep(Duration::from_millis(100));
        let tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        let output: Vec<&str> = tail.iter().map(String::as_str).collect();
        emulator_error(format!(
            "{what} (process {status}); its last output:\n{}",
            output.join("\n")
        ))
    };
    let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
        Ok(Ok(line)) if !line.trim().is_empty() => line,
        Ok(Ok(_)) => return Err(failure(&mut child, "moto exited before it answered".into())),
        Ok(Err(e)) => return Err(failure(&mut child, format!("reading moto's output: {e}"))),
        Err(_) => {
            return Err(failure(
                &mut child,
                format!("moto did not answer within {STARTUP_TIMEOUT:?}"),
            ));
        }
    };
    let announced: serde_json::Value = match serde_json::from_str(&line) {
        Ok(v) => v,
        Err(e) => {
            return Err(failure(
                &mut child,
                format!("moto announced {line:?}, not JSON: {e}"),
            ));
        }
    };
    let Some(endpoint) = announced["endpoint"].as_str().map(str::to_owned) else {
        return Err(failure(
            &mut child,
            format!("moto announced {line:?} without an endpoint"),
        ));
    };
    tracing::info!(%endpoint, pid = child.id(), "AWS emulator started");
    Ok(Emulator {
        child: Some(child),
        endpoint,
    })
}
