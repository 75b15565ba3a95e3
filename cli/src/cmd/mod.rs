//! One module per subcommand.

use std::path::Path;
use std::process::ExitCode;

pub(crate) mod demo;
pub(crate) mod dev;
pub(crate) mod emulator;
pub(crate) mod notify;
pub(crate) mod plan;
pub(crate) mod provision;
pub(crate) mod upgrade_table;
pub(crate) mod validate;

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
