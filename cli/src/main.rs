//! `boreas`: the command line of Boreas.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Boreas: GitOps continuous deployment to Kubernetes and physical machines.
#[derive(Debug, Parser)]
#[command(name = "boreas", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a boreas.yaml and report every error with its line and column.
    Validate(cmd::validate::Args),
    /// Plan a deployment of a boreas.yaml to one environment.
    Plan(cmd::plan::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => cmd::validate::run(&args),
        Command::Plan(args) => cmd::plan::run(&args),
    }
}
