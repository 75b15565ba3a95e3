//! `boreas upgrade-table [--endpoint URL] [--prefix NAME]`: after deploying a new release with the
//! SAM template (which adds the table's indexes but cannot rewrite its items), gives the existing
//! records the index keys they lack and projects the app views, once (`boreas provision` does the
//! same on an emulator). Uses the standard AWS credentials and region unless `--endpoint` is given.

use std::process::ExitCode;

use boreas_aws::names::Names;
use boreas_aws::provision;

use crate::cmd::Installation;
use crate::cmd::provision::init_tracing;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    at: Installation,
}

/// Exit 0 when the table is up to date, 1 when the upgrade failed, 2 for bad arguments.
pub(crate) fn run(args: &Args) -> ExitCode {
    init_tracing();
    if let Err(code) = args.at.check() {
        return code;
    }
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let table = Names::new(&args.at.prefix).table();
    let upgraded = runtime.block_on(async {
        let cfg = boreas_aws::sdk_config(args.at.endpoint.as_deref()).await;
        provision::upgrade_table(&cfg, &table).await
    });
    match upgraded {
        Ok(changes) if changes.is_empty() => {
            eprintln!("table {table} is up to date; nothing changed");
            ExitCode::SUCCESS
        }
        Ok(changes) => {
            for change in changes {
                eprintln!("{change}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upgrading table {table} failed: {e}");
            ExitCode::from(1)
        }
    }
}
