//! The operator's wiring: where cluster credentials come from, and SQS messages in.

use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use boreas_aws::batch::{self, Concurrency, Settle, handle_batch};
use boreas_aws::env::Env;
use boreas_aws::names::Names;
use boreas_aws::orchestrator::Orchestrator;
use boreas_aws::queues::Queues;
use boreas_aws::secrets::Secrets;
use boreas_core::command::{Command, TaskFailure};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::time::Instant;

use crate::error::Error;
use crate::handler::{Ctx, Delivery, Outcome, handle_command};

/// Commands handled at the same time, from one Lambda batch or by the in-cluster poller: the apps
/// of one stage roll out in parallel.
pub const CONCURRENT_COMMANDS: NonZeroUsize = NonZeroUsize::new(8).expect("not zero");

/// What a Lambda invocation keeps back from its deadline after it stops waiting: for the
/// inventory, the report to Step Functions and hiding the records still rolling out.
pub const LAMBDA_RESERVE: Duration = Duration::from_secs(5);

/// How long a record still rolling out stays hidden before the next invocation goes on waiting.
pub const RESUME_AFTER: Duration = Duration::from_secs(5);

/// How long a rollout may take when `BOREAS_ROLLOUT_TIMEOUT_SECONDS` does not say.
const DEFAULT_ROLLOUT_TIMEOUT: Duration = Duration::from_secs(900);

/// Until when an invocation whose deadline is `deadline_ms` (milliseconds since the Unix epoch, as
/// the Lambda context gives it) may wait for rollouts: [`LAMBDA_RESERVE`] before it.
pub fn wait_until(deadline_ms: u64) -> Instant {
    let deadline = std::time::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left.saturating_sub(LAMBDA_RESERVE)
}

/// Where the operator gets a client for a cluster.
#[derive(Clone)]
pub enum Clusters {
    /// One cluster, with a client made beforehand (in-cluster service-account credentials, or a
    /// kubeconfig): the poller's way.
    Fixed {
        /// The cluster's name (commands for other targets are refused).
        name: String,
        /// Its API.
        client: kube::Client,
    },
    /// Any cluster, from the kubeconfig in the SSM SecureString [`Names::kubeconfig_param`]: the Lambda's way.
    Ssm {
        /// SSM, cached.
        secrets: Arc<dyn Secrets>,
        /// The installation's names.
        names: Names,
    },
}

impl std::fmt::Debug for Clusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed { name, .. } => f
                .debug_struct("Fixed")
                .field("name", name)
                .finish_non_exhaustive(),
            Self::Ssm { names, .. } => f
                .debug_struct("Ssm")
                .field("names", names)
                .finish_non_exhaustive(),
        }
    }
}

/// The operator: the AWS side plus a source of cluster clients.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Cluster clients.
    pub clusters: Clusters,
    /// Step Functions task callbacks.
    pub orchestrator: Arc<dyn Orchestrator>,
    /// SQS.
    pub queues: Arc<dyn Queues>,
    /// URL of the inventory queue.
    pub inventory_queue_url: String,
    /// See [`Ctx::rollout_timeout`].
    pub rollout_timeout: Duration,
}

/// A kube client from a kubeconfig's text, its current context.
///
/// # Errors
/// A kubeconfig that does not parse or names no usable cluster, said so with `source` named.
pub async fn client_from_kubeconfig(text: &str, source: &str) -> Result<kube::Client, Error> {
    let unreachable = |message: String| Error::ClusterUnreachable {
        what: format!("reading the kubeconfig {source}"),
        message,
    };
    let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| unreachable(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| unreachable(e.to_string()))
}

impl Operator {
    /// The context for commands to `cluster`.
    ///
    /// # Errors
    /// No credentials for `cluster`, or credentials that do not make a client.
    pub async fn context(&self, cluster: &str) -> Result<Ctx, Error> {
        let client = match &self.clusters {
            Clusters::Fixed { client, .. } => client.clone(),
            Clusters::Ssm { secrets, names } => {
                let param = names.kubeconfig_param(cluster);
                let text = secrets
                    .get(&param)
                    .await
                    .map_err(|e| Error::ClusterUnreachable {
                        what: format!("loading the credentials of cluster {cluster:?}"),
                        message: format!("SSM parameter {param}: {e}"),
                    })?;
                client_from_kubeconfig(text.expose(), &param).await?
            }
        };
        let name = match &self.clusters {
            Clusters::Fixed { name, .. } => name.clone(),
            Clusters::Ssm { .. } => cluster.to_owned(),
        };
        Ok(Ctx {
            cluster: name,
            client,
            orchestrator: Arc::clone(&self.orchestrator),
            queues: Arc::clone(&self.queues),
            inventory_queue_url: self.inventory_queue_url.clone(),
            rollout_timeout: self.rollout_timeout,
        })
    }

    /// One queue message: read the command, get its cluster, hand it to [`handle_command`].
    pub async fn handle_message(&self, body: &str, delivery: Delivery) -> Outcome {
        let cmd = match Command::from_json(body) {
            Ok(cmd) => cmd,
            Err(e) => return self.refuse(body, &Error::from(e)).await,
        };
        match self.context(&cmd.target).await {
            Ok(ctx) => handle_command(&ctx, cmd, delivery).await,
            Err(e) => self.fail_without_cluster(&cmd, e).await,
        }
    }

    async fn fail_without_cluster(&self, cmd: &Command, e: Error) -> Outcome {
        let failure = TaskFailure {
            error_type: e.error_type(),
            cause: e.to_string(),
        };
        tracing::warn!(cause = %failure.cause, "no client for the command's cluster");
        self.answer_failure(cmd.task_token.as_deref(), failure)
            .await
    }

    /// A message that is no readable command: fail its task if a token can be found in it.
    async fn refuse(&self, body: &str, e: &Error) -> Outcome {
        let failure = TaskFailure {
            error_type: e.error_type(),
            cause: e.to_string(),
        };
        tracing::warn!(cause = %failure.cause, "unreadable command");
        let token = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("task_token")?.as_str().map(str::to_owned));
        self.answer_failure(token.as_deref(), failure).await
    }

    async fn answer_failure(&self, token: Option<&str>, failure: TaskFailure) -> Outcome {
        let Some(token) = token else {
            return Outcome::Failed(failure);
        };
        match self
            .orchestrator
            .send_task_failure(token, failure.error_type.as_str(), &failure.cause)
            .await
        {
            Ok(()) => Outcome::Failed(failure),
            Err(
                e @ (boreas_aws::Error::TaskTimedOut { .. }
                | boreas_aws::Error::InvalidTaskToken { .. }),
            ) => Outcome::Abandoned(e.to_string()),
            Err(e) => Outcome::Retry(format!("reporting to Step Functions: {e}")),
        }
    }

    /// The Lambda entry: every record handled (up to [`CONCURRENT_COMMANDS`] at a time), each
    /// waiting for its rollout at most until `until` (the invocation's deadline less
    /// [`LAMBDA_RESERVE`]; `None`: until done). Records whose outcome could not be reported are
    /// returned as batch item failures, so SQS delivers them again; so are those still rolling
    /// out, hidden for only [`RESUME_AFTER`] so that the wait goes on soon.
    pub async fn handle_sqs(&self, event: SqsEvent, until: Option<Instant>) -> SqsBatchResponse {
        handle_batch(
            event,
            Concurrency::Bounded(CONCURRENT_COMMANDS),
            |record| async move {
                let delivery = Delivery {
                    first_received: batch::first_received(&record),
                    until,
                };
                let outcome = match record.body.as_deref() {
                    Some(body) => self.handle_message(body, delivery).await,
                    None => Outcome::Failed(TaskFailure {
                        error_type: boreas_core::command::ErrorType::InvalidCommand,
                        cause: "an SQS record without a body".into(),
                    }),
                };
                if outcome == Outcome::Waiting {
                    self.resume_soon(&record).await;
                }
                if outcome.settled() {
                    Settle::Delete
                } else {
                    Settle::Redeliver
                }
            },
        )
        .await
    }

    /// Hides a record still rolling out for [`RESUME_AFTER`] instead of the queue's visibility
    /// timeout (sized for a whole invocation and its retries).
    async fn resume_soon(&self, record: &SqsMessage) {
        let (Some(url), Some(receipt)) = (batch::queue_url(record), &record.receipt_handle) else {
            tracing::warn!(
                "a record without its queue or receipt handle comes back after the queue's visibility timeout"
            );
            return;
        };
        if let Err(e) = self
            .queues
            .change_visibility(&url, receipt, RESUME_AFTER)
            .await
        {
            tracing::warn!(error = %e, "the rollout goes on after the queue's visibility timeout");
        }
    }

    /// The operator as configured by the environment, with cluster clients from `clusters`
    /// (`None`: from SSM, per cluster):
    /// `BOREAS_PREFIX` (default `boreas`), `BOREAS_INVENTORY_QUEUE_URL` (default: looked up by name),
    /// `BOREAS_ROLLOUT_TIMEOUT_SECONDS` (default 900), `BOREAS_STATE_MACHINE_ARN` (optional: task
    /// callbacks need only the token), and the AWS SDK's usual variables.
    ///
    /// # Errors
    /// A prefix or number that is not valid, or an inventory queue that cannot be found.
    pub async fn from_env(
        env: &Env,
        clusters: Option<(String, kube::Client)>,
    ) -> Result<Self, Error> {
        let names = env.names()?;
        let rollout_timeout = env
            .parse::<NonZeroU64>(
                "BOREAS_ROLLOUT_TIMEOUT_SECONDS",
                "a positive whole number of seconds",
            )?
            .map_or(DEFAULT_ROLLOUT_TIMEOUT, |secs| {
                Duration::from_secs(secs.get())
            });
        let inventory_queue_url = env.get("BOREAS_INVENTORY_QUEUE_URL")?;
        let state_machine = env.get("BOREAS_STATE_MACHINE_ARN")?;
        let sdk = boreas_aws::sdk_config(None).await;
        let queues: Arc<dyn Queues> = Arc::new(boreas_aws::queues::SqsQueues::from_config(&sdk));
        let inventory_queue_url = match inventory_queue_url {
            Some(url) => url,
            None => queues.queue_url(&names.inventory_queue()).await?,
        };
        // Task-token calls only: no execution input is stored.
        let orchestrator = Arc::new(boreas_aws::orchestrator::SfnOrchestrator::from_config(
            &sdk,
            state_machine.unwrap_or_default(),
            "",
        ));
        let clusters = match clusters {
            Some((name, client)) => Clusters::Fixed { name, client },
            None => Clusters::Ssm {
                secrets: Arc::new(boreas_aws::secrets::SsmSecrets::from_config(&sdk)),
                names,
            },
        };
        Ok(Self {
            clusters,
            orchestrator,
            queues,
            inventory_queue_url,
            rollout_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::{LAMBDA_RESERVE, wait_until};

    fn ms(t: SystemTime) -> u64 {
        u64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
    }

    #[test]
    fn waits_end_the_reserve_before_the_invocations_deadline() {
        let now = tokio::time::Instant::now();
        let until = wait_until(ms(SystemTime::now() + Duration::from_secs(60)));
        let left = until - now;
        let want = Duration::from_secs(60) - LAMBDA_RESERVE;
        assert!(
            left <= want && left > want - Duration::from_secs(1),
            "{left:?}"
        );
        // A deadline closer than the reserve (or past) leaves no wait at all.
        let soon = wait_until(ms(SystemTime::now() + Duration::from_secs(2)));
        assert!(soon <= tokio::time::Instant::now() + Duration::from_millis(10));
        assert!(wait_until(0) <= tokio::time::Instant::now());
    }
}
