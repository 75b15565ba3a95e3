//! `boreas demo tag VERSION [--broken] [--bad-metrics]`: a new release of the demo repository of a running
//! `boreas dev`: commit, tag, build the artifacts, and deliver the signed GitHub push webhook.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::dev::demo;
use crate::dev::state::DevState;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: DemoCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DemoCommand {
    /// Commit a change, tag it VERSION, build its artifacts and send the push webhook.
    Tag(TagArgs),
}

#[derive(Debug, clap::Args)]
struct TagArgs {
    /// The tag, e.g. v1.0.1 (the demo repository turns tags v* into versions).
    version: String,
    /// Build a release whose health check fails, to watch a rollback.
    #[arg(long)]
    broken: bool,
    /// Build a release whose health check passes but which answers about a third of its
    /// requests with 500, to watch the analysis roll it back.
    #[arg(long)]
    bad_metrics: bool,
    /// Build a release that waits this many seconds before it listens (a slow start).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=600))]
    start_delay: u32,
    /// The state directory of the running `boreas dev`.
    #[arg(long, default_value = ".boreas")]
    state_dir: PathBuf,
    /// Print what happened as JSON.
    #[arg(long)]
    json: bool,
}

/// Exit 0 when the webhook was accepted, 1 otherwise.
pub(crate) fn run(args: &Args) -> ExitCode {
    let DemoCommand::Tag(tag) = &args.command;
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(run_tag(tag)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("boreas demo tag: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run_tag(args: &TagArgs) -> Result<(), String> {
    let state = DevState::load(&args.state_dir)?;
    demo::check_new_tag(&state.demo_repo, &args.version)?;
    // Artifacts first: the version must be downloadable before anyone can deploy it.
    for app in demo::APPS {
        let behaviour = demo::Behaviour {
            broken: args.broken,
            start_delay: args.start_delay,
            bad_metrics: args.bad_metrics,
        };
        demo::build_artifact(&state.artifacts_dir, app, &args.version, behaviour)?;
    }
    let commit = demo::commit_and_tag(&state.demo_repo, &args.version, args.broken)?;
    let payload = demo::push_tag_payload(&state.demo_repo, &args.version, &commit)?;
    let delivered = demo::send_push(&state.webhook_url, &state.webhook_secret, &payload).await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "version": args.version,
                "commit": commit,
                "broken": args.broken,
                "bad_metrics": args.bad_metrics,
                "delivery_id": delivered.delivery_id,
                "status": delivered.status,
                "response": serde_json::from_str::<serde_json::Value>(&delivered.body)
                    .unwrap_or(serde_json::Value::String(delivered.body.clone())),
            })
        );
    } else {
        println!(
            "tagged {} at {} ({}); webhook {} answered {}: {}",
            args.version,
            &commit[..12.min(commit.len())],
            if args.broken {
                "broken build"
            } else {
                "healthy build"
            },
            delivered.delivery_id,
            delivered.status,
            delivered.body
        );
    }
    if delivered.status >= 300 {
        return Err(format!("the webhook was refused ({})", delivered.status));
    }
    Ok(())
}
