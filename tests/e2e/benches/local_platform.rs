//! The local platform under load: a real `boreas dev` (release build) and `boreas-agent fleet`
//! simulating 200 hosts, deploying one app in 4 batches of 50 (parallelism 50, no pauses).
//!
//! Prints, per run: webhook → plan ready; confirm → first target reported; each batch's duration
//! and its overhead beyond the simulated agents' own work (the fleet's deploy latency); confirm →
//! deployment succeeded. Run with `cargo bench -p boreas-e2e --bench local_platform`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boreas_e2e::{Platform, epoch, progress, push_tag_payload, wait_for};
use boreas_test_support::git::git;
use serde_json::{Value, json};

const HOSTS: usize = 200;
const RUNS: usize = 3;
/// What one simulated deploy takes.
const LATENCY_MS: u64 = 500;

/// The benchmark's `boreas.yaml`: one app on the fleet's group.
const CONFIG: &str = r#"environments:
  - name: sim
triggers:
  tags: "v*"
apps:
  - name: bench
    kind: pm
    rollout:
      batches: ["25%", "50%", "75%", "100%"]
      parallelism: 50
      heartbeat: 30s
      timeout: 5m
    pm:
      hosts:
        sim: [{group: fleet}]
      artifact:
        url: "file:///nonexistent/bench/{version}.tar.gz"
        sha256: "0000000000000000000000000000000000000000000000000000000000000000"
      run:
        command: ["true"]
      health:
        command: ["true"]
"#;

/// Kills the fleet when the benchmark ends, however it ends.
struct Fleet(Child);

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-{}", std::process::id()));
    let p = Platform::start(&dir, 1, &["--inventory-seconds", "300"]);
    let prefix = p.dev["prefix"].as_str().unwrap().to_owned();
    let endpoint = p.dev["emulator_endpoint"].as_str().unwrap().to_owned();
    let _fleet = Fleet(
        Command::new(p.bin_dir().join("boreas-agent"))
            .args(["fleet", "--hosts", &HOSTS.to_string(), "--prefix", &prefix])
            .args([
                "--environment",
                "sim",
                "--group",
                "fleet",
                "--poll-seconds",
                "5",
            ])
            .args([
                "--latency-ms",
                &LATENCY_MS.to_string(),
                "--endpoint",
                &endpoint,
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("start the fleet"),
    );
    wait_for(
        "200 simulated agents to register",
        Duration::from_secs(300),
        || {
            let agents = p.get("/agents?env=sim&limit=1000");
            (agents["items"].as_array()?.len() == HOSTS).then_some(())
        },
    );
    let repo = p.demo_repo();
    std::fs::write(repo.join("boreas.yaml"), CONFIG).expect("write boreas.yaml");
    git(
        &repo,
        &[
            "commit",
            "--quiet",
            "-am",
            "bench: one app on 200 simulated hosts",
        ],
    );

    println!(
        "local platform, {HOSTS} simulated hosts, 4 batches of 50, parallelism 50, {LATENCY_MS} ms per simulated deploy"
    );
    println!(
        "run  webhook→planned  confirm→first target  batch durations (overhead beyond {LATENCY_MS} ms)          confirm→succeeded"
    );
    for run in 1..=RUNS {
        let version = format!("v9.{run}.0-bench");
        let commit = p.git_tag(&version);
        let sent = Instant::now();
        let a = p.deliver(
            &push_tag_payload(&version, &commit),
            &format!("bench-{}-{run}", std::process::id()),
        );
        assert_eq!(a.status, 202, "{}", a.body);
        let d = wait_for("the plan", Duration::from_secs(120), || {
            p.deployments()
                .into_iter()
                .find(|d| d["version"] == version.as_str() && d["environment"] == "sim")
        });
        let planned = sent.elapsed();
        let id = d["id"].as_str().unwrap().to_owned();
        // The previous run's lock is released when the recorder has taken its end event.
        wait_for(
            "the run lock of the previous run",
            Duration::from_secs(60),
            || {
                let confirm = p.post(&format!("/deployments/{id}/confirm"), &json!({}));
                match confirm.status {
                    200 => Some(()),
                    409 if confirm.body["error"] == "run_lock" => None,
                    _ => panic!("confirm {id}: {} {}", confirm.status, confirm.body),
                }
            },
        );
        let confirmed = Instant::now();
        let mut first: Option<Duration> = None;
        let done: Value = loop {
            let d = p.deployment(&id);
            if first.is_none() && !progress(&d, "targets").is_empty() {
                first = Some(confirmed.elapsed());
            }
            if d["status"] != "running" {
                break d;
            }
            assert!(
                confirmed.elapsed() < Duration::from_secs(900),
                "deployment {id} did not finish: {d}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let total = confirmed.elapsed();
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(progress(&done, "targets").len(), HOSTS);
        let batches: Vec<String> = progress(&done, "batches")
            .iter()
            .map(|b| {
                let secs = epoch(b["ended_at"].as_str().unwrap())
                    - epoch(b["started_at"].as_str().unwrap());
                format!("{secs:.2}s ({:+.2}s)", secs - LATENCY_MS as f64 / 1000.0)
            })
            .collect();
        println!(
            "{run:<4} {:<16} {:<21} {:<58} {:.2}s",
            format!("{:.2}s", planned.as_secs_f64()),
            format!("{:.2}s", first.unwrap_or(total).as_secs_f64()),
            batches.join(" "),
            total.as_secs_f64()
        );
    }
}
