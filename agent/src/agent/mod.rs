//! The agent: long-polls its queue, runs each command under its app's lock with heartbeats, keeps
//! the journal, reports outcomes to Step Functions and inventories to the inventory queue.
//!
//! - [`worker`]: the receive loop, the journal, leases, and reporting outcomes and inventories;
//! - [`deploy`]: what a deploy or rollback does on this host (install, hooks, switch, start,
//!   health, restore);
//! - [`lifecycle`]: what belongs to a release (the hooks in force, its variables, the
//!   environment and user of its processes, leaving and starting it).

mod deploy;
mod lifecycle;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use boreas_aws::orchestrator::Orchestrator;
use boreas_aws::queues::Queues;
use boreas_aws::secrets::{Secrets, SsmSecrets};

use crate::Error;
use crate::config::Config;
use crate::fetch::Fetcher;
use crate::journal::{Journal, Outcome};
use crate::release::Layout;
use crate::service::ServiceManager;

/// One host's agent.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    layout: Layout,
    journal: Journal,
    fetcher: Fetcher,
    services: ServiceManager,
    /// Reads the apps' `ssm:` variables at deploy time.
    secrets: Arc<dyn Secrets>,
    queues: Arc<dyn Queues>,
    orchestrator: Arc<dyn Orchestrator>,
    queue_url: String,
    inventory_url: Mutex<Option<String>>,
    /// One lock per app: commands for one app run one after another.
    app_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Command ids being worked on by this process.
    inflight: Mutex<HashSet<String>>,
    /// Result of each app's last health check.
    healthy: Mutex<HashMap<String, bool>>,
}

fn failure(err: &Error) -> Outcome {
    Outcome::Failed {
        error_type: err.error_type(),
        cause: err.to_string(),
    }
}

impl Agent {
    /// Prepares the work directory and the agent's queue.
    pub async fn new(
        config: Config,
        aws: &aws_config::SdkConfig,
        queues: Arc<dyn Queues>,
        orchestrator: Arc<dyn Orchestrator>,
    ) -> Result<Arc<Self>, Error> {
        let layout = Layout::create(&config.work_dir)?;
        let journal = Journal::open(layout.journal_dir())?;
        let queue_url = queues.ensure_queue(&config.queue).await?;
        let services = ServiceManager::new(
            config.service_manager,
            layout.clone(),
            config.stop_grace,
            config.systemd_unit_dir.clone(),
        );
        Ok(Arc::new(Self {
            fetcher: Fetcher::new(aws.clone()),
            // No cache: a deploy reads the values of that moment.
            secrets: Arc::new(SsmSecrets::new(
                aws_sdk_ssm::Client::new(aws),
                std::time::Duration::ZERO,
            )),
            config,
            layout,
            journal,
            services,
            queues,
            orchestrator,
            queue_url,
            inventory_url: Mutex::new(None),
            app_locks: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashSet::new()),
            healthy: Mutex::new(HashMap::new()),
        }))
    }

    /// The URL of the agent's command queue.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}
