//! Health checks of a release: an HTTP GET answered with 2xx, a TCP connection, or a command
//! exiting with 0, probed up to `retries` times.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use boreas_core::command::Health;
use boreas_core::config::HealthCheck;

use crate::Error;
use crate::http::HttpClient;
use crate::procenv::ProcessEnv;

/// One probe; `Err` says why it failed.
/// A `command` probe runs in the release directory with the app's environment and user.
pub async fn probe(
    http: &HttpClient,
    health: &Health,
    dir: &Path,
    env: &ProcessEnv,
) -> Result<(), String> {
    let timeout = Duration::from_secs(health.timeout_seconds.max(1));
    match &health.check {
        HealthCheck::Http { http: url } => {
            let response = http.get(url, &[], timeout).await?;
            if response.status.is_success() {
                Ok(())
            } else {
                Err(format!("GET {url} answered {}", response.status))
            }
        }
        HealthCheck::Tcp { tcp } => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(tcp.as_str())).await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("cannot connect to {tcp}: {e}")),
                Err(_) => Err(format!("no connection to {tcp} within {timeout:?}")),
            }
        }
        HealthCheck::Command { command } => {
            let Some((program, args)) = command.split_first() else {
                return Err("the health command is empty".to_owned());
            };
            let program = if program.contains('/') && Path::new(program).is_relative() {
                dir.join(program)
            } else {
                program.into()
            };
            let mut command = tokio::process::Command::new(&program);
            env.apply(&mut command);
            let child = command
                .args(args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status();
            match tokio::time::timeout(timeout, child).await {
                Ok(Ok(status)) if status.success() => Ok(()),
                Ok(Ok(status)) => Err(format!("{} exited with {status}", program.display())),
                Ok(Err(e)) => Err(format!("cannot run {}: {e}", program.display())),
                Err(_) => Err(format!(
                    "{} did not finish within {timeout:?}",
                    program.display()
                )),
            }
        }
    }
}

/// Probes until one passes, at most `health.retries` times (at least once), `interval` apart.
pub async fn wait_healthy(
    http: &HttpClient,
    health: &Health,
    dir: &Path,
    env: &ProcessEnv,
    interval: Duration,
    app: &str,
    version: &str,
) -> Result<(), Error> {
    let probes = health.retries.max(1);
    let mut last = String::new();
    for n in 1..=probes {
        match probe(http, health, dir, env).await {
            Ok(()) => {
                tracing::info!(app, version, probe = n, "healthy");
                return Ok(());
            }
            Err(e) => {
                tracing::debug!(app, version, probe = n, error = e, "probe failed");
                last = e;
            }
        }
        if n < probes {
            tokio::time::sleep(interval).await;
        }
    }
    Err(Error::Unhealthy {
        app: app.to_owned(),
        version: version.to_owned(),
        probes,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(check: HealthCheck, retries: u32) -> Health {
        Health {
            check,
            timeout_seconds: 2,
            retries,
        }
    }

    #[tokio::test]
    async fn tcp_and_command_probes() {
        let http = HttpClient::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let dir = Path::new("/");
        let up = health(HealthCheck::Tcp { tcp: addr.clone() }, 1);
        let env = ProcessEnv::new(None, &Default::default(), &Default::default());
        probe(&http, &up, dir, &env).await.unwrap();
        drop(listener);
        let down = health(HealthCheck::Tcp { tcp: addr }, 2);
        let err = wait_healthy(
            &http,
            &down,
            dir,
            &env,
            Duration::from_millis(10),
            "web",
            "v1",
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("unhealthy after 2 probe(s)"),
            "{err}"
        );
        let ok = health(
            HealthCheck::Command {
                command: vec!["true".into()],
            },
            1,
        );
        probe(&http, &ok, dir, &env).await.unwrap();
        let bad = health(
            HealthCheck::Command {
                command: vec!["false".into()],
            },
            1,
        );
        assert!(
            probe(&http, &bad, dir, &env)
                .await
                .unwrap_err()
                .contains("exited")
        );
    }
}
