//! The worker: the receive loop, the journal, leases, and reporting outcomes and inventories.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use boreas_aws::queues::{Message, ReceiveOptions};
use boreas_core::command::{Action, AppInventory, Command, ErrorType, Event, EventBody};
use boreas_core::config::AppKind;

use super::{Agent, failure};
use crate::journal::{Entry, Outcome, Phase};
use crate::output::CommandLog;
use crate::{Error, validate};

/// Finished journal entries are kept this long (the SQS maximum retention).
const JOURNAL_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);
/// Pause after a failed receive before the next one.
const RECEIVE_ERROR_PAUSE: Duration = Duration::from_secs(5);
/// Tries, and the first pause between them (doubling), to tell whether a task still waits.
const TASK_CHECK_ATTEMPTS: u32 = 3;
const TASK_CHECK_PAUSE: Duration = Duration::from_millis(500);
/// Times a command is resumed after the agent stopped while running it. The agent is built with
/// `panic = "abort"`, so a command that makes it crash (a hostile artifact, say) would otherwise
/// crash it again at every start: after this many the command fails instead.
const MAX_RESUMES: u32 = 3;

/// Heartbeats and visibility extensions for one running command.
struct Lease {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Agent {
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
        let mut pending = self.journal.pending()?;
        for entry in &mut pending {
            self.count_resume(entry);
        }
        // A command resumed after its switch decides what runs for its app. Before the switch
        // `current` is still the release to run, even if the killed agent had already stopped it
        // (a stale command is then dropped without acting, and a live one stops it again).
        let switched: HashSet<String> = pending
            .iter()
            .filter(|e| e.phase == Phase::Switched)
            .filter_map(|e| action_app(&e.command.action).map(str::to_owned))
            .collect();
        if self.services.starts_apps_at_boot() {
            for app in self.layout.apps()? {
                if !switched.contains(&app) {
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
                let rolled_back = command
                    .rollback_id()
                    .is_some_and(|r| matches!(self.journal.get(&r), Ok(Some(_))));
                let mut entry = Entry::new(command, previous);
                if rolled_back {
                    // A standard queue may deliver a deploy after the rollback that undoes it:
                    // running it now would leave the host on the version being withdrawn.
                    tracing::warn!(
                        command_id = id,
                        "the rollback of this deploy reached the host first; not deploying"
                    );
                    entry.phase = Phase::Finished;
                    entry.outcome = Some(Outcome::Failed {
                        error_type: ErrorType::Stale,
                        cause: "the rollback of this deploy reached the host first; nothing was \
                                done"
                            .to_owned(),
                    });
                }
                entry
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

    /// Whether the task of `command` still waits for it: `Some(true)` when its heartbeat is taken
    /// (or it has no task), `Some(false)` when Step Functions says the task timed out or its token
    /// is no longer valid, `None` when that cannot be told now.
    pub(super) async fn task_alive(&self, command: &Command) -> Option<bool> {
        let Some(token) = &command.task_token else {
            return Some(true);
        };
        let mut pause = TASK_CHECK_PAUSE;
        for attempt in 1..=TASK_CHECK_ATTEMPTS {
            match boreas_aws::orchestrator::task_alive(&*self.orchestrator, token).await {
                Ok(alive) => return Some(alive),
                Err(e) => {
                    tracing::warn!(command_id = command.command_id, attempt, error = %e, "cannot check the task");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        None
    }

    /// Counts one more start that found `entry` unfinished; past [`MAX_RESUMES`] it is finished
    /// as failed, to be reported instead of run again.
    fn count_resume(&self, entry: &mut Entry) {
        if entry.phase == Phase::Finished {
            return;
        }
        entry.resumes += 1;
        if entry.resumes > MAX_RESUMES {
            tracing::error!(
                command_id = entry.command.command_id,
                resumes = entry.resumes - 1,
                "the agent stopped every time it ran this command; failing it instead of running it again"
            );
            entry.phase = Phase::Finished;
            entry.outcome = Some(Outcome::Failed {
                error_type: ErrorType::Internal,
                cause: format!(
                    "the agent stopped (crashed or was killed) each of the {} times it ran this \
                     command; it is not run again",
                    entry.resumes
                ),
            });
        }
        if let Err(e) = self.journal.put(entry) {
            tracing::error!(command_id = entry.command.command_id, error = %e, "cannot count the resume");
        }
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
            if entry.phase == Phase::Accepted {
                // Before anything changes: a command whose task is gone was given up by the
                // state machine (which may have sent its rollback already).
                match self.task_alive(&entry.command).await {
                    Some(true) => {}
                    Some(false) => {
                        tracing::warn!(
                            command_id = id,
                            "the task no longer waits for this command; dropped without acting"
                        );
                        entry.phase = Phase::Finished;
                        entry.outcome = Some(Outcome::Failed {
                            error_type: ErrorType::Stale,
                            cause: "the task no longer waits for this command; nothing was done"
                                .to_owned(),
                        });
                        entry.mark_reported();
                        if let Err(e) = self.journal.put(&entry) {
                            tracing::error!(command_id = id, error = %e, "cannot record the drop");
                        }
                        if let Some(m) = &message {
                            self.delete(m).await;
                        }
                        self.inflight.lock().expect("inflight lock").remove(&id);
                        return;
                    }
                    None => {
                        // Unknown: leave the message for a later delivery rather than act blind.
                        self.inflight.lock().expect("inflight lock").remove(&id);
                        return;
                    }
                }
            }
            let deployment = action_deployment(&entry.command.action).to_owned();
            let mut log = CommandLog::open(&self.layout.logs_dir(&app), &deployment, Vec::new());
            let outcome = match entry.command.action.clone() {
                Action::Deploy {
                    app,
                    version,
                    workload,
                    ..
                } => {
                    self.deploy(&mut entry, &app, &version, &workload, &mut log)
                        .await
                }
                Action::Rollback {
                    app,
                    to_version,
                    workload,
                    ..
                } => {
                    self.rollback(
                        &mut entry,
                        &app,
                        to_version.as_deref(),
                        workload.as_ref(),
                        &mut log,
                    )
                    .await
                }
                Action::Status {} => unreachable!("status commands are answered at once"),
            };
            // Sent before the result, so the output is recorded when the platform reacts to it.
            self.send_output(&deployment, &app, entry.command.action.as_str(), &log)
                .await;
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
            observed_at: boreas_aws::store::rfc3339(std::time::SystemTime::now()),
            kind: AppKind::Pm,
            environment: self.config.environment.clone(),
            group: self.config.group.clone(),
            apps,
            interval_seconds: Some(self.config.inventory_every.as_secs()),
        })
    }

    async fn send_inventory(&self) {
        let event = self.inventory().await;
        self.send_event(&event).await;
    }

    pub(super) async fn send_event(&self, event: &Event) {
        let cached = self.inventory_url.lock().expect("inventory url").clone();
        let url = match cached {
            Some(url) => url,
            None => match self.queues.queue_url(&self.config.inventory_queue).await {
                Ok(url) => {
                    *self.inventory_url.lock().expect("inventory url") = Some(url.clone());
                    url
                }
                Err(e) => {
                    tracing::warn!(queue = self.config.inventory_queue, error = %e, "inventory queue unavailable; event dropped");
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

/// The deployment a deploy or rollback belongs to.
fn action_deployment(action: &Action) -> &str {
    match action {
        Action::Deploy { deployment_id, .. } | Action::Rollback { deployment_id, .. } => {
            deployment_id
        }
        Action::Status {} => "",
    }
}

/// The task token of a message that is not a valid command, so its task can be failed instead of
/// waiting for its timeout.
fn raw_task_token(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get("task_token")?.as_str().map(str::to_owned)
}
