//! `boreas plan`: plan a deployment of a `boreas.yaml` to one environment, offline.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use boreas_core::config;
use boreas_core::planner::{self, PlanInput};

use super::read_config_source;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The `boreas.yaml` to plan from.
    #[arg(long, default_value = "boreas.yaml")]
    config: PathBuf,
    /// Environment to plan for.
    #[arg(long)]
    env: String,
    /// Version name shown in the plan.
    #[arg(long, default_value = "HEAD")]
    version: String,
    /// A changed repository path (repeatable); without any, every app counts as affected.
    #[arg(long = "changed", value_name = "PATH")]
    changed: Vec<String>,
    /// JSON file of targets per app (`{"app": ["host-1", ...]}`); apps it does not name keep the
    /// hosts and clusters listed in the config.
    #[arg(long, value_name = "FILE.json")]
    targets: Option<PathBuf>,
    /// Print the plan as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Exit 0 with the plan, 1 when the config is invalid or cannot be planned, 2 on unreadable input.
pub(crate) fn run(args: &Args) -> ExitCode {
    let source = match read_config_source(&args.config) {
        Ok(source) => source,
        Err(code) => return code,
    };
    let file = args.config.display();
    let config = match config::parse(&source) {
        Ok(config) => config,
        Err(errors) => {
            for error in &errors {
                eprintln!("{file}:{error}");
            }
            return ExitCode::from(1);
        }
    };

    let from_config = planner::config_targets(&config, &args.env);
    let mut targets = from_config.targets;
    if let Some(path) = &args.targets {
        match read_targets(path) {
            Ok(given) => targets.extend(given),
            Err(message) => {
                eprintln!("{}: {message}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    for (app, groups) in &from_config.unresolved_groups {
        if args.targets.is_none() {
            let groups: Vec<_> = groups.iter().map(String::as_str).collect();
            eprintln!(
                "note: app {app:?} also deploys to host group(s) {} whose members only registered agents know; pass --targets to include them",
                groups.join(", ")
            );
        }
    }

    let changed = (!args.changed.is_empty()).then_some(args.changed.as_slice());
    let current = BTreeMap::new();
    let input = PlanInput {
        config: &config,
        environment: &args.env,
        version: &args.version,
        changed_paths: changed,
        targets: &targets,
        current_versions: &current,
    };
    let plan = match planner::plan(&input) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{file}: cannot plan: {e}");
            return ExitCode::from(1);
        }
    };
    // Written as it is encoded, not built in memory first: a plan of thousands of hosts is
    // megabytes of text.
    let mut out = BufWriter::new(io::stdout().lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &plan)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        write!(out, "{plan}")
    }
    .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // The reader stopped reading (`| head`, a pager closed): what it read is all it wanted.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the plan: {e}");
            ExitCode::from(1)
        }
    }
}

fn read_targets(path: &PathBuf) -> Result<BTreeMap<String, Vec<String>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "line {} column {}: expected an object of app name to a list of target names: {e}",
            e.line(),
            e.column()
        )
    })
}
