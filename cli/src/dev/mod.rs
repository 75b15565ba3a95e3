//! The local runner behind `boreas dev`: the whole platform in one process on this machine.
//!
//! - the AWS emulator (moto), provisioned with the same code as `boreas provision`;
//! - an HTTP server on 127.0.0.1 that routes webhooks to the intake handler, `/api/*` to the api
//!   handler and serves the built dashboard ([`server`]);
//! - SQS pollers that run the planner and recorder handlers ([`pollers`]);
//! - local PM agents as real `boreas-agent` processes ([`agents`]);
//! - a demo git repository with two PM apps and one k8s app ([`demo`]);
//! - for the k8s app, simulated clusters (the project's fixture API server) with the k8s-operator
//!   handler polling their queues ([`k8s`]).
//!
//! Resuming. moto keeps everything in memory, so a second `boreas dev` on the same state directory
//! starts a fresh emulator and rebuilds what it can from what lives on disk: the admin token and the
//! demo webhook secret are restored from `dev.json` into SSM before provisioning (which keeps
//! existing SecureStrings), the demo repository's tags are delivered again as webhooks (so every
//! version is recorded and planned again, in tag order), and the agents keep their directories, so
//! they restart the releases they ran and report them in their inventories. Deployment history
//! (which deployments ran, gates, audit) does not survive a restart.

pub(crate) mod agents;
pub(crate) mod demo;
pub(crate) mod k8s;
pub(crate) mod metrics;
pub(crate) mod pollers;
pub(crate) mod server;
pub(crate) mod state;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use boreas_analysis::Analyst;
use boreas_analysis::providers::SdkCloudWatch;
use boreas_api::Api;
use boreas_aws::emulator::{Emulator, workspace_root};
use boreas_aws::names::Names;
use boreas_aws::notices::Notices;
use boreas_aws::orchestrator::SfnOrchestrator;
use boreas_aws::queues::{Queues, SqsQueues};
use boreas_aws::secrets::{Secrets, SsmSecrets};
use boreas_aws::store::{DynamoStore, Repository, Store};
use boreas_core::notify::Backoff;
use boreas_core::webhook::Provider;
use boreas_intake::Intake;
use boreas_notifier::Notifier;
use boreas_planner::Planner;
use boreas_recorder::Recorder;
use tokio::sync::watch;

use state::{AgentInfo, DevState};

/// How long agents have to report before `boreas dev` gives up waiting.
const AGENTS_READY_TIMEOUT: Duration = Duration::from_secs(90);

/// What `boreas dev` was asked for.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) state_dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) agents: usize,
    pub(crate) prefix: String,
    /// Seconds between the agents' inventory reports.
    pub(crate) inventory_seconds: u64,
    /// Pause before an agent that died is started again.
    pub(crate) agent_restart: Duration,
    /// Stop when standard input closes, too.
    pub(crate) stop_on_stdin_eof: bool,
    /// Run the simulated clusters and put the k8s app in a new demo repository.
    pub(crate) k8s: bool,
    /// Run Prometheus (when installed) and the demo traffic, and put the analysis of `api` in a
    /// new demo repository.
    pub(crate) metrics: bool,
}

/// Hosts for `n` agents: half in each environment, alternating groups (`web-1`, `worker-1`, …).
fn agent_layout(state_dir: &Path, n: usize) -> Vec<AgentInfo> {
    (0..n)
        .map(|i| {
            let environment = demo::ENVIRONMENTS[usize::from(i >= n.div_ceil(2))];
            let index_in_env = if i >= n.div_ceil(2) {
                i - n.div_ceil(2)
            } else {
                i
            };
            let group = demo::GROUPS[index_in_env % 2];
            let host = format!("{environment}-{group}-{}", index_in_env / 2 + 1);
            AgentInfo {
                work_dir: state_dir.join("agents").join(&host),
                host,
                environment: environment.to_owned(),
                group: group.to_owned(),
                ports: BTreeMap::new(),
            }
        })
        .collect()
}

/// A free port on 127.0.0.1 not in `taken`.
fn free_port(taken: &mut HashSet<u16>) -> Result<u16, String> {
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        if taken.insert(port) {
            return Ok(port);
        }
    }
    Err("cannot find a free port".into())
}

/// The running platform.
#[derive(Debug)]
struct Running {
    emulator: Emulator,
    clusters: Vec<k8s::SimCluster>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        for cluster in self.clusters {
            cluster.fixture.stop().await;
        }
        if let Err(e) = self.emulator.stop().await {
            eprintln!("stopping the emulator: {e}");
        }
    }
}

/// Runs the platform until SIGINT or SIGTERM.
pub(crate) async fn run(options: Options) -> Result<(), String> {
    let state_dir = prepare_state_dir(&options.state_dir)?;
    let previous = DevState::load(&state_dir).ok();
    if let Some(prev) = &previous
        && prev.pid != std::process::id()
        && process_alive(prev.pid)
    {
        return Err(format!(
            "another boreas dev (pid {}) is running with {}; stop it first",
            prev.pid,
            state_dir.display()
        ));
    }
    if let Some(prev) = &previous
        && prev.prefix != options.prefix
    {
        return Err(format!(
            "{} was created with prefix {:?}; use that prefix or another state directory",
            state_dir.display(),
            prev.prefix
        ));
    }
    eprintln!("starting the AWS emulator (the first run installs it into .venv)…");
    let emulator = Emulator::start()
        .await
        .map_err(|e| format!("cannot start the emulator: {e}"))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut running = Running {
        emulator,
        clusters: Vec::new(),
        stop: stop_tx,
        tasks: Vec::new(),
    };
    match start(
        &options,
        &state_dir,
        previous.as_ref(),
        &mut running,
        stop_rx,
    )
    .await
    {
        Ok(state) => {
            print_summary(&state, &state_dir);
            shutdown_signal(options.stop_on_stdin_eof).await;
            eprintln!("stopping: agents, pollers, server, emulator…");
            running.shutdown().await;
            eprintln!("stopped");
            Ok(())
        }
        Err(e) => {
            running.shutdown().await;
            Err(e)
        }
    }
}

fn prepare_state_dir(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    dir.canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))
}

fn process_alive(pid: u32) -> bool {
    i32::try_from(pid)
        .is_ok_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok())
}

/// Brings the platform up step by step on the running emulator; every task it starts goes into
/// `running`, so a failure part way stops what had started.
async fn start(
    options: &Options,
    state_dir: &Path,
    previous: Option<&DevState>,
    running: &mut Running,
    stop: watch::Receiver<bool>,
) -> Result<DevState, String> {
    let endpoint = running.emulator.endpoint().to_owned();
    let platform = provision(&endpoint, &options.prefix, previous).await?;
    let (api_token, webhook_secret) = platform.secrets().await?;
    let demo_repo = state_dir.join("demo-repo");
    let artifacts_dir = state_dir.join("artifacts");
    // Prometheus keeps the port of a previous run: the demo's `boreas.yaml` names it.
    let prometheus = match (options.metrics, metrics::binary()) {
        (true, Some(binary)) => {
            let previous_port = previous
                .and_then(|p| p.prometheus_url.as_deref())
                .and_then(|u| u.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok())
                .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok());
            let port = match previous_port {
                Some(p) => p,
                None => free_port(&mut HashSet::new())?,
            };
            Some((binary, port))
        }
        _ => None,
    };
    let prometheus_url = prometheus
        .as_ref()
        .map(|(_, port)| format!("http://127.0.0.1:{port}"));
    register_demo(
        &platform,
        &demo_repo,
        &artifacts_dir,
        options.k8s,
        prometheus_url.as_deref(),
    )
    .await?;
    let port = serve(&platform, options.port, running, &stop).await?;
    start_pollers(
        &platform,
        state_dir,
        &format!("http://127.0.0.1:{port}/"),
        running,
        &stop,
    )?;
    let simulated_clusters = if options.k8s {
        start_clusters(&platform, running, &stop).await?
    } else {
        Vec::new()
    };
    let agents = start_agents(options, state_dir, previous, &endpoint, running, &stop)?;
    if let Some((binary, port)) = prometheus {
        let dir = state_dir.join("prometheus");
        running
            .tasks
            .push(metrics::start(binary, &dir, port, &agents, stop.clone())?);
        running.tasks.push(metrics::traffic(&agents, stop.clone()));
    }
    wait_for_agents(platform.store.as_ref(), &agents).await?;

    let base = format!("http://127.0.0.1:{port}");
    let state = DevState {
        api_url: format!("{base}/api"),
        dashboard_url: format!("{base}/"),
        webhook_url: format!("{base}/webhooks/github"),
        api_token,
        webhook_secret,
        repository: demo::REPOSITORY.to_owned(),
        demo_repo,
        artifacts_dir,
        prefix: options.prefix.clone(),
        emulator_endpoint: endpoint,
        pid: std::process::id(),
        agents,
        simulated_clusters,
        prometheus_url,
    };
    replay_tags(&state).await?;
    state.save(state_dir)?;
    Ok(state)
}

/// The provisioned emulator: its names, queues and the adapters every function shares.
struct Platform {
    names: Names,
    secrets: Arc<SsmSecrets>,
    store: Arc<dyn Store>,
    queues: Arc<dyn Queues>,
    orchestrator: Arc<SfnOrchestrator>,
    plan_url: String,
    events_url: String,
    inventory_url: String,
    notifications_url: String,
    analysis_url: String,
    /// The analysis worker's CloudWatch (the emulator's).
    cloudwatch: Arc<SdkCloudWatch>,
    /// Where the planner, the api and the recorder announce deployment events.
    notices: Notices,
}

/// Provisions the emulator at `endpoint` as `boreas provision` does, after putting back the
/// secrets of a `previous` run.
async fn provision(
    endpoint: &str,
    prefix: &str,
    previous: Option<&DevState>,
) -> Result<Platform, String> {
    let cfg = boreas_aws::sdk_config(Some(endpoint)).await;
    let names = Names::new(prefix);
    if let Some(prev) = previous {
        restore_secrets(&cfg, &names, prev).await?;
    }
    let asl = workspace_root().join("statemachine/deployment.asl.json");
    let provisioned = boreas_aws::provision::provision(&cfg, &names, &asl)
        .await
        .map_err(|e| format!("provisioning failed: {e}"))?;
    let queues: Arc<dyn Queues> = Arc::new(SqsQueues::from_config(&cfg));
    let notifications_url = provisioned.queues["notifications"].url.clone();
    Ok(Platform {
        secrets: Arc::new(SsmSecrets::from_config(&cfg)),
        store: Arc::new(DynamoStore::from_config(&cfg, names.table())),
        notices: Notices::to_queue(Arc::clone(&queues), notifications_url.clone()),
        queues,
        orchestrator: Arc::new(SfnOrchestrator::from_config(
            &cfg,
            provisioned.state_machine_arn.clone(),
            provisioned.buckets["plans"].clone(),
        )),
        plan_url: provisioned.queues["plan"].url.clone(),
        events_url: provisioned.queues["events"].url.clone(),
        inventory_url: provisioned.queues["inventory"].url.clone(),
        notifications_url,
        analysis_url: provisioned.queues["analysis"].url.clone(),
        cloudwatch: Arc::new(SdkCloudWatch::from_config(&cfg)),
        names,
    })
}

impl Platform {
    /// Rechecks to the plan queue, as the planner, the recorder and the api send them.
    fn rechecks(&self) -> boreas_aws::policy::Rechecks {
        boreas_aws::policy::Rechecks::to_queue(Arc::clone(&self.queues), self.plan_url.clone())
    }

    /// The admin token and the demo repository's webhook secret.
    async fn secrets(&self) -> Result<(String, String), String> {
        let secret = |name: String| async move {
            self.secrets
                .get(&name)
                .await
                .map(|v| v.expose().to_owned())
                .map_err(|e| format!("reading {name}: {e}"))
        };
        let api_token = secret(self.names.admin_token_param()).await?;
        let webhook_secret = secret(self.names.webhook_secret_param(demo::REPOSITORY)).await?;
        Ok((api_token, webhook_secret))
    }
}

/// Creates (or keeps) the demo repository and registers it.
async fn register_demo(
    platform: &Platform,
    demo_repo: &Path,
    artifacts_dir: &Path,
    k8s: bool,
    prometheus: Option<&str>,
) -> Result<(), String> {
    demo::init_repository(demo_repo, artifacts_dir, k8s, prometheus)?;
    platform
        .store
        .put_repository(&Repository {
            id: demo::REPOSITORY.to_owned(),
            full_name: boreas_aws::provision::DEMO_FULL_NAME.to_owned(),
            host: boreas_aws::provision::DEMO_HOST.to_owned(),
            clone_url: format!("file://{}", demo_repo.display()),
            provider: Provider::GitHub,
            secret_param: platform.names.webhook_secret_param(demo::REPOSITORY),
            previous_secret: None,
            credential: None,
            triggers: vec!["refs/tags/v*".to_owned()],
            created_at: boreas_aws::store::rfc3339(std::time::SystemTime::now()),
        })
        .await
        .map_err(|e| format!("registering the demo repository: {e}"))
}

/// The HTTP server with the intake and the api, over the same adapters their Lambda mains build
/// from the environment; returns the port it listens on.
async fn serve(
    platform: &Platform,
    port: u16,
    running: &mut Running,
    stop: &watch::Receiver<bool>,
) -> Result<u16, String> {
    let intake = Intake::new(
        Arc::clone(&platform.store),
        platform.secrets.clone(),
        Arc::clone(&platform.queues),
        platform.plan_url.clone(),
    );
    let api = Api::new(
        Arc::clone(&platform.store),
        platform.orchestrator.clone(),
        platform.secrets.clone(),
        &platform.names,
    )
    .with_notices(platform.notices.clone())
    .with_rechecks(platform.rechecks());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let dist = workspace_root().join("dashboard/dist");
    let routes = Arc::new(server::Routes {
        intake,
        api,
        dashboard: Some(dist),
    });
    running
        .tasks
        .push(tokio::spawn(server::serve(listener, routes, stop.clone())));
    Ok(port)
}

/// The planner, the recorder, the notifier and the analysis worker, each behind a poller of its
/// queue as Lambda's SQS event source; notifications link to the dashboard at `dashboard_url`.
fn start_pollers(
    platform: &Platform,
    state_dir: &Path,
    dashboard_url: &str,
    running: &mut Running,
    stop: &watch::Receiver<bool>,
) -> Result<(), String> {
    let credentials =
        boreas_planner::credentials(platform.secrets.clone()).map_err(|e| e.to_string())?;
    let planner = Arc::new(Planner {
        store: Arc::clone(&platform.store),
        orchestrator: platform.orchestrator.clone(),
        git: Arc::new(boreas_planner::git::GixCache::new(
            state_dir.join("git-cache"),
        )),
        credentials: Arc::new(credentials),
        notices: platform.notices.clone(),
        rechecks: platform.rechecks(),
        max_receives: boreas_aws::provision::MAX_RECEIVE_COUNT,
    });
    let recorder = Arc::new(
        Recorder::new(Arc::clone(&platform.store), platform.names.clone())
            .with_notices(platform.notices.clone())
            .with_rechecks(platform.rechecks()),
    );
    let notifier = Arc::new(
        Notifier::new(
            Arc::clone(&platform.store),
            platform.secrets.clone(),
            Arc::clone(&platform.queues),
            platform.names.clone(),
            dashboard_url,
            Backoff::DEFAULT,
        )
        .map_err(|e| e.to_string())?,
    );
    let notify_handler: pollers::Handler = Arc::new(move |event| {
        let notifier = Arc::clone(&notifier);
        Box::pin(async move { boreas_notifier::handle(&notifier, event).await })
    });
    running.tasks.push(tokio::spawn(pollers::run(
        "notifications",
        Arc::clone(&platform.queues),
        platform.notifications_url.clone(),
        notify_handler,
        pollers::Redelivery::Soon,
        stop.clone(),
    )));
    let analyst = Arc::new(
        Analyst::new(
            Arc::clone(&platform.store),
            platform.orchestrator.clone(),
            Arc::clone(&platform.queues),
            platform.secrets.clone(),
            platform.cloudwatch.clone(),
            platform.names.clone(),
        )
        .map_err(|e| e.to_string())?,
    );
    let analysis_handler: pollers::Handler = Arc::new(move |event| {
        let analyst = Arc::clone(&analyst);
        Box::pin(async move { boreas_analysis::handle(&analyst, event).await })
    });
    running.tasks.push(tokio::spawn(pollers::run(
        "analysis",
        Arc::clone(&platform.queues),
        platform.analysis_url.clone(),
        analysis_handler,
        pollers::Redelivery::Handler,
        stop.clone(),
    )));
    let plan_handler: pollers::Handler = Arc::new(move |event| {
        let planner = Arc::clone(&planner);
        Box::pin(async move { boreas_planner::handle(&planner, event).await })
    });
    running.tasks.push(tokio::spawn(pollers::run(
        "plan",
        Arc::clone(&platform.queues),
        platform.plan_url.clone(),
        plan_handler,
        pollers::Redelivery::Soon,
        stop.clone(),
    )));
    // The recorder on each of its queues; two on inventories, as many agents report together.
    for (name, url) in [
        ("events", &platform.events_url),
        ("inventory", &platform.inventory_url),
        ("inventory", &platform.inventory_url),
    ] {
        let recorder = Arc::clone(&recorder);
        let handler: pollers::Handler = Arc::new(move |event| {
            let recorder = Arc::clone(&recorder);
            Box::pin(async move { boreas_recorder::handle(&recorder, event).await })
        });
        running.tasks.push(tokio::spawn(pollers::run(
            name,
            Arc::clone(&platform.queues),
            url.clone(),
            handler,
            pollers::Redelivery::Soon,
            stop.clone(),
        )));
    }
    Ok(())
}

/// The simulated Kubernetes clusters and their operators.
async fn start_clusters(
    platform: &Platform,
    running: &mut Running,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<state::ClusterInfo>, String> {
    let (clusters, tasks) = k8s::start(
        &platform.names,
        &platform.queues,
        platform.orchestrator.clone(),
        &platform.inventory_url,
        stop,
    )
    .await?;
    let infos = clusters
        .iter()
        .map(|c| state::ClusterInfo {
            name: c.name.clone(),
            api_url: c.fixture.url(),
        })
        .collect();
    running.clusters = clusters;
    running.tasks.extend(tasks);
    Ok(infos)
}

/// The agents, with the ports their demo apps listen on kept across restarts.
fn start_agents(
    options: &Options,
    state_dir: &Path,
    previous: Option<&DevState>,
    endpoint: &str,
    running: &mut Running,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<AgentInfo>, String> {
    let mut agents = agent_layout(state_dir, options.agents);
    let mut taken = HashSet::new();
    for agent in &mut agents {
        let known = previous
            .and_then(|p| p.agents.iter().find(|a| a.host == agent.host))
            .map(|a| a.ports.clone())
            .unwrap_or_default();
        for app in demo::APPS {
            let port = match known.get(app) {
                Some(p) if taken.insert(*p) => *p,
                _ => free_port(&mut taken)?,
            };
            agent.ports.insert(app.to_owned(), port);
        }
        agents::write_ports(agent)?;
    }
    let agent_env = agents::AgentEnv {
        binary: agents::find_binary()?,
        endpoint: endpoint.to_owned(),
        prefix: options.prefix.clone(),
        inventory_seconds: options.inventory_seconds,
        restart_after: options.agent_restart,
    };
    for agent in &agents {
        running.tasks.push(tokio::spawn(agents::supervise(
            agent_env.clone(),
            agent.clone(),
            stop.clone(),
        )));
    }
    Ok(agents)
}

/// Puts the saved admin token and webhook secret back into SSM, so that tokens and signatures
/// people already hold keep working after a restart.
async fn restore_secrets(
    cfg: &aws_config::SdkConfig,
    names: &Names,
    prev: &DevState,
) -> Result<(), String> {
    let ssm = aws_sdk_ssm::Client::new(cfg);
    for (name, value) in [
        (names.admin_token_param(), &prev.api_token),
        (
            names.webhook_secret_param(demo::REPOSITORY),
            &prev.webhook_secret,
        ),
    ] {
        ssm.put_parameter()
            .name(&name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "restoring {name}: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok(())
}

/// Waits until every agent has reported its inventory, so `{group: …}` targets resolve to them.
async fn wait_for_agents(store: &dyn Store, agents: &[AgentInfo]) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let known: HashSet<(String, String)> = store
            .list_agents(None)
            .await
            .map_err(|e| format!("listing agents: {e}"))?
            .into_iter()
            .map(|a| (a.env, a.host))
            .collect();
        let missing: Vec<&str> = agents
            .iter()
            .filter(|a| !known.contains(&(a.environment.clone(), a.host.clone())))
            .map(|a| a.host.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if started.elapsed() > AGENTS_READY_TIMEOUT {
            return Err(format!(
                "agents {} did not report within {AGENTS_READY_TIMEOUT:?}; see agent.log in their directories",
                missing.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Delivers the demo repository's tags again, oldest first (see the module documentation).
async fn replay_tags(state: &DevState) -> Result<(), String> {
    let tags = demo::tags(&state.demo_repo)?;
    if tags.is_empty() {
        return Ok(());
    }
    eprintln!("replaying {} tag(s) of the demo repository…", tags.len());
    for (tag, commit) in tags {
        let payload = demo::push_tag_payload(&state.demo_repo, &tag, &commit)?;
        let delivered =
            demo::send_push(&state.webhook_url, &state.webhook_secret, &payload).await?;
        if delivered.status >= 300 {
            return Err(format!(
                "replaying tag {tag}: the webhook answered {}: {}",
                delivered.status, delivered.body
            ));
        }
    }
    Ok(())
}

fn print_summary(state: &DevState, state_dir: &Path) {
    println!("Boreas is running on this machine.");
    println!();
    println!("  dashboard   {}", state.dashboard_url);
    println!("  api         {}", state.api_url);
    println!("  api token   {}", state.api_token);
    println!("  webhooks    {}", state.webhook_url);
    println!("  demo repo   {}", state.demo_repo.display());
    println!("  emulator    {}", state.emulator_endpoint);
    println!("  agents      {}", state.agents.len());
    for a in &state.agents {
        println!(
            "    {:<20} {:<8} {:<7} {}",
            a.host,
            a.environment,
            a.group,
            a.work_dir.display()
        );
    }
    if let Some(url) = &state.prometheus_url {
        println!("  prometheus  {url} (the demo apps' metrics; api's analysis reads them)");
    }
    if !state.simulated_clusters.is_empty() {
        println!("  k8s         SIMULATED clusters (a test fixture API server, not Kubernetes):");
    }
    for c in &state.simulated_clusters {
        println!("    {:<20} {}", c.name, c.api_url);
    }
    println!();
    println!("  details     {}", state_dir.join(state::FILE).display());
    println!();
    println!("Try: boreas demo tag v1.0.0    then: boreas deployments");
    println!("Ctrl-C stops everything.");
}

/// Resolves on SIGINT or SIGTERM, or when standard input closes if `stdin_eof` is set.
async fn shutdown_signal(stdin_eof: bool) {
    use tokio::io::AsyncReadExt;
    use tokio::signal::unix::{SignalKind, signal};
    let stdin_closed = async {
        if !stdin_eof {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = term => {}
        () = stdin_closed => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
