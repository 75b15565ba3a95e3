//! One module per subcommand.

use std::path::Path;
use std::process::ExitCode;

use boreas_aws::names;

pub(crate) mod demo;
pub(crate) mod dev;
pub(crate) mod emulator;
pub(crate) mod notify;
pub(crate) mod plan;
pub(crate) mod provision;
pub(crate) mod upgrade_table;
pub(crate) mod validate;

/// An installation reached with the standard AWS credentials and region, or an emulator.
#[derive(Debug, clap::Args)]
pub(crate) struct Installation {
    /// An AWS-compatible endpoint (e.g. the emulator's http://127.0.0.1:PORT) instead of AWS.
    #[arg(long)]
    pub(crate) endpoint: Option<String>,
    /// Prefix of every resource name (the stack's `Prefix` parameter).
    #[arg(long, default_value = names::DEFAULT_PREFIX)]
    pub(crate) prefix: String,
}

impl Installation {
    /// Checks both; on a bad one prints why and gives exit code 2.
    pub(crate) fn check(&self) -> Result<(), ExitCode> {
        if let Some(problem) = names::prefix_problem(&self.prefix) {
            eprintln!("--prefix: {problem}");
            return Err(ExitCode::from(2));
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            eprintln!("--endpoint: {endpoint:?} is not an http:// or https:// URL");
            return Err(ExitCode::from(2));
        }
        Ok(())
    }
}

/// The async runtime a command runs on; on failure prints why and gives exit code 1.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("cannot start the async runtime: {e}");
        ExitCode::from(1)
    })
}

/// Reads a config file; on failure prints why and gives exit code 2 ("cannot read").
fn read_config_source(path: &Path) -> Result<String, ExitCode> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("{}: cannot read: {e}", path.display());
        ExitCode::from(2)
    })
}
