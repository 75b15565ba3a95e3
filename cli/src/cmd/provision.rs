//! `boreas provision --endpoint URL [--prefix NAME] [--output FILE]`: creates, on an emulator (or any
//! AWS-compatible endpoint), every resource of `infra/template.yaml` it can host, idempotently, and
//! prints what it created as JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use boreas_aws::names::{self, Names};
use boreas_aws::provision::{self, Provisioned};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The AWS API endpoint to provision, e.g. the emulator's http://127.0.0.1:PORT.
    #[arg(long)]
    endpoint: String,
    /// Prefix of every resource name (lowercase letters, digits and '-', at most 20 characters).
    #[arg(long, default_value = names::DEFAULT_PREFIX)]
    prefix: String,
    /// Also write the JSON description to this file.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The state machine definition [default: statemachine/deployment.asl.json of this checkout].
    #[arg(long)]
    asl: Option<PathBuf>,
}

/// Exit 0 when everything exists, 1 when provisioning failed, 2 for bad arguments.
pub(crate) fn run(args: &Args) -> ExitCode {
    init_tracing();
    if let Some(problem) = names::prefix_problem(&args.prefix) {
        eprintln!("--prefix: {problem}");
        return ExitCode::from(2);
    }
    if !(args.endpoint.starts_with("http://") || args.endpoint.starts_with("https://")) {
        eprintln!(
            "--endpoint: {:?} is not an http:// or https:// URL",
            args.endpoint
        );
        return ExitCode::from(2);
    }
    let asl = args.asl.clone().unwrap_or_else(|| {
        boreas_aws::emulator::workspace_root().join("statemachine/deployment.asl.json")
    });
    let runtime = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let names = Names::new(&args.prefix);
    let provisioned = runtime.block_on(async {
        let cfg = boreas_aws::sdk_config(Some(&args.endpoint)).await;
        provision::provision(&cfg, &names, &asl).await
    });
    let provisioned = match provisioned {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "provisioning {} at {} failed: {e}",
                args.prefix, args.endpoint
            );
            return ExitCode::from(1);
        }
    };
    report(&provisioned, args.output.as_deref())
}

fn report(provisioned: &Provisioned, output: Option<&Path>) -> ExitCode {
    for change in &provisioned.changes {
        eprintln!("{change}");
    }
    if provisioned.changes.is_empty() {
        eprintln!("everything already existed; nothing changed");
    }
    let json = match serde_json::to_string_pretty(provisioned) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("cannot render the result as JSON: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{json}");
    if let Some(path) = output
        && let Err(e) = write_atomically(path, &json)
    {
        eprintln!("{}: cannot write: {e}", path.display());
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Writes through a temporary file and a rename, so a reader never sees half a file and a failed
/// write leaves the previous one intact.
pub(crate) fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".tmp{}", std::process::id()));
    let temp = PathBuf::from(temp);
    std::fs::write(&temp, format!("{content}\n"))?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Logs to stderr (stdout carries JSON), at `info` unless `RUST_LOG` says otherwise.
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
