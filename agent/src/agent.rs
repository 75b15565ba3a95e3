//! The agent: long-polls its queue, runs each command under its app's lock with heartbeats, keeps
//! the journal, reports outcomes to Step Functions and inventories to the events queue.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boreas_aws::orchestrator::Orchestrator;
use boreas_aws::queues::{Message, Queues, ReceiveOptions};
use boreas_core::command::{
    Action, AppInventory, Command, Event, EventBody, PmWorkload, SCHEMA_VERSION, TaskResult,
};
use boreas_core::config::AppKind;

use crate::config::Config;
use crate::fetch::{Fetcher, hex};
use crate::journal::{Entry, Journal, Outcome, Phase};
use crate::release::Layout;
use crate::service::{Launch, ServiceManager};
use crate::{Error, health, validate};

/// Finished journal entries are kept this long (the SQS maximum retention).
const JOURNAL_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);
/// Pause after a failed receive before the next one.
const RECEIVE_ERROR_PAUSE: Duration = Duration::from_secs(5);

/// One host's agent.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    layout: Layout,
    journal: Journal,
    fetcher: Fetcher,
    services: ServiceManager,
    queues: Arc<dyn Queues>,
    orchestrator: Arc<dyn Orchestrator>,
    queue_url: String,
    events_url: Mutex<Option<String>>,
    /// One lock per app: commands for one app run one after another.
    app_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Command ids being worked on by this process.
    inflight: Mutex<HashSet<String>>,
    /// Result of each app's last health check.
    healthy: Mutex<HashMap<String, bool>>,
}

/// Heartbeats and visibility extensions for one running command.
struct Lease {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
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
            config,
            layout,
            journal,
            services,
            queues,
            orchestrator,
            queue_url,
            events_url: Mutex::new(None),
            app_locks: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashSet::new()),
            healthy: Mutex::new(HashMap::new()),
        }))
    }

    /// The URL of the agent's command queue.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Runs until `shutdown` resolves: starts the installed apps, finishes what the journal says
    /// was interrupted, then long-polls forever.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        tracing::info!(
            host = self.config.host,
            environment = self.config.environment,
            queue = self.config.queue,
            "agent started"
        );
        match self.journal.prune(JOURNAL_RETENTION) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "old journal entries removed"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the journal"),
        }
        let pending = self.journal.pending()?;
        let resuming: HashSet<String> = pending
            .iter()
            .filter(|e| e.phase != Phase::Finished)
            .filter_map(|e| action_app(&e.command.action).map(str::to_owned))
            .collect();
        if self.services.starts_apps_at_boot() {
            for app in self.layout.apps()? {
                // A command being resumed decides what runs for its app.
                if !resuming.contains(&app) {
                    self.start_current(&app).await;
                }
            }
        }
        for entry in pending {
            tracing::info!(
                command_id = entry.command.command_id,
                phase = ?entry.phase,
                "resuming a command from the journal"
            );
            self.inflight_insert(&entry.command.command_id);
            tokio::spawn(self.clone().execute(entry, None));
        }
        self.send_inventory().await;

        let options = ReceiveOptions {
            wait: self.config.poll_wait,
            max_messages: 10,
            visibility: Some(self.config.visibility),
        };
        // Periodic inventories run beside the receive loop, never inside its `select!`: a long
        // poll cancelled by a timer would leave the queue's server side waiting, and a command
        // arriving meanwhile would be handed to the abandoned request and stay hidden for the
        // visibility timeout.
        let reporter = {
            let agent = self.clone();
            tokio::spawn(async move {
                let mut inventory = tokio::time::interval(agent.config.inventory_every);
                inventory.reset();
                loop {
                    inventory.tick().await;
                    agent.send_inventory().await;
                }
            })
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                received = self.queues.receive(&self.queue_url, &options) => match received {
                    Ok(messages) => {
                        for message in messages {
                            self.clone().handle(message).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed; retrying");
                        tokio::time::sleep(RECEIVE_ERROR_PAUSE).await;
                    }
                },
            }
        }
        reporter.abort();
        tracing::info!("agent stopping");
        self.services.shutdown().await;
        Ok(())
    }

    fn inflight_insert(&self, id: &str) -> bool {
        self.inflight
            .lock()
            .expect("inflight lock")
            .insert(id.to_owned())
    }

    fn app_lock(&self, app: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.app_locks
            .lock()
            .expect("app locks")
            .entry(app.to_owned())
            .or_default()
            .clone()
    }

    /// Starts the installed `current` release of `app` and records its health.
    async fn start_current(&self, app: &str) {
        let Some(version) = self.layout.current(app) else {
            return;
        };
        let result = self.start_and_check(app, &version).await;
        if let Err(e) = result {
            tracing::error!(app, version, error = %e, "installed release is not healthy");
        }
    }

    /// Reads, checks and dispatches one message. Never fails: whatever cannot run is reported
    /// and deleted, so a bad message is not received again and again.
    async fn handle(self: Arc<Self>, message: Message) {
        let command = match Command::from_json(&message.body)
            .map_err(Error::from)
            .and_then(|c| {
                validate::command(&c, &self.config.host, &self.config.environment).map(|()| c)
            }) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(message_id = message.id, error = %e, "command refused");
                if let Some(token) = raw_task_token(&message.body) {
                    let outcome = failure(&e);
                    self.report_on(&token, &outcome).await;
                }
                self.delete(&message).await;
                return;
            }
        };
        let id = command.command_id.clone();
        if let Action::Status {} = command.action {
            let inventory = self.inventory().await;
            self.send_event(&inventory).await;
            if let Some(token) = &command.task_token {
                let output = Outcome::Succeeded {
                    output: inventory.to_json(),
                };
                self.report_on(token, &output).await;
            }
            self.delete(&message).await;
            return;
        }
        if !self.inflight_insert(&id) {
            // The same command is running here already (SQS delivered it twice): its run reports.
            tracing::info!(command_id = id, "duplicate delivery of a running command");
            self.delete(&message).await;
            return;
        }
        let entry = match self.journal.get(&id) {
            Ok(Some(mut entry)) => {
                entry.command.task_token.clone_from(&command.task_token);
                entry.command.heartbeat_seconds = command.heartbeat_seconds;
                if entry.phase == Phase::Finished {
                    if entry.needs_report() {
                        tracing::info!(
                            command_id = id,
                            "already finished; sending the stored result"
                        );
                        self.report(&mut entry).await;
                    } else {
                        tracing::info!(command_id = id, "already finished and reported");
                    }
                    self.delete(&message).await;
                    self.inflight.lock().expect("inflight lock").remove(&id);
                    return;
                }
                entry
            }
            Ok(None) => {
                let previous = action_app(&command.action).and_then(|a| self.layout.current(a));
                Entry::new(command, previous)
            }
            Err(e) => {
                // Unknown state: leave the message for a later attempt (and the DLQ) rather than
                // risk running the command twice.
                tracing::error!(command_id = id, error = %e, "cannot read the journal");
                self.inflight.lock().expect("inflight lock").remove(&id);
                return;
            }
        };
        if let Err(e) = self.journal.put(&entry) {
            tracing::error!(command_id = id, error = %e, "cannot write the journal");
            self.inflight.lock().expect("inflight lock").remove(&id);
            return;
        }
        tokio::spawn(self.clone().execute(entry, Some(message)));
    }

    /// Runs a journaled command to its end, reports it and deletes its message.
    async fn execute(self: Arc<Self>, mut entry: Entry, message: Option<Message>) {
        let id = entry.command.command_id.clone();
        let _lease = self.lease(&entry.command, message.as_ref());
        if entry.phase != Phase::Finished {
            let app = action_app(&entry.command.action)
                .unwrap_or_default()
                .to_owned();
            let lock = self.app_lock(&app);
            let _guard = lock.lock().await;
            let outcome = match entry.command.action.clone() {
                Action::Deploy {
                    app,
                    version,
                    workload,
                    ..
                } => self.deploy(&mut entry, &app, &version, &workload).await,
                Action::Rollback {
                    app,
                    to_version,
                    workload,
                    ..
                } => {
                    self.rollback(&mut entry, &app, to_version.as_deref(), workload.as_ref())
                        .await
                }
                Action::Status {} => unreachable!("status commands are answered at once"),
            };
            entry.phase = Phase::Finished;
            entry.outcome = Some(outcome);
            if let Err(e) = self.journal.put(&entry) {
                tracing::error!(command_id = id, error = %e, "cannot record the outcome");
            }
            self.send_inventory().await;
        }
        if entry.needs_report() {
            self.report(&mut entry).await;
        }
        if let Some(m) = &message
            && !entry.needs_report()
        {
            self.delete(m).await;
        }
        self.inflight.lock().expect("inflight lock").remove(&id);
    }

    /// Heartbeats on the task token at a third of its heartbeat interval, and keeps the message
    /// hidden, until dropped.
    fn lease(&self, command: &Command, message: Option<&Message>) -> Lease {
        let visibility = self.config.visibility;
        let mut every = visibility / 3;
        if let Some(h) = command
            .heartbeat_seconds
            .filter(|_| command.task_token.is_some())
        {
            every = every.min(Duration::from_secs(h.max(1)) / 3);
        }
        let token = command.task_token.clone();
        let receipt = message.map(|m| m.receipt_handle.clone());
        let queues = self.queues.clone();
        let orchestrator = self.orchestrator.clone();
        let queue_url = self.queue_url.clone();
        let id = command.command_id.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Some(token) = &token
                    && let Err(e) = orchestrator.send_task_heartbeat(token).await
                {
                    tracing::warn!(command_id = id, error = %e, "heartbeat failed");
                }
                if let Some(receipt) = &receipt
                    && let Err(e) = queues
                        .change_visibility(&queue_url, receipt, visibility)
                        .await
                {
                    tracing::warn!(command_id = id, error = %e, "cannot extend the message's visibility");
                }
            }
        });
        Lease { task }
    }

    async fn delete(&self, message: &Message) {
        if let Err(e) = self
            .queues
            .delete(&self.queue_url, &message.receipt_handle)
            .await
        {
            tracing::warn!(message_id = message.id, error = %e, "cannot delete the message");
        }
    }

    /// Delivers the entry's outcome on its task token and records that it did.
    async fn report(&self, entry: &mut Entry) {
        let (Some(token), Some(outcome)) = (entry.command.task_token.clone(), &entry.outcome)
        else {
            return;
        };
        if self.report_on(&token, outcome).await {
            entry.mark_reported();
            if let Err(e) = self.journal.put(entry) {
                tracing::error!(command_id = entry.command.command_id, error = %e, "cannot record the report");
            }
        }
    }

    /// Sends an outcome; `true` when Step Functions took it or no longer waits for it.
    async fn report_on(&self, token: &str, outcome: &Outcome) -> bool {
        let result = match outcome {
            Outcome::Succeeded { output } => {
                self.orchestrator.send_task_success(token, output).await
            }
            Outcome::Failed { error_type, cause } => {
                self.orchestrator
                    .send_task_failure(token, error_type.as_str(), cause)
                    .await
            }
        };
        match result {
            Ok(()) => {
                match outcome {
                    Outcome::Succeeded { .. } => tracing::info!("reported success"),
                    Outcome::Failed { error_type, cause } => {
                        tracing::info!(error_type = error_type.as_str(), cause, "reported failure");
                    }
                }
                true
            }
            Err(
                e @ (boreas_aws::Error::TaskTimedOut { .. }
                | boreas_aws::Error::InvalidTaskToken { .. }),
            ) => {
                tracing::warn!(error = %e, "the task no longer waits for this result");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot report the result; it stays in the journal");
                false
            }
        }
    }

    /// The expected hash of an artifact: inline, or from its SHA-256 file.
    async fn expected_sha256(&self, pm: &PmWorkload, app: &str) -> Result<String, Error> {
        if let Some(h) = &pm.sha256 {
            return Ok(h.to_ascii_lowercase());
        }
        let url = pm
            .sha256_url
            .as_deref()
            .ok_or_else(|| Error::InvalidCommand("the artifact hash is mandatory".to_owned()))?;
        let scratch = self.layout.downloads_dir().join(format!(
            "{app}.{}.sha256",
            &hex(url.as_bytes())[..16.min(url.len() * 2)]
        ));
        self.fetcher.sha256_file(url, &scratch).await
    }

    /// Makes release `version` of `app` complete on disk: downloads, verifies and unpacks it unless
    /// an identical release is already installed. Nothing outside its release directory changes.
    async fn install(&self, app: &str, version: &str, pm: &PmWorkload) -> Result<(), Error> {
        let expected = self.expected_sha256(pm, app).await?;
        if let Some(meta) = self.layout.installed(app, version) {
            if meta.sha256 == expected {
                tracing::info!(app, version, "release already installed");
                return Ok(());
            }
            tracing::warn!(
                app,
                version,
                "installed release has another hash; replacing it"
            );
        }
        use sha2::Digest;
        let part = self.layout.downloads_dir().join(format!(
            "{}.part",
            hex(&sha2::Sha256::digest(pm.artifact_url.as_bytes()))
        ));
        tracing::info!(app, version, url = pm.artifact_url, "download started");
        let actual = self.fetcher.download(&pm.artifact_url, &part).await?;
        if actual != expected {
            let _ = std::fs::remove_file(&part);
            return Err(Error::ChecksumMismatch {
                url: pm.artifact_url.clone(),
                expected,
                actual,
            });
        }
        let layout = self.layout.clone();
        let meta = Layout::meta(pm, &actual);
        let (a, v, p) = (app.to_owned(), version.to_owned(), part.clone());
        tokio::task::spawn_blocking(move || layout.install(&a, &v, &p, &meta))
            .await
            .map_err(|e| Error::Download {
                url: pm.artifact_url.clone(),
                message: format!("unpacking stopped: {e}"),
            })??;
        let _ = std::fs::remove_file(&part);
        tracing::info!(app, version, "release installed");
        Ok(())
    }

    /// (Re)starts the installed release `version` and waits until it is healthy.
    async fn start_and_check(&self, app: &str, version: &str) -> Result<(), Error> {
        let meta = self
            .layout
            .installed(app, version)
            .ok_or_else(|| Error::Start {
                app: app.to_owned(),
                message: format!("release {version} is not installed"),
            })?;
        let dir = self.layout.release_dir(app, version);
        self.services
            .restart(&Launch {
                app: app.to_owned(),
                version: version.to_owned(),
                dir: dir.clone(),
                run: meta.workload.run.clone(),
            })
            .await?;
        let result = health::wait_healthy(
            self.fetcher.http(),
            &meta.workload.health,
            &dir,
            self.config.probe_interval,
            app,
            version,
        )
        .await;
        self.healthy
            .lock()
            .expect("health lock")
            .insert(app.to_owned(), result.is_ok());
        result
    }

    /// Points `current` at `version` and records which release ran before.
    fn switch(&self, app: &str, version: &str, previous: Option<&str>) -> Result<(), Error> {
        self.layout.switch(app, version)?;
        if previous != Some(version) {
            self.layout.set_previous(app, previous)?;
        }
        tracing::info!(app, version, previous, "current release switched");
        Ok(())
    }

    async fn deploy(
        &self,
        entry: &mut Entry,
        app: &str,
        version: &str,
        workload: &boreas_core::command::Workload,
    ) -> Outcome {
        let pm = match validate::pm_workload(workload) {
            Ok(pm) => pm,
            Err(e) => return failure(&e),
        };
        let previous = entry.previous.clone();
        tracing::info!(
            command_id = entry.command.command_id,
            app,
            version,
            previous,
            "deploy started"
        );
        if entry.phase == Phase::Accepted {
            if let Err(e) = self.install(app, version, pm).await {
                tracing::warn!(app, version, error = %e, "deploy failed before switching; nothing changed");
                return failure(&e);
            }
            entry.phase = Phase::Switched;
            if let Err(e) = self.journal.put(entry) {
                return failure(&e);
            }
        }
        let started = match self.switch(app, version, previous.as_deref()) {
            Ok(()) => self.start_and_check(app, version).await,
            Err(e) => Err(e),
        };
        match started {
            Ok(()) => {
                match self.layout.prune(app, self.config.keep_releases) {
                    Ok(removed) if !removed.is_empty() => {
                        tracing::info!(app, ?removed, "old releases removed");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(app, error = %e, "cannot prune old releases"),
                }
                tracing::info!(app, version, "deploy succeeded");
                Outcome::Succeeded {
                    output: self.result(app, Some(version), previous).to_json(),
                }
            }
            Err(e) => {
                tracing::warn!(app, version, error = %e, "deploy failed; restoring the previous release");
                self.restore(app, previous.as_deref(), &e).await
            }
        }
    }

    /// Puts `previous` back after a failed deploy and says how that went.
    async fn restore(&self, app: &str, previous: Option<&str>, cause: &Error) -> Outcome {
        let Some(previous) = previous else {
            let stopped = self.services.stop(app, None).await;
            let cleared = self.layout.clear_current(app);
            return match stopped.and(cleared) {
                Ok(()) => Outcome::Failed {
                    error_type: cause.error_type(),
                    cause: format!("{cause}; no earlier release on this host, the app is stopped"),
                },
                Err(e) => Outcome::Failed {
                    error_type: boreas_core::command::ErrorType::RollbackFailed,
                    cause: format!("{cause}; stopping the app failed: {e}"),
                },
            };
        };
        let restored = match self.layout.switch(app, previous) {
            Ok(()) => self.start_and_check(app, previous).await,
            Err(e) => Err(e),
        };
        match restored {
            Ok(()) => {
                tracing::info!(
                    app,
                    version = previous,
                    "previous release restored and healthy"
                );
                Outcome::Failed {
                    error_type: cause.error_type(),
                    cause: format!("{cause}; restored {previous}, which is healthy"),
                }
            }
            Err(e) => {
                tracing::error!(app, version = previous, error = %e, "restoring the previous release failed");
                Outcome::Failed {
                    error_type: boreas_core::command::ErrorType::RollbackFailed,
                    cause: format!("{cause}; restoring {previous} failed: {e}"),
                }
            }
        }
    }

    async fn rollback(
        &self,
        entry: &mut Entry,
        app: &str,
        to_version: Option<&str>,
        workload: Option<&boreas_core::command::Workload>,
    ) -> Outcome {
        let previous = entry.previous.clone();
        tracing::info!(
            command_id = entry.command.command_id,
            app,
            to_version,
            previous,
            "rollback started"
        );
        let result = match to_version {
            None => {
                let stopped = self.services.stop(app, None).await;
                stopped.and_then(|()| self.layout.clear_current(app))
            }
            Some(to) => {
                self.rollback_to(app, to, workload, previous.as_deref())
                    .await
            }
        };
        match result {
            Ok(()) => Outcome::Succeeded {
                output: self.result(app, to_version, previous).to_json(),
            },
            Err(e) => Outcome::Failed {
                error_type: boreas_core::command::ErrorType::RollbackFailed,
                cause: Error::Rollback {
                    app: app.to_owned(),
                    message: e.to_string(),
                }
                .to_string(),
            },
        }
    }

    async fn rollback_to(
        &self,
        app: &str,
        to: &str,
        workload: Option<&boreas_core::command::Workload>,
        previous: Option<&str>,
    ) -> Result<(), Error> {
        if self.layout.installed(app, to).is_none() {
            let Some(workload) = workload else {
                return Err(Error::Rollback {
                    app: app.to_owned(),
                    message: format!(
                        "release {to} is not on this host and the command has no workload"
                    ),
                });
            };
            self.install(app, to, validate::pm_workload(workload)?)
                .await?;
        }
        self.switch(app, to, previous)?;
        self.start_and_check(app, to).await
    }

    fn result(&self, app: &str, version: Option<&str>, previous: Option<String>) -> TaskResult {
        TaskResult {
            schema_version: SCHEMA_VERSION,
            target: self.config.host.clone(),
            app: app.to_owned(),
            version: version.map(str::to_owned),
            previous,
        }
    }

    /// What runs on this host.
    pub async fn inventory(&self) -> Event {
        let mut apps = Vec::new();
        for app in self.layout.apps().unwrap_or_default() {
            let version = self.layout.current(&app);
            if version.is_none() {
                continue;
            }
            let healthy = self
                .healthy
                .lock()
                .expect("health lock")
                .get(&app)
                .copied()
                .unwrap_or(false);
            apps.push(AppInventory {
                previous: self.layout.previous(&app),
                pid: self.services.pid(&app).await,
                app,
                version,
                healthy,
            });
        }
        Event::new(EventBody::Inventory {
            target: self.config.host.clone(),
            kind: AppKind::Pm,
            environment: self.config.environment.clone(),
            group: self.config.group.clone(),
            apps,
        })
    }

    async fn send_inventory(&self) {
        let event = self.inventory().await;
        self.send_event(&event).await;
    }

    async fn send_event(&self, event: &Event) {
        let cached = self.events_url.lock().expect("events url").clone();
        let url = match cached {
            Some(url) => url,
            None => match self.queues.queue_url(&self.config.events_queue).await {
                Ok(url) => {
                    *self.events_url.lock().expect("events url") = Some(url.clone());
                    url
                }
                Err(e) => {
                    tracing::warn!(queue = self.config.events_queue, error = %e, "events queue unavailable; event dropped");
                    return;
                }
            },
        };
        if let Err(e) = self
            .queues
            .send(&url, &event.to_json(), &BTreeMap::new())
            .await
        {
            tracing::warn!(error = %e, "cannot send the event");
        }
    }
}

/// The app a deploy or rollback is about.
fn action_app(action: &Action) -> Option<&str> {
    match action {
        Action::Deploy { app, .. } | Action::Rollback { app, .. } => Some(app),
        Action::Status {} => None,
    }
}

/// The task token of a message that is not a valid command, so its task can be failed instead of
/// waiting for its timeout.
fn raw_task_token(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get("task_token")?.as_str().map(str::to_owned)
}
