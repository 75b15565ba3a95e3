//! The notifier function: consumes the notifications queue and sends each deployment event to
//! the sinks the version's `boreas.yaml` names for it, each (deployment, event, sink) once.
//!
//! For one [`Notice`] it reads the deployment, its repository, version and the `boreas.yaml`
//! recorded for the version, finds the sinks with [`boreas_core::notify::sinks_for`] and, for
//! each, claims the delivery in the store before sending ([`Store::claim_notification`]): a
//! redelivered message or a second report of the same event finds it claimed or delivered and
//! sends nothing. Sinks:
//! - `git`: the repository's git host with the repository's credential ([`sinks::GitHost`]: its
//!   token, or a token its GitHub App mints with only `statuses` and `deployments` write): a
//!   commit status `boreas/<environment>` on the version's commit (recorded under `git`) and,
//!   on GitHub, a Deployment of the version in the environment with a status per event
//!   (recorded under `git/deployment`, a name no rule can take). A status is never moved back:
//!   an event of an earlier stage that arrives after a later one (SQS keeps no order) is
//!   recorded `skipped`.
//! - any other name: a chat or webhook sink registered in the installation (an SSM
//!   SecureString holding its kind, URL and secret, [`sinks::Registered`]).
//!
//! A failed attempt that may succeed later (no connection, 408, 429, 5xx) is recorded
//! `retrying` and the message comes back after [`Backoff`]'s delay (its visibility is extended);
//! after the last attempt, or at once on a refusal (another 4xx, a missing credential or sink),
//! it is recorded `failed`. Nothing here touches the deployment itself: a sink that is down
//! never blocks or fails a deployment.

pub mod sinks;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use boreas_aws::batch::{Concurrency, Settle, handle_batch, hide_for};
use boreas_aws::env::Env;
use boreas_aws::names::Names;
use boreas_aws::queues::{Queues, SqsQueues};
use boreas_aws::secrets::{Secrets, SsmSecrets};
use boreas_aws::store::{
    Deployment, DynamoStore, Notification, NotificationClaim, Repository, Store, deployment_config,
    rfc3339,
};
use boreas_core::command::WireError;
use boreas_core::config::NotificationRule;
use boreas_core::notify::render::{self, Subject};
use boreas_core::notify::{Backoff, DeliveryState, Notice, NoticeEvent, rules_for, sinks_for};
use boreas_core::webhook::Provider;
use boreas_git_credentials::Credentials;

use sinks::{Attempt, GitHost, Registered};

/// Why a notice was not handled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not a notice of this schema version.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A notice about a deployment that does not exist.
    #[error("deployment {0} does not exist")]
    UnknownDeployment(String),
    /// The deployment's repository, version or recorded `boreas.yaml` is missing or unreadable.
    #[error("deployment {id}: {problem}")]
    Context {
        /// Deployment id.
        id: String,
        /// What is missing.
        problem: String,
    },
    /// A store, queue or secret call failed.
    #[error(transparent)]
    Aws(#[from] boreas_aws::Error),
    /// The HTTP client cannot be built (no TLS roots, say).
    #[error("cannot build an HTTP client: {0}")]
    Http(String),
}

impl Error {
    /// A stable name of the kind of failure, for logs and alarms.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Wire(e) => e.error_type().as_str(),
            Self::UnknownDeployment(_) => "UnknownDeployment",
            Self::Context { .. } => "MissingContext",
            Self::Aws(e) => e.error_type(),
            Self::Http(_) => "HttpClient",
        }
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The sink.
    pub sink: String,
    /// The delivery's event id (`succeeded`, `gate_waiting:api.0`; `github_deployment` for the
    /// creation of a GitHub Deployment).
    pub event: String,
    /// Where it stands now; `None` when it was not this notifier's to send (delivered,
    /// failed or being sent already).
    pub state: Option<DeliveryState>,
    /// When it is `retrying`: how long until the next attempt.
    pub retry_in: Option<Duration>,
}

/// The notifier's dependencies.
#[derive(Debug, Clone)]
pub struct Notifier {
    store: Arc<dyn Store>,
    secrets: Arc<dyn Secrets>,
    queues: Arc<dyn Queues>,
    /// Repositories' tokens, GitHub Apps' minted ones.
    credentials: Arc<Credentials>,
    http: reqwest::Client,
    dashboard_url: String,
    names: Names,
    backoff: Backoff,
    /// A `sending` claim older than this belongs to a notifier that stopped mid-send.
    lease: Duration,
}

/// How the notifier names itself to sinks and git hosts.
const USER_AGENT: &str = concat!("boreas-notifier/", env!("CARGO_PKG_VERSION"));

/// How long one HTTP call to a sink may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

impl Notifier {
    /// A notifier over these parts; links point into the dashboard at `dashboard_url`.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<dyn Secrets>,
        queues: Arc<dyn Queues>,
        names: Names,
        dashboard_url: &str,
        backoff: Backoff,
    ) -> Result<Self, Error> {
        let credentials = Arc::new(
            Credentials::new(Arc::clone(&secrets), USER_AGENT)
                .map_err(|e| Error::Http(e.to_string()))?,
        );
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .user_agent(USER_AGENT)
            // A sink answers where it is; a redirect could carry a token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        Ok(Self {
            store,
            secrets,
            queues,
            credentials,
            http,
            dashboard_url: dashboard_url.trim_end_matches('/').to_owned(),
            names,
            backoff,
            // Longer than a send can take, shorter than the queue's visibility timeout.
            lease: SEND_TIMEOUT * 6,
        })
    }

    /// The notifier of the environment: `BOREAS_PREFIX`, `BOREAS_TABLE`, `BOREAS_DASHBOARD_URL`.
    ///
    /// # Errors
    /// A variable is invalid.
    pub async fn from_env(env: &Env) -> Result<Self, Error> {
        let names = env.names()?;
        let table = env.get("BOREAS_TABLE")?.unwrap_or_else(|| names.table());
        let dashboard = env.require("BOREAS_DASHBOARD_URL", "links in notifications")?;
        let config = boreas_aws::sdk_config(None).await;
        Self::new(
            Arc::new(DynamoStore::from_config(&config, table)),
            Arc::new(SsmSecrets::from_config(&config)),
            Arc::new(SqsQueues::from_config(&config)),
            names,
            &dashboard,
            Backoff::DEFAULT,
        )
    }

    /// The names of the installation's resources.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Sends a test message to the registered sink `sink` (`boreas notify test`).
    ///
    /// # Errors
    /// Why it was not delivered: the sink is not registered or not valid, or it refused.
    pub async fn test_sink(&self, sink: &str) -> Result<(), String> {
        let registered = Registered::load(self, sink)
            .await
            .map_err(|e| e.to_string())?;
        registered
            .send_test(self, &rfc3339(SystemTime::now()))
            .await
            .map_err(|e| e.to_string())
    }

    /// The dashboard page of deployment `id`.
    fn deployment_url(&self, id: &str) -> String {
        format!("{}/#/deployments/{id}", self.dashboard_url)
    }

    /// Sends `notice` to every sink its deployment's rules name for it that has not had it.
    ///
    /// # Errors
    /// Its deployment or their context is missing, or the store fails.
    pub async fn notify(&self, notice: &Notice) -> Result<Vec<Outcome>, Error> {
        let id = &notice.deployment_id;
        let deployment = self
            .store
            .get_deployment(id)
            .await?
            .ok_or_else(|| Error::UnknownDeployment(id.clone()))?;
        let context = |problem: String| Error::Context {
            id: id.clone(),
            problem,
        };
        let rules = self.rules(&deployment).await?;
        let apps: Vec<String> = deployment.plan.apps().map(|a| a.app.clone()).collect();
        let sinks = sinks_for(&rules, &deployment.environment, &apps, &notice.event);
        if sinks.is_empty() {
            return Ok(Vec::new());
        }
        let repo = self
            .store
            .get_repository(&deployment.repository)
            .await?
            .ok_or_else(|| {
                context(format!(
                    "repository {} is not registered",
                    deployment.repository
                ))
            })?;
        let version = self
            .store
            .get_version(&deployment.repository, &deployment.version)
            .await?
            .ok_or_else(|| context(format!("version {} is not recorded", deployment.version)))?;
        let subject = Subject {
            provider: repo.provider,
            full_name: repo.full_name.clone(),
            deployment_id: id.clone(),
            environment: deployment.environment.clone(),
            version: deployment.version.clone(),
            commit: version.version.commit.0.clone(),
            apps,
            url: self.deployment_url(id),
        };
        let mut outcomes = Vec::new();
        for sink in sinks {
            if sink == NotificationRule::GIT {
                outcomes.extend(self.git(&repo, &subject, notice).await?);
            } else {
                let registered = Registered::load(self, sink).await;
                let outcome = self
                    .deliver(notice, sink, &subject, &[], async || match &registered {
                        Ok(r) => r.send(self, &subject, notice).await,
                        Err(refused) => Err(refused.clone()),
                    })
                    .await?;
                outcomes.push(outcome);
            }
        }
        Ok(outcomes)
    }

    /// The `notifications` rules of the `boreas.yaml` recorded for the deployment's version
    /// (planning records it only once it validated), or the installation's defaults when it has
    /// no such section.
    async fn rules(&self, deployment: &Deployment) -> Result<Vec<NotificationRule>, Error> {
        let own = deployment_config(self.store.as_ref(), deployment)
            .await?
            .map(|config| config.notifications)
            .map_err(|problem| Error::Context {
                id: deployment.id.clone(),
                problem,
            })?;
        let defaults = match own {
            Some(_) => None,
            None => self.store.notification_defaults().await?,
        };
        Ok(rules_for(own.as_deref(), defaults.as_ref().map_or(&[], |d| &d.rules)).to_vec())
    }

    /// The repository's git host: on GitHub the deployment status, then the commit status.
    async fn git(
        &self,
        repo: &Repository,
        subject: &Subject,
        notice: &Notice,
    ) -> Result<Vec<Outcome>, Error> {
        let recorded = self.store.notifications(&notice.deployment_id).await?;
        let host = GitHost::new(self, repo).await;
        let mut outcomes = Vec::new();
        if subject.provider == Provider::GitHub {
            let outcome = self
                .deliver(notice, GITHUB_SINK, subject, &recorded, async || {
                    let host = host.as_ref().map_err(Clone::clone)?;
                    let github_id = self
                        .github_deployment(host, subject, notice, &recorded)
                        .await?;
                    let request =
                        render::github_deployment_status(subject, github_id, &notice.event);
                    host.send(self, &request).await.map(drop)
                })
                .await?;
            outcomes.push(outcome);
        }
        let request = render::commit_status(subject, &notice.event);
        let outcome = self
            .deliver(
                notice,
                NotificationRule::GIT,
                subject,
                &recorded,
                async || {
                    let host = host.as_ref().map_err(Clone::clone)?;
                    host.send(self, &request).await.map(drop)
                },
            )
            .await?;
        outcomes.push(outcome);
        Ok(outcomes)
    }

    /// The id of the GitHub Deployment of the version in the environment, created by the first
    /// event that needs it, under a claim of its own (`github_deployment`) so that it is
    /// created once.
    async fn github_deployment(
        &self,
        host: &GitHost,
        subject: &Subject,
        notice: &Notice,
        recorded: &[Notification],
    ) -> Result<u64, Attempt> {
        let id = &notice.deployment_id;
        let stored = |e: boreas_aws::Error| Attempt::Retry(format!("the store failed: {e}"));
        let creation = recorded
            .iter()
            .find(|n| n.sink == GITHUB_SINK && n.event == GITHUB_DEPLOYMENT);
        match creation {
            Some(n) if n.state == DeliveryState::Delivered => {
                if let Some(github_id) = n.remote_id {
                    return Ok(github_id);
                }
            }
            Some(n) if n.state == DeliveryState::Failed => {
                return Err(Attempt::Refused(format!(
                    "the GitHub Deployment could not be created: {}",
                    n.error.as_deref().unwrap_or("no reason recorded")
                )));
            }
            _ => {}
        }
        let summary = format!(
            "GitHub Deployment of {} in {}",
            subject.version, subject.environment
        );
        let claim = self.claim(GITHUB_SINK, GITHUB_DEPLOYMENT, summary);
        let Some(mut claimed) = self
            .store
            .claim_notification(id, &claim)
            .await
            .map_err(stored)?
        else {
            return Err(Attempt::Retry(
                "another notifier is creating the GitHub Deployment".to_owned(),
            ));
        };
        let request = render::github_deployment(subject);
        let result = match host.send(self, &request).await {
            Ok(body) => body
                .get("id")
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| {
                    Attempt::Refused("GitHub answered the new Deployment without an id".to_owned())
                }),
            Err(failed) => Err(failed),
        };
        match &result {
            Ok(github_id) => {
                claimed.state = DeliveryState::Delivered;
                claimed.remote_id = Some(*github_id);
                claimed.error = None;
            }
            // The status that needs it retries, and the creation with it; a refusal is final
            // for both.
            Err(failed) => {
                claimed.state = match failed {
                    Attempt::Retry(_) => DeliveryState::Retrying,
                    Attempt::Refused(_) => DeliveryState::Failed,
                };
                claimed.error = Some(failed.to_string());
            }
        }
        claimed.updated_at = rfc3339(SystemTime::now());
        self.store
            .settle_notification(id, &claimed)
            .await
            .map_err(stored)?;
        result
    }

    /// A claim made now, taking over a `sending` one older than the lease.
    fn claim(&self, sink: &str, event: &str, summary: String) -> NotificationClaim {
        let now = SystemTime::now();
        NotificationClaim {
            sink: sink.to_owned(),
            event: event.to_owned(),
            summary,
            at: rfc3339(now),
            stale_before: rfc3339(now - self.lease),
        }
    }

    /// Claims the delivery of `notice` to `sink`, runs `send` and records how it ended. Given
    /// the sink's `recorded` deliveries, one of an earlier stage than a status the sink already
    /// shows is recorded `skipped` instead of sent.
    async fn deliver(
        &self,
        notice: &Notice,
        sink: &str,
        subject: &Subject,
        recorded: &[Notification],
        send: impl AsyncFnOnce() -> Result<(), Attempt>,
    ) -> Result<Outcome, Error> {
        let id = &notice.deployment_id;
        let event = notice.event.id();
        let claim = self.claim(sink, &event, render::summary(subject, &notice.event));
        let mut outcome = Outcome {
            sink: sink.to_owned(),
            event: event.clone(),
            state: None,
            retry_in: None,
        };
        let Some(mut claimed) = self.store.claim_notification(id, &claim).await? else {
            tracing::info!(deployment_id = %id, sink, event, "delivered, failed or being sent already");
            return Ok(outcome);
        };
        let stage = notice.event.kind().stage();
        let behind = recorded.iter().any(|n| {
            n.sink == sink
                && matches!(n.state, DeliveryState::Delivered | DeliveryState::Sending)
                && NoticeEvent::kind_of_id(&n.event).is_some_and(|k| k.stage() > stage)
        });
        let (state, error) = if behind {
            (DeliveryState::Skipped, None)
        } else {
            match send().await {
                Ok(()) => (DeliveryState::Delivered, None),
                Err(Attempt::Retry(why)) => match self.backoff.delay_after(claimed.attempts) {
                    Some(delay) => {
                        outcome.retry_in = Some(delay);
                        (DeliveryState::Retrying, Some(why))
                    }
                    None => (
                        DeliveryState::Failed,
                        Some(format!(
                            "{why} (gave up after {} attempts)",
                            claimed.attempts
                        )),
                    ),
                },
                Err(Attempt::Refused(why)) => (DeliveryState::Failed, Some(why)),
            }
        };
        claimed.state = state;
        claimed.error = error;
        claimed.updated_at = rfc3339(SystemTime::now());
        let why = claimed.error.as_deref().unwrap_or_default();
        if state == DeliveryState::Failed {
            tracing::error!(deployment_id = %id, sink, event, attempts = claimed.attempts, error = why, "notification failed");
        } else {
            tracing::info!(deployment_id = %id, sink, event, attempts = claimed.attempts, %state, error = why, "notification attempt settled");
        }
        // A lost settle means a stale claim was taken over; that attempt's record wins.
        self.store.settle_notification(id, &claimed).await?;
        outcome.state = Some(state);
        Ok(outcome)
    }
}

/// The sink name under which a GitHub repository's Deployment and its statuses are recorded:
/// not a valid rule sink name, so it cannot collide with one.
pub const GITHUB_SINK: &str = "git/deployment";
/// The event of the delivery that creates a GitHub Deployment.
pub const GITHUB_DEPLOYMENT: &str = "github_deployment";

/// Handles one SQS batch: each message is a notice. A notice whose deliveries all ended
/// (delivered, skipped, failed for good) is deleted; one with a delivery to retry is hidden for
/// the shortest retry delay and redelivered; one that could not be handled (a store outage, a
/// missing deployment) is redelivered and, after the queue's receive limit, dead-lettered.
pub async fn handle(ctx: &Notifier, event: SqsEvent) -> SqsBatchResponse {
    handle_batch(event, Concurrency::Sequential, |message| async move {
        let id = message.message_id.as_deref().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or_default();
        let handled = match Notice::from_json(body) {
            Ok(notice) => ctx.notify(&notice).await,
            Err(e) => Err(e.into()),
        };
        match handled {
            Ok(outcomes) => match outcomes.iter().filter_map(|o| o.retry_in).min() {
                None => Settle::Delete,
                Some(delay) => {
                    hide_for(ctx.queues.as_ref(), &message, delay).await;
                    Settle::Redeliver
                }
            },
            Err(e) => {
                tracing::error!(
                    message_id = %id,
                    error_type = e.error_type(),
                    error = %e,
                    "notice not handled"
                );
                Settle::Redeliver
            }
        }
    })
    .await
}
