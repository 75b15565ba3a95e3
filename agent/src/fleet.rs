//! `boreas-agent fleet`: many simulated agents in one process for scale tests and benchmarks.
//! Each host has its own queue and answers deploys and rollbacks instantly (after a configurable
//! latency, failing at a configurable rate) without touching the disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boreas_aws::names::Names;
use boreas_aws::orchestrator::Orchestrator;
use boreas_aws::queues::{Queues, ReceiveOptions};
use boreas_core::command::{
    Action, AppInventory, Command, ErrorType, Event, EventBody, SCHEMA_VERSION, TaskResult,
};
use boreas_core::config::AppKind;

use crate::{Error, validate};

/// Queues created at once while the fleet starts.
const CREATE_CONCURRENCY: usize = 32;

/// How the simulated fleet behaves.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Number of hosts, named `sim-0000`, `sim-0001`, …
    pub hosts: usize,
    /// Resource names.
    pub names: Names,
    /// Environment of every host.
    pub environment: String,
    /// Group of every host.
    pub group: String,
    /// Time a simulated deploy takes.
    pub latency: Duration,
    /// Share of deploys that fail (0 to 1).
    pub failure_rate: f64,
    /// Long-poll wait.
    pub poll_wait: Duration,
}

/// The name of simulated host `i`.
pub fn host_name(i: usize) -> String {
    format!("sim-{i:04}")
}

/// A small xorshift generator: the simulation needs cheap, not strong, randomness.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs the fleet until `shutdown` resolves.
pub async fn run(
    options: FleetOptions,
    queues: Arc<dyn Queues>,
    orchestrator: Arc<dyn Orchestrator>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    if !(0.0..=1.0).contains(&options.failure_rate) {
        return Err(Error::Config(format!(
            "failure rate {} is not between 0 and 1",
            options.failure_rate
        )));
    }
    let inventory_url = queues.queue_url(&options.names.inventory_queue()).await?;
    let mut urls = Vec::with_capacity(options.hosts);
    for chunk in (0..options.hosts)
        .collect::<Vec<_>>()
        .chunks(CREATE_CONCURRENCY)
    {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let queues = queues.clone();
            let name = options
                .names
                .agent_queue(&options.environment, &host_name(i));
            set.spawn(async move { (i, queues.ensure_queue(&name).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (i, url) = joined.map_err(|e| Error::Config(format!("queue task: {e}")))?;
            urls.push((i, url?));
        }
    }
    tracing::info!(hosts = options.hosts, "fleet started");
    let options = Arc::new(options);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut hosts = tokio::task::JoinSet::new();
    for (i, url) in urls {
        let host = SimHost {
            name: host_name(i),
            url,
            inventory_url: inventory_url.clone(),
            options: options.clone(),
            queues: queues.clone(),
            orchestrator: orchestrator.clone(),
            apps: HashMap::new(),
            rng: Rng::new(seed.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))),
        };
        hosts.spawn(host.run());
    }
    shutdown.await;
    hosts.shutdown().await;
    tracing::info!("fleet stopped");
    Ok(())
}

#[derive(Debug)]
struct SimHost {
    name: String,
    url: String,
    inventory_url: String,
    options: Arc<FleetOptions>,
    queues: Arc<dyn Queues>,
    orchestrator: Arc<dyn Orchestrator>,
    /// App → version.
    apps: HashMap<String, String>,
    rng: Rng,
}

impl SimHost {
    async fn run(mut self) {
        self.send_inventory().await;
        let receive = ReceiveOptions {
            wait: self.options.poll_wait,
            max_messages: 10,
            visibility: None,
        };
        loop {
            match self.queues.receive(&self.url, &receive).await {
                Ok(messages) => {
                    for m in messages {
                        self.handle(&m.body).await;
                        if let Err(e) = self.queues.delete(&self.url, &m.receipt_handle).await {
                            tracing::warn!(host = self.name, error = %e, "cannot delete");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(host = self.name, error = %e, "receive failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn handle(&mut self, body: &str) {
        let command = match Command::from_json(body)
            .map_err(Error::from)
            .and_then(|c| validate::command(&c, &self.name, &self.options.environment).map(|()| c))
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(host = self.name, error = %e, "command refused");
                return;
            }
        };
        let (app, version) = match &command.action {
            Action::Deploy { app, version, .. } => (app.clone(), Some(version.clone())),
            Action::Rollback {
                app, to_version, ..
            } => (app.clone(), to_version.clone()),
            Action::Status {} => {
                self.send_inventory().await;
                return;
            }
        };
        tokio::time::sleep(self.options.latency).await;
        let Some(token) = &command.task_token else {
            return;
        };
        let result = if self.rng.unit() < self.options.failure_rate {
            self.orchestrator
                .send_task_failure(
                    token,
                    ErrorType::HealthCheckFailed.as_str(),
                    "simulated failure",
                )
                .await
        } else {
            // A rollback to no version removes the app, as the real agent does.
            let previous = match &version {
                Some(v) => self.apps.insert(app.clone(), v.clone()),
                None => self.apps.remove(&app),
            };
            let result = TaskResult {
                schema_version: SCHEMA_VERSION,
                target: self.name.clone(),
                app,
                version,
                previous,
            };
            self.orchestrator
                .send_task_success(token, &result.to_json())
                .await
        };
        if let Err(e) = result {
            tracing::warn!(host = self.name, error = %e, "cannot report");
        }
        self.send_inventory().await;
    }

    async fn send_inventory(&self) {
        let apps = self
            .apps
            .iter()
            .map(|(app, version)| AppInventory {
                app: app.clone(),
                version: Some(version.clone()),
                previous: None,
                healthy: true,
                pid: None,
            })
            .collect();
        let event = Event::new(EventBody::Inventory {
            target: self.name.clone(),
            observed_at: boreas_aws::store::rfc3339(std::time::SystemTime::now()),
            kind: AppKind::Pm,
            environment: self.options.environment.clone(),
            group: Some(self.options.group.clone()),
            apps,
            // Simulated hosts report after their commands only: no liveness window.
            interval_seconds: None,
        });
        if let Err(e) = self
            .queues
            .send(&self.inventory_url, &event.to_json(), &BTreeMap::new())
            .await
        {
            tracing::warn!(host = self.name, error = %e, "cannot send the inventory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_spreads_over_the_unit_interval() {
        let mut rng = Rng::new(42);
        let draws: Vec<f64> = (0..10_000).map(|_| rng.unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let below = draws.iter().filter(|d| **d < 0.25).count();
        assert!((2_000..3_000).contains(&below), "{below}");
        assert_eq!(host_name(7), "sim-0007");
    }
}
