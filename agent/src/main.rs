//! `boreas-agent`: run the PM agent, or a simulated fleet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use boreas_agent::Error;
use boreas_agent::agent::Agent;
use boreas_agent::config::{FileConfig, ServiceManagerKind};
use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::queues::SqsQueues;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "boreas-agent",
    version,
    about = "The Boreas PM agent",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Run the agent (the default).
    Run(RunArgs),
    /// Check the configuration, the work directory, AWS credentials and the queues; print one line
    /// per check and exit non-zero when any is wrong. Changes nothing.
    Check(RunArgs),
    /// Simulate many agents in one process (scale tests, benchmarks).
    Fleet(FleetArgs),
}

#[derive(Debug, Args)]
struct FleetArgs {
    /// Number of simulated hosts (`sim-0000` …).
    #[arg(long)]
    hosts: usize,
    /// Resource-name prefix.
    #[arg(long)]
    prefix: String,
    /// Environment of the hosts.
    #[arg(long, default_value = "sim")]
    environment: String,
    /// Group of the hosts.
    #[arg(long, default_value = "fleet")]
    group: String,
    /// Milliseconds a simulated deploy takes.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of deploys that fail, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    /// Long-poll wait in seconds (1–20).
    #[arg(long, default_value_t = 20)]
    poll_seconds: u64,
    /// AWS endpoint URL (an emulator).
    #[arg(long)]
    endpoint: Option<String>,
    /// AWS region.
    #[arg(long)]
    region: Option<String>,
}

async fn fleet(args: FleetArgs) -> Result<(), Error> {
    if let Some(p) = boreas_aws::names::prefix_problem(&args.prefix) {
        return Err(Error::Config(p));
    }
    boreas_agent::validate::name("environment", &args.environment)
        .map_err(|e| Error::Config(e.to_string()))?;
    if !(1..=20).contains(&args.poll_seconds) {
        return Err(Error::Config(format!(
            "poll_seconds is {}; SQS long polls wait 1 to 20 seconds",
            args.poll_seconds
        )));
    }
    let aws = aws_config(args.endpoint.as_deref(), args.region.as_deref()).await;
    let options = boreas_agent::fleet::FleetOptions {
        hosts: args.hosts,
        names: boreas_aws::names::Names::new(&args.prefix),
        environment: args.environment,
        group: args.group,
        latency: std::time::Duration::from_millis(args.latency_ms),
        failure_rate: args.failure_rate,
        poll_wait: std::time::Duration::from_secs(args.poll_seconds),
    };
    boreas_agent::fleet::run(
        options,
        Arc::new(SqsQueues::from_config(&aws)),
        Arc::new(SfnOrchestrator::from_config(&aws, "", "")),
        shutdown_signal(),
    )
    .await
}

#[derive(Debug, Args)]
struct RunArgs {
    /// TOML configuration file; flags override its fields.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Host name.
    #[arg(long)]
    host: Option<String>,
    /// Environment.
    #[arg(long)]
    environment: Option<String>,
    /// Host group.
    #[arg(long)]
    group: Option<String>,
    /// Resource-name prefix.
    #[arg(long)]
    prefix: Option<String>,
    /// Command queue name.
    #[arg(long)]
    queue: Option<String>,
    /// Inventory queue name.
    #[arg(long)]
    inventory_queue: Option<String>,
    /// Work directory.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Service manager.
    #[arg(long, value_enum)]
    service_manager: Option<ServiceManagerKind>,
    /// AWS endpoint URL (an emulator).
    #[arg(long)]
    endpoint: Option<String>,
    /// AWS region.
    #[arg(long)]
    region: Option<String>,
    /// Releases kept per app.
    #[arg(long)]
    keep_releases: Option<usize>,
    /// Seconds between inventory reports.
    #[arg(long)]
    inventory_seconds: Option<u64>,
    /// Long-poll wait in seconds (1–20).
    #[arg(long)]
    poll_seconds: Option<u64>,
    /// Message visibility while a command runs, in seconds.
    #[arg(long)]
    visibility_seconds: Option<u64>,
    /// Pause between health probes in milliseconds.
    #[arg(long)]
    probe_interval_ms: Option<u64>,
}

impl RunArgs {
    fn file_config(&self) -> Result<FileConfig, Error> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Ok(file.merge(FileConfig {
            host: self.host.clone(),
            environment: self.environment.clone(),
            group: self.group.clone(),
            prefix: self.prefix.clone(),
            queue: self.queue.clone(),
            inventory_queue: self.inventory_queue.clone(),
            work_dir: self.work_dir.clone(),
            service_manager: self.service_manager,
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            keep_releases: self.keep_releases,
            inventory_seconds: self.inventory_seconds,
            visibility_seconds: self.visibility_seconds,
            poll_seconds: self.poll_seconds,
            stop_grace_seconds: None,
            probe_interval_ms: self.probe_interval_ms,
            systemd_unit_dir: None,
        }))
    }
}

/// The SDK configuration for an endpoint and region.
async fn aws_config(endpoint: Option<&str>, region: Option<&str>) -> aws_config::SdkConfig {
    let config = boreas_aws::sdk_config(endpoint).await;
    match region {
        Some(r) => config
            .into_builder()
            .region(aws_config::Region::new(r.to_owned()))
            .build(),
        None => config,
    }
}

async fn run(args: RunArgs) -> Result<(), Error> {
    let config = args.file_config()?.resolve()?;
    let aws = aws_config(config.endpoint.as_deref(), config.region.as_deref()).await;
    let queues = Arc::new(SqsQueues::from_config(&aws));
    // Task-token calls name no state machine and store no execution input.
    let orchestrator = Arc::new(SfnOrchestrator::from_config(&aws, "", ""));
    let agent = Agent::new(config, &aws, queues, orchestrator).await?;
    agent.run(shutdown_signal()).await
}

/// `boreas-agent check`: every finding on stdout; failure when any is a problem.
async fn check(args: RunArgs) -> Result<(), Error> {
    let config = match args.file_config().and_then(|f| f.resolve()) {
        Ok(config) => config,
        Err(e) => {
            // Nothing else can be checked without a configuration.
            println!("problem: config: {e}");
            return Err(Error::Config("the configuration is not valid".into()));
        }
    };
    let aws = aws_config(config.endpoint.as_deref(), config.region.as_deref()).await;
    let queues = SqsQueues::from_config(&aws);
    let findings = boreas_agent::check::run(&config, &aws, &queues).await;
    for f in &findings {
        println!("{f}");
    }
    match findings.iter().filter(|f| f.outcome.is_err()).count() {
        0 => Ok(()),
        n => Err(Error::Config(format!("{n} check(s) found a problem"))),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // One thread: the agent mostly waits on a long poll, and one thread keeps its memory small.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Some(Sub::Run(args)) => run(args).await,
            Some(Sub::Check(args)) => check(args).await,
            Some(Sub::Fleet(args)) => fleet(args).await,
            None => run(cli.run).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "boreas-agent failed");
            eprintln!("boreas-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
