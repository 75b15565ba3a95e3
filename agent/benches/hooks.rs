//! Hook overhead per host: from spawning a lifecycle hook to its result, through the agent's hook
//! runner (declared-only environment, process group, timeout watch, output to the host's log and
//! the 64 KiB tail, secret redaction), against spawning the same program bare with
//! `std::process::Command` and waiting for it, the alternative without any of that. Also a hook
//! printing 1 MiB, whose tail the runner keeps.
//!
//! Run: `cargo bench -p boreas-agent --bench hooks`. `HOOK_RUNS` sets the runs per case (default 200).

use std::path::Path;
use std::time::{Duration, Instant};

use boreas_agent::hooks::{self, HookSite};
use boreas_agent::output::CommandLog;
use boreas_agent::procenv::{AppVars, BoreasVars, ProcessEnv};
use boreas_core::command::Hook;
use boreas_core::config::HookName;

fn hook(command: &[&str]) -> Hook {
    Hook {
        command: command.iter().map(|s| (*s).to_owned()).collect(),
        timeout_seconds: 30,
        retries: 0,
        grace_seconds: 5,
        run_as: None,
        working_dir: None,
    }
}

/// Median, 95th percentile and mean of `samples`, in milliseconds.
fn summary(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    (
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 95 / 100]),
        mean,
    )
}

async fn through_runner(
    hook: &Hook,
    release: &Path,
    logs: &Path,
    env: &ProcessEnv,
    runs: usize,
) -> Vec<Duration> {
    let site = HookSite {
        release_dir: release,
        env,
    };
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let mut log = CommandLog::open(logs, &format!("bench-{i}"), vec!["not-in-output".into()]);
        let started = Instant::now();
        hooks::run(HookName::Validate, hook, &site, &mut log)
            .await
            .expect("the hook succeeds");
        samples.push(started.elapsed());
    }
    samples
}

fn bare(command: &[&str], release: &Path, runs: usize) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            let out = std::process::Command::new(command[0])
                .args(&command[1..])
                .current_dir(release)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .output()
                .expect("spawn");
            assert!(out.status.success());
            started.elapsed()
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let runs: usize = std::env::var("HOOK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    let (release, logs) = (tmp.path().join("release"), tmp.path().join("logs"));
    std::fs::create_dir_all(&release).unwrap();
    let env = ProcessEnv::new(
        None,
        &BoreasVars {
            app: "web".into(),
            version: "v2".into(),
            environment: "bench".into(),
            host: "h1".into(),
            deployment_id: Some("d1".into()),
            batch: Some(0),
            ..BoreasVars::default()
        },
        &AppVars::default(),
    );
    println!("hook overhead per host, {runs} runs per case (median / p95 / mean, ms):");
    let loud = "head -c 1048576 /dev/zero | tr '\\0' 'x'";
    for (name, command) in [
        ("true", vec!["true"]),
        ("sh -c 1 MiB of output", vec!["sh", "-c", loud]),
    ] {
        let runner = summary(through_runner(&hook(&command), &release, &logs, &env, runs).await);
        let direct = summary(bare(&command, &release, runs));
        println!(
            "  {name:<24} runner {:.2} / {:.2} / {:.2}   bare spawn {:.2} / {:.2} / {:.2}   ratio (median) {:.2}",
            runner.0,
            runner.1,
            runner.2,
            direct.0,
            direct.1,
            direct.2,
            runner.0 / direct.0
        );
    }
}
