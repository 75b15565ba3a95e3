//! `boreas versions|deployments|show|confirm|approve|reject|cancel|revert|watch`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use super::{Client, Conn, Failure, render, segment};

/// The client subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ClientCommand {
    /// List versions, newest first.
    Versions {
        #[command(flatten)]
        conn: Conn,
        /// Only this repository.
        #[arg(long)]
        repo: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// List deployments, newest first.
    Deployments {
        #[command(flatten)]
        conn: Conn,
        /// Only this status (planned, running, succeeded, failed, rolled_back, cancelled, superseded).
        #[arg(long)]
        status: Option<String>,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show a deployment: its plan and live status as a tree.
    Show {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
    },
    /// Confirm a planned deployment: it starts running.
    Confirm {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
    },
    /// Approve a waiting manual gate.
    Approve {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
        gate: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a waiting manual gate: the deployment rolls back.
    Reject {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
        gate: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Cancel a planned or running deployment.
    Cancel {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
    },
    /// Withdraw a version: never deployed again automatically; targets running it go back.
    Revert {
        #[command(flatten)]
        conn: Conn,
        version: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
        /// The repository [default: the only registered one].
        #[arg(long)]
        repo: Option<String>,
    },
    /// Follow a deployment live, one progress bar per app; exit 0 when it succeeds, 1 otherwise.
    Watch {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
        /// Seconds between polls.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Give up (exit 3) after this many seconds; 0 waits forever.
        #[arg(long, default_value_t = 0)]
        timeout: u64,
    },
}

impl ClientCommand {
    fn conn(&self) -> &Conn {
        match self {
            Self::Versions { conn, .. }
            | Self::Deployments { conn, .. }
            | Self::Show { conn, .. }
            | Self::Confirm { conn, .. }
            | Self::Approve { conn, .. }
            | Self::Reject { conn, .. }
            | Self::Cancel { conn, .. }
            | Self::Revert { conn, .. }
            | Self::Watch { conn, .. } => conn,
        }
    }
}

/// Runs a client command; exit 0 on success, 1 on a failed call or a failed watch, 2 on bad
/// arguments, 3 when `watch` timed out.
pub(crate) fn run(command: &ClientCommand) -> ExitCode {
    let conn = command.conn();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let client = Client::new(conn)?;
        execute(&client, conn.json, command).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("boreas: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

async fn execute(client: &Client, json: bool, command: &ClientCommand) -> Result<(), Failure> {
    match command {
        ClientCommand::Versions { repo, limit, .. } => {
            let mut path = format!("/versions?limit={limit}");
            if let Some(r) = repo {
                path.push_str(&format!("&repo={}", segment(r)));
            }
            let v = client.get(&path).await?;
            if json {
                print_json(&v);
            } else {
                render::versions(&v);
            }
        }
        ClientCommand::Deployments {
            status, env, limit, ..
        } => {
            let mut path = format!("/deployments?limit={limit}");
            if let Some(s) = status {
                path.push_str(&format!("&status={}", segment(s)));
            }
            if let Some(e) = env {
                path.push_str(&format!("&env={}", segment(e)));
            }
            let v = client.get(&path).await?;
            if json {
                print_json(&v);
            } else {
                render::deployments(&v);
            }
        }
        ClientCommand::Show { deployment, .. } => {
            let v = client
                .get(&format!("/deployments/{}", segment(deployment)))
                .await?;
            if json {
                print_json(&v);
            } else {
                print!("{}", render::tree(&v));
            }
        }
        ClientCommand::Confirm { deployment, .. } => {
            let v = client
                .post(
                    &format!("/deployments/{}/confirm", segment(deployment)),
                    &json!({}),
                )
                .await?;
            done(json, &v, &format!("deployment {deployment} confirmed"));
        }
        ClientCommand::Approve {
            deployment,
            gate,
            comment,
            ..
        }
        | ClientCommand::Reject {
            deployment,
            gate,
            comment,
            ..
        } => {
            let verb = if matches!(command, ClientCommand::Approve { .. }) {
                "approve"
            } else {
                "reject"
            };
            let v = client
                .post(
                    &format!(
                        "/deployments/{}/gates/{}/{verb}",
                        segment(deployment),
                        segment(gate)
                    ),
                    &json!({"comment": comment}),
                )
                .await?;
            done(json, &v, &format!("gate {gate} of {deployment}: {verb}d"));
        }
        ClientCommand::Cancel { deployment, .. } => {
            let v = client
                .post(
                    &format!("/deployments/{}/cancel", segment(deployment)),
                    &json!({}),
                )
                .await?;
            done(json, &v, &format!("deployment {deployment} cancelled"));
        }
        ClientCommand::Revert {
            version,
            reason,
            repo,
            ..
        } => {
            let repo = match repo {
                Some(r) => r.clone(),
                None => only_repository(client).await?,
            };
            let v = client
                .post(
                    &format!("/versions/{}/{}/revert", segment(&repo), segment(version)),
                    &json!({"reason": reason}),
                )
                .await?;
            if json {
                print_json(&v);
            } else {
                println!("version {repo}/{version} marked revert");
                if let Some(to) = v.get("rollback_to").and_then(Value::as_str) {
                    println!("rollback to {to} planned; confirm to run it:");
                }
                for d in v
                    .get("deployments")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    println!(
                        "  {}  {}  {}",
                        render::s(d, "id"),
                        render::s(d, "environment"),
                        render::s(d, "status")
                    );
                }
            }
        }
        ClientCommand::Watch {
            deployment,
            interval,
            timeout,
            ..
        } => watch(client, json, deployment, *interval, *timeout).await?,
    }
    Ok(())
}

fn done(json: bool, v: &Value, line: &str) {
    if json {
        print_json(v);
    } else {
        println!("{line}");
    }
}

async fn only_repository(client: &Client) -> Result<String, Failure> {
    let v = client.get("/repositories").await?;
    let names: Vec<String> = v
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::new("no repository is registered", 1)),
        many => Err(Failure::new(
            format!(
                "several repositories are registered ({}); name one with --repo",
                many.join(", ")
            ),
            2,
        )),
    }
}

/// Statuses a deployment does not leave.
const TERMINAL: [&str; 5] = [
    "succeeded",
    "failed",
    "rolled_back",
    "cancelled",
    "superseded",
];

async fn watch(
    client: &Client,
    json: bool,
    id: &str,
    interval: f64,
    timeout: u64,
) -> Result<(), Failure> {
    let interval = Duration::from_secs_f64(interval.clamp(0.1, 60.0));
    let started = std::time::Instant::now();
    let multi = MultiProgress::with_draw_target(if json {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let style = ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {msg}")
        .map_err(|e| Failure::new(e.to_string(), 1))?
        .progress_chars("=> ");
    let mut bars: BTreeMap<String, ProgressBar> = BTreeMap::new();
    let mut last_status = String::new();
    loop {
        let v = client.get(&format!("/deployments/{}", segment(id))).await?;
        let status = render::s(&v, "status").to_owned();
        for app in render::app_progress(&v) {
            let bar = bars.entry(app.name.clone()).or_insert_with(|| {
                let b = multi.add(ProgressBar::new(app.total));
                b.set_style(style.clone());
                b.set_prefix(app.name.clone());
                b
            });
            bar.set_length(app.total);
            bar.set_position(app.done);
            bar.set_message(app.message.clone());
        }
        if status != last_status {
            if !json && multi.is_hidden() {
                eprintln!("{id}: {status}");
            }
            last_status.clone_from(&status);
        }
        if TERMINAL.contains(&status.as_str()) {
            for bar in bars.values() {
                bar.abandon();
            }
            if json {
                print_json(&v);
            } else {
                print!("{}", render::tree(&v));
            }
            return if status == "succeeded" {
                Ok(())
            } else {
                Err(Failure::new(
                    format!(
                        "deployment {id} ended {status}{}",
                        v.get("error")
                            .and_then(Value::as_str)
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ),
                    1,
                ))
            };
        }
        if timeout > 0 && started.elapsed() > Duration::from_secs(timeout) {
            return Err(Failure::new(
                format!("deployment {id} is still {status} after {timeout}s"),
                3,
            ));
        }
        tokio::time::sleep(interval).await;
    }
}
