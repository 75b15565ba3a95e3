//! SIGKILL of the agent in the middle of a deploy, then a restart: the outcome is reported exactly
//! once and the host ends on one consistent release; a command the agent never survives is failed
//! after a few restarts instead of being run forever.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use boreas_aws::orchestrator::{ExecutionStatus, Orchestrator};
use boreas_core::command::{Hook, TaskResult, Workload};
use boreas_core::config::HookName;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

/// Deploys v1 from a file and waits until it answers.
async fn deploy_v1(fx: &Fixture, dir: &std::path::Path, port: u16) {
    let w = file_workload(dir, "v1", port, &["ok"]);
    let (name, _) = fx.send_with_token("d1", deploy("d1", HOST, "v1", w)).await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    assert_eq!(answer(port).as_deref(), Some("v1"));
}

/// An HTTP server on 127.0.0.1 serving one file. The first request gets half the body and then
/// hangs (a stalled link); later requests get the rest, honouring `Range`. Each request's start
/// offset is sent on the channel.
async fn stalling_server(body: Vec<u8>) -> (u16, mpsc::UnboundedReceiver<usize>, Arc<Notify>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let stop = release.clone();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let (mut socket, _) = tokio::select! {
                a = listener.accept() => a.unwrap(),
                () = stop.notified() => return,
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&head).to_lowercase();
            let from = head
                .lines()
                .find_map(|l| l.strip_prefix("range: bytes="))
                .and_then(|r| r.trim().trim_end_matches('-').parse::<usize>().ok())
                .unwrap_or(0);
            let _ = tx.send(from);
            let rest = &body[from..];
            let status = if from > 0 {
                format!(
                    "206 Partial Content\r\nContent-Range: bytes {from}-{}/{}",
                    body.len() - 1,
                    body.len()
                )
            } else {
                "200 OK".to_owned()
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                rest.len()
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            if first {
                first = false;
                socket.write_all(&rest[..rest.len() / 2]).await.unwrap();
                socket.flush().await.unwrap();
                // Hold the connection open until the agent is killed.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    drop(socket);
                });
            } else {
                let _ = socket.write_all(rest).await;
            }
        }
    });
    (port, rx, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_download_then_restart_reports_once() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut agent = AgentProcess::start(&fx, &tmp.path().join("work"));
    deploy_v1(&fx, tmp.path(), port).await;

    let v2 = artifact("v2", 400_000);
    let (http_port, mut requests, stop_server) = stalling_server(v2.clone()).await;
    let url = format!("http://127.0.0.1:{http_port}/web/v2.tar.gz");
    let (name, _) = fx
        .send_with_token(
            "d2",
            deploy(
                "d2",
                HOST,
                "v2",
                workload(&url, &sha256_hex(&v2), port, &["ok"]),
            ),
        )
        .await;
    assert_eq!(requests.recv().await, Some(0));
    // Half the body is on its way; let the agent write it, then kill it mid-download.
    let part_dir = agent.work_dir.join("downloads");
    eventually(30, "a partial download", || {
        std::fs::read_dir(&part_dir).unwrap().any(|e| {
            e.unwrap()
                .metadata()
                .is_ok_and(|m| m.len() >= (v2.len() / 2) as u64)
        })
    })
    .await;
    agent.kill();
    assert_eq!(
        agent.current().as_deref(),
        Some("v1"),
        "nothing switched yet"
    );

    agent.restart();
    let resumed_from = requests.recv().await.unwrap();
    assert!(
        resumed_from >= v2.len() / 2,
        "the download resumed at {resumed_from}"
    );
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    let r = TaskResult::from_json(e.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            r.version.as_deref().unwrap_or_default(),
            r.previous.as_deref()
        ),
        ("v2", Some("v1"))
    );
    assert_eq!(agent.current().as_deref(), Some("v2"));
    assert_eq!(answer(port).as_deref(), Some("v2"));

    // The message of the killed run comes back once its visibility lapses: it is not redone.
    eventually(30, "the redelivered message", || {
        !agent.log_lines("duplicate delivery").is_empty()
            || !agent.log_lines("already finished").is_empty()
    })
    .await;
    assert_eq!(fx.results(&name).await, 1, "exactly one result");
    let v2_downloads = agent
        .log_lines("download started")
        .into_iter()
        .filter(|l| l.contains("web/v2.tar.gz"))
        .count();
    assert_eq!(v2_downloads, 2, "the killed download and the resumed one");
    assert_eq!(agent.log_lines("reported success").len(), 2, "d1 and d2");
    stop_server.notify_one();
    agent.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_restart_then_restart_reports_once() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut agent = AgentProcess::start(&fx, &tmp.path().join("work"));
    deploy_v1(&fx, tmp.path(), port).await;

    // v2 takes two seconds to listen: the agent is killed while it waits for it to get healthy.
    let w = file_workload(tmp.path(), "v2", port, &["slow", "2"]);
    let (name, _) = fx.send_with_token("d2", deploy("d2", HOST, "v2", w)).await;
    eventually(30, "the switch to v2", || {
        agent.current().as_deref() == Some("v2")
    })
    .await;
    agent.kill();
    assert_eq!(
        fx.orchestrator.describe(&name).await.unwrap().status,
        ExecutionStatus::Running
    );

    agent.restart();
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    assert_eq!(agent.current().as_deref(), Some("v2"));
    assert_eq!(answer(port).as_deref(), Some("v2"));
    assert!(!agent.log_lines("resuming a command").is_empty());
    eventually(30, "the redelivered message", || {
        !agent.log_lines("duplicate delivery").is_empty()
            || !agent.log_lines("already finished").is_empty()
    })
    .await;
    assert_eq!(fx.results(&name).await, 1, "exactly one result");
    // Only one v2 process serves: the one the killed agent started was stopped first.
    let pids = std::process::Command::new("pgrep")
        .args(["-f", &format!("app.py {port} slow")])
        .output()
        .unwrap();
    let count = String::from_utf8_lossy(&pids.stdout).lines().count();
    assert_eq!(count, 1, "one v2 process");
    assert!(answer(port).is_some());
    agent.stop();
    let log = agent.log_lines("");
    assert_eq!(
        answer(port),
        None,
        "stopping the agent stops its apps: {log:#?}"
    );
}

/// The agent stops (SIGKILL, as a crash under `panic = "abort"` would) every time it runs one
/// command: it resumes it three times, then fails it with `Boreas.Internal` saying why, instead of
/// crashing on it at every start; the host keeps the release it ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_the_agent_never_survives_fails_after_three_resumes() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut agent = AgentProcess::start(&fx, &tmp.path().join("work"));
    deploy_v1(&fx, tmp.path(), port).await;

    let marks = tmp.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let Workload::Pm(mut pm) = file_workload(tmp.path(), "v2", port, &["ok"]) else {
        unreachable!()
    };
    // Each run of the command leaves a mark, then holds until the agent is killed.
    let hook = format!("touch {}/run.$$; sleep 20", marks.display());
    pm.hooks = BTreeMap::from([(
        HookName::BeforeInstall,
        Hook {
            command: vec!["sh".into(), "-c".into(), hook],
            timeout_seconds: 60,
            retries: 0,
            grace_seconds: 1,
            run_as: None,
            working_dir: None,
        },
    )]);
    let (name, _) = fx
        .send_with_token("d2", deploy("d2", HOST, "v2", Workload::Pm(pm)))
        .await;
    let runs = || std::fs::read_dir(&marks).unwrap().count();
    for run in 1..=4 {
        eventually(60, &format!("run {run} of the command"), || runs() == run).await;
        agent.kill();
        agent.restart();
    }
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Failed, "{e:?}");
    assert_eq!(
        fx.task_error(&name).await.as_deref(),
        Some("Boreas.Internal")
    );
    assert_eq!(
        agent
            .log_lines("the agent stopped every time it ran this command")
            .len(),
        1
    );
    assert_eq!(runs(), 4, "not run a fifth time");
    assert_eq!(agent.current().as_deref(), Some("v1"));
    assert_eq!(answer(port).as_deref(), Some("v1"));
    agent.stop();
}
