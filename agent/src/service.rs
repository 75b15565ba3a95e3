//! Running releases: the `exec` manager supervises each app as its own process group; the
//! `systemd` manager writes a unit per app and asks systemd to restart it.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use boreas_core::config::RunSpec;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

use crate::Error;
use crate::config::ServiceManagerKind;
use crate::procenv::ProcessEnv;
use crate::release::Layout;

/// First pause before restarting an app that exited; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// An app that ran this long before exiting restarts after [`FIRST_BACKOFF`] again.
const STABLE_RUN: Duration = Duration::from_secs(30);

/// One release to run.
#[derive(Debug, Clone)]
pub struct Launch {
    /// App name.
    pub app: String,
    /// Version.
    pub version: String,
    /// Its release directory (the working directory).
    pub dir: PathBuf,
    /// How it runs.
    pub run: RunSpec,
    /// Its environment and user.
    pub env: ProcessEnv,
}

/// Starts, restarts and stops apps.
#[derive(Debug)]
pub enum ServiceManager {
    /// Child process groups of the agent.
    Exec(Supervisor),
    /// systemd units.
    Systemd(Systemd),
}

impl ServiceManager {
    /// The manager of `kind`.
    pub fn new(
        kind: ServiceManagerKind,
        layout: Layout,
        grace: Duration,
        unit_dir: PathBuf,
    ) -> Self {
        match kind {
            ServiceManagerKind::Exec => Self::Exec(Supervisor {
                layout,
                grace,
                apps: Mutex::new(HashMap::new()),
            }),
            ServiceManagerKind::Systemd => Self::Systemd(Systemd {
                layout,
                grace,
                unit_dir,
            }),
        }
    }

    /// Stops whatever runs for the app and starts `launch`.
    pub async fn restart(&self, launch: &Launch) -> Result<(), Error> {
        match self {
            Self::Exec(s) => s.restart(launch).await,
            Self::Systemd(s) => s.restart(launch).await,
        }
    }

    /// Stops restarting the app when it exits, so a `stop` hook can end it; [`Self::stop`] then
    /// ends whatever is left.
    pub async fn hold(&self, app: &str) {
        if let Self::Exec(s) = self
            && let Some(r) = s.apps.lock().await.get(app)
        {
            r.held.store(true, Ordering::Relaxed);
        }
    }

    /// Stops the app.
    pub async fn stop(&self, app: &str, run: Option<&RunSpec>) -> Result<(), Error> {
        match self {
            Self::Exec(s) => {
                s.stop(app).await;
                Ok(())
            }
            Self::Systemd(s) => s.stop(app, run).await,
        }
    }

    /// The main process id of the app, when known.
    pub async fn pid(&self, app: &str) -> Option<u32> {
        match self {
            Self::Exec(s) => s.pid(app).await,
            Self::Systemd(_) => None,
        }
    }

    /// Whether apps must be started by the agent when it starts (systemd starts them itself).
    pub fn starts_apps_at_boot(&self) -> bool {
        matches!(self, Self::Exec(_))
    }

    /// Stops every supervised app (exec); systemd units keep running.
    pub async fn shutdown(&self) {
        if let Self::Exec(s) = self {
            let apps: Vec<String> = s.apps.lock().await.keys().cloned().collect();
            for app in apps {
                s.stop(&app).await;
            }
        }
    }
}

/// The argument vector of a `command` run spec, its program resolved against `dir` when it is a
/// relative path (`./web`), since a child's relative program is otherwise looked up from the
/// agent's own working directory.
fn argv(app: &str, run: &RunSpec, dir: &Path) -> Result<(PathBuf, Vec<String>), Error> {
    let RunSpec::Command { command } = run else {
        return Err(Error::Start {
            app: app.to_owned(),
            message: "the exec service manager cannot run a systemd unit; \
                      configure service_manager = \"systemd\""
                .to_owned(),
        });
    };
    let Some((program, args)) = command.split_first() else {
        return Err(Error::Start {
            app: app.to_owned(),
            message: "the run command is empty".to_owned(),
        });
    };
    let program = if program.contains('/') && Path::new(program).is_relative() {
        dir.join(program)
    } else {
        PathBuf::from(program)
    };
    Ok((program, args.to_vec()))
}

/// A supervised app.
#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    pid: Arc<AtomicU32>,
    /// Set while a `stop` hook ends the app: its exit is expected, not restarted.
    held: Arc<AtomicBool>,
}

/// The `exec` manager.
#[derive(Debug)]
pub struct Supervisor {
    layout: Layout,
    grace: Duration,
    apps: Mutex<HashMap<String, Running>>,
}

/// Starts one release as the leader of a new process group, output appended to its log files.
fn spawn_app(layout: &Layout, launch: &Launch) -> Result<tokio::process::Child, Error> {
    let (program, args) = argv(&launch.app, &launch.run, &launch.dir)?;
    let logs = layout.logs_dir(&launch.app);
    fs::create_dir_all(&logs).map_err(Error::io(&logs))?;
    let log = |name: &str| {
        let path = logs.join(name);
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(Error::io(&path))
    };
    let mut command = tokio::process::Command::new(&program);
    // Exactly its own environment and user: nothing of the agent's leaks into the app.
    launch.env.apply(&mut command);
    let child = command
        .args(&args)
        .current_dir(&launch.dir)
        .stdin(Stdio::null())
        .stdout(log("stdout.log")?)
        .stderr(log("stderr.log")?)
        // Its own process group: signals reach the app and everything it forked, and a
        // terminal's Ctrl-C to the agent does not reach the app.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::Start {
            app: launch.app.clone(),
            message: format!("cannot run {}: {e}", program.display()),
        })?;
    let pid = child.id().unwrap_or_default();
    crate::release::write_atomic(
        &layout.pid_file(&launch.app),
        pid.to_string().as_bytes(),
        0o644,
    )?;
    tracing::info!(
        app = launch.app,
        version = launch.version,
        pid,
        "app started"
    );
    Ok(child)
}

impl Supervisor {
    async fn restart(&self, launch: &Launch) -> Result<(), Error> {
        self.stop(&launch.app).await;
        let child = spawn_app(&self.layout, launch)?;
        let pid = Arc::new(AtomicU32::new(child.id().unwrap_or_default()));
        let held = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(supervise(
            self.layout.clone(),
            self.grace,
            launch.clone(),
            child,
            (pid.clone(), held.clone()),
            stopped,
        ));
        self.apps.lock().await.insert(
            launch.app.clone(),
            Running {
                stop,
                task,
                pid,
                held,
            },
        );
        Ok(())
    }

    async fn stop(&self, app: &str) {
        let running = self.apps.lock().await.remove(app);
        match running {
            Some(r) => {
                let _ = r.stop.send(());
                let _ = r.task.await;
            }
            // Left by an agent that was killed: its process group still runs.
            None => stop_stale(&self.layout, app, self.grace).await,
        }
        let _ = fs::remove_file(self.layout.pid_file(app));
    }

    async fn pid(&self, app: &str) -> Option<u32> {
        let apps = self.apps.lock().await;
        let pid = apps.get(app)?.pid.load(Ordering::Relaxed);
        (pid != 0).then_some(pid)
    }
}

/// Keeps one app running until told to stop: restarts it with growing pauses when it exits.
async fn supervise(
    layout: Layout,
    grace: Duration,
    launch: Launch,
    mut child: tokio::process::Child,
    (pid, held): (Arc<AtomicU32>, Arc<AtomicBool>),
    mut stopped: oneshot::Receiver<()>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        tokio::select! {
            status = child.wait() => {
                if held.load(Ordering::Relaxed) {
                    tracing::info!(app = launch.app, version = launch.version,
                        status = ?status.ok(), "app exited while being stopped");
                    kill_group(Some(pid.swap(0, Ordering::Relaxed)).filter(|p| *p != 0), Signal::SIGKILL);
                    let _ = stopped.await;
                    return;
                }
                let ran = started.elapsed();
                tracing::warn!(app = launch.app, version = launch.version,
                    status = ?status.ok(), ran_ms = ran.as_millis() as u64,
                    "app exited; restarting after {} ms", backoff.as_millis());
                // Whatever it forked goes too, so the next start gets its ports.
                kill_group(Some(pid.swap(0, Ordering::Relaxed)).filter(|p| *p != 0), Signal::SIGKILL);
                if ran >= STABLE_RUN {
                    backoff = FIRST_BACKOFF;
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = &mut stopped => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                match spawn_app(&layout, &launch) {
                    Ok(c) => {
                        pid.store(c.id().unwrap_or_default(), Ordering::Relaxed);
                        child = c;
                    }
                    Err(e) => {
                        tracing::error!(app = launch.app, error = %e, "app restart failed");
                        // Wait for the next round; `child` has exited, so `wait` returns at once.
                    }
                }
            }
            _ = &mut stopped => {
                terminate(&mut child, &launch.app, grace).await;
                return;
            }
        }
    }
}

fn kill_group(pgid: Option<u32>, signal: Signal) {
    if let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) {
        // ESRCH (already gone) is the goal, not an error.
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// SIGTERM to the group, SIGKILL after `grace`.
async fn terminate(child: &mut tokio::process::Child, app: &str, grace: Duration) {
    let Some(pgid) = child.id() else { return };
    kill_group(Some(pgid), Signal::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        tracing::warn!(app, pgid, "app ignored SIGTERM; killing it");
    }
    kill_group(Some(pgid), Signal::SIGKILL);
    let _ = child.wait().await;
    tracing::info!(app, pgid, "app stopped");
}

/// Whether `pid` is gone (or a zombie waiting for its new parent to reap it).
fn gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Stops the process groups an earlier agent left running for `app`: every group with a process
/// working in one of the app's releases. The pid file is not enough, since an agent killed between
/// starting the app and writing its pid file leaves a group nobody recorded; matching on the
/// working directory also means a recycled pid is never signalled.
async fn stop_stale(layout: &Layout, app: &str, grace: Duration) {
    let groups = stale_groups(layout, app);
    if groups.is_empty() {
        return;
    }
    tracing::info!(app, pgids = ?groups, "stopping the app left running by an earlier agent");
    for &g in &groups {
        kill_group(Some(g), Signal::SIGTERM);
    }
    let alive = |groups: &BTreeSet<u32>| groups.iter().any(|&g| !gone(g as i32));
    let deadline = Instant::now() + grace;
    while alive(&groups) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for &g in &groups {
        kill_group(Some(g), Signal::SIGKILL);
    }
    while alive(&groups) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The process groups (other than the agent's own) of live processes whose working directory is
/// inside the app's directory.
fn stale_groups(layout: &Layout, app: &str) -> BTreeSet<u32> {
    let Ok(dir) = fs::canonicalize(layout.app_dir(app)) else {
        return BTreeSet::new();
    };
    let own = process_group("self");
    let Ok(entries) = fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&dir))
        })
        .filter_map(|pid| process_group(&pid))
        .filter(|&g| g > 1 && Some(g) != own)
        .collect()
}

/// The process group of `/proc/{pid}`, from its `stat` (the third field after the command name).
fn process_group(pid: &str) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The `systemd` manager.
#[derive(Debug)]
pub struct Systemd {
    layout: Layout,
    grace: Duration,
    unit_dir: PathBuf,
}

/// A value for a unit file's command line: quoted, with the characters systemd expands escaped.
fn unit_quote(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '$' => out.push_str("$$"),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Systemd {
    fn unit_name(app: &str) -> String {
        format!("boreas-{app}.service")
    }

    /// The unit file the agent writes for an app with a `command` run spec.
    fn unit_file(&self, launch: &Launch) -> Result<String, Error> {
        let current = self.layout.app_dir(&launch.app).join("current");
        let (program, args) = argv(&launch.app, &launch.run, &current)?;
        let exec: Vec<String> = std::iter::once(program.display().to_string())
            .chain(args)
            .map(|a| unit_quote(&a))
            .collect();
        let logs = self.layout.logs_dir(&launch.app);
        let user = launch
            .env
            .user()
            .map(|u| format!("User={}\n", u.name))
            .unwrap_or_default();
        Ok(format!(
            "# Written by boreas-agent; changes are overwritten on the next deploy.\n\
             [Unit]\nDescription=Boreas app {app}\n\n\
             [Service]\nWorkingDirectory={cwd}\nExecStart={exec}\n\
             {user}EnvironmentFile={env_file}\n\
             Restart=always\nRestartSec=1\nKillMode=control-group\nTimeoutStopSec={grace}\n\
             StandardOutput=append:{out}\nStandardError=append:{err}\n\n\
             [Install]\nWantedBy=multi-user.target\n",
            app = launch.app,
            cwd = unit_quote(&current.display().to_string()),
            exec = exec.join(" "),
            env_file = self.env_file(&launch.app).display(),
            grace = self.grace.as_secs().max(1),
            out = logs.join("stdout.log").display(),
            err = logs.join("stderr.log").display(),
        ))
    }

    /// The file holding an app's environment for its unit (mode 0600: it may hold secrets).
    fn env_file(&self, app: &str) -> PathBuf {
        self.layout.app_dir(app).join("unit.env")
    }

    /// The app's environment in `EnvironmentFile=` syntax: double-quoted, with what systemd
    /// unescapes escaped. A newline cannot be carried that way.
    fn env_file_content(launch: &Launch) -> Result<String, Error> {
        let mut out = String::new();
        for (name, value) in launch.env.vars() {
            if value.contains('\n') {
                return Err(Error::Start {
                    app: launch.app.clone(),
                    message: format!(
                        "variable {name} holds a newline, which a systemd EnvironmentFile cannot carry"
                    ),
                });
            }
            let escaped: String = value
                .chars()
                .flat_map(|c| match c {
                    '\\' | '"' | '$' | '`' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            out.push_str(&format!("{name}=\"{escaped}\"\n"));
        }
        Ok(out)
    }

    async fn restart(&self, launch: &Launch) -> Result<(), Error> {
        let unit = match &launch.run {
            RunSpec::Systemd { systemd } => systemd.clone(),
            RunSpec::Command { .. } => {
                crate::release::write_atomic(
                    &self.env_file(&launch.app),
                    Self::env_file_content(launch)?.as_bytes(),
                    0o600,
                )?;
                let path = self.unit_dir.join(Self::unit_name(&launch.app));
                let content = self.unit_file(launch)?;
                if fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
                    crate::release::write_atomic(&path, content.as_bytes(), 0o644)?;
                    systemctl(&launch.app, &["daemon-reload"]).await?;
                }
                Self::unit_name(&launch.app)
            }
        };
        systemctl(&launch.app, &["restart", "--", &unit]).await
    }

    async fn stop(&self, app: &str, run: Option<&RunSpec>) -> Result<(), Error> {
        let unit = match run {
            Some(RunSpec::Systemd { systemd }) => systemd.clone(),
            _ => Self::unit_name(app),
        };
        systemctl(app, &["stop", "--", &unit]).await
    }
}

/// Runs `systemctl` directly (never through a shell).
async fn systemctl(app: &str, args: &[&str]) -> Result<(), Error> {
    let out = tokio::process::Command::new("systemctl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::Start {
            app: app.to_owned(),
            message: format!("cannot run systemctl: {e}"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Start {
            app: app.to_owned(),
            message: format!(
                "systemctl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::{CommandExt, ExitStatusExt};

    use super::*;
    use crate::procenv::{AppVars, BoreasVars};

    /// An agent killed before it wrote the pid file left the app running: the next agent finds
    /// the group by its working directory, stops it, and leaves other processes alone.
    #[tokio::test]
    async fn an_unrecorded_app_left_by_a_killed_agent_is_stopped() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::create(tmp.path()).unwrap();
        let release = layout.app_dir("web").join("releases/v2");
        fs::create_dir_all(&release).unwrap();
        let spawn = |dir: &Path| {
            std::process::Command::new("sleep")
                .arg("30")
                .current_dir(dir)
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let mut orphan = spawn(&release);
        let mut bystander = spawn(tmp.path());
        assert!(!layout.pid_file("web").exists());
        assert_eq!(stale_groups(&layout, "web"), BTreeSet::from([orphan.id()]));

        stop_stale(&layout, "web", Duration::from_secs(5)).await;
        assert!(
            orphan.wait().unwrap().signal().is_some(),
            "the orphan was signalled"
        );
        assert!(
            bystander.try_wait().unwrap().is_none(),
            "a process elsewhere keeps running"
        );
        assert!(stale_groups(&layout, "web").is_empty());
        bystander.kill().unwrap();
        bystander.wait().unwrap();
    }

    #[test]
    fn unit_files_quote_what_systemd_would_expand() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::create(tmp.path()).unwrap();
        let s = Systemd {
            layout,
            grace: Duration::from_secs(10),
            unit_dir: tmp.path().join("units"),
        };
        let launch = Launch {
            app: "web".into(),
            version: "v2".into(),
            dir: tmp.path().into(),
            run: RunSpec::Command {
                command: vec!["./web".into(), "--greeting=$HOME 100%".into()],
            },
            env: ProcessEnv::new(
                None,
                &BoreasVars {
                    app: "web".into(),
                    version: "v2".into(),
                    ..BoreasVars::default()
                },
                &AppVars {
                    vars: [("GREETING".to_owned(), r#"say "hi" to $USER\now"#.to_owned())].into(),
                    secret: Vec::new(),
                },
            ),
        };
        let unit = s.unit_file(&launch).unwrap();
        let current = tmp.path().join("apps/web/current");
        assert!(
            unit.contains(&format!(
                "ExecStart=\"{}/./web\" \"--greeting=$$HOME 100%%\"",
                current.display()
            )),
            "{unit}"
        );
        assert!(
            unit.contains(&format!(
                "EnvironmentFile={}/apps/web/unit.env\n",
                tmp.path().display()
            )),
            "{unit}"
        );
        assert!(!unit.contains("User="), "{unit}");
        assert!(unit.contains("TimeoutStopSec=10"), "{unit}");
        let env = Systemd::env_file_content(&launch).unwrap();
        assert!(env.contains("BOREAS_VERSION=\"v2\"\n"), "{env}");
        assert!(
            env.contains(r#"GREETING="say \"hi\" to \$USER\\now""#),
            "{env}"
        );
    }

    #[test]
    fn exec_refuses_a_systemd_unit_run_spec() {
        let err = argv(
            "web",
            &RunSpec::Systemd {
                systemd: "web.service".into(),
            },
            Path::new("/"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("service_manager"), "{err}");
    }
}
