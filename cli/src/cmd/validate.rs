//! `boreas validate [FILE]`: every error of a `boreas.yaml` at once, with line and column.

use std::path::PathBuf;
use std::process::ExitCode;

use boreas_core::config::{self, AppKind};

use super::read_config_source;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The file to check.
    #[arg(default_value = "boreas.yaml")]
    file: PathBuf,
}

/// Exit 0 when valid, 1 with one `FILE:LINE:COL: field: message` line per error, 2 when unreadable.
pub(crate) fn run(args: &Args) -> ExitCode {
    let source = match read_config_source(&args.file) {
        Ok(source) => source,
        Err(code) => return code,
    };
    let file = args.file.display();
    match config::parse(&source) {
        Ok(config) => {
            let count = |kind| config.apps.iter().filter(|a| a.kind == kind).count();
            println!(
                "{file}: valid: {} apps ({} pm, {} k8s) in {} environments ({})",
                config.apps.len(),
                count(AppKind::Pm),
                count(AppKind::K8s),
                config.environments.len(),
                config
                    .environments
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in &errors {
                println!("{file}:{error}");
            }
            let n = errors.errors().len();
            println!("{file}: {n} error{}", if n == 1 { "" } else { "s" });
            ExitCode::from(1)
        }
    }
}
