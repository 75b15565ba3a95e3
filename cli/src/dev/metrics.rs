//! Real metrics for the demo: Debian's Prometheus, when it is installed, scraping every demo app
//! on every local agent through file-based service discovery (one target per host and app,
//! labelled with its app, host and environment), and a traffic generator that keeps the apps
//! busy so that their error rate has data. The demo's `boreas.yaml` then judges each batch of
//! `api` by that error rate ([`super::demo::boreas_yaml`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::state::AgentInfo;

/// How often Prometheus scrapes the demo apps.
const SCRAPE_INTERVAL: &str = "1s";
/// How often the traffic generator asks each demo app for `/`.
const TRAFFIC_EVERY: Duration = Duration::from_millis(100);

/// The Prometheus binary: `BOREAS_PROMETHEUS`, else `prometheus` on the `PATH`; `None` when
/// there is none (`make debian` installs Debian's).
pub(crate) fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BOREAS_PROMETHEUS") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("prometheus"))
            .find(|p| p.is_file())
    })
}

/// The file-based service discovery of the demo apps: one target per (agent, app).
pub(crate) fn targets(agents: &[AgentInfo]) -> serde_json::Value {
    let mut out = Vec::new();
    for agent in agents {
        for (app, port) in &agent.ports {
            out.push(json!({
                "targets": [format!("127.0.0.1:{port}")],
                "labels": {"app": app, "host": agent.host, "environment": agent.environment},
            }));
        }
    }
    serde_json::Value::Array(out)
}

/// Prometheus's configuration: the demo apps, discovered from `targets_file`.
pub(crate) fn config(targets_file: &Path) -> String {
    format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  evaluation_interval: {SCRAPE_INTERVAL}\nscrape_configs:\n  - job_name: demo\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: 5s\n",
        targets_file.display()
    )
}

/// Writes the configuration and the targets under `dir` and runs `binary` on
/// `127.0.0.1:port` until `stop`; restarted if it exits.
pub(crate) fn start(
    binary: PathBuf,
    dir: &Path,
    port: u16,
    agents: &[AgentInfo],
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let targets_file = dir.join("targets.json");
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))
    };
    write(&targets_file, targets(agents).to_string())?;
    let config_file = dir.join("prometheus.yml");
    write(&config_file, config(&targets_file))?;
    let data = dir.join("data");
    Ok(tokio::spawn(async move {
        loop {
            let child = tokio::process::Command::new(&binary)
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn();
            let mut child = match child {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(binary = %binary.display(), error = %e, "cannot start Prometheus: the demo's analysis will find no data");
                    return;
                }
            };
            tokio::select! {
                status = child.wait() => {
                    tracing::warn!(?status, "Prometheus exited; starting it again");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                _ = stop.changed() => {
                    let _ = child.kill().await;
                    return;
                }
            }
        }
    }))
}

/// Asks every demo app on every agent for `/` every [`TRAFFIC_EVERY`] until `stop`: the requests
/// the demo's error rate is measured on. An app that is not running yet is skipped.
pub(crate) fn traffic(
    agents: &[AgentInfo],
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let urls: Vec<String> = agents
        .iter()
        .flat_map(|a| a.ports.values())
        .map(|port| format!("http://127.0.0.1:{port}/"))
        .collect();
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no HTTP client: no demo traffic");
                return;
            }
        };
        let mut tick = tokio::time::interval(TRAFFIC_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let mut asks = tokio::task::JoinSet::new();
                    for url in &urls {
                        let ask = client.get(url).send();
                        asks.spawn(async move { drop(ask.await) });
                    }
                    while asks.join_next().await.is_some() {}
                }
                _ = stop.changed() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn every_demo_app_of_every_agent_is_a_labelled_target() {
        let agent = |host: &str, env: &str, api: u16, web: u16| AgentInfo {
            host: host.to_owned(),
            environment: env.to_owned(),
            group: "web".to_owned(),
            work_dir: PathBuf::from("/tmp"),
            ports: BTreeMap::from([("api".to_owned(), api), ("web".to_owned(), web)]),
        };
        let t = targets(&[
            agent("staging-web-1", "staging", 4001, 4002),
            agent("prod-web-1", "prod", 4003, 4004),
        ]);
        assert_eq!(t.as_array().unwrap().len(), 4);
        assert_eq!(
            t[2],
            json!({"targets": ["127.0.0.1:4003"], "labels": {"app": "api", "host": "prod-web-1", "environment": "prod"}})
        );
        let c = config(Path::new("/state/prometheus/targets.json"));
        assert!(
            c.contains("files: ['/state/prometheus/targets.json']"),
            "{c}"
        );
        assert!(c.contains("scrape_interval: 1s"), "{c}");
    }
}
