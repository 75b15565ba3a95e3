//! The local PM agents: real `boreas-agent` processes in `exec` mode, one directory each, restarted
//! when they die (as systemd's `Restart=always` would), stopped with SIGTERM when `boreas dev` stops.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use boreas_aws::env::Env;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::state::AgentInfo;

/// How long an agent may take to stop its apps after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// The pid file of a running agent, in its work directory (tests signal agents through it).
pub(crate) const PID_FILE: &str = "agent.pid";

/// How the agents reach the platform.
#[derive(Debug, Clone)]
pub(crate) struct AgentEnv {
    pub(crate) binary: PathBuf,
    pub(crate) endpoint: String,
    pub(crate) prefix: String,
    /// Seconds between inventory reports.
    pub(crate) inventory_seconds: u64,
    /// Pause before restarting an agent that exited.
    pub(crate) restart_after: Duration,
}

/// The `boreas-agent` binary: `$BOREAS_AGENT_BIN`, else next to this executable.
pub(crate) fn find_binary() -> Result<PathBuf, String> {
    let named = Env::process()
        .get("BOREAS_AGENT_BIN")
        .map_err(|e| e.to_string())?;
    if let Some(path) = named {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this executable: {e}"))?;
    let candidate = exe.with_file_name("boreas-agent");
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(format!(
            "{} does not exist: build the agent next to boreas (`cargo build -p boreas-agent`, \
             with --release for a release boreas) or set BOREAS_AGENT_BIN",
            candidate.display()
        ))
    }
}

fn spawn(env: &AgentEnv, agent: &AgentInfo) -> Result<Child, String> {
    let log_path = agent.work_dir.join("agent.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let child = Command::new(&env.binary)
        .args([
            "--host",
            &agent.host,
            "--environment",
            &agent.environment,
            "--group",
            &agent.group,
            "--prefix",
            &env.prefix,
            "--endpoint",
            &env.endpoint,
            "--service-manager",
            "exec",
            "--poll-seconds",
            "5",
            "--inventory-seconds",
            &env.inventory_seconds.to_string(),
            "--probe-interval-ms",
            "300",
        ])
        .arg("--work-dir")
        .arg(&agent.work_dir)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        // Its own process group: a terminal's Ctrl-C reaches `boreas dev`, which stops the agents
        // in order, instead of every agent at once.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", env.binary.display()))?;
    if let Some(pid) = child.id() {
        let _ = std::fs::write(agent.work_dir.join(PID_FILE), format!("{pid}\n"));
    }
    Ok(child)
}

/// Runs `agent` until `stop` turns true, restarting it whenever it exits.
pub(crate) async fn supervise(env: AgentEnv, agent: AgentInfo, mut stop: watch::Receiver<bool>) {
    loop {
        let mut child = match spawn(&env, &agent) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(host = %agent.host, error = %e, "cannot start the agent");
                tokio::select! {
                    () = tokio::time::sleep(env.restart_after) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        tokio::select! {
            status = child.wait() => {
                tracing::warn!(host = %agent.host, status = ?status.ok(), "agent exited; restarting it");
                tokio::select! {
                    () = tokio::time::sleep(env.restart_after) => {}
                    _ = stop.changed() => return,
                }
            }
            _ = stop.changed() => {
                terminate(&mut child, &agent.host).await;
                let _ = std::fs::remove_file(agent.work_dir.join(PID_FILE));
                return;
            }
        }
    }
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`].
async fn terminate(child: &mut Child, host: &str) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        tracing::warn!(%host, "agent did not stop in time; killing it");
        let _ = child.kill().await;
    }
}

/// Writes the demo apps' ports into the agent's work directory.
pub(crate) fn write_ports(agent: &AgentInfo) -> Result<(), String> {
    std::fs::create_dir_all(&agent.work_dir)
        .map_err(|e| format!("{}: {e}", agent.work_dir.display()))?;
    let path: &Path = &agent.work_dir.join(super::demo::PORTS_FILE);
    let json = serde_json::to_string_pretty(&agent.ports).map_err(|e| e.to_string())?;
    std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))
}
