//! `boreas-agent fleet`: simulated hosts answer real task tokens on their own queues.

mod common;

use std::process::Stdio;

use boreas_aws::orchestrator::ExecutionStatus;
use boreas_core::command::{TaskResult, Workload};
use common::*;

fn sim_deploy(deployment: &str, host: &str) -> boreas_core::command::Command {
    let w: Workload = workload("file:///nowhere/web.tar.gz", &"0".repeat(64), 1, &["ok"]);
    let mut c = deploy(deployment, host, "v9", w);
    c.environment = "sim".to_owned();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_hosts_answer_on_their_own_queues() {
    let fx = Fixture::new().await;
    let names = boreas_aws::names::Names::new(&fx.prefix);
    let mut fleet = std::process::Command::new(env!("CARGO_BIN_EXE_boreas-agent"))
        .args([
            "fleet",
            "--hosts",
            "3",
            "--prefix",
            &fx.prefix,
            "--poll-seconds",
            "2",
        ])
        .args(["--latency-ms", "50", "--endpoint", &fx.endpoint])
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(std::env::temp_dir().join(format!("{}-fleet.log", fx.prefix)))
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let queues = boreas_aws::queues::SqsQueues::from_config(&fx.aws);
    use boreas_aws::queues::Queues;
    let queue = names.agent_queue("sim", "sim-0002");
    let mut url = None;
    for _ in 0..300 {
        if let Ok(u) = queues.queue_url(&queue).await {
            url = Some(u);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let url = url.expect("the fleet creates its queues");
    let mut command = sim_deploy("f1", "sim-0002");
    command.task_token = Some(fx.task_token("f1").await);
    queues
        .send(&url, &command.to_json(), &Default::default())
        .await
        .unwrap();
    let e = fx.finished("f1").await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:?}");
    let r = TaskResult::from_json(e.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        (r.target.as_str(), r.version.as_deref().unwrap_or_default()),
        ("sim-0002", "v9")
    );
    let inventories = fx.inventories().await;
    assert!(
        inventories
            .iter()
            .any(|i| i["target"] == "sim-0002" && i["apps"][0]["version"] == "v9"),
        "{inventories:?}"
    );
    let _ = fleet.kill();
    let _ = fleet.wait();
}
