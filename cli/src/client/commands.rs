//! `boreas versions|deployments|show|confirm|approve|reject|decide|cancel|revert|watch`, what
//! ran where (`boreas history`, [`super::history`]), the environment policy's `boreas
//! envs|waive|override|freeze …` ([`super::policy`]), and the operator's `boreas repo …` and
//! `boreas token …` ([`super::admin`]).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use boreas_api_types::{
    ConfirmedDeployment, Deployment, DeploymentDetail, DeploymentSummary, GateDecision,
    GateDecisionRequest, List, Repository, RevertRequest, RevertResult, TargetDecision,
    TargetDecisionRequest, TargetOutputs, Version,
};
use boreas_core::command::ErrorType;
use boreas_core::config::DurationSpec;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::policy::Condition;
use boreas_core::status::FailureAction;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::admin::{NotifyDefaultsCommand, RepoCommand, TokenCommand};
use super::history::HistoryArgs;
use super::policy::FreezeCommand;
use super::{Client, Conn, Failure, admin, history, policy, render, segment};

/// The client subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ClientCommand {
    /// Register and manage watched repositories (admin).
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Create, list and revoke API tokens (admin).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show or replace the installation's default notification rules (replace: admin).
    #[command(subcommand)]
    NotifyDefaults(NotifyDefaultsCommand),
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
        /// Only this repository (its id, e.g. github.com/acme/shop).
        #[arg(long)]
        repo: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show a deployment: its plan and live status as a tree.
    Show {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
        /// Review the plan instead: what runs now, the commits since, why each app is in or
        /// out, the targets of each batch in order, and the adjustments to the proposal.
        #[arg(long)]
        plan: bool,
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
    /// Decide on a host that failed under `rollout.on_failure: pause`: `retry` sends its deploy
    /// again, `skip` leaves it as it is and lets the batch go on, `rollback` rolls the app back.
    Decide {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
        app: String,
        target: String,
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(["retry", "skip", "rollback"]))]
        action: String,
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
    /// Each environment: its promotion per repository, its freeze windows (in force, next
    /// start), whether it is frozen now, and the deployments waiting with why.
    Envs {
        #[command(flatten)]
        conn: Conn,
    },
    /// Lift one promotion condition of a planned deployment (approver); the others still hold.
    Waive {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
        /// `after:ENV` (it succeeded there) or `soak:ENV` (it then stayed there for the soak).
        condition: Condition,
        /// Why (recorded with the waiver and in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Break glass: let a deployment through the freeze windows for a while (approver).
    Override {
        #[command(flatten)]
        conn: Conn,
        deployment: String,
        /// Why (recorded with the override and in the audit log).
        #[arg(long)]
        reason: String,
        /// How long (`30m`, `2h`), at most 6h.
        #[arg(long = "for", value_name = "DURATION")]
        expires_in: DurationSpec,
    },
    /// Add, list or remove freeze windows without a commit (add: deployer; remove: approver).
    #[command(subcommand)]
    Freeze(FreezeCommand),
    /// An app's runs, newest first (`boreas history APP [--env ENV]`), or the last
    /// deployments that changed a host (`boreas history --host HOST --env ENV`).
    History(HistoryArgs),
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
            Self::Repo(command) => command.conn(),
            Self::Token(command) => command.conn(),
            Self::NotifyDefaults(command) => command.conn(),
            Self::Freeze(command) => command.conn(),
            Self::History(args) => &args.conn,
            Self::Versions { conn, .. }
            | Self::Deployments { conn, .. }
            | Self::Show { conn, .. }
            | Self::Confirm { conn, .. }
            | Self::Approve { conn, .. }
            | Self::Reject { conn, .. }
            | Self::Decide { conn, .. }
            | Self::Cancel { conn, .. }
            | Self::Revert { conn, .. }
            | Self::Envs { conn }
            | Self::Waive { conn, .. }
            | Self::Override { conn, .. }
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

pub(crate) fn print_json(v: &impl Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("boreas: cannot print the answer as JSON: {e}"),
    }
}

async fn execute(client: &Client, json: bool, command: &ClientCommand) -> Result<(), Failure> {
    match command {
        ClientCommand::Repo(command) => admin::repo(client, json, command).await?,
        ClientCommand::Token(command) => admin::token(client, json, command).await?,
        ClientCommand::NotifyDefaults(command) => {
            admin::notify_defaults(client, json, command).await?;
        }
        ClientCommand::Versions { repo, limit, .. } => {
            let mut path = format!("/versions?limit={limit}");
            if let Some(r) = repo {
                path.push_str(&format!("&repo={}", segment(r)));
            }
            let list: List<Version> = client.get(&path).await?;
            if json {
                print_json(&list);
            } else {
                render::versions(&list);
            }
        }
        ClientCommand::Deployments {
            status,
            env,
            repo,
            limit,
            ..
        } => {
            let mut path = format!("/deployments?limit={limit}");
            if let Some(s) = status {
                path.push_str(&format!("&status={}", segment(s)));
            }
            if let Some(e) = env {
                path.push_str(&format!("&env={}", segment(e)));
            }
            if let Some(r) = repo {
                path.push_str(&format!("&repo={}", segment(r)));
            }
            let list: List<DeploymentSummary> = client.get(&path).await?;
            if json {
                print_json(&list);
            } else {
                render::deployments(&list);
            }
        }
        ClientCommand::Show {
            deployment, plan, ..
        } => {
            let d: DeploymentDetail = client
                .get(&format!("/deployments/{}", segment(deployment)))
                .await?;
            if json {
                print_json(&d);
            } else if *plan {
                print!("{}", render::plan_review(&d));
            } else {
                print!("{}", render::tree(&d));
                // What the hooks of each target that failed printed, under the tree (an
                // unreachable target ran nothing).
                let unreachable = ErrorType::AgentUnreachable.as_str();
                let failed =
                    d.progress.targets.iter().filter(|t| {
                        t.error.is_some() && t.error_type.as_deref() != Some(unreachable)
                    });
                for t in failed {
                    let o: TargetOutputs = client
                        .get(&format!(
                            "/deployments/{}/targets/{}/{}/output",
                            segment(deployment),
                            segment(&t.app),
                            segment(&t.target)
                        ))
                        .await?;
                    print!("{}", render::outputs(&o));
                }
            }
        }
        ClientCommand::Confirm { deployment, .. } => {
            let d: ConfirmedDeployment = client
                .post(
                    &format!("/deployments/{}/confirm", segment(deployment)),
                    &NoBody {},
                )
                .await?;
            done(json, &d, &format!("deployment {deployment} confirmed"));
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
            let decided: GateDecision = client
                .post(
                    &format!(
                        "/deployments/{}/gates/{}/{verb}",
                        segment(deployment),
                        segment(gate)
                    ),
                    &GateDecisionRequest {
                        comment: comment.clone(),
                    },
                )
                .await?;
            done(
                json,
                &decided,
                &format!("gate {gate} of {deployment}: {}", decided.status),
            );
        }
        ClientCommand::Decide {
            deployment,
            app,
            target,
            action,
            comment,
            ..
        } => {
            let action = FailureAction::parse(action).expect("clap allows only the three actions");
            let decided: TargetDecision = client
                .post(
                    &format!(
                        "/deployments/{}/targets/{}/{}/decision",
                        segment(deployment),
                        segment(app),
                        segment(target)
                    ),
                    &TargetDecisionRequest {
                        action,
                        comment: comment.clone(),
                    },
                )
                .await?;
            done(
                json,
                &decided,
                &format!(
                    "{target} of {app} in {deployment}: {} (attempt {})",
                    decided.action, decided.attempt
                ),
            );
        }
        ClientCommand::Cancel { deployment, .. } => {
            let d: Deployment = client
                .post(
                    &format!("/deployments/{}/cancel", segment(deployment)),
                    &NoBody {},
                )
                .await?;
            done(json, &d, &format!("deployment {deployment} cancelled"));
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
            let reverted: RevertResult = client
                .post(
                    &format!("/versions/{}/{}/revert", segment(&repo), segment(version)),
                    &RevertRequest {
                        reason: reason.clone(),
                    },
                )
                .await?;
            if json {
                print_json(&reverted);
            } else {
                println!("version {repo}/{version} marked revert");
                if let Some(to) = &reverted.rollback_to {
                    println!("rollback to {to} planned; confirm to run it:");
                }
                for d in &reverted.deployments {
                    println!(
                        "  {}  {}  {}",
                        d.summary.id, d.summary.environment, d.summary.status
                    );
                }
            }
        }
        ClientCommand::Envs { .. } => policy::envs(client, json).await?,
        ClientCommand::Waive {
            deployment,
            condition,
            reason,
            ..
        } => policy::waive(client, json, deployment, condition, reason).await?,
        ClientCommand::Override {
            deployment,
            reason,
            expires_in,
            ..
        } => policy::override_freezes(client, json, deployment, reason, *expires_in).await?,
        ClientCommand::Freeze(command) => policy::freeze(client, json, command).await?,
        ClientCommand::History(args) => history::history(client, json, args).await?,
        ClientCommand::Watch {
            deployment,
            interval,
            timeout,
            ..
        } => watch(client, json, deployment, *interval, *timeout).await?,
    }
    Ok(())
}

/// The empty body of confirm and cancel.
#[derive(Serialize)]
struct NoBody {}

pub(crate) fn done(json: bool, v: &impl Serialize, line: &str) {
    if json {
        print_json(v);
    } else {
        println!("{line}");
    }
}

async fn only_repository(client: &Client) -> Result<String, Failure> {
    let list: List<Repository> = client.get("/repositories").await?;
    let names: Vec<String> = list.items.into_iter().map(|r| r.id).collect();
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
    let mut last_status = None;
    let mut last_hold = None;
    loop {
        let d: DeploymentDetail = client.get(&format!("/deployments/{}", segment(id))).await?;
        let status = d.deployment.summary.status;
        for app in render::app_progress(&d) {
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
        if last_status != Some(status) {
            if !json && multi.is_hidden() {
                eprintln!("{id}: {status}");
            }
            last_status = Some(status);
        }
        // A planned deployment may wait on its environment's policy: say why, once per change.
        let hold = d.policy.hold.as_ref().map(|h| h.reasons.join("; "));
        if hold != last_hold {
            if let Some(reasons) = &hold
                && !json
            {
                let line = format!("{id} waits: {}", render::plain(reasons));
                if multi.is_hidden() {
                    eprintln!("{line}");
                } else {
                    let _ = multi.println(line);
                }
            }
            last_hold = hold;
        }
        if status.is_terminal() {
            for bar in bars.values() {
                bar.abandon();
            }
            if json {
                print_json(&d);
            } else {
                print!("{}", render::tree(&d));
            }
            return if status == DeploymentStatus::Succeeded {
                Ok(())
            } else {
                Err(Failure::new(
                    format!(
                        "deployment {id} ended {status}{}",
                        d.deployment
                            .summary
                            .error
                            .as_deref()
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
