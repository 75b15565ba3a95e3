//! Per-environment variables with real agents and the emulator's SSM: literal values and
//! `ssm:` parameters reach the app and its hooks, differ between a staging and a prod host, and
//! appear nowhere else (agent logs, journal, task results and history, events, hook output).
//! An agent reads only its own environment's parameters of the app it deploys.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aws_sdk_ssm::types::ParameterType;
use boreas_aws::orchestrator::ExecutionStatus;
use boreas_core::command::{Command, Hook, Workload};
use boreas_core::config::HookName;
use common::*;

const PYTHON: &str = "/usr/bin/python3";

fn deploy_in(environment: &str, deployment: &str, version: &str, w: Workload) -> Command {
    let mut c = deploy(deployment, HOST, version, w);
    c.environment = environment.to_owned();
    c
}

/// The app on `port` with `vars`, a validate hook that prints and records `DB_URL`, and its
/// environment dumped under `marks`.
fn workload_for(
    dir: &Path,
    version: &str,
    port: u16,
    marks: &Path,
    vars: &[(&str, &str)],
) -> Workload {
    let bytes = artifact(version, 100);
    let path = dir.join(format!("web-{version}-{port}.tar.gz"));
    std::fs::write(&path, &bytes).unwrap();
    let Workload::Pm(mut pm) = workload(
        &format!("file://{}", path.display()),
        &sha256_hex(&bytes),
        port,
        &["ok"],
    ) else {
        unreachable!()
    };
    if let Some(boreas_core::config::RunSpec::Command { command }) = &mut pm.run {
        command[0] = PYTHON.to_owned();
    }
    pm.hooks.insert(
        HookName::Validate,
        Hook {
            command: vec![
                "sh".into(),
                "-c".into(),
                "echo \"validate sees $DB_URL\"; echo \"$DB_URL\" > \"$MARKS/hook-db\"".into(),
            ],
            timeout_seconds: 20,
            retries: 0,
            grace_seconds: 2,
            run_as: None,
            working_dir: None,
        },
    );
    pm.env = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([
            ("MARKS".to_owned(), marks.display().to_string()),
            (
                "ENV_DUMP".to_owned(),
                marks.join("app.json").display().to_string(),
            ),
        ])
        .collect();
    Workload::Pm(pm)
}

fn app_var(marks: &Path, name: &str) -> String {
    let dump: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(marks.join("app.json")).unwrap()).unwrap();
    dump["env"][name].as_str().unwrap_or_default().to_owned()
}

/// Every file under `dir`, as text.
fn all_text(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((
                    path.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_differ_per_environment_and_secrets_appear_nowhere_else() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let ssm = aws_sdk_ssm::Client::new(&fx.aws);
    let tag = &fx.prefix[1..];
    let (staging, prod) = (format!("stg-{tag}"), format!("prd-{tag}"));
    let secrets = [
        (
            staging.as_str(),
            format!("postgres://staging-{tag}-S3CRET@db"),
        ),
        (prod.as_str(), format!("postgres://prod-{tag}-S3CRET@db")),
    ];
    for (env, value) in &secrets {
        ssm.put_parameter()
            .name(format!("/web/{env}/db-url"))
            .value(value)
            .r#type(ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }

    let mut runs = Vec::new();
    for (env, value) in &secrets {
        let marks = tmp.path().join(format!("marks-{env}"));
        std::fs::create_dir_all(&marks).unwrap();
        let work = tmp.path().join(format!("work-{env}"));
        let agent = AgentProcess::start_in(&fx, &work, env, &[]);
        let port = free_port();
        let vars = [
            ("DB_URL", format!("ssm:/web/{env}/db-url")),
            ("MODE", format!("literal-{env}")),
        ];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let w = workload_for(tmp.path(), "v1", port, &marks, &vars);
        let name = format!("{env}-d1");
        fx.send_in_env(&name, deploy_in(env, &format!("d1{env}"), "v1", w))
            .await;
        let e = fx.finished(&name).await;
        assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
        // The app and its hook got this environment's value, and the literal one.
        assert_eq!(app_var(&marks, "DB_URL"), *value);
        assert_eq!(app_var(&marks, "MODE"), format!("literal-{env}"));
        assert_eq!(
            std::fs::read_to_string(marks.join("hook-db"))
                .unwrap()
                .trim(),
            value
        );
        // Held on the host for restarts, readable by the agent's user only.
        let env_file = work.join("apps/web/releases/v1.env");
        assert_eq!(
            std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        runs.push((env.to_string(), agent, work, name, e));
    }

    // Nowhere else: logs, journal, hook logs, results, histories, events.
    let events = fx.inventories().await;
    let outputs: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "task_output")
        .collect();
    assert_eq!(outputs.len(), 2);
    for o in &outputs {
        assert!(
            o["output"].as_str().unwrap().contains("validate sees ***"),
            "{o}"
        );
    }
    let events_text = serde_json::to_string(&events).unwrap();
    for (env, agent, work, name, e) in &runs {
        let history = fx.history_text(name).await;
        for (_, value) in &secrets {
            assert!(
                !events_text.contains(value.as_str()),
                "a secret in the events"
            );
            assert!(
                !history.contains(value.as_str()),
                "a secret in {name}'s history"
            );
            assert!(
                !format!("{e:?}").contains(value.as_str()),
                "a secret in {name}'s result"
            );
            for (path, text) in all_text(work) {
                if path.ends_with("releases/v1.env") || path.ends_with("app.json") {
                    continue;
                }
                assert!(
                    !text.contains(value.as_str()),
                    "a secret of {env} in {path}"
                );
            }
            let log = std::fs::read_to_string(&agent.log).unwrap();
            assert!(
                !log.contains(value.as_str()),
                "a secret in {env}'s agent log"
            );
        }
        let hook_log =
            std::fs::read_to_string(work.join(format!("apps/web/logs/hooks/d1{env}.log"))).unwrap();
        assert!(hook_log.contains("validate sees ***"), "{hook_log}");
    }

    // The staging agent refuses prod's parameter without asking SSM, and says which.
    let (env, agent, _, _, _) = &runs[0];
    let marks = tmp.path().join(format!("marks-{env}"));
    let port = free_port();
    for (deployment, parameter, says) in [
        ("d2", format!("/web/{prod}/db-url"), "is outside"),
        ("d3", format!("/web/{env}/missing"), "not found"),
    ] {
        let vars = [("DB_URL", format!("ssm:{parameter}"))];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let w = workload_for(tmp.path(), "v2", port, &marks, &vars);
        let name = format!("{env}-{deployment}");
        fx.send_in_env(
            &name,
            deploy_in(env, &format!("{deployment}{env}"), "v2", w),
        )
        .await;
        assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Failed);
        assert_eq!(
            fx.task_error(&name).await.as_deref(),
            Some("Boreas.SecretUnavailable")
        );
        let refused = agent.log_lines(&parameter);
        assert!(
            refused
                .iter()
                .any(|l| l.contains(says) && l.contains("DB_URL")),
            "{refused:?}"
        );
    }
    assert_eq!(
        std::fs::read_link(runs[0].2.join("apps/web/current"))
            .unwrap()
            .file_name()
            .unwrap(),
        "v1"
    );
}
