//! The recorder function: consumes two queues and records what the state machine, the agents and
//! the operators report. Each queue is a channel with its own senders, and each kind of event is
//! accepted on its own channel only:
//!
//! - the **platform events** queue, which only the state machine may send to:
//!   - `gate_waiting`: the gate's task token, status `waiting`, so the api can approve or reject
//!     (and a `gate_waiting` notice for the notifier);
//!   - `decision_waiting`: a failed host's task token (`rollout.on_failure: pause`), so the api
//!     can retry, skip or roll back; a message about an earlier attempt never replaces a later
//!     one;
//!   - `deployment_finished`: the deployment's terminal status (if it is still `running`), then
//!     the run locks it holds are released ([`boreas_aws::lifecycle::Lifecycle::finish`]);
//! - the **inventory** queue, which agents and operators send to:
//!   - `inventory`: what runs on a target, as the agent record of `(environment, target)`,
//!     unless the stored one was observed later, with the time until which the target counts as
//!     reachable (two of its reporting intervals and a slack);
//!   - `task_output`: what a target's hooks printed during a command, under the deployment.
//!
//! An event on the wrong channel (a host sending `deployment_finished`, say) is refused and left
//! to the dead-letter queue: nothing a host sends can finish a deployment or touch a gate.
//!
//! Every message is recorded idempotently, since SQS delivers at least once: a gate already
//! decided stays decided, an inventory replaces an older one, a finished deployment stays as
//! it is and releasing locks it no longer holds does nothing. A message that cannot be read or
//! recorded is logged and reported as a batch item failure, so SQS redelivers only that message
//! (and after `maxReceiveCount` moves it to the dead-letter queue); the rest of the batch is
//! recorded.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use boreas_aws::batch::{Concurrency, Settle, handle_batch};
use boreas_aws::env::Env;
use boreas_aws::lifecycle::{Finished, Lifecycle};
use boreas_aws::names::Names;
use boreas_aws::notices::Notices;
use boreas_aws::policy::Rechecks;
use boreas_aws::store::{Agent, DynamoStore, HostDecision, Store, TaskOutput, rfc3339};
use boreas_core::command::{Channel, Event, EventBody, WireError, is_instant, live_window_seconds};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::notify::NoticeEvent;

/// Why a message was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not an event of this schema version.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A `deployment_finished` event with a status that is not terminal.
    #[error("deployment {id}: deployment_finished reports status {status}, which is not terminal")]
    NotTerminal {
        /// Deployment id.
        id: String,
        /// The reported status.
        status: DeploymentStatus,
    },
    /// A `deployment_finished` event for a deployment that does not exist.
    #[error("deployment {0} does not exist")]
    UnknownDeployment(String),
    /// An event that may not travel on the queue it came from.
    #[error(
        "a {kind} event arrived on the {arrived} queue; it is accepted only on the {expected} queue"
    )]
    WrongChannel {
        /// The event's `type`.
        kind: &'static str,
        /// The channel it came on.
        arrived: &'static str,
        /// The channel it belongs to.
        expected: &'static str,
    },
    /// A message from a queue that is neither of the recorder's.
    #[error("a message from queue {0:?}, which is not the events or the inventory queue")]
    UnknownQueue(String),
    /// An inventory whose `observed_at` is not an instant as Boreas writes them.
    #[error(
        "inventory of {target}: observed_at {at:?} is not RFC 3339 UTC with milliseconds (2026-12-01T10:00:00.000Z)"
    )]
    BadObservedAt {
        /// The reporting target.
        target: String,
        /// What it sent.
        at: String,
    },
    /// A store call failed.
    #[error(transparent)]
    Aws(#[from] boreas_aws::Error),
}

impl Error {
    /// A stable name of the kind of failure, for logs and alarms.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Wire(e) => e.error_type().as_str(),
            Self::NotTerminal { .. } => "NotTerminal",
            Self::UnknownDeployment(_) => "UnknownDeployment",
            Self::WrongChannel { .. } => "WrongChannel",
            Self::UnknownQueue(_) => "UnknownQueue",
            Self::BadObservedAt { .. } => "BadObservedAt",
            Self::Aws(e) => e.error_type(),
        }
    }
}

/// What recording one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A gate's token was stored.
    GateStored,
    /// The gate was decided already: the token is not needed any more.
    GateAlreadyDecided,
    /// A failed host's decision token was stored.
    DecisionStored,
    /// That attempt was decided already, or a later attempt is recorded: dropped.
    DecisionAlreadyTaken,
    /// An agent record was created or replaced.
    InventoryStored,
    /// The stored inventory was observed at the same instant or later: this one was dropped.
    InventoryStale,
    /// A target's hook output was stored.
    OutputStored,
    /// The deployment moved to its terminal status and its locks were released.
    Finished(DeploymentStatus),
    /// The deployment had already left `running` (a redelivery, or a cancel that came first);
    /// its status was kept and its locks released.
    AlreadyFinished(DeploymentStatus),
}

/// The function's adapters, built once per cold start.
#[derive(Debug, Clone)]
pub struct Recorder {
    store: Arc<dyn Store>,
    names: Names,
    notices: Notices,
    rechecks: Rechecks,
}

impl Recorder {
    /// A recorder writing to `store`, consuming the queues of `names`.
    pub fn new(store: Arc<dyn Store>, names: Names) -> Self {
        Self {
            store,
            names,
            notices: Notices::off(),
            rechecks: Rechecks::off(),
        }
    }

    /// Asks the planner to look again at the environments promoted from one whose deployment
    /// ended.
    #[must_use]
    pub fn with_rechecks(mut self, rechecks: Rechecks) -> Self {
        self.rechecks = rechecks;
        self
    }

    /// Announces gates and outcomes to `notices`.
    #[must_use]
    pub fn with_notices(mut self, notices: Notices) -> Self {
        self.notices = notices;
        self
    }

    /// The channel of the queue a message came from (its event source ARN ends with the name).
    pub fn channel_of(&self, source_arn: &str) -> Result<Channel, Error> {
        let queue = source_arn.rsplit(':').next().unwrap_or_default();
        if queue == self.names.events_queue() {
            Ok(Channel::Platform)
        } else if queue == self.names.inventory_queue() {
            Ok(Channel::Inventory)
        } else {
            Err(Error::UnknownQueue(source_arn.to_owned()))
        }
    }

    /// The recorder of the installation the environment describes: `BOREAS_PREFIX` (default
    /// `boreas`), `BOREAS_TABLE` (default: derived from the prefix), and the AWS SDK's own
    /// variables (`AWS_ENDPOINT_URL` for an emulator).
    pub async fn from_env(env: &Env) -> Result<Self, Error> {
        let names = env.names()?;
        let table = env.get("BOREAS_TABLE")?.unwrap_or_else(|| names.table());
        let config = boreas_aws::sdk_config(None).await;
        Ok(
            Self::new(Arc::new(DynamoStore::from_config(&config, table)), names)
                .with_notices(Notices::from_env(env, &config)?)
                .with_rechecks(Rechecks::from_env(env, &config)?),
        )
    }
}

/// Records every message of a batch; the ones that failed are reported by message id.
pub async fn handle(ctx: &Recorder, event: SqsEvent) -> SqsBatchResponse {
    handle_batch(event, Concurrency::Sequential, |message| async move {
        let id = message.message_id.as_deref().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or_default();
        let recorded = match ctx.channel_of(message.event_source_arn.as_deref().unwrap_or_default())
        {
            Ok(channel) => record(ctx, channel, body).await,
            Err(e) => Err(e),
        };
        match recorded {
            Ok(outcome) => {
                tracing::info!(message_id = %id, ?outcome, "event recorded");
                Settle::Delete
            }
            Err(e) => {
                tracing::error!(
                    message_id = %id,
                    error_type = e.error_type(),
                    error = %e,
                    "event not recorded"
                );
                Settle::Redeliver
            }
        }
    })
    .await
}

/// Records one event body that arrived on `channel`.
pub async fn record(ctx: &Recorder, channel: Channel, body: &str) -> Result<Outcome, Error> {
    let event = Event::from_json(body)?;
    let expected = event.body.channel();
    if expected != channel {
        return Err(Error::WrongChannel {
            kind: event.body.kind(),
            arrived: channel.as_str(),
            expected: expected.as_str(),
        });
    }
    let received = SystemTime::now();
    let now = rfc3339(received);
    match event.body {
        EventBody::GateWaiting {
            deployment_id,
            app,
            batch,
            gate,
            task_token,
        } => match ctx.store.put_gate(&deployment_id, &gate, &task_token).await {
            Ok(()) => {
                let event = NoticeEvent::GateWaiting { app, batch, gate };
                ctx.notices.send(&deployment_id, event).await;
                Ok(Outcome::GateStored)
            }
            Err(boreas_aws::Error::Conflict { .. }) => Ok(Outcome::GateAlreadyDecided),
            Err(e) => Err(e.into()),
        },
        EventBody::DecisionWaiting {
            deployment_id,
            app,
            target,
            batch,
            attempt,
            task_token,
        } => {
            let waiting = HostDecision::waiting(app, target, batch, attempt, task_token);
            match ctx.store.put_host_decision(&deployment_id, &waiting).await {
                Ok(()) => Ok(Outcome::DecisionStored),
                Err(boreas_aws::Error::Conflict { .. }) => Ok(Outcome::DecisionAlreadyTaken),
                Err(e) => Err(e.into()),
            }
        }
        EventBody::Inventory {
            target,
            observed_at,
            environment,
            group,
            apps,
            interval_seconds,
            ..
        } => {
            if !is_instant(&observed_at) {
                return Err(Error::BadObservedAt {
                    target,
                    at: observed_at,
                });
            }
            let live_until = interval_seconds
                .map(|i| rfc3339(received + Duration::from_secs(live_window_seconds(i))));
            let agent = Agent {
                env: environment,
                host: target,
                group: group.unwrap_or_default(),
                last_seen: now,
                observed_at,
                live_until,
                apps: serde_json::to_value(&apps).expect("inventories serialise"),
            };
            Ok(if ctx.store.upsert_agent(&agent).await? {
                Outcome::InventoryStored
            } else {
                Outcome::InventoryStale
            })
        }
        EventBody::TaskOutput {
            deployment_id,
            app,
            target,
            action,
            output,
            truncated,
        } => {
            let output = TaskOutput {
                app,
                target,
                action,
                output,
                truncated,
                at: now,
            };
            ctx.store.put_task_output(&deployment_id, &output).await?;
            Ok(Outcome::OutputStored)
        }
        EventBody::DeploymentFinished {
            deployment_id,
            status,
            failed_target,
        } => finish(ctx, &deployment_id, status, failed_target).await,
    }
}

async fn finish(
    ctx: &Recorder,
    id: &str,
    status: DeploymentStatus,
    failed_target: Option<String>,
) -> Result<Outcome, Error> {
    if !status.is_terminal() {
        return Err(Error::NotTerminal {
            id: id.to_owned(),
            status,
        });
    }
    let finished = Lifecycle::notifying(ctx.store.as_ref(), &ctx.notices)
        .finish(id, status, failed_target)
        .await
        .map_err(|e| match e {
            boreas_aws::Error::NotFound { .. } => Error::UnknownDeployment(id.to_owned()),
            e => e.into(),
        })?;
    look_downstream(ctx, id).await?;
    Ok(match finished {
        Finished::Now(status) => Outcome::Finished(status),
        Finished::Already(status) => Outcome::AlreadyFinished(status),
    })
}

/// An outcome is what the environments promoted from this one wait for: the planner looks at
/// them again (on every redelivery too; looking again changes nothing that did not change).
async fn look_downstream(ctx: &Recorder, id: &str) -> Result<(), Error> {
    let Some(deployment) = ctx.store.get_deployment(id).await? else {
        return Ok(());
    };
    let Ok(config) = boreas_aws::store::deployment_config(ctx.store.as_ref(), &deployment).await?
    else {
        return Ok(());
    };
    for env in boreas_aws::policy::downstream(&config, &deployment.environment) {
        ctx.rechecks.now(&deployment.repository, &env).await;
    }
    Ok(())
}
