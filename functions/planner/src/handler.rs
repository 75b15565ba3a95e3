//! The plan-queue handler.
//!
//! Per job:
//! 1. Load the repository record and the version; the job's commit must be the version's.
//! 2. Fetch the commit into the git cache and read `boreas.yaml` there. A missing or invalid file
//!    records the version `invalid_config` with every error as `boreas.yaml:LINE:COL: PATH:
//!    MESSAGE`, and plans nothing. A valid file is stored with the version (the api builds
//!    execution inputs and reverts from it).
//! 3. Per environment of the file:
//!    - the **last deployed** version is the newest `succeeded` deployment of this repository
//!      there; what each app runs now comes from the newest succeeded deployment that planned it;
//!    - **changed paths** are the tree diff from the last deployed commit (`None`, every app
//!      affected, when nothing was deployed yet or that commit can no longer be fetched);
//!    - the version is **diverged** there when it does not descend from the last deployed
//!      commit (an unfetchable commit counts as diverged: descent cannot be shown);
//!    - targets: explicit hosts, `{group: NAME}` expanded to the environment's registered agents
//!      of that group (by host name), and k8s clusters;
//!    - [`boreas_core::planner::plan`]; a plan without stages creates no deployment and the reason
//!      is recorded in the version's `errors` (prefixed with the environment);
//!    - the deployment is created `planned` with an id derived from (repository, version,
//!      environment, commit), so a redelivered job finds it instead of planning twice;
//!    - **supersede**: a `planned` deployment of this repository and environment whose commit the
//!      new one contains is moved to `superseded`; when instead an existing planned deployment
//!      contains the new one (an older version arriving late), the new one is superseded at once;
//!      diverged pairs both stay `planned` for a person to choose. In an environment with a
//!      `promotion` the newer one only records the older as the one it replaces, and replaces it
//!      when it may start itself (see below), so that a version that never gets through its
//!      upstream environments does not leave the environment with nothing;
//!    - with `auto_confirm`, unless diverged or superseded, the deployment starts through
//!      [`boreas_aws::lifecycle`]: it takes its run locks, moves to `running` and the execution
//!      named by its id starts (a held lock or an input the state machine cannot take leaves it
//!      `planned`; an execution that does not start leaves it `failed`; either way with the
//!      reason recorded).
//!    - a deployment left `planned` is checked against its environment's policy
//!      ([`boreas_aws::policy`]); why it waits is recorded, and a timer recheck is sent for when
//!      a soak or a freeze window ends.
//! 4. The version becomes `planned`, with `diverged` set when it diverged in any environment.
//!
//! A **recheck** message (an upstream outcome, a grant, a timer) looks again at the planned
//! deployments of one repository in one environment, newest first: their holds are brought up
//! to date, and the newest one the policy lets through replaces the older ones it recorded and,
//! with `auto_confirm` and not diverged, starts.
//!
//! Failures are reported per message (`batchItemFailures`). Errors that retrying cannot fix (an
//! unreadable job, an unknown repository or version) record the version `plan_failed` at once;
//! others (fetch, store) do so on the receive that reaches [`crate::Planner::max_receives`]. Either
//! way the message is reported failed, so the queue's redrive moves it to the dead-letter queue
//! instead of retrying it forever. A job that crashes the planner never reports anything, so on
//! its last receive the version is recorded `plan_failed` *before* the attempt; finishing
//! records the real outcome over it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use boreas_aws::batch::{Concurrency, Settle, handle_batch};
use boreas_aws::lifecycle::{Actor, Lifecycle};
use boreas_aws::policy;
use boreas_aws::store::{
    Agent, Deployment, DeploymentFilter, NewDeployment, PageRequest, REVIEW_MAX_BYTES,
    StoredReview, rfc3339,
};
use boreas_core::config::{self, AppKind, Config, HostRef};
use boreas_core::deployment::DeploymentStatus;
use boreas_core::execution::execution_input;
use boreas_core::notify::NoticeEvent;
use boreas_core::plan::Plan;
use boreas_core::planner::{PlanInput, plan_with_reasons};
use boreas_core::policy::Recheck;
use boreas_core::review::{COMMITS_SHOWN, CommitSummary, Review, Running};
use boreas_core::status::VersionStatus;
use boreas_core::version::{CommitId, Relation, VersionState};
use boreas_core::webhook::{PlanJob, RefTriggers};
use boreas_git_credentials::Access;
use sha2::Digest;

use crate::git::{Git, Remote};
use crate::{CONFIG_FILE, Error, Planner};

/// The SQS attribute counting how often a message was received.
const RECEIVE_COUNT: &str = "ApproximateReceiveCount";
/// Deployments read per page while looking for what an environment runs.
const HISTORY_PAGE: u32 = 100;
/// Pages of succeeded deployments read per environment before giving up on older apps.
const HISTORY_PAGES: usize = 20;

/// Handles one SQS batch of plan jobs; failed messages are listed for redelivery.
pub async fn handle(ctx: &Planner, event: SqsEvent) -> SqsBatchResponse {
    // In order: jobs of one repository in one batch are versions pushed in that order.
    handle_batch(event, Concurrency::Sequential, |message| async move {
        match handle_message(ctx, &message).await {
            Ok(()) => Settle::Delete,
            Err(e) => {
                let id = message.message_id.as_deref().unwrap_or_default();
                tracing::warn!(message_id = %id, error_type = e.error_type(), error = %e, "plan job failed");
                Settle::Redeliver
            }
        }
    })
    .await
}

async fn handle_message(ctx: &Planner, message: &SqsMessage) -> Result<(), Error> {
    let body = message.body.as_deref().unwrap_or_default();
    let receives: u32 = message
        .attributes
        .get(RECEIVE_COUNT)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let last_receive = receives >= ctx.max_receives;
    if let Some(recheck) = Recheck::from_json(body) {
        let recheck = recheck.map_err(Error::Job)?;
        return recheck_environment(ctx, &recheck).await;
    }
    let error = match PlanJob::from_json(body) {
        Err(e) => Error::Job(e.to_string()),
        Ok(job) => {
            if last_receive {
                // Recorded before the attempt: a job that crashes the planner (or outlasts its
                // timeout) on this receive too still leaves its version `plan_failed`, not
                // `received` forever. Finishing overwrites it with the real outcome.
                mark_unfinished(ctx, &job, receives).await;
            }
            match plan_job(ctx, &job).await {
                Ok(outcome) => {
                    tracing::info!(
                        repository = %job.repository,
                        version = %job.version,
                        outcome = %outcome.summary(),
                        "planned"
                    );
                    return Ok(());
                }
                Err(e) => e,
            }
        }
    };
    if error.is_permanent() || last_receive {
        // Best effort: the job may be too broken to name its version.
        if let Some((repository, version)) = job_names(body) {
            let errors = [format!("{}: {error}", error.error_type())];
            match ctx
                .store
                .set_version_status(
                    &repository,
                    &version,
                    VersionStatus::PlanFailed,
                    false,
                    &errors,
                )
                .await
            {
                Ok(()) => {
                    tracing::warn!(%repository, %version, receives, "version recorded plan_failed");
                }
                Err(e) => {
                    tracing::warn!(%repository, %version, error = %e, "cannot record plan_failed");
                }
            }
        }
    }
    Err(error)
}

/// Records the version of a job on its last receive as `plan_failed` because the earlier receives
/// did not finish; best effort, as the attempt itself still runs.
async fn mark_unfinished(ctx: &Planner, job: &PlanJob, receives: u32) {
    let errors = [format!(
        "PlannerDidNotFinish: receive {receives} of at most {}: the earlier receives of this plan job \
         did not finish (the planner crashed or timed out); the job goes to the dead-letter queue \
         if this one does not finish either",
        ctx.max_receives
    )];
    let (repository, version) = (&job.repository, &job.version);
    // Only a version still waiting for its plan: a redelivery of a job that was planned (or a
    // withdrawn version, which planning leaves as it is) must keep its status.
    match ctx.store.get_version(repository, version).await {
        Ok(Some(v))
            if v.status == VersionStatus::Received && v.version.state == VersionState::Normal => {}
        _ => return,
    }
    match ctx
        .store
        .set_version_status(
            repository,
            version,
            VersionStatus::PlanFailed,
            false,
            &errors,
        )
        .await
    {
        Ok(()) => tracing::warn!(%repository, %version, receives, "last receive of a plan job"),
        Err(e) => {
            tracing::warn!(%repository, %version, error = %e, "cannot record plan_failed");
        }
    }
}

/// Repository and version named by a job body, even one that is not a valid job.
fn job_names(body: &str) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let field = |name: &str| value.get(name)?.as_str().map(str::to_owned);
    Some((field("repository")?, field("version")?))
}

/// What planning a job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Errors of an invalid `boreas.yaml` (the version is `invalid_config`), else empty.
    pub config_errors: Vec<String>,
    /// Deployments created or found, by environment.
    pub deployments: BTreeMap<String, EnvironmentOutcome>,
    /// Why environments got no deployment or did not start (also stored on the version).
    pub notes: Vec<String>,
    /// The version does not descend from the last deployed one in some environment.
    pub diverged: bool,
}

/// What happened in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentOutcome {
    /// The deployment id.
    pub id: String,
    /// Its status after planning.
    pub status: DeploymentStatus,
    /// Deployments this one superseded.
    pub superseded: Vec<String>,
}

impl Outcome {
    fn summary(&self) -> String {
        if !self.config_errors.is_empty() {
            return format!("invalid config ({} errors)", self.config_errors.len());
        }
        let mut s = String::new();
        for (env, d) in &self.deployments {
            let _ = write!(s, "{env}: {} {}; ", d.id, d.status);
        }
        for note in &self.notes {
            let _ = write!(s, "{note}; ");
        }
        s.trim_end_matches("; ").to_owned()
    }
}

/// Runs blocking git work off the async executor.
async fn blocking<T: Send + 'static>(
    git: &Arc<dyn Git>,
    f: impl FnOnce(&dyn Git) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let git = Arc::clone(git);
    tokio::task::spawn_blocking(move || f(git.as_ref()))
        .await
        .map_err(|e| Error::Worker(e.to_string()))?
}

/// Plans one job (see the module documentation). Errors leave the version as it was; the
/// caller decides about `plan_failed`.
pub async fn plan_job(ctx: &Planner, job: &PlanJob) -> Result<Outcome, Error> {
    let repository = ctx
        .store
        .get_repository(&job.repository)
        .await?
        .ok_or_else(|| Error::UnknownRepository(job.repository.clone()))?;
    let version = ctx
        .store
        .get_version(&job.repository, &job.version)
        .await?
        .ok_or_else(|| Error::UnknownVersion {
            repository: job.repository.clone(),
            version: job.version.clone(),
        })?;
    if !version.version.commit.0.eq_ignore_ascii_case(&job.commit) {
        return Err(Error::CommitMismatch {
            repository: job.repository.clone(),
            version: job.version.clone(),
            recorded: version.version.commit.0.clone(),
            job: job.commit.clone(),
        });
    }
    let repo = job.repository.clone();
    let name = job.version.clone();
    let commit = CommitId(version.version.commit.0.to_ascii_lowercase());
    let mut outcome = Outcome::default();
    if version.version.state == VersionState::Revert {
        outcome.notes.push(format!(
            "version {name} is withdrawn (revert): nothing planned"
        ));
        return Ok(outcome);
    }

    let remote = Remote {
        url: repository.clone_url.clone(),
        auth: ctx
            .credentials
            .basic(&repository, Access::ReadContents)
            .await?,
    };
    let (fetched, source) = {
        let (repo, remote, commit) = (repo.clone(), remote.clone(), commit.clone());
        blocking(&ctx.git, move |git| {
            let fetched = git.fetch(&repo, &remote, std::slice::from_ref(&commit))?;
            Ok((fetched, git.read_file(&repo, &commit, CONFIG_FILE)?))
        })
        .await?
    };
    let config = match read_config(source.as_deref()) {
        Ok((config, text)) => {
            ctx.store.put_version_config(&repo, &name, &text).await?;
            config
        }
        Err(errors) => {
            ctx.store
                .set_version_status(&repo, &name, VersionStatus::InvalidConfig, false, &errors)
                .await?;
            outcome.config_errors = errors;
            return Ok(outcome);
        }
    };

    let triggers = RefTriggers::from_config(&config.triggers);
    if !triggers
        .as_ref()
        .is_ok_and(|t| t.matches(job.ref_kind, &job.ref_name))
    {
        outcome.notes.push(format!(
            "{CONFIG_FILE} triggers do not select {} {}: nothing planned",
            job.ref_kind.as_str(),
            job.ref_name
        ));
        ctx.store
            .set_version_status(&repo, &name, VersionStatus::Planned, false, &outcome.notes)
            .await?;
        return Ok(outcome);
    }

    for environment in &config.environments {
        let env = environment.name.as_str();
        let history = environment_history(ctx, &repo, env).await?;
        let facts = {
            let (repo, remote, commit) = (repo.clone(), remote.clone(), commit.clone());
            let last = history.last_deployed.as_ref().map(|(_, c)| c.clone());
            let planned: Vec<CommitId> = history.planned.iter().map(|(_, c)| c.clone()).collect();
            let reached = fetched > 0;
            blocking(&ctx.git, move |git| {
                git_facts(
                    git,
                    &repo,
                    &remote,
                    &commit,
                    last.as_ref(),
                    &planned,
                    reached,
                )
            })
            .await?
        };
        if facts.diverged {
            outcome.diverged = true;
        }
        let agents = ctx.store.list_agents(Some(env)).await?;
        let targets = resolve_targets(&config, env, &agents);
        let input = PlanInput {
            config: &config,
            environment: env,
            version: &name,
            changed_paths: facts.changed_paths.as_deref(),
            targets: &targets,
            current_versions: &history.current_versions,
        };
        let (plan, reasons) = plan_with_reasons(&input).map_err(|source| Error::Plan {
            environment: env.to_owned(),
            source,
        })?;
        if plan.stages.is_empty() {
            outcome
                .notes
                .push(format!("{env}: nothing to deploy ({})", skipped(&plan)));
            continue;
        }
        let deployment = create_or_find(ctx, &repo, &name, &commit, &plan).await?;
        // The planner's proposal and why; written again on a redelivery, to the same effect.
        let (commits, total) = facts.commits;
        let review = Review {
            running: history
                .last_deployed
                .as_ref()
                .map(|(version, commit)| Running {
                    version: version.clone(),
                    commit: commit.0.clone(),
                }),
            more_commits: u32::try_from(total.saturating_sub(commits.len())).unwrap_or(u32::MAX),
            commits,
            changed_paths: facts
                .changed_paths
                .as_ref()
                .map(|p| u32::try_from(p.len()).unwrap_or(u32::MAX)),
            apps: reasons,
        };
        let mut stored = StoredReview {
            review,
            proposal: plan.clone(),
        };
        stored.review.fit(REVIEW_MAX_BYTES);
        ctx.store.put_review(&deployment.id, &stored).await?;
        let mut result = EnvironmentOutcome {
            id: deployment.id.clone(),
            status: deployment.status,
            superseded: Vec::new(),
        };
        if deployment.status == DeploymentStatus::Planned {
            supersede(
                ctx,
                &deployment,
                &history.planned,
                &facts.relations,
                environment.promotion.is_some(),
                &mut result,
            )
            .await?;
        }
        let start = match result.status {
            DeploymentStatus::Planned if environment.auto_confirm && facts.diverged => {
                outcome.notes.push(format!(
                    "{env}: not started although auto_confirm is set: the version does not descend from the last deployed one"
                ));
                false
            }
            DeploymentStatus::Planned => environment.auto_confirm,
            // A redelivered job whose first run moved the deployment to running and then failed
            // before the execution started: starting again is idempotent.
            DeploymentStatus::Running => true,
            _ => false,
        };
        if start
            && let Some(note) =
                start_deployment(ctx, &deployment, &config, &commit, &mut result).await?
        {
            outcome.notes.push(format!("{env}: {note}"));
        }
        if result.status == DeploymentStatus::Planned {
            hold_new(ctx, &deployment).await?;
        }
        outcome.deployments.insert(env.to_owned(), result);
    }
    ctx.store
        .set_version_status(
            &repo,
            &name,
            VersionStatus::Planned,
            outcome.diverged,
            &outcome.notes,
        )
        .await?;
    Ok(outcome)
}

/// The parsed config and its text, or every error as `boreas.yaml:LINE:COL: PATH: MESSAGE`.
fn read_config(source: Option<&[u8]>) -> Result<(Config, String), Vec<String>> {
    let Some(bytes) = source else {
        return Err(vec![format!(
            "{CONFIG_FILE}: no such file at the version's commit"
        )]);
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(vec![format!("{CONFIG_FILE}:1:1: the file is not UTF-8")]);
    };
    match config::parse(text) {
        Ok(config) => Ok((config, text.to_owned())),
        Err(errors) => Err(errors
            .errors()
            .iter()
            .map(|e| format!("{CONFIG_FILE}:{e}"))
            .collect()),
    }
}

fn skipped(plan: &Plan) -> String {
    if plan.skipped.is_empty() {
        return "no apps".to_owned();
    }
    plan.skipped
        .iter()
        .map(|s| format!("{}: {}", s.app, s.reason.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the store says about one repository in one environment.
#[derive(Debug, Default)]
struct History {
    /// Newest succeeded deployment's version and commit.
    last_deployed: Option<(String, CommitId)>,
    /// Per app, the version of the newest succeeded deployment that planned it.
    current_versions: BTreeMap<String, String>,
    /// Planned deployments (newest first) with their commits.
    planned: Vec<(Deployment, CommitId)>,
}

async fn environment_history(ctx: &Planner, repo: &str, env: &str) -> Result<History, Error> {
    let mut history = History::default();
    let succeeded = list_all(ctx, repo, env, DeploymentStatus::Succeeded, HISTORY_PAGES).await?;
    for d in &succeeded {
        if history.last_deployed.is_none()
            && let Some(v) = ctx.store.get_version(repo, &d.version).await?
        {
            history.last_deployed = Some((
                d.version.clone(),
                CommitId(v.version.commit.0.to_ascii_lowercase()),
            ));
        }
        for app in d.plan.apps() {
            history
                .current_versions
                .entry(app.app.clone())
                .or_insert_with(|| d.version.clone());
        }
    }
    for d in list_all(ctx, repo, env, DeploymentStatus::Planned, usize::MAX).await? {
        if let Some(v) = ctx.store.get_version(repo, &d.version).await? {
            let commit = CommitId(v.version.commit.0.to_ascii_lowercase());
            history.planned.push((d, commit));
        }
    }
    Ok(history)
}

/// Deployments of `repo` in `env` with `status`, newest first, reading at most `pages` pages.
async fn list_all(
    ctx: &Planner,
    repo: &str,
    env: &str,
    status: DeploymentStatus,
    pages: usize,
) -> Result<Vec<Deployment>, Error> {
    // Filtered by repository in the store, so that every page read holds only this
    // repository's deployments (another repository's cannot crowd them out of `pages`).
    let filter = DeploymentFilter {
        status: Some(status),
        environment: Some(env.to_owned()),
        repository: Some(repo.to_owned()),
    };
    let mut page = PageRequest::first(HISTORY_PAGE);
    let mut out = Vec::new();
    for _ in 0..pages {
        let result = ctx.store.list_deployments(&filter, &page).await?;
        out.extend(result.items);
        match result.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    Ok(out)
}

/// Git answers for one environment.
#[derive(Debug)]
struct GitFacts {
    changed_paths: Option<Vec<String>>,
    /// The first [`COMMITS_SHOWN`] commits since the last deployed one, and how many in all
    /// (none when nothing was deployed, or its commit is gone).
    commits: (Vec<CommitSummary>, usize),
    diverged: bool,
    /// Relation of the new commit to each planned deployment's commit (`None`: unfetchable).
    relations: Vec<Option<Relation>>,
}

fn git_facts(
    git: &dyn Git,
    repo: &str,
    remote: &Remote,
    commit: &CommitId,
    last: Option<&CommitId>,
    planned: &[CommitId],
    remote_reached: bool,
) -> Result<GitFacts, Error> {
    let wanted: Vec<CommitId> = last.into_iter().chain(planned).cloned().collect();
    match git.fetch(repo, remote, &wanted) {
        Ok(_) => {}
        // The new commit came from the same remote a moment ago, so the remote works and refuses
        // the old commits (force-pushed away, garbage collected): treat them as unknown.
        Err(e) if remote_reached => {
            tracing::warn!(repository = repo, error = %e, "older commits unavailable");
        }
        Err(e) => return Err(e),
    }
    let present = |c: &CommitId| git.has_commit(repo, c);
    let history = crate::git::RepoHistory {
        git,
        repository: repo,
    };
    let (changed_paths, diverged, commits) = match last {
        None => (None, false, (Vec::new(), 0)),
        Some(last) if !present(last)? => (None, true, (Vec::new(), 0)),
        Some(last) => (
            Some(git.changed_paths(repo, last, commit)?),
            boreas_core::version::is_diverged(&history, commit, Some(last))?,
            git.commits_between(repo, last, commit, COMMITS_SHOWN)?,
        ),
    };
    let relations = planned
        .iter()
        .map(|p| {
            if present(p)? {
                boreas_core::version::relation(&history, commit, p).map(Some)
            } else {
                Ok(None)
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(GitFacts {
        changed_paths,
        commits,
        diverged,
        relations,
    })
}

/// Targets of every app in `env`: hosts (groups expanded from the registered agents) or clusters.
fn resolve_targets(config: &Config, env: &str, agents: &[Agent]) -> BTreeMap<String, Vec<String>> {
    let mut targets = BTreeMap::new();
    for app in &config.apps {
        let list: Vec<String> = match app.kind {
            AppKind::Pm => app
                .pm
                .as_ref()
                .and_then(|pm| pm.hosts.get(env))
                .into_iter()
                .flatten()
                .flat_map(|host| match host {
                    HostRef::Host(name) => vec![name.clone()],
                    HostRef::Group { group } => agents
                        .iter()
                        .filter(|a| a.env == env && a.group == *group)
                        .map(|a| a.host.clone())
                        .collect(),
                })
                .collect(),
            AppKind::K8s => app
                .k8s
                .as_ref()
                .and_then(|k| k.clusters.get(env))
                .cloned()
                .unwrap_or_default(),
        };
        if !list.is_empty() {
            targets.insert(app.name.clone(), list);
        }
    }
    targets
}

/// The deployment id of a version in an environment: readable, unique per (repository, version,
/// environment, commit), and a valid execution name (at most 80 of `A-Za-z0-9-_`).
pub fn deployment_id(
    repository: &str,
    version: &str,
    environment: &str,
    commit: &CommitId,
) -> String {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(max)
            .collect()
    };
    let mut hasher = sha2::Sha256::new();
    for part in [repository, version, environment, &commit.0] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let hash: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}-{}-{hash}", clean(environment, 20), clean(version, 40))
}

async fn create_or_find(
    ctx: &Planner,
    repo: &str,
    version: &str,
    commit: &CommitId,
    plan: &Plan,
) -> Result<Deployment, Error> {
    let new = NewDeployment {
        id: deployment_id(repo, version, &plan.environment, commit),
        repository: repo.to_owned(),
        version: version.to_owned(),
        environment: plan.environment.clone(),
        plan: plan.clone(),
        created_at: rfc3339(SystemTime::now()),
        revert: false,
    };
    let deployment = match ctx.store.create_deployment(&new).await {
        Ok(d) => {
            tracing::info!(deployment = %d.id, environment = %d.environment, "deployment planned");
            d
        }
        Err(boreas_aws::Error::AlreadyExists { .. }) => {
            ctx.store.get_deployment(&new.id).await?.ok_or_else(|| {
                Error::from(boreas_aws::Error::NotFound {
                    what: format!("deployment {}", new.id),
                })
            })?
        }
        Err(e) => return Err(e.into()),
    };
    // Also for a redelivered job, whose first run may have stopped before it: the notifier
    // sends each notice once.
    ctx.notices.send(&deployment.id, NoticeEvent::Planned).await;
    Ok(deployment)
}

async fn supersede(
    ctx: &Planner,
    ours: &Deployment,
    planned: &[(Deployment, CommitId)],
    relations: &[Option<Relation>],
    deferred: bool,
    result: &mut EnvironmentOutcome,
) -> Result<(), Error> {
    let lifecycle = Lifecycle::notifying(ctx.store.as_ref(), &ctx.notices);
    for ((other, _), relation) in planned.iter().zip(relations) {
        if other.id == ours.id {
            continue;
        }
        let (loser, winner) = match relation {
            Some(Relation::Newer | Relation::Same) => (other, ours),
            Some(Relation::Older) => (ours, other),
            Some(Relation::Diverged) | None => continue,
        };
        if deferred {
            ctx.store.put_supersedes(&winner.id, &loser.id).await?;
            continue;
        }
        // Confirmed or cancelled meanwhile: a person decided, leave it.
        if !lifecycle.supersede(loser, winner).await? {
            continue;
        }
        if loser.id == ours.id {
            result.status = DeploymentStatus::Superseded;
            return Ok(());
        }
        result.superseded.push(loser.id.clone());
    }
    Ok(())
}

/// What the policy said of a planned deployment.
enum Look {
    /// It may start; the older planned deployments it replaces then.
    Open { supersedes: Vec<String> },
    /// It waits; `at` is when to look again, `new` whether that time was not recorded before.
    Held {
        at: Option<jiff::Timestamp>,
        new: bool,
    },
}

/// Checks a planned deployment against its environment's policy and records why it waits (or
/// that it no longer does).
async fn record_hold(ctx: &Planner, deployment: &Deployment) -> Result<Look, Error> {
    let check = policy::check_start(ctx.store.as_ref(), deployment, policy::now()).await?;
    let before = check.records.hold.as_ref();
    let Some(hold) = &check.hold else {
        if before.is_some() {
            ctx.store.set_hold(&deployment.id, None).await?;
        }
        return Ok(Look::Open {
            supersedes: check.records.supersedes,
        });
    };
    let new = before.is_none_or(|b| b.recheck_at != hold.recheck_at);
    if new || before.is_none_or(|b| b.reasons != hold.reasons) {
        ctx.store.set_hold(&deployment.id, Some(hold)).await?;
    }
    Ok(Look::Held {
        at: hold.recheck_at.as_deref().and_then(policy::instant),
        new,
    })
}

/// Records why a deployment the planner just planned waits, and sends a timer recheck when it
/// waits for a time not asked for before.
async fn hold_new(ctx: &Planner, deployment: &Deployment) -> Result<(), Error> {
    if let Look::Held {
        at: Some(at),
        new: true,
    } = record_hold(ctx, deployment).await?
    {
        ctx.rechecks
            .at(&deployment.repository, &deployment.environment, at)
            .await;
    }
    Ok(())
}

/// Looks again at the planned deployments of one repository in one environment; see the
/// module documentation.
async fn recheck_environment(ctx: &Planner, recheck: &Recheck) -> Result<(), Error> {
    let (repo, env) = (recheck.repository.as_str(), recheck.environment.as_str());
    let planned = list_all(ctx, repo, env, DeploymentStatus::Planned, usize::MAX).await?;
    let mut open = None;
    // One timer per look, the earliest: a timer recheck goes on with its chain, an event starts
    // one only for a time not asked for before, so events never multiply the timers.
    let mut timer: Option<jiff::Timestamp> = None;
    for d in &planned {
        match record_hold(ctx, d).await? {
            Look::Open { supersedes } => {
                open = open.or(Some((d, supersedes)));
            }
            Look::Held { at: Some(at), new } if new || recheck.timer => {
                timer = Some(timer.map_or(at, |t| t.min(at)));
            }
            Look::Held { .. } => {}
        }
    }
    if let Some(at) = timer {
        ctx.rechecks.at(repo, env, at).await;
    }
    let Some((winner, supersedes)) = open else {
        tracing::info!(
            repository = repo,
            environment = env,
            waiting = planned.len(),
            "rechecked: every planned deployment waits"
        );
        return Ok(());
    };
    let lifecycle = Lifecycle::notifying(ctx.store.as_ref(), &ctx.notices);
    for loser in supersedes {
        if let Some(older) = planned.iter().find(|d| d.id == loser) {
            lifecycle.supersede(older, winner).await?;
        }
    }
    let Ok(config) = boreas_aws::store::deployment_config(ctx.store.as_ref(), winner).await? else {
        return Ok(());
    };
    let auto = config
        .environments
        .iter()
        .any(|e| e.name == env && e.auto_confirm);
    let Some(version) = ctx.store.get_version(repo, &winner.version).await? else {
        return Ok(());
    };
    if !auto || version.diverged {
        tracing::info!(deployment = %winner.id, "rechecked: may be confirmed");
        return Ok(());
    }
    let commit = CommitId(version.version.commit.0.to_ascii_lowercase());
    let mut result = EnvironmentOutcome {
        id: winner.id.clone(),
        status: winner.status,
        superseded: Vec::new(),
    };
    match start_deployment(ctx, winner, &config, &commit, &mut result).await? {
        Some(note) => tracing::info!(deployment = %winner.id, note, "rechecked: not started"),
        None => tracing::info!(deployment = %winner.id, "rechecked: started"),
    }
    Ok(())
}

/// Starts an `auto_confirm` deployment; `Ok(Some(reason))` when it did not start.
async fn start_deployment(
    ctx: &Planner,
    deployment: &Deployment,
    config: &Config,
    commit: &CommitId,
    result: &mut EnvironmentOutcome,
) -> Result<Option<String>, Error> {
    // The stored plan is the one to run (a redelivered job finds the first run's plan).
    let previous = boreas_aws::lifecycle::rollback_configs(
        ctx.store.as_ref(),
        &deployment.repository,
        &deployment.plan,
    )
    .await?;
    let input = match execution_input(
        &deployment.id,
        &deployment.plan,
        config,
        &commit.0,
        &previous,
    ) {
        Ok(input) => input,
        Err(e) => return Ok(Some(format!("not started: {e}"))),
    };
    let input = input.slices();
    let started = Lifecycle::notifying(ctx.store.as_ref(), &ctx.notices)
        .start(ctx.orchestrator.as_ref(), deployment, &input, Actor::Boreas)
        .await;
    match started {
        Ok(started) => {
            result.status = started.deployment.status;
            Ok(None)
        }
        Err(boreas_aws::Error::Conflict { what, reason }) => {
            Ok(Some(format!("waits planned: {what}: {reason}")))
        }
        Err(boreas_aws::Error::Held { reasons, .. }) => {
            Ok(Some(format!("waits planned: {}", reasons.join("; "))))
        }
        Err(e @ boreas_aws::Error::IllegalTransition { .. }) => {
            Ok(Some(format!("not started: {e}")))
        }
        Err(boreas_aws::Error::ExecutionNotStarted { message, .. }) => {
            result.status = DeploymentStatus::Failed;
            Ok(Some(format!("failed: {message}")))
        }
        Err(e) => Err(e.into()),
    }
}
