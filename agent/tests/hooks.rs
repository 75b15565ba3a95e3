//! Lifecycle hooks with real agent processes: the order and release each hook runs from, the
//! environment a hook and an app get (nothing of the agent's), the stop hook of the previous
//! release and its fallback, a failing hook's output and the rollback it causes, a hook killed
//! after its timeout and grace, a `start` hook instead of `run`, and `run_as`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use boreas_aws::orchestrator::ExecutionStatus;
use boreas_core::command::{Hook, OUTPUT_TAIL_BYTES, Workload};
use boreas_core::config::HookName;
use common::*;

/// Appends one line about its run to `$MARKS/marks` and its environment to
/// `$MARKS/env.NAME.VERSION`; says hello on stdout.
const HOOK_SH: &str = r#"#!/bin/sh
name=$1
echo "$name $BOREAS_VERSION ${BOREAS_PREVIOUS_VERSION:--} ${BOREAS_COMMIT:--} ${BOREAS_DEPLOYMENT_ID:--} ${BOREAS_BATCH:--} $BOREAS_HOST $BOREAS_ENVIRONMENT $(id -un) $(basename "$(pwd)")" >> "$MARKS/marks"
env > "$MARKS/env.$name.$BOREAS_VERSION"
echo "hook $name of $(basename "$(pwd)") says hello"
"#;

/// The system's Python.
const PYTHON: &str = "/usr/bin/python3";

/// Variables the agent's own environment has and no deployed process may see.
const AGENT_ONLY: [(&str, &str); 3] = [
    ("BOREAS_LEAK_CANARY", "agent-only-value"),
    ("AWS_ACCESS_KEY_ID", "AKIAAGENTONLY"),
    ("AWS_SECRET_ACCESS_KEY", "agent-only-secret-key"),
];

fn hook(command: &[&str]) -> Hook {
    Hook {
        command: command.iter().map(|s| (*s).to_owned()).collect(),
        timeout_seconds: 20,
        retries: 0,
        grace_seconds: 2,
        run_as: None,
        working_dir: None,
    }
}

fn recording(names: &[HookName]) -> BTreeMap<HookName, Hook> {
    names
        .iter()
        .map(|n| (*n, hook(&["sh", "./hook.sh", n.as_str()])))
        .collect()
}

/// A file:// artifact of `version` with the hook script, written under `dir`.
fn release(dir: &Path, version: &str, extra: &[(&str, &str, u32)]) -> (String, String) {
    let mut files = vec![("hook.sh", HOOK_SH, 0o755)];
    files.extend_from_slice(extra);
    let bytes = artifact_with(version, 100, &files);
    let path = dir.join(format!("web-{version}.tar.gz"));
    std::fs::write(&path, &bytes).unwrap();
    (format!("file://{}", path.display()), sha256_hex(&bytes))
}

/// The PM workload of the app with `hooks` and `env` (plus `MARKS` and `ENV_DUMP` under `marks`).
fn workload_with(
    (url, sha): (String, String),
    port: u16,
    marks: &Path,
    hooks: BTreeMap<HookName, Hook>,
    env: &[(&str, &str)],
) -> Workload {
    let Workload::Pm(mut pm) = workload(&url, &sha, port, &["ok"]) else {
        unreachable!()
    };
    pm.hooks = hooks;
    pm.commit = Some("c0ffee".repeat(6) + "c0ff");
    // The interpreter itself, not a launcher script that would add its own variables.
    if let Some(boreas_core::config::RunSpec::Command { command }) = &mut pm.run {
        command[0] = PYTHON.to_owned();
    }
    pm.env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([
            ("MARKS".to_owned(), marks.display().to_string()),
            (
                "ENV_DUMP".to_owned(),
                marks.join("app-env.json").display().to_string(),
            ),
        ])
        .collect();
    Workload::Pm(pm)
}

fn marks(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("marks"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Names of `KEY=VALUE` lines as `env` prints them (values may span lines: keep only names
/// that look like variables).
fn env_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k.to_owned())
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

fn app_env(marks: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(marks.join("app-env.json")).unwrap()).unwrap()
}

/// A world-writable directory for hooks running as another user to write in.
fn shared_dir(parent: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let marks = dir.join("marks");
    std::fs::write(&marks, "").unwrap();
    std::fs::set_permissions(&marks, std::fs::Permissions::from_mode(0o666)).unwrap();
    dir
}

const HOOK_VARS: [&str; 14] = [
    "BOREAS_APP",
    "BOREAS_BATCH",
    "BOREAS_COMMIT",
    "BOREAS_DEPLOYMENT_ID",
    "BOREAS_ENVIRONMENT",
    "BOREAS_HOST",
    "BOREAS_PREVIOUS_VERSION",
    "BOREAS_VERSION",
    "ENV_DUMP",
    "GREETING",
    "HOME",
    "LANG",
    "MARKS",
    "PATH",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_in_order_from_their_release_with_only_their_environment() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let marks_dir = shared_dir(tmp.path(), "marks");
    let port = free_port();
    let agent = AgentProcess::start_in(&fx, &tmp.path().join("work"), ENV, &AGENT_ONLY);
    let all = [
        HookName::BeforeInstall,
        HookName::AfterInstall,
        HookName::Validate,
        HookName::Drain,
        HookName::Stop,
        HookName::Rollback,
    ];
    let vars = [("GREETING", "hello from boreas.yaml")];

    // First deployment: nothing runs yet, so no drain or stop.
    let v1 = workload_with(
        release(tmp.path(), "v1", &[]),
        port,
        &marks_dir,
        recording(&all),
        &vars,
    );
    let (name, _) = fx.send_with_token("d1", deploy("d1", HOST, "v1", v1)).await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    let root = nix_user();
    let commit = "c0ffee".repeat(6) + "c0ff";
    assert_eq!(
        marks(&marks_dir),
        [
            format!("before_install v1 - {commit} d1 0 h1 test {root} v1"),
            format!("after_install v1 - {commit} d1 0 h1 test {root} v1"),
            format!("validate v1 - {commit} d1 0 h1 test {root} v1"),
        ]
    );

    // Second: the running v1 is drained and stopped by its own hooks, then v2 comes in.
    let v2 = workload_with(
        release(tmp.path(), "v2", &[]),
        port,
        &marks_dir,
        recording(&all),
        &vars,
    );
    let (name, _) = fx.send_with_token("d2", deploy("d2", HOST, "v2", v2)).await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    assert_eq!(answer(port).as_deref(), Some("v2"));
    assert_eq!(
        marks(&marks_dir)[3..],
        [
            format!("before_install v2 v1 {commit} d2 0 h1 test {root} v2"),
            format!("drain v2 v1 {commit} d2 0 h1 test {root} v1"),
            format!("stop v2 v1 {commit} d2 0 h1 test {root} v1"),
            format!("after_install v2 v1 {commit} d2 0 h1 test {root} v2"),
            format!("validate v2 v1 {commit} d2 0 h1 test {root} v2"),
        ]
    );

    // A hook sees the minimal PATH/HOME/LANG, Boreas's variables and the declared ones; the
    // shell running it adds its own bookkeeping (PWD, SHLVL), nothing of the agent's.
    let seen = env_names(&std::fs::read_to_string(marks_dir.join("env.validate.v2")).unwrap());
    let shell: BTreeSet<String> = ["PWD", "OLDPWD", "SHLVL", "_"].map(String::from).into();
    let allowed: BTreeSet<String> = HOOK_VARS.map(String::from).into();
    let extra: Vec<&String> = seen
        .difference(&allowed)
        .filter(|k| !shell.contains(*k))
        .collect();
    assert!(extra.is_empty(), "a hook saw {extra:?}");
    assert!(
        allowed.is_subset(&seen),
        "a hook missed some of {allowed:?}: {seen:?}"
    );
    // The app gets exactly its variables (Python reads its environment untouched by a shell).
    let app = app_env(&marks_dir);
    let app_names: BTreeSet<String> = app["env"].as_object().unwrap().keys().cloned().collect();
    let expected: BTreeSet<String> = HOOK_VARS
        .iter()
        .filter(|k| !["BOREAS_BATCH", "BOREAS_DEPLOYMENT_ID"].contains(k))
        .map(|k| (*k).to_owned())
        .collect();
    assert_eq!(app_names, expected);
    assert_eq!(app["env"]["GREETING"], "hello from boreas.yaml");
    assert_eq!(app["env"]["BOREAS_VERSION"], "v2");
    assert_eq!(app["env"]["BOREAS_PREVIOUS_VERSION"], "v1");
    for (_, value) in AGENT_ONLY {
        for file in std::fs::read_dir(&marks_dir).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap_or_default();
            assert!(!text.contains(value), "{value} reached a deployed process");
        }
    }

    // v2's files are gone (removed by hand): v3's own stop hook stops what runs.
    std::fs::remove_file(agent.work_dir.join("apps/web/releases/v2.json")).unwrap();
    std::fs::remove_dir_all(agent.work_dir.join("apps/web/releases/v2")).unwrap();
    let v3 = workload_with(
        release(tmp.path(), "v3", &[]),
        port,
        &marks_dir,
        recording(&all),
        &vars,
    );
    let (name, _) = fx.send_with_token("d3", deploy("d3", HOST, "v3", v3)).await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    assert_eq!(answer(port).as_deref(), Some("v3"));
    let stops: Vec<String> = marks(&marks_dir)
        .into_iter()
        .filter(|m| m.starts_with("stop v3") || m.starts_with("drain v3"))
        .collect();
    assert_eq!(
        stops,
        [
            format!("drain v3 v2 {commit} d3 0 h1 test {root} v3"),
            format!("stop v3 v2 {commit} d3 0 h1 test {root} v3"),
        ]
    );
    assert_eq!(agent.log_lines("files are gone").len(), 1);

    // Each deployment's hook output is kept on the host.
    let log = std::fs::read_to_string(agent.work_dir.join("apps/web/logs/hooks/d2.log")).unwrap();
    assert!(
        log.contains("== stop (attempt 1/1): sh ./hook.sh stop"),
        "{log}"
    );
    assert!(log.contains("hook stop of v1 says hello"), "{log}");
    assert!(log.contains("== validate succeeded in"), "{log}");
    // And it travelled to the platform with the result.
    let outputs: Vec<serde_json::Value> = fx
        .inventories()
        .await
        .into_iter()
        .filter(|e| e["type"] == "task_output")
        .collect();
    let d2 = outputs.iter().find(|e| e["deployment_id"] == "d2").unwrap();
    assert_eq!(
        (d2["target"].as_str(), d2["action"].as_str()),
        (Some(HOST), Some("deploy"))
    );
    assert_eq!(d2["output"].as_str().unwrap(), log);
    assert_eq!(d2["truncated"], false);
}

/// The user the agent runs as, as `id -un` prints it.
fn nix_user() -> String {
    String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_rolls_the_host_back_and_its_output_travels_cut_to_the_tail() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let marks_dir = shared_dir(tmp.path(), "marks");
    let port = free_port();
    let agent = AgentProcess::start(&fx, &tmp.path().join("work"));
    let v1 = workload_with(
        release(tmp.path(), "v1", &[]),
        port,
        &marks_dir,
        recording(&[HookName::Stop]),
        &[],
    );
    let (name, _) = fx.send_with_token("d1", deploy("d1", HOST, "v1", v1)).await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    fx.inventories().await;

    // v2's validate prints 100 KiB, then fails: v2 undoes itself, v1 comes back.
    let mut hooks = recording(&[HookName::Stop, HookName::Rollback]);
    hooks.insert(
        HookName::Validate,
        hook(&[
            "sh",
            "-c",
            "i=0; while [ $i -lt 1024 ]; do printf 'line %04d %090d\\n' $i 0; i=$((i+1)); done; echo 'VALIDATION FAILED: no orders' >&2; exit 1",
        ]),
    );
    let v2 = workload_with(release(tmp.path(), "v2", &[]), port, &marks_dir, hooks, &[]);
    let (name, _) = fx.send_with_token("d2", deploy("d2", HOST, "v2", v2)).await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Failed);
    assert_eq!(
        fx.task_error(&name).await.as_deref(),
        Some("Boreas.HookFailed")
    );
    assert_eq!(agent.current().as_deref(), Some("v1"));
    assert_eq!(answer(port).as_deref(), Some("v1"));
    let m = marks(&marks_dir);
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(
        m[0].starts_with("stop v2 v1") && m[0].ends_with(" v1"),
        "{m:?}"
    );
    assert!(
        m[1].starts_with("rollback v2 v1") && m[1].ends_with(" v2"),
        "{m:?}"
    );
    assert!(
        m[2].starts_with("stop v2 v1") && m[2].ends_with(" v2"),
        "{m:?}"
    );

    let host_log =
        std::fs::read_to_string(agent.work_dir.join("apps/web/logs/hooks/d2.log")).unwrap();
    assert!(host_log.len() > 100 * 1024, "the host keeps everything");
    assert!(host_log.contains("line 0000 "));
    let events = fx.inventories().await;
    let output = events
        .iter()
        .find(|e| e["type"] == "task_output" && e["deployment_id"] == "d2")
        .expect("the output was sent");
    let text = output["output"].as_str().unwrap();
    assert_eq!(output["truncated"], true);
    assert!(
        text.len() <= OUTPUT_TAIL_BYTES && text.len() > OUTPUT_TAIL_BYTES - 200,
        "{}",
        text.len()
    );
    assert!(!text.contains("line 0000 "), "the head is cut off");
    assert!(text.contains("line 1023 "));
    assert!(text.contains("[stderr] VALIDATION FAILED: no orders"));
    assert!(text.contains("== validate failed: "));
    assert!(
        text.contains("hook rollback of v2 says hello"),
        "the undo follows"
    );
    assert!(
        host_log.ends_with(text),
        "the tail is the end of the host's log"
    );

    // A before_install that ignores SIGTERM is killed after its timeout and grace; nothing
    // running changes.
    let mut stuck = hook(&["sh", "-c", "trap '' TERM; echo waiting; sleep 63.21"]);
    stuck.timeout_seconds = 1;
    stuck.grace_seconds = 1;
    let v3 = workload_with(
        release(tmp.path(), "v3", &[]),
        port,
        &marks_dir,
        BTreeMap::from([(HookName::BeforeInstall, stuck)]),
        &[],
    );
    let started = Instant::now();
    let (name, _) = fx.send_with_token("d3", deploy("d3", HOST, "v3", v3)).await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Failed);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        fx.task_error(&name).await.as_deref(),
        Some("Boreas.HookFailed")
    );
    assert_eq!(agent.current().as_deref(), Some("v1"));
    assert_eq!(answer(port).as_deref(), Some("v1"));
    let log = std::fs::read_to_string(agent.work_dir.join("apps/web/logs/hooks/d3.log")).unwrap();
    assert!(log.contains("waiting\n"), "{log}");
    assert!(
        log.contains("before_install failed: timed out after 1s; killed 1s after SIGTERM"),
        "{log}"
    );
    let sleeping = std::process::Command::new("pgrep")
        .args(["-f", "sleep 63.21"])
        .output()
        .unwrap();
    assert!(sleeping.stdout.is_empty(), "the whole group was killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_hook_runs_the_app_instead_of_the_agent() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let marks_dir = shared_dir(tmp.path(), "marks");
    let port = free_port();
    let mut agent = AgentProcess::start(&fx, &tmp.path().join("work"));
    let start = format!(
        "nohup {PYTHON} app.py {port} ok > /dev/null 2>&1 < /dev/null & echo $! > \"$MARKS/pid\""
    );
    let hooks = || {
        BTreeMap::from([
            (HookName::Start, hook(&["sh", "-c", &start])),
            (
                HookName::Stop,
                hook(&[
                    "sh",
                    "-c",
                    "kill $(cat \"$MARKS/pid\") && echo stopped by $(basename $(pwd)) >> \"$MARKS/marks\"",
                ]),
            ),
        ])
    };
    let with_start = |version: &str| {
        let Workload::Pm(mut pm) = workload_with(
            release(tmp.path(), version, &[]),
            port,
            &marks_dir,
            hooks(),
            &[],
        ) else {
            unreachable!()
        };
        pm.run = None;
        Workload::Pm(pm)
    };
    let (name, _) = fx
        .send_with_token("d1", deploy("d1", HOST, "v1", with_start("v1")))
        .await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    assert_eq!(answer(port).as_deref(), Some("v1"));
    let first_pid = std::fs::read_to_string(marks_dir.join("pid")).unwrap();

    // The agent restarts: the app its hook started still runs and is left alone.
    agent.restart();
    eventually(30, "the restarted agent's inventory", || {
        !agent
            .log_lines("started by its hook is running and healthy")
            .is_empty()
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(marks_dir.join("pid")).unwrap(),
        first_pid
    );

    let (name, _) = fx
        .send_with_token("d2", deploy("d2", HOST, "v2", with_start("v2")))
        .await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    assert_eq!(answer(port).as_deref(), Some("v2"));
    assert_eq!(marks(&marks_dir), ["stopped by v1"]);
    // Clean up the daemon the hook started.
    let pid = std::fs::read_to_string(marks_dir.join("pid")).unwrap();
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
}

/// A system user that exists for one test.
struct TestUser(String);

impl TestUser {
    fn create(name: &str) -> Self {
        let status = std::process::Command::new("useradd")
            .args(["--system", "--no-create-home", "--home-dir", "/nonexistent"])
            .args(["--shell", "/usr/sbin/nologin", name])
            .status()
            .expect("useradd runs (the test creates a user: it needs root)");
        assert!(status.success(), "useradd {name}: {status}");
        Self(name.to_owned())
    }

    fn uid(&self) -> u64 {
        let out = std::process::Command::new("id")
            .args(["-u", &self.0])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_and_the_app_run_as_their_user() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    // The releases must be reachable by the app's user, as the packaged unit's state directory is.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o711)).unwrap();
    let marks_dir = shared_dir(tmp.path(), "marks");
    let user = TestUser::create(&format!(
        "bt{}",
        &fx.prefix[1..].chars().take(10).collect::<String>()
    ));
    let port = free_port();
    let _agent = AgentProcess::start(&fx, &work);
    let mut hooks = recording(&[HookName::AfterInstall, HookName::Validate]);
    hooks.get_mut(&HookName::Validate).unwrap().run_as = Some("nobody".into());
    let Workload::Pm(mut pm) =
        workload_with(release(tmp.path(), "v1", &[]), port, &marks_dir, hooks, &[])
    else {
        unreachable!()
    };
    pm.run_as = Some(user.0.clone());
    let (name, _) = fx
        .send_with_token("d1", deploy("d1", HOST, "v1", Workload::Pm(pm)))
        .await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    let m = marks(&marks_dir);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m[0].starts_with("after_install") && m[0].contains(&format!(" {} v1", user.0)),
        "{m:?}"
    );
    assert!(
        m[1].starts_with("validate") && m[1].contains(" nobody v1"),
        "{m:?}"
    );
    let app = app_env(&marks_dir);
    assert_eq!(app["uid"].as_u64(), Some(user.uid()));
    assert_eq!(app["env"]["HOME"], "/nonexistent");

    // An unknown user fails the deploy with the reason, before anything changes.
    let Workload::Pm(mut pm) = workload_with(
        release(tmp.path(), "v2", &[]),
        port,
        &marks_dir,
        recording(&[HookName::BeforeInstall]),
        &[],
    ) else {
        unreachable!()
    };
    pm.run_as = Some("no-such-user-here".into());
    let (name, _) = fx
        .send_with_token("d2", deploy("d2", HOST, "v2", Workload::Pm(pm)))
        .await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Failed);
    assert_eq!(
        fx.task_error(&name).await.as_deref(),
        Some("Boreas.HookFailed")
    );
    assert_eq!(answer(port).as_deref(), Some("v1"));
}

/// The app's process gets none of the agent's variables (its credentials above all), only the
/// minimal ones and Boreas's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_apps_get_none_of_the_agents_environment() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _agent = AgentProcess::start_in(&fx, &tmp.path().join("work"), ENV, &AGENT_ONLY);
    let dump = tmp.path().join("app.env");
    let Workload::Pm(mut pm) = file_workload(tmp.path(), "v1", port, &["ok"]) else {
        unreachable!()
    };
    pm.run = Some(boreas_core::config::RunSpec::Command {
        command: vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("env > {}; exec {PYTHON} app.py {port} ok", dump.display()),
        ],
    });
    let (name, _) = fx
        .send_with_token("d1", deploy("d1", HOST, "v1", Workload::Pm(pm)))
        .await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    let text = std::fs::read_to_string(&dump).unwrap();
    for (key, value) in AGENT_ONLY {
        assert!(!text.contains(value), "{key} reached the app:\n{text}");
    }
    let names = env_names(&text);
    let allowed: BTreeSet<String> = [
        "BOREAS_APP",
        "BOREAS_ENVIRONMENT",
        "BOREAS_HOST",
        "BOREAS_VERSION",
        "HOME",
        "LANG",
        "PATH",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
    ]
    .map(String::from)
    .into();
    let extra: Vec<&String> = names.difference(&allowed).collect();
    assert!(extra.is_empty(), "the app saw {extra:?}");
}
