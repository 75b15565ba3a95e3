//! A stale command never runs: a deploy whose task no longer waits is dropped without acting, and
//! a deploy that reaches the host after the rollback of the same deployment is refused, whichever
//! order the standard queue delivers them in; a release stopped for a command that went stale
//! runs again; a retry an approver chose is a new command, not a redelivery. A real agent process
//! against the emulator.

mod common;

use std::collections::BTreeMap;

use boreas_aws::orchestrator::{ExecutionStatus, Orchestrator};
use boreas_core::command::{Action, Hook, Workload, command_id, deploy_action_id};
use boreas_core::config::HookName;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_deploys_never_change_the_host() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let agent = AgentProcess::start(&fx, &tmp.path().join("work"));
    let release = |version: &str| file_workload(tmp.path(), version, port, &["ok"]);

    let (name, _) = fx
        .send_with_token("d1", deploy("d1", HOST, "v1", release("v1")))
        .await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    assert_eq!(agent.current().as_deref(), Some("v1"));

    // The state machine moved on from this task (here: it failed; a timeout or a stop is the
    // same to the agent) before the command arrived.
    let mut late = deploy("d2", HOST, "v2", release("v2"));
    let token = fx.task_token("d2").await;
    fx.orchestrator
        .send_task_failure(&token, "States.Timeout", "no answer in time")
        .await
        .unwrap();
    assert_eq!(fx.finished("d2").await.status, ExecutionStatus::Failed);
    late.task_token = Some(token);
    fx.send(&late).await;
    eventually(60, "the stale deploy to be dropped", || {
        !agent
            .log_lines("the task no longer waits for this command; dropped without acting")
            .is_empty()
    })
    .await;
    assert_eq!(agent.current().as_deref(), Some("v1"));
    assert_eq!(answer(port).as_deref(), Some("v1"));

    // The rollback of deployment d3 is delivered before its deploy.
    fx.send(&rollback("d3", "v3", Some("v1"))).await;
    eventually(60, "the rollback to run", || {
        !agent.log_lines("rollback started").is_empty()
    })
    .await;
    let (name, _) = fx
        .send_with_token("d3", deploy("d3", HOST, "v3", release("v3")))
        .await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Failed, "{e:?}");
    assert_eq!(e.error.as_deref(), Some("Boreas.Stale"), "{e:?}");
    // The deploy is refused at once; the rollback (restarting v1) may still be finishing.
    eventually(60, "v1 to answer after the rollback", || {
        answer(port).as_deref() == Some("v1")
    })
    .await;
    assert_eq!(agent.current().as_deref(), Some("v1"));
    assert_eq!(
        agent
            .log_lines("the rollback of this deploy reached the host first; not deploying")
            .len(),
        1
    );
}

/// `rollout.on_failure: pause`: a deploy fails on the host (its validate hook finds the host
/// broken), an operator fixes the host, an approver chooses retry, and the state machine sends
/// the same deploy as attempt 1 with its own command id: the agent runs it and succeeds, while a
/// late redelivery of attempt 0 still answers its stored failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_deploy_runs_again_after_the_host_is_fixed() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let fixed = tmp.path().join("fixed");
    let agent = AgentProcess::start(&fx, &tmp.path().join("work"));
    let (name, _) = fx
        .send_with_token(
            "r1",
            deploy(
                "r1",
                HOST,
                "v1",
                file_workload(tmp.path(), "v1", port, &["ok"]),
            ),
        )
        .await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);

    let Workload::Pm(mut pm) = file_workload(tmp.path(), "v2", port, &["ok"]) else {
        unreachable!()
    };
    pm.hooks = BTreeMap::from([(
        HookName::Validate,
        Hook {
            command: vec!["test".into(), "-f".into(), fixed.display().to_string()],
            timeout_seconds: 10,
            retries: 0,
            grace_seconds: 1,
            run_as: None,
            working_dir: None,
        },
    )]);
    let first = deploy("r2", HOST, "v2", Workload::Pm(pm));
    let (name, sent) = fx.send_with_token("r2-attempt-0", first.clone()).await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Failed, "{e:?}");
    eventually(60, "v1 to answer again", || {
        answer(port).as_deref() == Some("v1")
    })
    .await;

    std::fs::write(&fixed, "").unwrap();
    let mut retry = first.clone();
    let Action::Deploy { attempt, .. } = &mut retry.action else {
        unreachable!()
    };
    *attempt = 1;
    retry.command_id = command_id("r2", "web", 0, HOST, &deploy_action_id(1));
    let (name, _) = fx.send_with_token("r2-attempt-1", retry).await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    assert_eq!(agent.current().as_deref(), Some("v2"));
    assert_eq!(answer(port).as_deref(), Some("v2"));

    // Attempt 0 delivered again (its task long gone) changes nothing.
    fx.send(&sent).await;
    eventually(60, "the redelivery to be recognised", || {
        !agent.log_lines("already finished").is_empty()
    })
    .await;
    assert_eq!(agent.current().as_deref(), Some("v2"));
    assert_eq!(answer(port).as_deref(), Some("v2"));
}

/// An agent killed after it stopped the running release for a deploy, but before the switch, comes
/// back running that release when the deploy has meanwhile gone stale: `current` still names it, so
/// the restart starts it even though a command for the app is being resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_stopped_before_the_switch_runs_again_after_a_restart() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut agent = AgentProcess::start(&fx, &tmp.path().join("work"));
    let release = |version: &str| {
        let Workload::Pm(mut pm) = file_workload(tmp.path(), version, port, &["ok"]) else {
            unreachable!()
        };
        // Its stop hook ends the app, then takes its time (the bracket keeps pkill from
        // matching the hook's own command line).
        let stop = format!("pkill -f 'app[.]py {port} ok'; sleep 67.31");
        pm.hooks = BTreeMap::from([(
            HookName::Stop,
            Hook {
                command: vec!["sh".into(), "-c".into(), stop],
                timeout_seconds: 120,
                retries: 0,
                grace_seconds: 1,
                run_as: None,
                working_dir: None,
            },
        )]);
        Workload::Pm(pm)
    };
    let (name, _) = fx
        .send_with_token("d1", deploy("d1", HOST, "v1", release("v1")))
        .await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    assert_eq!(answer(port).as_deref(), Some("v1"));

    let (name, sent) = fx
        .send_with_token("d2", deploy("d2", HOST, "v2", release("v2")))
        .await;
    eventually(60, "v1 stopped by its stop hook", || answer(port).is_none()).await;
    agent.kill();
    assert_eq!(agent.current().as_deref(), Some("v1"), "nothing switched");
    fx.orchestrator
        .send_task_failure(
            sent.task_token.as_deref().unwrap(),
            "States.HeartbeatTimeout",
            "the agent stopped answering",
        )
        .await
        .unwrap();
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Failed);

    agent.restart();
    eventually(60, "the resumed deploy to be dropped", || {
        !agent
            .log_lines("the task no longer waits for this command; dropped without acting")
            .is_empty()
    })
    .await;
    eventually(60, "v1 to answer again", || {
        answer(port).as_deref() == Some("v1")
    })
    .await;
    assert_eq!(agent.current().as_deref(), Some("v1"));
    let sleeping = std::process::Command::new("pgrep")
        .args(["-f", "sleep 67.31"])
        .output()
        .unwrap();
    assert!(
        sleeping.stdout.is_empty(),
        "the killed agent's stop hook was ended"
    );
    agent.stop();
}
