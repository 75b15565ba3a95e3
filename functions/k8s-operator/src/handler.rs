//! The one command handler, shared by the Lambda and the in-cluster poller.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boreas_aws::orchestrator::Orchestrator;
use boreas_aws::queues::Queues;
use boreas_core::command::{
    Action, AppInventory, Command, Event, EventBody, K8sWorkload, SCHEMA_VERSION, TaskFailure,
    TaskResult, Workload,
};
use boreas_core::config::AppKind;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde_json::{Value, json};
use tokio::time::{Instant, Interval};
use tracing::Instrument;

use crate::error::Error;
use crate::rollout::{self, Health, Record};

/// Everything one command needs: the cluster, and the AWS side to report to.
#[derive(Clone)]
pub struct Ctx {
    /// Name of the cluster `client` talks to; commands for another target are refused.
    pub cluster: String,
    /// The cluster's API.
    pub client: kube::Client,
    /// Step Functions task callbacks.
    pub orchestrator: Arc<dyn Orchestrator>,
    /// Where inventories go.
    pub queues: Arc<dyn Queues>,
    /// URL of the inventory queue.
    pub inventory_queue_url: String,
    /// How long one rollout may take before it fails with `RolloutTimeout` (commands do not carry
    /// the batch's timeout; set this to the batch timeout the state machine uses, or less).
    pub rollout_timeout: Duration,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("cluster", &self.cluster)
            .field("inventory_queue_url", &self.inventory_queue_url)
            .field("rollout_timeout", &self.rollout_timeout)
            .finish_non_exhaustive()
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; SendTaskSuccess sent when the command had a task token.
    Succeeded(TaskResult),
    /// Failed; SendTaskFailure sent when the command had a task token.
    Failed(TaskFailure),
    /// A status command: the inventory went to the events queue.
    Reported,
    /// The command's task was already over (timed out or answered); nothing left to report.
    Abandoned(String),
    /// The change is applied but the rollout still runs and this delivery's time is up: a later
    /// delivery of the same message goes on waiting (see [`Delivery::until`]).
    Waiting,
    /// The result could not be reported (Step Functions unreachable): keep the message so that
    /// it is delivered again, and the idempotent work is checked and reported then.
    Retry(String),
}

impl Outcome {
    /// Whether the message is finished with and may be deleted.
    pub fn settled(&self) -> bool {
        !matches!(self, Self::Retry(_) | Self::Waiting)
    }
}

/// One delivery of a command: how long it may run, and when the command was first delivered.
///
/// A Lambda invocation ends at its deadline while a rollout may take many minutes. So a command
/// is carried out over several deliveries of its message: each one applies (idempotently, from
/// the record on the Deployment) and waits until the rollout completes or [`Delivery::until`]
/// comes; then the message goes back to the queue for a short while. The rollout's time limit
/// counts from the first delivery, so it fires after the same time however the wait is split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// When SQS first handed out the message; `None`: now.
    pub first_received: Option<SystemTime>,
    /// When this delivery must stop waiting and answer [`Outcome::Waiting`]; `None`: never (the
    /// in-cluster poller, which renews its lease instead).
    pub until: Option<Instant>,
}

impl Delivery {
    /// When a rollout allowed `limit` must be over, as an instant of this process.
    fn deadline(&self, limit: Duration) -> Instant {
        let now = Instant::now();
        match self.first_received {
            Some(first) => {
                let end = first + limit;
                match end.duration_since(SystemTime::now()) {
                    Ok(left) => now + left,
                    Err(_) => now,
                }
            }
            None => now + limit,
        }
    }
}

/// Sends heartbeats for a task while the handler waits.
struct Beat<'a> {
    orchestrator: &'a dyn Orchestrator,
    token: Option<&'a str>,
    interval: Option<Interval>,
}

impl<'a> Beat<'a> {
    fn new(ctx: &'a Ctx, cmd: &'a Command) -> Self {
        let token = cmd.task_token.as_deref();
        let interval = token.map(|_| {
            // Three beats per heartbeat period, so one lost call does not time the task out.
            let every = Duration::from_secs_f64(cmd.heartbeat_seconds.unwrap_or(60) as f64 / 3.0)
                .max(Duration::from_millis(200));
            tokio::time::interval(every)
        });
        Self {
            orchestrator: ctx.orchestrator.as_ref(),
            token,
            interval,
        }
    }

    async fn tick(&mut self) {
        match &mut self.interval {
            Some(i) => {
                i.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    async fn send(&self) -> Result<(), Error> {
        let Some(token) = self.token else {
            return Ok(());
        };
        match self.orchestrator.send_task_heartbeat(token).await {
            Ok(()) => Ok(()),
            Err(
                e @ (boreas_aws::Error::TaskTimedOut { .. }
                | boreas_aws::Error::InvalidTaskToken { .. }),
            ) => Err(Error::TaskGone(e.to_string())),
            Err(e) => {
                // One failed heartbeat is not fatal: the next one may get through.
                tracing::warn!(error = %e, "heartbeat failed");
                Ok(())
            }
        }
    }
}

/// How long a rollout may take: the batch's timeout from the command less a margin (a tenth, at
/// least 2 s), so the operator's own `RolloutTimeout` and rollback reach the state machine before its
/// task timeout fires; never more than the operator's configured limit.
fn rollout_limit(configured: Duration, timeout_seconds: Option<u64>) -> Duration {
    match timeout_seconds {
        Some(s) => {
            let batch = Duration::from_secs(s);
            batch
                .saturating_sub((batch / 10).max(Duration::from_secs(2)))
                .min(configured)
        }
        None => configured,
    }
}

/// Carries out `cmd` on the cluster within `delivery` and reports the result on its task token.
pub async fn handle_command(ctx: &Ctx, cmd: Command, delivery: Delivery) -> Outcome {
    let span =
        tracing::info_span!("command", command_id = %cmd.command_id, action = cmd.action.as_str());
    handle(ctx, cmd, delivery).instrument(span).await
}

async fn handle(ctx: &Ctx, cmd: Command, delivery: Delivery) -> Outcome {
    if let Action::Status {} = cmd.action {
        return match send_inventory(ctx, &cmd.environment, None).await {
            Ok(()) => Outcome::Reported,
            Err(e) => {
                tracing::error!(error = %e, "inventory failed");
                Outcome::Retry(e.to_string())
            }
        };
    }
    // Before changing anything: a command whose task is gone was given up by the state machine,
    // which may have sent its rollback already.
    if let Some(token) = &cmd.task_token {
        match boreas_aws::orchestrator::task_alive(&*ctx.orchestrator, token).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("the task no longer waits for this command; dropped without acting");
                return Outcome::Abandoned("the task no longer waits for this command".to_owned());
            }
            // Unknown: keep the message for a later delivery rather than act blind.
            Err(e) => return Outcome::Retry(format!("checking the task: {e}")),
        }
    }
    let result = if cmd.target == ctx.cluster {
        run(ctx, &cmd, &delivery).await
    } else {
        Err(Error::InvalidCommand(format!(
            "the command is for cluster {:?} but reached the operator of cluster {:?}",
            cmd.target, ctx.cluster
        )))
    };
    if let Err(Error::OutOfTime { what }) = &result {
        tracing::info!(what = %what, "still rolling out; a later delivery goes on waiting");
        return Outcome::Waiting;
    }
    if let Action::Deploy { app, .. } | Action::Rollback { app, .. } = &cmd.action
        && !matches!(result, Err(Error::TaskGone(_)))
        && let Err(e) = send_inventory(ctx, &cmd.environment, Some(app)).await
    {
        tracing::warn!(error = %e, "inventory after the command failed");
    }
    report(ctx, &cmd, result).await
}

/// Reports `result` on the command's task token.
pub(crate) async fn report(ctx: &Ctx, cmd: &Command, result: Result<TaskResult, Error>) -> Outcome {
    let (outcome, sent) = match result {
        Err(Error::TaskGone(why)) => return Outcome::Abandoned(why),
        Ok(r) => {
            tracing::info!(
                version = r.version.as_deref().unwrap_or("none"),
                "command succeeded"
            );
            let sent = match &cmd.task_token {
                Some(t) => ctx.orchestrator.send_task_success(t, &r.to_json()).await,
                None => Ok(()),
            };
            (Outcome::Succeeded(r), sent)
        }
        Err(e) => {
            let failure = TaskFailure {
                error_type: e.error_type(),
                cause: e.to_string(),
            };
            tracing::warn!(error_type = %failure.error_type, cause = %failure.cause, "command failed");
            let sent = match &cmd.task_token {
                Some(t) => {
                    ctx.orchestrator
                        .send_task_failure(t, failure.error_type.as_str(), &failure.cause)
                        .await
                }
                None => Ok(()),
            };
            (Outcome::Failed(failure), sent)
        }
    };
    match sent {
        Ok(()) => outcome,
        // A redelivered command whose task was already answered, or one that timed out.
        Err(
            e @ (boreas_aws::Error::TaskTimedOut { .. }
            | boreas_aws::Error::InvalidTaskToken { .. }),
        ) => Outcome::Abandoned(e.to_string()),
        Err(e) => Outcome::Retry(format!("reporting to Step Functions: {e}")),
    }
}

async fn run(ctx: &Ctx, cmd: &Command, delivery: &Delivery) -> Result<TaskResult, Error> {
    match &cmd.action {
        Action::Deploy {
            deployment_id,
            app,
            version,
            workload,
            weight,
            ..
        } => {
            let Workload::K8s(w) = workload else {
                return Err(Error::InvalidCommand(
                    "a deploy command for a PM workload reached the Kubernetes operator".into(),
                ));
            };
            let weight = weight.filter(|w| (1..=100).contains(w)).ok_or_else(|| {
                Error::InvalidCommand(format!(
                    "a Kubernetes deploy needs a weight from 1 to 100, not {weight:?}"
                ))
            })?;
            let target = Target { version, w, weight };
            deploy(ctx, cmd, delivery, deployment_id, app, target).await
        }
        Action::Rollback {
            deployment_id,
            app,
            from_version,
            to_version,
            workload,
            ..
        } => {
            let w = match workload {
                Some(Workload::K8s(w)) => Some(w),
                None => None,
                Some(Workload::Pm(_)) => {
                    return Err(Error::InvalidCommand(
                        "a rollback command for a PM workload reached the Kubernetes operator"
                            .into(),
                    ));
                }
            };
            rollback(
                ctx,
                cmd,
                delivery,
                deployment_id,
                app,
                from_version,
                to_version.as_deref(),
                w,
            )
            .await
        }
        Action::Status {} => Err(Error::InvalidCommand("status has no task".into())),
    }
}

fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

async fn get(api: &Api<Deployment>, ns: &str, name: &str) -> Result<Option<Deployment>, Error> {
    api.get_opt(name)
        .await
        .map_err(|e| Error::kube(format!("reading {}", key(ns, name)), &key(ns, name), e))
}

async fn apply(api: &Api<Deployment>, ns: &str, name: &str, doc: &Value) -> Result<(), Error> {
    let what = key(ns, name);
    api.patch(
        name,
        &PatchParams::apply(rollout::FIELD_MANAGER).force(),
        &Patch::Apply(doc),
    )
    .await
    .map_err(|e| Error::kube(format!("applying {what}"), &what, e))?;
    Ok(())
}

async fn delete(api: &Api<Deployment>, ns: &str, name: &str) -> Result<(), Error> {
    let what = key(ns, name);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(format!("deleting {what}"), &what, e)),
    }
}

/// Where a deploy takes the app.
struct Target<'a> {
    version: &'a str,
    w: &'a K8sWorkload,
    weight: u8,
}

/// When the wait of one delivery ends: the rollout's deadline, or the delivery's end.
#[derive(Debug, Clone, Copy)]
struct Until {
    deadline: Instant,
    delivery: Option<Instant>,
}

impl Until {
    fn new(ctx: &Ctx, cmd: &Command, delivery: &Delivery) -> Self {
        Self {
            deadline: delivery.deadline(rollout_limit(ctx.rollout_timeout, cmd.timeout_seconds)),
            delivery: delivery.until,
        }
    }
}

async fn deploy(
    ctx: &Ctx,
    cmd: &Command,
    delivery: &Delivery,
    deployment_id: &str,
    app: &str,
    Target { version, w, weight }: Target<'_>,
) -> Result<TaskResult, Error> {
    let until = Until::new(ctx, cmd, delivery);
    let mut beat = Beat::new(ctx, cmd);
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &w.namespace);
    let stable = get(&api, &w.namespace, &w.deployment)
        .await?
        .ok_or_else(|| Error::WorkloadNotFound {
            what: key(&w.namespace, &w.deployment),
        })?;
    let current = current_image(&stable, w)?;
    let canary_name = rollout::canary_name(&w.deployment);
    let canary_exists = get(&api, &w.namespace, &canary_name).await?.is_some();
    let record = rollout::record_for(deployment_id, &stable, canary_exists, &current);
    let previous = rollout::version(&stable).map(str::to_owned);
    if weight < 100 {
        let canary = rollout::canary_replicas(record.replicas, weight);
        let stable_replicas = record.replicas - canary;
        tracing::info!(
            r = record.replicas,
            canary,
            stable = stable_replicas,
            weight,
            "gray step"
        );
        // The record goes on first, with the scale-down, so a retry after a crash finds R.
        let doc = rollout::stable_apply(
            &stable,
            app,
            &w.container,
            &record,
            stable_replicas,
            &current,
            previous.as_deref(),
        );
        apply(&api, &w.namespace, &w.deployment, &doc).await?;
        let doc = rollout::canary_apply(&stable, app, &w.container, canary, &w.image, version);
        apply(&api, &w.namespace, &canary_name, &doc).await?;
        wait_ready(&api, &w.namespace, &canary_name, until, &mut beat).await?;
        wait_ready(&api, &w.namespace, &w.deployment, until, &mut beat).await?;
    } else {
        tracing::info!(r = record.replicas, "full rollout of the stable Deployment");
        let doc = rollout::stable_apply(
            &stable,
            app,
            &w.container,
            &record,
            record.replicas,
            &w.image,
            Some(version),
        );
        apply(&api, &w.namespace, &w.deployment, &doc).await?;
        wait_ready(&api, &w.namespace, &w.deployment, until, &mut beat).await?;
        delete(&api, &w.namespace, &canary_name).await?;
    }
    Ok(TaskResult {
        schema_version: SCHEMA_VERSION,
        target: ctx.cluster.clone(),
        app: app.to_owned(),
        version: Some(version.to_owned()),
        previous: previous.filter(|p| p != version),
    })
}

fn current_image(stable: &Deployment, w: &K8sWorkload) -> Result<String, Error> {
    rollout::image(stable, &w.container)
        .map(str::to_owned)
        .ok_or_else(|| Error::WorkloadNotFound {
            what: format!(
                "container {:?} of {}",
                w.container,
                key(&w.namespace, &w.deployment)
            ),
        })
}

#[allow(clippy::too_many_arguments)] // the command's fields, unpacked once
async fn rollback(
    ctx: &Ctx,
    cmd: &Command,
    delivery: &Delivery,
    deployment_id: &str,
    app: &str,
    from_version: &str,
    to_version: Option<&str>,
    w: Option<&K8sWorkload>,
) -> Result<TaskResult, Error> {
    let until = Until::new(ctx, cmd, delivery);
    let mut beat = Beat::new(ctx, cmd);
    // Without a previous version the command names no Deployment: find the app's by its label.
    let (ns, name, container) = match w {
        Some(w) => (
            w.namespace.clone(),
            w.deployment.clone(),
            Some(w.container.clone()),
        ),
        None => {
            let all: Api<Deployment> = Api::all(ctx.client.clone());
            let selector = format!("{}={},{}=stable", rollout::APP, app, rollout::TRACK);
            let found = all
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| Error::kube("listing Deployments", &selector, e))?;
            // Only a Deployment this deployment changed (it carries its rollout record): another
            // repository may have an app of the same name in another namespace.
            let ours = found
                .items
                .into_iter()
                .find(|d| rollout::annotation(d, rollout::ROLLOUT) == Some(deployment_id));
            match ours {
                Some(d) => (
                    d.metadata.namespace.clone().unwrap_or_default(),
                    d.metadata.name.unwrap_or_default(),
                    None,
                ),
                None => {
                    tracing::info!("nothing of this app in the cluster: nothing to roll back");
                    return Ok(TaskResult {
                        schema_version: SCHEMA_VERSION,
                        target: ctx.cluster.clone(),
                        app: app.to_owned(),
                        version: None,
                        previous: None,
                    });
                }
            }
        }
    };
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let stable = get(&api, &ns, &name)
        .await?
        .ok_or_else(|| Error::WorkloadNotFound {
            what: key(&ns, &name),
        })?;
    let canary_name = rollout::canary_name(&name);
    let canary_exists = get(&api, &ns, &canary_name).await?.is_some();
    let container = match container {
        Some(c) => c,
        None => first_container(&stable).ok_or_else(|| Error::WorkloadNotFound {
            what: format!("a container of {}", key(&ns, &name)),
        })?,
    };
    let current = rollout::image(&stable, &container)
        .map(str::to_owned)
        .ok_or_else(|| Error::WorkloadNotFound {
            what: format!("container {container:?} of {}", key(&ns, &name)),
        })?;
    let record: Record = rollout::record_for(deployment_id, &stable, canary_exists, &current);
    let image = w
        .map_or(record.original_image.as_str(), |w| w.image.as_str())
        .to_owned();
    tracing::info!(r = record.replicas, image = %image, "rolling back");
    delete(&api, &ns, &canary_name).await?;
    let doc = rollout::stable_apply(
        &stable,
        app,
        &container,
        &record,
        record.replicas,
        &image,
        to_version,
    );
    apply(&api, &ns, &name, &doc).await?;
    wait_ready(&api, &ns, &name, until, &mut beat).await?;
    Ok(TaskResult {
        schema_version: SCHEMA_VERSION,
        target: ctx.cluster.clone(),
        app: app.to_owned(),
        version: to_version.map(str::to_owned),
        previous: Some(from_version.to_owned()),
    })
}

fn first_container(d: &Deployment) -> Option<String> {
    d.spec
        .template
        .spec
        .as_ref()?
        .containers
        .first()
        .map(|c| c.name.clone())
}

/// Consecutive watch errors (each after kube's backoff) before the cluster counts as unreachable.
const WATCH_ERRORS: u32 = 5;

/// Watches `name` until its rollout is complete, its progress deadline passes, or `until`;
/// heartbeats meanwhile.
async fn wait_ready(
    api: &Api<Deployment>,
    ns: &str,
    name: &str,
    until: Until,
    beat: &mut Beat<'_>,
) -> Result<Deployment, Error> {
    let what = key(ns, name);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = std::pin::pin!(watcher::watcher(api.clone(), config).default_backoff());
    let (mut seen, mut errors) = (false, 0);
    let delivery_end = async {
        match until.delivery {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    let mut delivery_end = std::pin::pin!(delivery_end);
    loop {
        tokio::select! {
            // The rollout's own limit first: when both have come, the rollout has failed.
            biased;
            () = tokio::time::sleep_until(until.deadline) => {
                return Err(Error::RolloutTimeout {
                    what,
                    reason: "the batch's timeout passed before the rollout completed".into(),
                });
            }
            () = &mut delivery_end => {
                // A last heartbeat covers the time until the next delivery.
                beat.send().await?;
                return Err(Error::OutOfTime { what });
            }
            () = beat.tick() => beat.send().await?,
            event = stream.next() => match event {
                None => {
                    return Err(Error::ClusterUnreachable { what, message: "the watch ended".into() });
                }
                Some(Ok(WatchEvent::Init)) => seen = false,
                Some(Ok(WatchEvent::InitDone)) if !seen => {
                    return Err(Error::WorkloadNotFound { what });
                }
                Some(Ok(WatchEvent::InitDone)) => {}
                Some(Ok(WatchEvent::Delete(_))) => return Err(Error::WorkloadNotFound { what }),
                Some(Ok(WatchEvent::Apply(d) | WatchEvent::InitApply(d))) => {
                    seen = true;
                    errors = 0;
                    match rollout::health(&d) {
                        Health::Ready => return Ok(d),
                        Health::Progressing => {}
                        Health::DeadlineExceeded(message) => {
                            return Err(Error::RolloutTimeout {
                                what,
                                reason: format!("ProgressDeadlineExceeded: {message}"),
                            });
                        }
                    }
                }
                Some(Err(e)) => {
                    errors += 1;
                    let err = match e {
                        watcher::Error::InitialListFailed(e)
                        | watcher::Error::WatchStartFailed(e)
                        | watcher::Error::WatchFailed(e) => Error::kube(format!("watching {what}"), &what, e),
                        other => Error::ClusterUnreachable { what: what.clone(), message: other.to_string() },
                    };
                    if matches!(err, Error::Forbidden { .. }) || errors >= WATCH_ERRORS {
                        return Err(err);
                    }
                    tracing::warn!(error = %err, "watch error, retrying");
                }
            }
        }
    }
}

/// Sends what runs in the cluster to the events queue: every Deployment Boreas manages, or only
/// those of `app`. Each entry is an [`AppInventory`] plus the workload, its track and replica counts.
pub async fn send_inventory(ctx: &Ctx, environment: &str, app: Option<&str>) -> Result<(), Error> {
    let all: Api<Deployment> = Api::all(ctx.client.clone());
    let mut selector = format!("{}={}", rollout::MANAGED_BY.0, rollout::MANAGED_BY.1);
    if let Some(app) = app {
        selector.push_str(&format!(",{}={app}", rollout::APP));
    }
    let list = all
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| Error::kube("listing Deployments for the inventory", &selector, e))?;
    let event = inventory_event(&ctx.cluster, environment, &list.items);
    ctx.queues
        .send(&ctx.inventory_queue_url, &event, &Default::default())
        .await?;
    Ok(())
}

/// The inventory event for `deployments`, as the inventory queue's JSON body.
pub fn inventory_event(cluster: &str, environment: &str, deployments: &[Deployment]) -> String {
    let label =
        |d: &Deployment, k: &str| d.metadata.labels.as_ref().and_then(|l| l.get(k)).cloned();
    let apps: Vec<AppInventory> = deployments
        .iter()
        .map(|d| AppInventory {
            app: label(d, rollout::APP).unwrap_or_default(),
            version: rollout::version(d).map(str::to_owned),
            previous: None,
            healthy: rollout::health(d) == Health::Ready,
            pid: None,
        })
        .collect();
    let event = Event::new(EventBody::Inventory {
        target: cluster.to_owned(),
        observed_at: boreas_aws::store::rfc3339(std::time::SystemTime::now()),
        kind: AppKind::K8s,
        environment: environment.to_owned(),
        group: None,
        apps,
        // Liveness is a PM agent's: a cluster's reachability shows in its commands' outcomes.
        interval_seconds: None,
    });
    let mut value: Value = serde_json::from_str(&event.to_json()).expect("an event is JSON");
    // The workload, track and replica counts ride along as extra fields of each entry; readers
    // of `AppInventory` ignore them.
    if let Some(entries) = value["apps"].as_array_mut() {
        for (entry, d) in entries.iter_mut().zip(deployments) {
            let status = d.status.clone().unwrap_or_default();
            entry["namespace"] = json!(d.metadata.namespace);
            entry["deployment"] = json!(d.metadata.name);
            entry["track"] = json!(label(d, rollout::TRACK));
            entry["replicas"] = json!(d.spec.replicas.unwrap_or(1));
            entry["ready_replicas"] = json!(status.ready_replicas.unwrap_or(0));
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::rollout_limit;

    #[test]
    fn the_batch_timeout_bounds_the_rollout_with_a_margin() {
        let configured = Duration::from_secs(900);
        // A tenth of the batch's timeout is kept back for the failure and rollback to arrive.
        assert_eq!(
            rollout_limit(configured, Some(600)),
            Duration::from_secs(540)
        );
        // At least 2 s, however short the timeout.
        assert_eq!(rollout_limit(configured, Some(10)), Duration::from_secs(8));
        assert_eq!(rollout_limit(configured, Some(1)), Duration::ZERO);
        // Never past the operator's own limit; without a batch timeout, that limit alone.
        assert_eq!(rollout_limit(configured, Some(3600)), configured);
        assert_eq!(rollout_limit(configured, None), configured);
    }
}
