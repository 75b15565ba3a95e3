//! `boreas`: the command line of Boreas.

mod client;
mod cmd;
mod dev;

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
    /// Create the platform's resources on an emulator (or any AWS endpoint), idempotently.
    Provision(cmd::provision::Args),
    /// After deploying a new release to AWS: give the table's existing records what it needs.
    UpgradeTable(cmd::upgrade_table::Args),
    /// Register, test or remove a chat or webhook sink of notifications.
    #[command(subcommand_value_name = "ACTION")]
    Notify(cmd::notify::Args),
    /// Run the local AWS emulator (moto) on 127.0.0.1, or stop it.
    Emulator(cmd::emulator::Args),
    /// Run the whole platform on this machine: emulator, functions, dashboard, agents, demo repository.
    Dev(cmd::dev::Args),
    /// Drive the demo repository of a running `boreas dev`.
    Demo(cmd::demo::Args),
    /// Talk to a Boreas API (local or on AWS): versions, deployments, show, confirm, approve, …
    #[command(flatten)]
    Client(client::commands::ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => cmd::validate::run(&args),
        Command::Plan(args) => cmd::plan::run(&args),
        Command::Provision(args) => cmd::provision::run(&args),
        Command::UpgradeTable(args) => cmd::upgrade_table::run(&args),
        Command::Notify(args) => cmd::notify::run(&args),
        Command::Emulator(args) => cmd::emulator::run(&args),
        Command::Dev(args) => cmd::dev::run(&args),
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Client(command) => client::commands::run(&command),
    }
}
