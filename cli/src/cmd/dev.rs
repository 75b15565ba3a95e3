//! `boreas dev`: the whole platform on this machine (see [`crate::dev`]).

use std::path::PathBuf;
use std::process::ExitCode;

use boreas_aws::names;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the platform keeps its files: dev.json, the demo repository, agents, artifacts.
    #[arg(long, default_value = ".boreas")]
    state_dir: PathBuf,
    /// Port of the HTTP server on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Number of local PM agents, spread over the staging and prod environments.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=200))]
    agents: u16,
    /// Prefix of every resource name.
    #[arg(long, default_value = names::DEFAULT_PREFIX)]
    prefix: String,
    /// Seconds between the agents' inventory reports.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    inventory_seconds: u64,
    /// Seconds before an agent that died is started again (systemd's RestartSec).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    agent_restart_seconds: u64,
    /// Also stop when standard input reaches end of file (for a parent process that may die
    /// without signalling: its end closes the pipe).
    #[arg(long, hide = true)]
    stop_on_stdin_eof: bool,
    /// Run without the simulated Kubernetes clusters; the demo repository then has no k8s app.
    #[arg(long)]
    no_k8s: bool,
    /// Run without Prometheus and the demo traffic; a new demo repository then has no analysis.
    /// (Without Prometheus installed, that is the default.)
    #[arg(long)]
    no_metrics: bool,
}

/// Exit 0 after a clean stop, 1 when the platform could not start, 2 for bad arguments.
pub(crate) fn run(args: &Args) -> ExitCode {
    super::provision::init_tracing();
    if let Some(problem) = names::prefix_problem(&args.prefix) {
        eprintln!("--prefix: {problem}");
        return ExitCode::from(2);
    }
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let options = crate::dev::Options {
        state_dir: args.state_dir.clone(),
        port: args.port,
        agents: usize::from(args.agents),
        prefix: args.prefix.clone(),
        inventory_seconds: args.inventory_seconds,
        agent_restart: std::time::Duration::from_secs(args.agent_restart_seconds),
        stop_on_stdin_eof: args.stop_on_stdin_eof,
        k8s: !args.no_k8s,
        metrics: !args.no_metrics,
    };
    match runtime.block_on(crate::dev::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("boreas dev: {e}");
            ExitCode::from(1)
        }
    }
}
