//! The `boreas` binary run as a user runs it: exit codes, error lines, plan output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn boreas(args: &[impl AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boreas"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run boreas")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn validate_accepts_the_example() {
    let out = boreas(&["validate", "examples/boreas.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "one-line summary: {text}");
    assert!(text.starts_with("examples/boreas.yaml: valid: "), "{text}");
}

#[test]
fn validate_reports_every_error_with_file_line_and_column() {
    let file = "examples/invalid/boreas.yaml";
    let out = boreas(&["validate", file]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let (summary, errors) = lines.split_last().unwrap();
    assert!(
        errors.len() >= 3,
        "several mistakes, several errors: {text}"
    );
    assert_eq!(*summary, format!("{file}: {} errors", errors.len()));

    // The printed lines are exactly the library's errors, in source order, prefixed by the file.
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    let expected = boreas_core::config::parse(&source).unwrap_err();
    let expected: Vec<String> = expected
        .errors()
        .iter()
        .map(|e| format!("{file}:{e}"))
        .collect();
    assert_eq!(errors.to_vec(), expected);
    for error in errors {
        let mut parts = error.splitn(4, ':');
        assert_eq!(parts.next(), Some(file));
        let line: usize = parts.next().unwrap().parse().unwrap();
        let col: usize = parts.next().unwrap().parse().unwrap();
        assert!(
            line >= 1 && line <= source.lines().count() && col >= 1,
            "{error}"
        );
    }
}

#[test]
fn validate_exits_2_when_the_file_cannot_be_read() {
    let out = boreas(&["validate", "no/such/boreas.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/boreas.yaml: cannot read"));
}

/// Checks the plan's invariants: stages after dependencies, each PM target exactly once.
fn check_plan(plan: &Value, expected_targets: &BTreeMap<String, Vec<String>>) {
    let stages = plan["stages"].as_array().unwrap();
    assert!(!stages.is_empty());
    let mut stage_of = BTreeMap::new();
    for (i, stage) in stages.iter().enumerate() {
        for app in stage["apps"].as_array().unwrap() {
            stage_of.insert(app["app"].as_str().unwrap().to_owned(), i);
        }
    }
    for stage in stages {
        for app in stage["apps"].as_array().unwrap() {
            let name = app["app"].as_str().unwrap();
            for dep in app["depends_on"].as_array().into_iter().flatten() {
                if let Some(dep_stage) = stage_of.get(dep.as_str().unwrap()) {
                    assert!(*dep_stage < stage_of[name], "{name} runs after {dep}");
                }
            }
            let batches = app["batches"].as_array().unwrap();
            let mut seen = Vec::new();
            for batch in batches {
                let targets = batch["targets"].as_array().unwrap();
                assert!(!targets.is_empty(), "{name}: empty batch");
                if app["kind"] == "pm" {
                    seen.extend(targets.iter().map(|t| t.as_str().unwrap().to_owned()));
                }
            }
            if app["kind"] == "pm" {
                let unique: BTreeSet<_> = seen.iter().collect();
                assert_eq!(unique.len(), seen.len(), "{name}: a host in two batches");
                let want: BTreeSet<_> = expected_targets[name].iter().collect();
                assert_eq!(unique, want, "{name}: every host exactly once");
            }
        }
    }
}

#[test]
fn plan_json_respects_dependencies_and_covers_every_target_once() {
    let source = std::fs::read_to_string(root().join("examples/boreas.yaml")).unwrap();
    let config = boreas_core::config::parse(&source).unwrap();
    for env in config.environments.iter().map(|e| e.name.as_str()) {
        let out = boreas(&[
            "plan",
            "--config",
            "examples/boreas.yaml",
            "--env",
            env,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(plan["environment"], env);
        let targets = boreas_core::planner::config_targets(&config, env).targets;
        check_plan(&plan, &targets);
    }
}

/// `boreas plan --json` of the example config's last environment, with a targets file in `dir`
/// giving its first PM app `hosts`.
struct PlanWithHosts {
    config: boreas_core::config::Config,
    env: String,
    pm_app: String,
    args: Vec<String>,
    targets_file: PathBuf,
}

fn plan_with_hosts(dir: &Path, hosts: &[String]) -> PlanWithHosts {
    std::fs::create_dir_all(dir).unwrap();
    let source = std::fs::read_to_string(root().join("examples/boreas.yaml")).unwrap();
    let config = boreas_core::config::parse(&source).unwrap();
    let env = config.environments.last().unwrap().name.clone();
    let pm_app = config
        .apps
        .iter()
        .find(|a| a.kind == boreas_core::config::AppKind::Pm)
        .unwrap()
        .name
        .clone();
    let targets_file = dir.join("targets.json");
    std::fs::write(
        &targets_file,
        serde_json::json!({ &pm_app: hosts }).to_string(),
    )
    .unwrap();
    let args = [
        "plan",
        "--config",
        "examples/boreas.yaml",
        "--env",
        &env,
        "--targets",
        targets_file.to_str().unwrap(),
        "--json",
    ]
    .map(str::to_owned)
    .to_vec();
    PlanWithHosts {
        config,
        env,
        pm_app,
        args,
        targets_file,
    }
}

/// A plan of 20,000 hosts (megabytes of JSON) is written out as it is encoded, in full, and a
/// reader that stops early (`| head`) ends it quietly instead of a panic about a broken pipe.
#[test]
fn a_large_plan_is_streamed_and_a_reader_may_stop_early() {
    let dir = std::env::temp_dir().join(format!("boreas-cli-large-{}", std::process::id()));
    let hosts: Vec<String> = (0..20_000).map(|i| format!("host-{i:05}")).collect();
    let PlanWithHosts { pm_app, args, .. } = plan_with_hosts(&dir, &hosts);

    let out = boreas(&args);
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let planned = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["apps"].as_array().unwrap())
        .find(|a| a["app"] == pm_app.as_str())
        .unwrap();
    assert_eq!(planned["targets"].as_array().unwrap().len(), 20_000);

    let mut child = Command::new(env!("CARGO_BIN_EXE_boreas"))
        .args(&args)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0_u8; 4096];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plan_uses_targets_file_and_changed_paths() {
    let dir = std::env::temp_dir().join(format!("boreas-cli-{}", std::process::id()));
    let hosts: Vec<String> = (1..=7).map(|i| format!("host-{i}")).collect();
    let PlanWithHosts {
        config,
        env,
        pm_app,
        args,
        targets_file,
    } = plan_with_hosts(&dir, &hosts);

    let out = boreas(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut expected = boreas_core::planner::config_targets(&config, &env).targets;
    expected.insert(pm_app.clone(), hosts);
    check_plan(&plan, &expected);

    // The table form names every stage and the app.
    let out = boreas(&["plan", "--config", "examples/boreas.yaml", "--env", &env]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains(&pm_app));

    // A path that matches no app's globs plans nothing that declares paths.
    let out = boreas(&[
        "plan",
        "--config",
        "examples/boreas.yaml",
        "--env",
        &env,
        "--changed",
        "no/app/owns/this.txt",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    for stage in plan["stages"].as_array().unwrap() {
        for app in stage["apps"].as_array().unwrap() {
            let name = app["app"].as_str().unwrap();
            let declared = config.apps.iter().find(|a| a.name == name).unwrap();
            assert!(
                declared.paths.is_empty() || declared.follow_dependencies,
                "{name} was planned"
            );
        }
    }

    // A malformed targets file is a clear error, exit 2.
    std::fs::write(&targets_file, "{not json").unwrap();
    let out = boreas(&[
        "plan",
        "--config",
        "examples/boreas.yaml",
        "--env",
        &env,
        "--targets",
        targets_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1 column"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plan_of_an_unknown_environment_fails_clearly() {
    let out = boreas(&["plan", "--config", "examples/boreas.yaml", "--env", "moon"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"moon\""));
}

/// The commands that reach an installation check `--endpoint` and `--prefix` before touching
/// anything, alike.
#[test]
fn installation_commands_refuse_a_bad_endpoint_or_prefix_first() {
    for command in [
        &["notify", "remove", "team-chat"][..],
        &["notify", "test", "team-chat"][..],
        &["upgrade-table"][..],
    ] {
        let out = boreas(&[command, &["--endpoint", "ftp://127.0.0.1:9"]].concat());
        assert_eq!(out.status.code(), Some(2), "{command:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("--endpoint: \"ftp://127.0.0.1:9\" is not an http:// or https:// URL"),
            "{command:?}: {out:?}"
        );
        let out = boreas(&[command, &["--prefix", "Team_A"]].concat());
        assert_eq!(out.status.code(), Some(2), "{command:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--prefix: "),
            "{command:?}: {out:?}"
        );
    }
}
