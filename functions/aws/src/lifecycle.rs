//! A deployment's lifecycle: the one owner of its status changes, of the run locks that go with
//! them and of their audit entries. The api (confirm, cancel), the planner (`auto_confirm`,
//! supersede) and the recorder (outcomes) change a deployment only through [`Lifecycle`]; the state
//! machine records its own outcome in the same record under the same rules (a conditional write on
//! `running`).
//!
//! Rules, with the store's conditional writes underneath (see [`crate::store`]):
//! - **start**: a `planned` deployment takes the run locks of every app of its plan, all or none,
//!   moves to `running` and starts the execution named by its id. Losing the move to a concurrent
//!   start of the same deployment keeps the locks (the winner holds them: they are taken by
//!   deployment id); losing it to anything else (a cancel, a supersede) gives them back. A
//!   deployment already `running` (an earlier start stopped between the move and the execution)
//!   only starts the execution, which is idempotent.
//! - **fail_to_start**: when the execution does not start, the deployment is `failed` with the
//!   error, and its locks are released.
//! - **cancel**: a `planned` deployment is `cancelled`; a `running` one has its execution stopped,
//!   then is `cancelled` and releases its locks.
//! - **finish**: a `running` deployment takes the outcome the state machine reports; whatever its
//!   status, its locks are released (on every redelivery too, so a crash between the two writes
//!   cannot leave them held); a `succeeded` one is recorded as its apps' release
//!   ([`Store::record_release`]), on every redelivery as well.
//! - **supersede**: a `planned` deployment is `superseded` by a newer one, unless a person
//!   confirmed or cancelled it first.
//!
//! Each change is announced to the notifier ([`Notices`]): `started`, `cancelled`, the outcome
//! (on every redelivery too: the notifier sends each once) and `superseded`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use boreas_core::config::{self, Config};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::notify::NoticeEvent;
use boreas_core::plan::Plan;

use crate::Error;
use crate::notices::Notices;
use crate::orchestrator::{ExecutionStatus, Orchestrator};
use crate::store::{AuditEntry, Deployment, MAX_LOCKS, Store, Transition, rfc3339};

/// Error a cancelled execution is stopped with.
pub const CANCELLED: &str = "Boreas.Cancelled";

/// Who asks for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A person or tool holding an API token, by the token's name: the change is audited.
    Token(&'a str),
    /// Boreas itself (`auto_confirm`, the planner, the state machine's outcome): not audited.
    Boreas,
}

/// A started deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedDeployment {
    /// The deployment, `running`.
    pub deployment: Deployment,
    /// Its execution's ARN.
    pub execution_arn: String,
}

/// What [`Lifecycle::finish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The deployment moved from `running` to this outcome.
    Now(DeploymentStatus),
    /// The deployment had already left `running` (a redelivery, a cancel that came first, the
    /// state machine's own record): its status is kept.
    Already(DeploymentStatus),
}

/// Changes deployments in a [`Store`]; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct Lifecycle<'a> {
    store: &'a dyn Store,
    notices: Option<&'a Notices>,
}

impl<'a> Lifecycle<'a> {
    /// The lifecycle of the deployments in `store`, announcing nothing.
    pub fn new(store: &'a dyn Store) -> Self {
        Self {
            store,
            notices: None,
        }
    }

    /// The lifecycle of the deployments in `store`, announcing each change to `notices`.
    pub fn notifying(store: &'a dyn Store, notices: &'a Notices) -> Self {
        Self {
            store,
            notices: Some(notices),
        }
    }

    async fn announce(&self, id: &str, event: NoticeEvent) {
        if let Some(notices) = self.notices {
            notices.send(id, event).await;
        }
    }

    /// Starts `deployment` (as read by the caller, `planned` or `running`) with the execution
    /// input `input` (JSON).
    ///
    /// A `planned` deployment starts only when its environment's policy lets it
    /// ([`crate::policy::check_start`]); otherwise the reasons are recorded as its hold and the
    /// answer is [`Error::Held`]. Once it starts, a recorded hold is cleared.
    ///
    /// Errors: [`Error::Held`] (nothing else changed); [`Error::Conflict`] when another deployment holds a run lock (nothing changed);
    /// [`Error::IllegalTransition`] when the deployment is no longer `planned` (a concurrent
    /// start that won keeps the locks); [`Error::ExecutionNotStarted`] when the execution did
    /// not start (the deployment is then `failed`, see [`Self::fail_to_start`]).
    pub async fn start(
        &self,
        orchestrator: &dyn Orchestrator,
        deployment: &Deployment,
        input: &boreas_core::execution::Slices,
        actor: Actor<'_>,
    ) -> Result<StartedDeployment, Error> {
        let id = deployment.id.as_str();
        let running = match deployment.status {
            DeploymentStatus::Planned => {
                let check =
                    crate::policy::check_start(self.store, deployment, crate::policy::now())
                        .await?;
                if let Some(hold) = check.hold {
                    tracing::info!(deployment = id, reasons = ?hold.reasons, "held by the environment policy");
                    self.store.set_hold(id, Some(&hold)).await?;
                    return Err(Error::Held {
                        id: id.to_owned(),
                        reasons: hold.reasons,
                    });
                }
                let running = self.take_locks_and_run(deployment).await?;
                if check.records.hold.is_some() {
                    self.store.set_hold(id, None).await?;
                }
                running
            }
            DeploymentStatus::Running => deployment.clone(),
            from => {
                return Err(Error::IllegalTransition {
                    id: id.to_owned(),
                    from,
                    to: DeploymentStatus::Running,
                });
            }
        };
        match orchestrator.start(id, input).await {
            Ok(started) => {
                tracing::info!(
                    deployment = id,
                    created = started.created,
                    "execution started"
                );
                self.audit(actor, "deployment.confirm", id).await?;
                let by = match actor {
                    Actor::Token(name) => name,
                    Actor::Boreas => "boreas",
                };
                self.store.set_confirmed_by(id, by).await?;
                self.announce(id, NoticeEvent::Started).await;
                Ok(StartedDeployment {
                    deployment: running,
                    execution_arn: started.execution_arn,
                })
            }
            Err(e) => {
                let message = format!("the execution did not start: {e}");
                self.fail_to_start(&running, &message).await?;
                Err(Error::ExecutionNotStarted {
                    id: id.to_owned(),
                    message,
                })
            }
        }
    }

    async fn take_locks_and_run(&self, deployment: &Deployment) -> Result<Deployment, Error> {
        let (id, env) = (deployment.id.as_str(), deployment.environment.as_str());
        let apps = plan_apps(deployment);
        if apps.is_empty() {
            return Err(Error::invalid_input(format!(
                "deployment {id} plans no app: there is nothing to start"
            )));
        }
        self.store.acquire_run_locks(id, env, &apps).await?;
        let change = Transition::to(DeploymentStatus::Running, now());
        match self.store.transition_deployment(id, &change).await {
            Ok(running) => Ok(running),
            // A concurrent start of this deployment won: the locks are its locks now.
            Err(
                e @ Error::IllegalTransition {
                    from: DeploymentStatus::Running,
                    ..
                },
            ) => Err(e),
            Err(e) => {
                self.release_locks(deployment).await?;
                Err(e)
            }
        }
    }

    /// Records that the execution of the `running` deployment did not start: `failed` with
    /// `error`, its run locks released. A deployment that meanwhile reached another end (a
    /// cancel) keeps that status; its locks are released all the same.
    pub async fn fail_to_start(&self, deployment: &Deployment, error: &str) -> Result<(), Error> {
        let change = Transition {
            error: Some(error.to_owned()),
            ..Transition::to(DeploymentStatus::Failed, now())
        };
        match self
            .store
            .transition_deployment(&deployment.id, &change)
            .await
        {
            Ok(_) => {
                tracing::warn!(deployment = %deployment.id, error, "deployment failed to start");
                let event = NoticeEvent::Failed {
                    failed_target: None,
                };
                self.announce(&deployment.id, event).await;
            }
            Err(Error::IllegalTransition { from, .. }) if from.is_terminal() => {}
            Err(e) => return Err(e),
        }
        self.release_locks(deployment).await
    }

    /// Cancels `deployment` (as read by the caller): a `planned` one at once, a `running` one
    /// after stopping its execution (an execution that does not exist is already stopped).
    /// [`Error::IllegalTransition`] when it has ended, or ends meanwhile.
    pub async fn cancel(
        &self,
        orchestrator: &dyn Orchestrator,
        deployment: &Deployment,
        actor: Actor<'_>,
    ) -> Result<Deployment, Error> {
        let id = deployment.id.as_str();
        let change = Transition::to(DeploymentStatus::Cancelled, now());
        let cancelled = match deployment.status {
            DeploymentStatus::Planned => self.store.transition_deployment(id, &change).await?,
            DeploymentStatus::Running => {
                let cause = match actor {
                    Actor::Token(name) => format!("cancelled by {name}"),
                    Actor::Boreas => "cancelled".to_owned(),
                };
                match orchestrator.stop(id, CANCELLED, &cause).await {
                    Ok(()) | Err(Error::NotFound { .. }) => {}
                    // A stop can fail after it took effect (the emulator answers 500 once it has
                    // aborted the execution): what counts is whether it still runs.
                    Err(e) => match orchestrator.describe(id).await {
                        Ok(execution) if execution.status != ExecutionStatus::Running => {}
                        _ => return Err(e),
                    },
                }
                let cancelled = self.store.transition_deployment(id, &change).await?;
                self.release_locks(deployment).await?;
                cancelled
            }
            from => {
                return Err(Error::IllegalTransition {
                    id: id.to_owned(),
                    from,
                    to: DeploymentStatus::Cancelled,
                });
            }
        };
        self.audit(actor, "deployment.cancel", id).await?;
        self.announce(id, NoticeEvent::Cancelled).await;
        Ok(cancelled)
    }

    /// Records the outcome `status` (terminal) the state machine reports for deployment `id`,
    /// with the target that caused it, and releases the deployment's run locks.
    /// [`Error::NotFound`] for an unknown deployment, [`Error::InvalidInput`] for a status that is
    /// not terminal.
    pub async fn finish(
        &self,
        id: &str,
        status: DeploymentStatus,
        failed_target: Option<String>,
    ) -> Result<Finished, Error> {
        if !status.is_terminal() {
            return Err(Error::invalid_input(format!(
                "deployment {id}: {status} is not an outcome"
            )));
        }
        let deployment = self
            .store
            .get_deployment(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("deployment {id}")))?;
        // The record as it ended: the transition's answer, or as read when the state machine
        // (or a cancel) recorded the end first.
        let (finished, ended) = if deployment.status == DeploymentStatus::Running {
            let change = Transition {
                failed_target: failed_target.clone(),
                ..Transition::to(status, now())
            };
            match self.store.transition_deployment(id, &change).await {
                Ok(ended) => (Finished::Now(status), ended),
                // Another writer (a cancel) moved it first: its status stands.
                Err(Error::IllegalTransition { from, .. }) => {
                    let ended = self
                        .store
                        .get_deployment(id)
                        .await?
                        .ok_or_else(|| Error::not_found(format!("deployment {id}")))?;
                    (Finished::Already(from), ended)
                }
                Err(e) => return Err(e),
            }
        } else {
            (Finished::Already(deployment.status), deployment)
        };
        // Released after the status is final, and on every redelivery.
        self.release_locks(&ended).await?;
        let outcome = match finished {
            Finished::Now(s) | Finished::Already(s) => s,
        };
        if outcome == DeploymentStatus::Succeeded {
            // On every redelivery too: the state machine records its success itself, and this
            // is the one place that learns of it.
            self.store.record_release(&ended).await?;
        }
        // What ran where, on every redelivery too (the records replace themselves).
        if ended.started_at.is_some() {
            let progress = self.store.progress(id).await?;
            let (apps, hosts) = crate::history::runs(&ended, &progress);
            self.store.record_runs(&ended, &apps, &hosts).await?;
        }
        if let Some(event) = outcome_event(outcome, failed_target) {
            self.announce(id, event).await;
        }
        Ok(finished)
    }

    /// Supersedes the `planned` deployment `loser` by `winner`; `false` when `loser` is no
    /// longer planned (a person confirmed or cancelled it: that decision stands).
    pub async fn supersede(&self, loser: &Deployment, winner: &Deployment) -> Result<bool, Error> {
        // A deployment replaced while its environment's policy held it says what held it, so
        // that nothing a freeze or a promotion skipped goes unexplained.
        let held = match self.store.deployment_policy(&loser.id).await?.hold {
            Some(hold) => format!(" while it waited: {}", hold.reasons.join("; ")),
            None => String::new(),
        };
        let change = Transition {
            error: Some(format!(
                "superseded by deployment {} of version {}{held}",
                winner.id, winner.version
            )),
            ..Transition::to(DeploymentStatus::Superseded, now())
        };
        match self.store.transition_deployment(&loser.id, &change).await {
            Ok(_) => {
                tracing::info!(deployment = %loser.id, by = %winner.id, "superseded");
                let event = NoticeEvent::Superseded {
                    by: winner.id.clone(),
                };
                self.announce(&loser.id, event).await;
                Ok(true)
            }
            Err(Error::IllegalTransition { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Releases the run locks `deployment` holds for the apps of its plan.
    async fn release_locks(&self, deployment: &Deployment) -> Result<(), Error> {
        let apps = plan_apps(deployment);
        for chunk in apps.chunks(MAX_LOCKS) {
            self.store
                .release_run_locks(&deployment.id, &deployment.environment, chunk)
                .await?;
        }
        Ok(())
    }

    async fn audit(&self, actor: Actor<'_>, action: &str, target: &str) -> Result<(), Error> {
        if let Actor::Token(who) = actor {
            self.store
                .append_audit(&AuditEntry::new(who, action, target)?)
                .await?;
            tracing::info!(who, action, target, "audited");
        }
        Ok(())
    }
}

/// The notice of an outcome.
fn outcome_event(status: DeploymentStatus, failed_target: Option<String>) -> Option<NoticeEvent> {
    match status {
        DeploymentStatus::Succeeded => Some(NoticeEvent::Succeeded),
        DeploymentStatus::RolledBack => Some(NoticeEvent::RolledBack { failed_target }),
        DeploymentStatus::Failed => Some(NoticeEvent::Failed { failed_target }),
        DeploymentStatus::Cancelled => Some(NoticeEvent::Cancelled),
        DeploymentStatus::Superseded | DeploymentStatus::Planned | DeploymentStatus::Running => {
            None
        }
    }
}

/// The apps of a deployment's plan: the run locks it takes.
fn plan_apps(deployment: &Deployment) -> Vec<String> {
    deployment.plan.apps().map(|a| a.app.clone()).collect()
}

fn now() -> String {
    rfc3339(SystemTime::now())
}

/// The recorded `boreas.yaml` of each version the apps of `plan` run now, by version: a rollback
/// returns to a release as that release's own config ran it (see
/// [`boreas_core::execution::execution_input`]). A version with no recorded or no valid config is
/// left out, and its rollback is built from the new config.
pub async fn rollback_configs(
    store: &dyn Store,
    repository: &str,
    plan: &Plan,
) -> Result<BTreeMap<String, Config>, Error> {
    let mut configs = BTreeMap::new();
    let versions = plan
        .stages
        .iter()
        .flat_map(|s| &s.apps)
        .filter_map(|a| a.current_version.clone());
    for version in versions {
        if configs.contains_key(&version) {
            continue;
        }
        let Some(source) = store.get_version_config(repository, &version).await? else {
            continue;
        };
        match config::parse(&source) {
            Ok(parsed) => {
                configs.insert(version, parsed);
            }
            Err(e) => {
                tracing::warn!(repository, version, error = %e, "the recorded config of the release to roll back to does not validate; rollbacks use the new one");
            }
        }
    }
    Ok(configs)
}
