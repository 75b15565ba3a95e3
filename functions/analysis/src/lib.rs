//! The analysis worker: consumes the analysis queue, measures the checks of one batch on their
//! schedule and answers the state machine's task.
//!
//! For one [`Request`] (deployment, app, batch, task token) it reads the deployment, the
//! `boreas.yaml` recorded for its version (the app's `analysis` checks) and the plan (the targets
//! of the app's batches so far, for `{targets}`). The run starts when SQS first handed out the
//! message, so redeliveries keep one schedule. Each time the message comes, every check whose
//! next measurement is due is measured, judged and recorded ([`Store::put_analysis`], written
//! only if no other delivery recorded that measurement first); then the message is hidden until
//! the next one is due, and the task is sent a heartbeat. At most [`WAKE_EVERY`] apart, so the
//! state machine's heartbeat timeout finds a worker that stopped.
//!
//! Once every check is decided ([`boreas_core::analysis`]), or as soon as one fails, the task is
//! answered:
//! - every check passed (or is a dry run): success, `{"analysis": "pass"}`;
//! - one is inconclusive and none failed: success, `{"analysis": "inconclusive", "gate": …}`,
//!   and the state machine waits at that gate for a person;
//! - one failed or could not measure: the deployment's error records each failing check's
//!   sentence (the check, the last value and the condition) and the task fails with
//!   `AnalysisFailed`: the app rolls back as it does for a failed host.
//!
//! A request whose deployment, app or recorded `boreas.yaml` is missing fails its task with
//! `AnalysisBroken` (errors are never a pass); one whose deployment no longer runs is dropped.
//!
//! The same queue carries the freeze check before a batch ([`BoundaryCheck::Freeze`], see
//! `freeze.rs`): both are questions the state machine asks at a batch boundary and answers
//! later, with the same leases and heartbeats.

mod freeze;
pub mod providers;

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use boreas_aws::batch::{Concurrency, Settle, first_received, handle_batch, hide_for};
use boreas_aws::env::Env;
use boreas_aws::names::Names;
use boreas_aws::orchestrator::{Orchestrator, SfnOrchestrator, task_alive};
use boreas_aws::queues::{Queues, SqsQueues};
use boreas_aws::secrets::{Secrets, SsmSecrets};
use boreas_aws::store::{
    AnalysisRecord, Deployment, DynamoStore, Store, deployment_config, rfc3339,
};
use boreas_core::analysis::run::{
    BoundaryCheck, Request, Subject, condition_of, decision_of, due_after, message, overall,
    standing, take,
};
use boreas_core::analysis::{Decision, Measurement, Outcome, Standing};
use boreas_core::command::WireError;
use boreas_core::config::AnalysisCheck;
use boreas_core::deployment::DeploymentStatus;

use providers::{CloudWatch, MetricQuery, MetricsCredential, SdkCloudWatch};

/// The longest a request sleeps between two looks: a heartbeat at least this often keeps the
/// state machine's task (whose heartbeat timeout is longer) alive.
pub const WAKE_EVERY: Duration = Duration::from_secs(boreas_aws::provision::ANALYSIS_WAKE_SECS);

/// The gate a person decides when an analysis is inconclusive: `<app>.<batch>.analysis`.
pub fn analysis_gate(app: &str, batch: u32) -> String {
    format!("{app}.{batch}.analysis")
}

/// Why a request was not handled (it is delivered again).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not a request of this schema version.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A store, queue, secret or Step Functions call failed.
    #[error(transparent)]
    Aws(#[from] boreas_aws::Error),
    /// The HTTP client cannot be built.
    #[error("cannot build an HTTP client: {0}")]
    Http(String),
}

impl Error {
    /// A stable name of the kind of failure, for logs and alarms.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Wire(e) => e.error_type().as_str(),
            Self::Aws(e) => e.error_type(),
            Self::Http(_) => "Http",
        }
    }
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Answered, or nothing waits for it any more.
    Done,
    /// Look again after this long.
    Later(Duration),
}

/// The analysis worker's dependencies.
#[derive(Debug, Clone)]
pub struct Analyst {
    store: Arc<dyn Store>,
    orchestrator: Arc<dyn Orchestrator>,
    queues: Arc<dyn Queues>,
    secrets: Arc<dyn Secrets>,
    cloudwatch: Arc<dyn CloudWatch>,
    http: reqwest::Client,
    names: Names,
}

/// How the worker names itself to metrics servers.
const USER_AGENT: &str = concat!("boreas-analysis/", env!("CARGO_PKG_VERSION"));

/// How long one measurement over HTTP may take.
const MEASURE_TIMEOUT: Duration = Duration::from_secs(10);

impl Analyst {
    /// A worker over these parts.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(
        store: Arc<dyn Store>,
        orchestrator: Arc<dyn Orchestrator>,
        queues: Arc<dyn Queues>,
        secrets: Arc<dyn Secrets>,
        cloudwatch: Arc<dyn CloudWatch>,
        names: Names,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(MEASURE_TIMEOUT)
            .user_agent(USER_AGENT)
            // A credential is sent to its own server only; a redirect could carry it elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        Ok(Self {
            store,
            orchestrator,
            queues,
            secrets,
            cloudwatch,
            http,
            names,
        })
    }

    /// The worker of the environment: `BOREAS_PREFIX`, `BOREAS_TABLE`, `BOREAS_STATE_MACHINE_ARN`.
    ///
    /// # Errors
    /// A variable is invalid.
    pub async fn from_env(env: &Env) -> Result<Self, Error> {
        let names = env.names()?;
        let table = env.get("BOREAS_TABLE")?.unwrap_or_else(|| names.table());
        let state_machine = env.require("BOREAS_STATE_MACHINE_ARN", "answering analysis tasks")?;
        let config = boreas_aws::sdk_config(None).await;
        Self::new(
            Arc::new(DynamoStore::from_config(&config, table)),
            Arc::new(SfnOrchestrator::from_config(
                &config,
                state_machine,
                names.plans_bucket(),
            )),
            Arc::new(SqsQueues::from_config(&config)),
            Arc::new(SsmSecrets::from_config(&config)),
            Arc::new(SdkCloudWatch::from_config(&config)),
            names,
        )
    }

    /// Takes the measurements of `request` that are due, `started` being when the run began,
    /// and answers its task once every check is decided.
    ///
    /// # Errors
    /// A store, secret or Step Functions call failed: the request should come again.
    pub async fn analyse(&self, request: &Request, started: SystemTime) -> Result<Progress, Error> {
        let id = &request.deployment_id;
        let Some(deployment) = self.store.get_deployment(id).await? else {
            return self
                .broken(request, &format!("deployment {id} does not exist"))
                .await;
        };
        if deployment.status != DeploymentStatus::Running {
            tracing::info!(deployment_id = %id, app = %request.app, batch = request.batch, status = %deployment.status, "the deployment no longer runs: nothing to analyse");
            return Ok(Progress::Done);
        }
        let checks = match self
            .checks(&deployment, &request.app, request.batch)
            .await?
        {
            Ok(checks) => checks,
            Err(problem) => return self.broken(request, &problem).await,
        };
        let targets: Vec<String> = deployment
            .plan
            .find_app(&request.app)
            .map(|(_, app)| {
                app.batches
                    .iter()
                    .filter(|b| b.index <= request.batch)
                    .flat_map(|b| b.targets.iter().cloned())
                    .collect()
            })
            .unwrap_or_default();
        let subject = Subject {
            app: &request.app,
            version: &deployment.version,
            environment: &deployment.environment,
            targets: &targets,
            batch: request.batch,
        };
        let mut records: BTreeMap<String, AnalysisRecord> = self
            .store
            .analyses(id)
            .await?
            .into_iter()
            .filter(|r| r.app == request.app && r.batch == request.batch)
            .map(|r| (r.check.clone(), r))
            .collect();
        let now = SystemTime::now();
        let mut decided = Vec::new();
        let mut next: Option<SystemTime> = None;
        for check in &checks {
            let mut record = records
                .remove(&check.name)
                .unwrap_or_else(|| AnalysisRecord {
                    app: request.app.clone(),
                    batch: request.batch,
                    check: check.name.clone(),
                    condition: condition_of(check).to_string(),
                    measurements: Vec::new(),
                    verdict: None,
                    message: None,
                    updated_at: rfc3339(now),
                });
            let previous = record.measurements.len();
            if let Standing::Decided(verdict) = standing(check, &record.measurements) {
                decided.push((check, verdict, record));
                continue;
            }
            let due = started + Duration::from_secs(due_after(check, count(previous)));
            if due > now {
                next = Some(next.map_or(due, |n| n.min(due)));
                continue;
            }
            let measurement = self.measure(check, &subject, now).await?;
            record
                .measurements
                .push(take(check, measurement, rfc3339(now)));
            record.updated_at = rfc3339(now);
            let standing = standing(check, &record.measurements);
            if let Standing::Decided(verdict) = standing {
                record.verdict = Some(verdict);
                record.message = Some(message(check, verdict, &record.measurements));
            }
            if !self.store.put_analysis(id, &record, previous).await? {
                // Another delivery recorded this measurement: look again in a moment.
                return Ok(Progress::Later(Duration::from_secs(1)));
            }
            let last = record
                .measurements
                .last()
                .map(|t| (&t.measurement, t.outcome));
            if let Some((measurement, outcome)) = last {
                tracing::info!(deployment_id = %id, app = %request.app, batch = request.batch, check = %check.name, %measurement, %outcome, "measured");
            }
            match standing {
                Standing::Decided(verdict) => decided.push((check, verdict, record)),
                Standing::Measuring => {
                    let due = started + Duration::from_secs(due_after(check, count(previous + 1)));
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
        }
        // A check that rolls the app back decides the run: the others need not finish.
        let failed = decided
            .iter()
            .any(|(c, v, _)| decision_of(c, *v) == Decision::RollBack);
        if let Some(due) = next.filter(|_| !failed) {
            if !task_alive(self.orchestrator.as_ref(), &request.task_token).await? {
                tracing::warn!(deployment_id = %id, app = %request.app, batch = request.batch, "the analysis task no longer waits");
                return Ok(Progress::Done);
            }
            let wait = due.duration_since(now).unwrap_or_default();
            return Ok(Progress::Later(
                wait.clamp(Duration::from_secs(1), WAKE_EVERY),
            ));
        }
        self.answer(request, &decided).await
    }

    /// Answers the task of `request` on its decided checks.
    async fn answer(
        &self,
        request: &Request,
        decided: &[(&AnalysisCheck, Outcome, AnalysisRecord)],
    ) -> Result<Progress, Error> {
        let decision = overall(decided.iter().map(|(c, v, _)| decision_of(c, *v)));
        let messages = |wanted: Decision| {
            decided
                .iter()
                .filter(|(c, v, _)| decision_of(c, *v) == wanted)
                .filter_map(|(_, _, r)| r.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        };
        let (id, app, batch) = (&request.deployment_id, &request.app, request.batch);
        let sent = match decision {
            Decision::Proceed => {
                tracing::info!(deployment_id = %id, app = %app, batch, "analysis passed");
                let output = serde_json::json!({"analysis": "pass"}).to_string();
                self.orchestrator
                    .send_task_success(&request.task_token, &output)
                    .await
            }
            Decision::AskPerson => {
                let message = messages(Decision::AskPerson);
                tracing::info!(deployment_id = %id, app = %app, batch, %message, "analysis inconclusive: a person decides");
                let output = serde_json::json!({
                    "analysis": "inconclusive",
                    "gate": analysis_gate(app, batch),
                    "message": message,
                })
                .to_string();
                self.orchestrator
                    .send_task_success(&request.task_token, &output)
                    .await
            }
            Decision::RollBack => {
                let message = messages(Decision::RollBack);
                tracing::warn!(deployment_id = %id, app = %app, batch, %message, "analysis failed: the app rolls back");
                let error = format!("app {app}, batch {}: {message}", batch + 1);
                self.store.note_deployment_error(id, &error).await?;
                self.orchestrator
                    .send_task_failure(&request.task_token, "AnalysisFailed", &message)
                    .await
            }
        };
        settled(sent)
    }

    /// Fails the task of `request` for a reason no redelivery can fix.
    async fn broken(&self, request: &Request, problem: &str) -> Result<Progress, Error> {
        tracing::error!(deployment_id = %request.deployment_id, app = %request.app, batch = request.batch, problem, "analysis cannot run");
        let sent = self
            .orchestrator
            .send_task_failure(&request.task_token, "AnalysisBroken", problem)
            .await;
        settled(sent)
    }

    /// The app's checks that follow batch `batch` in the `boreas.yaml` recorded for the
    /// deployment's version; what is missing otherwise.
    async fn checks(
        &self,
        deployment: &Deployment,
        app: &str,
        batch: u32,
    ) -> Result<Result<Vec<AnalysisCheck>, String>, Error> {
        let config = match deployment_config(self.store.as_ref(), deployment).await? {
            Ok(config) => config,
            Err(problem) => return Ok(Err(problem)),
        };
        Ok(config
            .apps
            .into_iter()
            .find(|a| a.name == app)
            .map(|a| {
                a.analysis
                    .into_iter()
                    .filter(|c| c.follows(batch))
                    .collect()
            })
            .ok_or_else(|| format!("version {} declares no app {app}", deployment.version)))
    }

    /// One measurement of `check` now.
    async fn measure(
        &self,
        check: &AnalysisCheck,
        subject: &Subject<'_>,
        now: SystemTime,
    ) -> Result<Measurement, Error> {
        if let Some(p) = &check.prometheus {
            let credential = match &p.credential {
                None => None,
                Some(name) => match self.credential(name, &p.url).await? {
                    Ok(c) => Some(c),
                    Err(message) => return Ok(Measurement::Error { message }),
                },
            };
            let query = subject.fill(&p.query);
            return Ok(
                providers::prometheus(&self.http, &p.url, &query, credential.as_ref()).await,
            );
        }
        if let Some(c) = &check.cloudwatch {
            if let Some(alarm) = &c.alarm {
                return Ok(self.cloudwatch.alarm(&subject.fill(alarm)).await);
            }
            let metric = MetricQuery {
                namespace: c.namespace.clone().unwrap_or_default(),
                metric: c.metric.clone().unwrap_or_default(),
                dimensions: c
                    .dimensions
                    .iter()
                    .map(|(k, v)| (k.clone(), subject.fill(v)))
                    .collect(),
                statistic: c.statistic.clone().unwrap_or_default(),
                period: c.period.map_or(60, |p| p.seconds()),
            };
            return Ok(self.cloudwatch.statistic(&metric, now).await);
        }
        if let Some(h) = &check.http {
            return Ok(providers::http_json(&self.http, &subject.fill(&h.url), &h.json_path).await);
        }
        Ok(Measurement::Error {
            message: "the check names no provider".to_owned(),
        })
    }

    /// The metrics credential `name`, if it may be sent to `url`; why not otherwise.
    async fn credential(
        &self,
        name: &str,
        url: &str,
    ) -> Result<Result<MetricsCredential, String>, Error> {
        let param = self.names.metrics_credential_param(name);
        let secret = match self.secrets.get(&param).await {
            Ok(s) => s,
            Err(boreas_aws::Error::NotFound { .. }) => {
                return Ok(Err(format!(
                    "metrics credential {name} is not registered (SSM parameter {param})"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let credential = match MetricsCredential::parse(secret.expose()) {
            Ok(c) => c,
            Err(problem) => return Ok(Err(format!("metrics credential {name}: {problem}"))),
        };
        if !credential.belongs_to(url) {
            return Ok(Err(format!(
                "metrics credential {name} belongs to {}, not to {url}: it is not sent there",
                credential.url
            )));
        }
        Ok(Ok(credential))
    }
}

/// A measurement count as the schedule's index.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The answer to a task that already ended (timed out, or answered by an earlier delivery)
/// changes nothing: the request is done.
fn settled(sent: Result<(), boreas_aws::Error>) -> Result<Progress, Error> {
    match sent {
        Ok(()) => Ok(Progress::Done),
        Err(
            e @ (boreas_aws::Error::TaskTimedOut { .. }
            | boreas_aws::Error::InvalidTaskToken { .. }),
        ) => {
            tracing::warn!(error = %e, "the analysis task no longer waits");
            Ok(Progress::Done)
        }
        Err(e) => Err(e.into()),
    }
}

/// How long a request that could not be handled (a store outage) waits before it is tried again.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// Handles one SQS batch of requests: a request still measuring is hidden until its next
/// measurement is due and comes back; one that could not be handled comes back after
/// [`RETRY_AFTER_ERROR`] and, after the queue's receive limit, is dead-lettered (kept for
/// inspection).
pub async fn handle(analyst: &Analyst, event: SqsEvent) -> SqsBatchResponse {
    let concurrency = Concurrency::Bounded(NonZeroUsize::new(8).expect("8 is not zero"));
    handle_batch(event, concurrency, |message| async move {
        let body = message.body.as_deref().unwrap_or_default();
        let started = first_received(&message).unwrap_or_else(SystemTime::now);
        let handled = match Request::from_json(body) {
            Ok(request) => match request.check {
                BoundaryCheck::Analysis => analyst.analyse(&request, started).await,
                BoundaryCheck::Freeze => analyst.freeze_check(&request).await,
            },
            Err(e) => Err(e.into()),
        };
        match handled {
            Ok(Progress::Done) => Settle::Delete,
            Ok(Progress::Later(wait)) => {
                hide_for(analyst.queues.as_ref(), &message, wait).await;
                Settle::Redeliver
            }
            Err(e) => {
                let id = message.message_id.as_deref().unwrap_or_default();
                tracing::error!(message_id = %id, error_type = e.error_type(), error = %e, "analysis request not handled");
                // Tried again in a moment rather than after the queue's visibility timeout:
                // the task's heartbeat timeout is running.
                hide_for(analyst.queues.as_ref(), &message, RETRY_AFTER_ERROR).await;
                Settle::Redeliver
            }
        }
    })
    .await
}
