//! A real agent process against the emulator: deploys over file:// and s3://, a bad hash, a
//! failing health check, a duplicated message, a command for another host, an unparsable one.

mod common;

use boreas_aws::orchestrator::ExecutionStatus;
use boreas_core::command::TaskResult;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_roll_back_and_refuse_what_they_must() {
    let fx = Fixture::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut agent = AgentProcess::start(&fx, &tmp.path().join("work"));

    // v1 from a file.
    let v1 = artifact("v1", 1000);
    let v1_path = tmp.path().join("web-v1.tar.gz");
    std::fs::write(&v1_path, &v1).unwrap();
    let v1_url = format!("file://{}", v1_path.display());
    let v1_workload = workload(&v1_url, &sha256_hex(&v1), port, &["ok"]);
    let (name, _) = fx
        .send_with_token("d1", deploy("d1", HOST, "v1", v1_workload))
        .await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    let r = TaskResult::from_json(e.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            r.target.as_str(),
            r.app.as_str(),
            r.version.as_deref().unwrap_or_default()
        ),
        (HOST, "web", "v1")
    );
    assert_eq!(r.previous, None);
    assert_eq!(agent.current().as_deref(), Some("v1"));
    assert_eq!(answer(port).as_deref(), Some("v1"));

    // v2 from the emulator's S3.
    let v2 = artifact("v2", 200_000);
    let v2_url = fx.put_s3("web/v2.tar.gz", v2.clone()).await;
    let v2_deploy = deploy(
        "d2",
        HOST,
        "v2",
        workload(&v2_url, &sha256_hex(&v2), port, &["ok"]),
    );
    let (name, v2_sent) = fx.send_with_token("d2", v2_deploy).await;
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

    // A wrong hash: failure, nothing switched, nothing left behind.
    let v3 = artifact("v3", 1000);
    let v3_path = tmp.path().join("web-v3.tar.gz");
    std::fs::write(&v3_path, &v3).unwrap();
    let wrong = sha256_hex(b"something else");
    let (name, _) = fx
        .send_with_token(
            "d3",
            deploy(
                "d3",
                HOST,
                "v3",
                workload(
                    &format!("file://{}", v3_path.display()),
                    &wrong,
                    port,
                    &["ok"],
                ),
            ),
        )
        .await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Failed, "{e:?}");
    assert_eq!(e.error.as_deref(), Some("Boreas.ChecksumMismatch"));
    assert_eq!(agent.current().as_deref(), Some("v2"));
    assert_eq!(answer(port).as_deref(), Some("v2"));
    assert!(!agent.work_dir.join("apps/web/releases/v3").exists());

    // A release that never gets healthy: v2 is restored and answers again.
    let mut sick = file_workload(tmp.path(), "v4", port, &["sick"]);
    if let boreas_core::command::Workload::Pm(pm) = &mut sick {
        pm.health.retries = 3;
    }
    let (name, _) = fx
        .send_with_token("d4", deploy("d4", HOST, "v4", sick))
        .await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Failed, "{e:?}");
    assert_eq!(e.error.as_deref(), Some("Boreas.HealthCheckFailed"));
    assert_eq!(agent.current().as_deref(), Some("v2"));
    assert_eq!(answer(port).as_deref(), Some("v2"));
    assert!(!agent.log_lines("restored v2, which is healthy").is_empty());

    // The v2 command delivered again: nothing is redone, no second result.
    fx.send(&v2_sent).await;
    let id = v2_sent.command_id.clone();
    eventually(30, "the duplicate to be noticed", || {
        !agent.log_lines("already finished and reported").is_empty()
    })
    .await;
    let started: Vec<_> = agent
        .log_lines("deploy started")
        .into_iter()
        .filter(|l| l.contains(&id))
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(fx.results("d2").await, 1);

    // A command for another host is refused and fails its task; nothing changes.
    let v1_again = workload(&v1_url, &sha256_hex(&v1), port, &["ok"]);
    let (name, _) = fx
        .send_with_token("d5", deploy("d5", "h2", "v1", v1_again))
        .await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Failed, "{e:?}");
    assert_eq!(e.error.as_deref(), Some("Boreas.InvalidCommand"));
    assert_eq!(agent.current().as_deref(), Some("v2"));

    // Garbage is deleted, not received forever; the agent goes on working.
    fx.send_raw("{not a command").await;
    let v5 = artifact("v5", 1000);
    let v5_url = fx.put_s3("web/v5.tar.gz", v5.clone()).await;
    let (name, _) = fx
        .send_with_token(
            "d6",
            deploy(
                "d6",
                HOST,
                "v5",
                workload(&v5_url, &sha256_hex(&v5), port, &["ok"]),
            ),
        )
        .await;
    assert_eq!(fx.finished(&name).await.status, ExecutionStatus::Succeeded);
    assert_eq!(answer(port).as_deref(), Some("v5"));
    assert_eq!(agent.log_lines("malformed command").len(), 1);

    // Three releases kept: current v5, previous v2 and the newest other.
    let mut releases: Vec<String> = std::fs::read_dir(agent.work_dir.join("apps/web/releases"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.ends_with(".json"))
        .collect();
    releases.sort();
    assert_eq!(releases.len(), 3, "{releases:?}");
    assert!(releases.contains(&"v5".to_owned()) && releases.contains(&"v2".to_owned()));

    // Inventories went to the inventory queue; the last one shows v5, healthy.
    let inventories = fx.inventories().await;
    let last = inventories.last().expect("inventories were sent");
    assert_eq!(last["type"], "inventory");
    assert_eq!(last["target"], HOST);
    assert_eq!(last["group"], "edge");
    assert_eq!(last["apps"][0]["version"], "v5");
    assert_eq!(last["apps"][0]["healthy"], true);
    assert_eq!(last["apps"][0]["previous"], "v2");
    let pid = last["apps"][0]["pid"]
        .as_u64()
        .expect("the supervised app's pid");
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} is a live process"
    );

    // Rollback to a release still on the host: its stored run spec starts it again.
    let (name, _) = fx
        .send_with_token("d7", rollback("d7", "v5", Some("v2")))
        .await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    let r = TaskResult::from_json(e.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        (r.version.as_deref(), r.previous.as_deref()),
        (Some("v2"), Some("v5"))
    );
    assert_eq!(agent.current().as_deref(), Some("v2"));
    assert_eq!(answer(port).as_deref(), Some("v2"));

    // Rolling back a first deployment stops the app and reports that no version runs.
    let (name, _) = fx.send_with_token("d8", rollback("d8", "v2", None)).await;
    let e = fx.finished(&name).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    let r = TaskResult::from_json(e.output.as_deref().unwrap()).unwrap();
    assert_eq!((r.version, r.previous.as_deref()), (None, Some("v2")));
    assert_eq!(agent.current(), None);
    assert_eq!(answer(port), None);

    agent.stop();
}
