//! Boreas's state: one DynamoDB table, behind the [`Store`] trait.
//!
//! Key design (single table; attribute names snake_case; timestamps RFC 3339 UTC strings):
//!
//! | item             | pk                                   | sk                         | gsi1pk / gsi1sk                            | notable attributes |
//! | ---------------- | ------------------------------------ | -------------------------- | ------------------------------------------ | ------------------ |
//! | repository       | `REPO#{repo}`                        | `META`                     | `REPOSITORIES` / `{repo}`                  | `full_name`, `host`, `clone_url`, `provider`, `secret_param`, `previous_secret_version` (N), `previous_secret_until`, `credential` (JSON), `triggers`, `created_at` |
//! | last delivery    | `REPO#{repo}`                        | `LAST_DELIVERY`            |                                            | `at`, `event`, `delivery_id`, `status` (N), `outcome`, `message` |
//! | version          | `REPO#{repo}`                        | `VERSION#{name}`           | `VERSIONS` / `{received_at}#{repo}#{name}` | `commit`, `state`, `status`, `diverged`, `errors` |
//! | version config   | `REPO#{repo}`                        | `CONFIG#{name}`            |                                            | `source` (the `boreas.yaml` text at the version's commit) |
//! | deployment       | `DEP#{id}`                           | `META`                     | `DEPLOYMENTS` / `{created_at}#{id}`        | `status`, `environment`, `version`, `repository`, `plan` (JSON text; zlib-compressed JSON, B, when over 64 KiB), `created_at`, `started_at`, `ended_at`, `failed_target`, `error` |
//! | app progress     | `DEP#{id}`                           | `APP#{app}`                |                                            | `status`, `started_at`, `ended_at` |
//! | batch progress   | `DEP#{id}`                           | `BATCH#{app}#{index:04}`   |                                            | `status`, `started_at`, `ended_at` |
//! | target progress  | `DEP#{id}`                           | `TARGET#{app}#{target}`    |                                            | `status`, `batch`, `updated_at`, `error_type`, `error` |
//! | gate             | `DEP#{id}`                           | `GATE#{gate}`              |                                            | `task_token`, `status`, `comment`, `by` |
//! | host decision    | `DEP#{id}`                           | `DECISION#{app}#{target}`  |                                            | `task_token`, `batch` (N), `attempt` (N), `action`, `comment`, `by` |
//! | run lock         | `LOCK#{env}#{app}`                   | `LOCK`                     |                                            | `deployment_id` |
//! | webhook delivery | `DELIVERY#{provider}#{delivery_id}`  | `DELIVERY`                 |                                            | `received_at`, `expires_at` (N, TTL) |
//! | agent            | `AGENT#{env}#{host}`                 | `META`                     | `AGENTS` / `{env}#{host}`                  | `group`, `last_seen`, `live_until`, `apps` (JSON) |
//! | api token        | `TOKEN#{sha256 hex}`                 | `META`                     | `TOKENS` / `{name}`                        | `role`, `name`, `created_at`, `expires`, `last_used` |
//! | api token name   | `TOKENNAME#{name}`                   | `META`                     |                                            | `token_hash` (the name is unique) |
//! | hook output      | `OUTPUT#{id}`                        | `{app}#{target}#{action}`  |                                            | `output`, `truncated`, `at` |
//! | notification     | `NOTIFY#{id}`                        | `{sink}#{event}`           |                                            | `sink`, `event`, `state`, `attempts` (N), `updated_at`, `summary`, `error`, `remote_id` (N) |
//! | analysis check   | `ANALYSIS#{id}`                      | `{app}#{batch:04}#{check}` |                                            | `app`, `batch` (N), `check`, `condition`, `measured` (N), `measurements` (JSON), `verdict`, `message`, `updated_at` |
//! | notify defaults  | `SETTINGS`                           | `NOTIFY_DEFAULTS`          |                                            | `rules` (JSON), `updated_at`, `updated_by` |
//! | waiver           | `POLICY#{id}`                        | `WAIVER#{condition}`       |                                            | `record` (JSON: condition, reason, by, at) |
//! | override         | `POLICY#{id}`                        | `OVERRIDE`                 |                                            | `record` (JSON: reason, by, at, expires_at) |
//! | hold             | `POLICY#{id}`                        | `HOLD`                     |                                            | `record` (JSON: reasons, recheck_at, since; `null` once it no longer waits) |
//! | deferred supersede | `POLICY#{id}`                      | `SUPERSEDES#{older id}`    |                                            | `record` (JSON: the older id) |
//! | managed freeze   | `FREEZES`                            | `{name}`                   |                                            | `record` (JSON: the window as in `boreas.yaml`, added_by, added_at) |
//! | audit            | `AUDIT`                              | `{at}#{id}`                |                                            | `who`, `action`, `target` |
//! | app              | `APP#{app}`                          | `META`                     | `APPS` / `{app}`                           | `app` |
//! | app environment  | `APP#{app}`                          | `ENV#{env}`                |                                            | `env`; once released: `repository`, `version`, `deployment`, `release_order` (`{created_at}#{id}`), `targets` |
//! | projection mark  | `PROJECTION#apps`                    | `META`                     |                                            | `at` (the app projection covers every record before it) |
//! | app on a host    | `APP#{app}`                          | `HOST#{env}#{host}`        |                                            | `version`, `observed_at`, `present` (BOOL: `false` once the host stopped reporting the app) |
//!
//! `{repo}` is the repository id, `host/full_name` lowercased ([`boreas_core::repository`]), so a
//! webhook's repository is found with one `GetItem`.
//!
//! Table keys `pk`/`sk` (S); GSIs `gsi1` to `gsi4` on `gsiNpk`/`gsiNsk` (S), projection ALL;
//! TTL on `expires_at`. Every list that must be newest first reads an index (or the `AUDIT`
//! partition) backwards, and every filtered list reads only its own partition:
//!
//! | item                      | gsi2pk / gsi2sk                                   | gsi3pk / gsi3sk                                     | gsi4pk / gsi4sk |
//! | ------------------------- | ------------------------------------------------- | --------------------------------------------------- | --------------- |
//! | version                   | `VERSIONS#{repo}` / `{received_at}#{repo}#{name}` |                                                     |                 |
//! | deployment                | `DEPLOYMENTS#ENV#{env}` / `{created_at}#{id}`     | `DEPLOYMENTS#STATUS#{status}` / `{created_at}#{id}` (moved by every transition) | `DEPLOYMENTS#REPO#{repo}` / `{created_at}#{id}` |
//! | app environment, released | `RELEASES#{repo}` / `{app}#{env}`                 |                                                     |                 |
//!
//! A list of deployments filtered several ways reads the partition of one filter (status, else
//! environment, else repository: the first is the smallest for the filters people use) and
//! filters it by the others. `boreas provision` adds indexes missing from an older table and gives its items
//! their keys.
//!
//! The `APP#{app}` partition is a projection, so that the app views read one partition per app
//! instead of every deployment and agent: [`Store::record_release`] writes the releases (the
//! recorder, when a deployment's outcome is `succeeded`), and [`Store::upsert_agent`] writes the
//! hosts an inventory lists before it writes the agent, each conditional on the time the report
//! was observed (so a crash in between is repaired by the next report, and a late report never
//! undoes a newer one). `boreas provision` projects the records of a table made before the
//! projection existed ([`DynamoStore::project_existing`]).
//!
//! Correctness rests on conditional writes, never on read-then-write:
//! - a webhook delivery id is recorded once (`attribute_not_exists`, or the old record expired);
//! - a deployment's status changes only along [`DeploymentStatus::can_become`], written with the
//!   status it was read with as the condition, so of two racing writers exactly one wins (the
//!   functions change it, with its run locks, only through [`crate::lifecycle::Lifecycle`]);
//! - a plan changes only while the deployment is `planned`;
//! - run locks for a set of apps are taken in one transaction: at most one running deployment per
//!   app and environment;
//! - a gate is decided once; a failed host's decision once per attempt, and a late message about
//!   an earlier attempt never replaces a later one;
//! - a repository id is registered once, and an api token name is taken once (the token and its
//!   name are written in one transaction).
//!
//! Handlers hold the store as `Arc<dyn Store>`: the trait's methods return boxed futures so that it
//! stays object safe. [`MemoryStore`] keeps the same semantics in memory for handler unit tests;
//! one behaviour suite runs against both.

mod codec;
mod dynamo;
mod memory;
mod plan_record;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boreas_core::config::NotificationRule;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::history::{AppRun, HostRun};
use boreas_core::notify::DeliveryState;
use boreas_core::plan::Plan;
use boreas_core::review::Review;
use boreas_core::role::Role;
use boreas_core::status::{
    AppStatus, BatchStatus, FailureAction, GateStatus, TargetStatus, VersionStatus,
};
use boreas_core::version::Version;
use boreas_core::webhook::Provider;
use serde::{Deserialize, Serialize};

pub use boreas_core::policy::{Hold, ManagedFreeze, Override, Waiver};
pub(crate) use codec::{deployments_in, deployments_of, deployments_to, versions_of};
pub use dynamo::DynamoStore;
pub use memory::MemoryStore;
pub use plan_record::PLAN_RECORD_LIMIT;

use crate::{BoxFuture, Error};

/// Most items one list call returns.
pub const MAX_PAGE: u32 = 1000;

/// A person's answer to a manual gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Approve,
    /// Stop.
    Reject,
}

impl Decision {
    fn status(self) -> GateStatus {
        match self {
            Self::Approve => GateStatus::Approved,
            Self::Reject => GateStatus::Rejected,
        }
    }
}

/// A repository Boreas watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Repository id: `host/full_name`, lowercased.
    pub id: String,
    /// Full name as its provider's payloads carry it (`owner/name`, GitLab `group/sub/name`).
    pub full_name: String,
    /// The host serving it, as its payloads' web URLs name it.
    pub host: String,
    /// Where the planner fetches from.
    pub clone_url: String,
    /// The git host that sends its webhooks.
    pub provider: Provider,
    /// SSM parameter holding the webhook secret.
    pub secret_param: String,
    /// The secret before the last rotation, still accepted for a while.
    pub previous_secret: Option<PreviousSecret>,
    /// How the planner authenticates its fetches; `None` fetches anonymously.
    pub credential: Option<GitCredential>,
    /// Ref patterns that create versions.
    pub triggers: Vec<String>,
    /// When it was registered.
    pub created_at: String,
}

/// A rotated-out webhook secret: a version of the secret's SSM parameter, accepted until a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    /// The parameter version holding it.
    pub version: i64,
    /// Accepted until then (RFC 3339).
    pub until: String,
}

impl Repository {
    /// The SSM name (with a version selector) of the previous secret, while it is accepted at
    /// `now` (RFC 3339).
    pub fn previous_secret_param(&self, now: &str) -> Option<String> {
        self.previous_secret
            .as_ref()
            .filter(|p| now < p.until.as_str())
            .map(|p| format!("{}:{}", self.secret_param, p.version))
    }
}

/// A git credential kept in SSM (a SecureString); the record only names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GitCredential {
    /// An HTTPS token sent as the password of basic authentication, with this user name.
    Token {
        /// The SecureString holding the token.
        param: String,
        /// The user name sent with it (`x-access-token` for GitHub, `oauth2` for GitLab and
        /// Gitea, a deploy token's own name).
        username: String,
    },
    /// A GitHub App, whose installation tokens are minted from its private key.
    GithubApp {
        /// The App's id (the JWT's issuer).
        app_id: u64,
        /// The SecureString holding the App's private key (PEM).
        key_param: String,
        /// The REST API base (`https://api.github.com`, `https://HOST/api/v3` for GHES).
        api_url: String,
    },
}

impl GitCredential {
    /// Its kind.
    pub fn kind(&self) -> boreas_core::repository::CredentialKind {
        match self {
            Self::Token { .. } => boreas_core::repository::CredentialKind::Token,
            Self::GithubApp { .. } => boreas_core::repository::CredentialKind::GithubApp,
        }
    }

    /// The SSM parameter holding its secret part.
    pub fn param(&self) -> &str {
        match self {
            Self::Token { param, .. } => param,
            Self::GithubApp { key_param, .. } => key_param,
        }
    }
}

/// The last webhook delivery that named a registered repository, and what intake answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDelivery {
    /// When it arrived.
    pub at: String,
    /// The event header's value (`push`, `Tag Push Hook`, …), if sent.
    pub event: Option<String>,
    /// The provider's delivery id, if sent.
    pub delivery_id: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// `queued`, `ignored`, `duplicate`, `pong`, or the error code answered.
    pub outcome: String,
    /// The answer's message.
    pub message: String,
}

/// A version and what intake and planning made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Repository, name, commit and state.
    pub version: Version,
    /// Intake/planning outcome.
    pub status: VersionStatus,
    /// Its commit does not descend from the last deployed one.
    pub diverged: bool,
    /// Why planning failed (config errors with file, line and column).
    pub errors: Vec<String>,
    /// When intake recorded it.
    pub received_at: String,
    /// Who pushed the tag, as the git host names them (absent when the payload does not say).
    pub pushed_by: Option<String>,
}

/// A deployment as the planner creates it (status `planned`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    /// Deployment id, a valid Step Functions execution name.
    pub id: String,
    /// Repository id.
    pub repository: String,
    /// Version name.
    pub version: String,
    /// Environment name.
    pub environment: String,
    /// The plan.
    pub plan: Plan,
    /// Creation time.
    pub created_at: String,
    /// Made by a revert (`POST /api/versions/{repo}/{name}/revert`): no policy holds it.
    pub revert: bool,
}

/// A deployment record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Deployment id.
    pub id: String,
    /// Repository id.
    pub repository: String,
    /// Version name.
    pub version: String,
    /// Environment name.
    pub environment: String,
    /// Lifecycle status.
    pub status: DeploymentStatus,
    /// The plan (stored as JSON, decoded once when the record is read).
    pub plan: Plan,
    /// Creation time.
    pub created_at: String,
    /// When it started running.
    pub started_at: Option<String>,
    /// When it reached a terminal status.
    pub ended_at: Option<String>,
    /// The target whose failure stopped it.
    pub failed_target: Option<String>,
    /// Why it stopped.
    pub error: Option<String>,
    /// Who confirmed it (an API token's name, or `boreas`), once it runs.
    pub confirmed_by: Option<String>,
    /// Made by a revert: no policy holds it.
    pub revert: bool,
}

/// The most a review's JSON may take: its record is one item (at most 400 KB in DynamoDB), the
/// proposal another.
pub const REVIEW_MAX_BYTES: usize = 300 * 1024;

/// What the planner recorded for the reviewer of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReview {
    /// Its reasons, commits and what ran before.
    pub review: Review,
    /// The plan the planner proposed, before any adjustment.
    pub proposal: Plan,
}

/// A requested status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The new status.
    pub to: DeploymentStatus,
    /// When: becomes `started_at` for `running`, `ended_at` for terminal statuses.
    pub at: String,
    /// The target whose failure causes the change.
    pub failed_target: Option<String>,
    /// Why.
    pub error: Option<String>,
}

impl Transition {
    /// A change with no failure details.
    pub fn to(to: DeploymentStatus, at: impl Into<String>) -> Self {
        Self {
            to,
            at: at.into(),
            failed_target: None,
            error: None,
        }
    }
}

/// Which deployments a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentFilter {
    /// Only this status.
    pub status: Option<DeploymentStatus>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this repository (id).
    pub repository: Option<String>,
}

impl DeploymentFilter {
    fn matches(&self, d: &Deployment) -> bool {
        self.status.is_none_or(|s| s == d.status)
            && self
                .environment
                .as_ref()
                .is_none_or(|e| *e == d.environment)
            && self.repository.as_ref().is_none_or(|r| *r == d.repository)
    }
}

/// A span of time: from `since` (included) to `until` (excluded), either open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeRange {
    since: Option<String>,
    until: Option<String>,
}

impl TimeRange {
    /// The span from `since` to `until`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `since` is not before `until`.
    pub fn new(since: Option<SystemTime>, until: Option<SystemTime>) -> Result<Self, Error> {
        if let (Some(a), Some(b)) = (since, until)
            && a >= b
        {
            return Err(Error::invalid_input(format!(
                "the range from {} to {} is empty",
                rfc3339(a),
                rfc3339(b)
            )));
        }
        Ok(Self {
            since: since.map(rfc3339),
            until: until.map(rfc3339),
        })
    }

    /// Whether a record keyed `{at}#…` (an RFC 3339 time as [`rfc3339`] writes it) is inside:
    /// fixed-width times compare as strings, and `{until}#…` sorts after `{until}`.
    fn holds(&self, key: &str) -> bool {
        self.since.as_deref().is_none_or(|s| key >= s)
            && self.until.as_deref().is_none_or(|u| key < u)
    }
}

/// One page of a list: at most `limit` items after the position `cursor` marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to [`MAX_PAGE`].
    pub limit: u32,
    /// `next` of the previous page, or `None` for the first page.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }

    fn checked_limit(&self) -> Result<usize, Error> {
        if (1..=MAX_PAGE).contains(&self.limit) {
            Ok(self.limit as usize)
        } else {
            Err(Error::invalid_input(format!(
                "page limit {} is outside 1..={MAX_PAGE}",
                self.limit
            )))
        }
    }
}

/// A page of results. A full page has a `next` cursor, which may lead to an empty page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// Items, in list order.
    pub items: Vec<T>,
    /// Cursor for the following page; `None` at the end.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The page with each item decoded by `decode`; the first error, if any.
    fn decoded<U>(self, decode: impl Fn(&T) -> Result<U, Error>) -> Result<Page<U>, Error> {
        Ok(Page {
            items: self.items.iter().map(decode).collect::<Result<_, _>>()?,
            next: self.next,
        })
    }
}

/// Progress of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppProgress {
    /// App name.
    pub app: String,
    /// Status.
    pub status: AppStatus,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
}

/// Progress of one gray batch of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchProgress {
    /// App name.
    pub app: String,
    /// Batch index, from 0.
    pub index: u32,
    /// Status.
    pub status: BatchStatus,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
}

/// Progress of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetProgress {
    /// App name.
    pub app: String,
    /// Host name or `cluster/namespace/workload`.
    pub target: String,
    /// Status.
    pub status: TargetStatus,
    /// The batch it belongs to.
    pub batch: u32,
    /// Last change.
    pub updated_at: String,
    /// Stable error type of the failure.
    pub error_type: Option<String>,
    /// Failure message.
    pub error: Option<String>,
}

/// A manual gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    /// Gate name.
    pub gate: String,
    /// The Step Functions task token the decision is sent with.
    pub task_token: String,
    /// Status.
    pub status: GateStatus,
    /// The decider's comment.
    pub comment: Option<String>,
    /// Who decided.
    pub by: Option<String>,
}

/// Everything recorded under one deployment, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Per-app progress, by app name.
    pub apps: Vec<AppProgress>,
    /// Per-batch progress, by app then index.
    pub batches: Vec<BatchProgress>,
    /// Per-target progress, by app then target.
    pub targets: Vec<TargetProgress>,
    /// Manual gates, by name.
    pub gates: Vec<Gate>,
    /// Failed hosts' decisions, by app then target.
    pub decisions: Vec<HostDecision>,
}

/// A host that failed under `rollout.on_failure: pause`: its latest attempt, waiting for an
/// approver (`action` is `None`) or decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDecision {
    /// App name.
    pub app: String,
    /// Host name.
    pub target: String,
    /// Index of the host's batch.
    pub batch: u32,
    /// The attempt that failed (0 first, one more per retry).
    pub attempt: u32,
    /// The Step Functions task token the decision is sent with.
    pub task_token: String,
    /// What was decided, once it was.
    pub action: Option<FailureAction>,
    /// The decider's comment.
    pub comment: Option<String>,
    /// Who decided.
    pub by: Option<String>,
}

impl HostDecision {
    /// A decision now waiting on `task_token`.
    pub fn waiting(
        app: impl Into<String>,
        target: impl Into<String>,
        batch: u32,
        attempt: u32,
        task_token: impl Into<String>,
    ) -> Self {
        Self {
            app: app.into(),
            target: target.into(),
            batch,
            attempt,
            task_token: task_token.into(),
            action: None,
            comment: None,
            by: None,
        }
    }
}

/// A PM agent and what it last reported running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Environment.
    pub env: String,
    /// Host name.
    pub host: String,
    /// Host group.
    pub group: String,
    /// When the last report was recorded.
    pub last_seen: String,
    /// When the reporter observed what the last report says (its own clock): a report never
    /// replaces one observed later.
    pub observed_at: String,
    /// Until when the host counts as reachable without another report (absent: agents that do
    /// not say how often they report).
    pub live_until: Option<String>,
    /// Inventory: what runs on the host, as reported.
    pub apps: serde_json::Value,
}

impl Agent {
    /// What the agent last reported running (empty, with a log line, when it does not parse).
    pub fn inventory(&self) -> Vec<boreas_core::command::AppInventory> {
        serde_json::from_value(self.apps.clone()).unwrap_or_else(|e| {
            tracing::warn!(env = %self.env, host = %self.host, error = %e, "inventory does not parse");
            Vec::new()
        })
    }

    /// Whether the host has missed its liveness window at `now` (RFC 3339, as [`rfc3339`] writes).
    pub fn unreachable_at(&self, now: &str) -> bool {
        self.live_until.as_deref().is_some_and(|until| until < now)
    }
}

/// What Boreas last released of an app in one environment: the newest `succeeded` deployment
/// (by creation) whose plan deploys the app there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Repository id.
    pub repository: String,
    /// Version name.
    pub version: String,
    /// Deployment id.
    pub deployment: String,
    /// The deployment's targets of the app.
    pub targets: Vec<String>,
}

/// An app in one environment: released there, reported by a host there, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppEnvironment {
    /// Environment name.
    pub env: String,
    /// The newest release, if any deployment of the app there succeeded.
    pub release: Option<Release>,
}

/// An app as the last inventory of one host reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppOnHost {
    /// Environment name.
    pub env: String,
    /// Host (or cluster) name.
    pub host: String,
    /// Version running, if any.
    pub version: Option<String>,
}

/// Everything recorded about one app, read from its own partition: its environments (by name)
/// and the hosts that report it (by environment, then host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppRecords {
    /// Environments.
    pub environments: Vec<AppEnvironment>,
    /// Hosts whose last inventory lists the app.
    pub hosts: Vec<AppOnHost>,
}

/// App → version of an agent's inventory, for the apps with a valid name (an inventory is a
/// host's own claim: a name that could never be deployed is not recorded under the app).
fn inventory_versions(agent: &Agent) -> BTreeMap<String, Option<String>> {
    agent
        .inventory()
        .into_iter()
        .filter(|a| boreas_core::config::is_valid_name(&a.app))
        .map(|a| (a.app, a.version))
        .collect()
}

/// A version's place in its repository's list, newest last: `{received_at}#{repo}#{name}`.
fn version_list_key(v: &VersionRecord) -> String {
    format!(
        "{}#{}#{}",
        v.received_at, v.version.repository, v.version.name
    )
}

/// [`Error::InvalidInput`] unless `d` succeeded: only a success is a release.
fn check_released(d: &Deployment) -> Result<(), Error> {
    if d.status == DeploymentStatus::Succeeded {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "deployment {} is {}: only a succeeded deployment is a release",
            d.id, d.status
        )))
    }
}

/// Whether a delivery may be claimed for an attempt: it is new, waits for a retry, or its
/// `sending` claim was last changed before `stale_before`. The DynamoDB store writes the same
/// rule as a condition.
fn claimable(existing: Option<&Notification>, stale_before: &str) -> bool {
    match existing {
        None => true,
        Some(n) => match n.state {
            DeliveryState::Retrying => true,
            DeliveryState::Sending => n.updated_at.as_str() < stale_before,
            DeliveryState::Delivered | DeliveryState::Failed | DeliveryState::Skipped => false,
        },
    }
}

/// A deployment's place in creation order, newest last: `{created_at}#{id}`. The lists sort by
/// it, and so do releases: a later-created deployment's release replaces an earlier one's, never
/// the reverse (outcomes may be recorded out of order).
fn deployment_order(created_at: &str, id: &str) -> String {
    format!("{created_at}#{id}")
}

/// What a target's lifecycle hooks printed during one command (kept apart from the deployment's
/// progress records, so reading progress never reads output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOutput {
    /// App name.
    pub app: String,
    /// Host name.
    pub target: String,
    /// `deploy` or `rollback`.
    pub action: String,
    /// The last part of the output.
    pub output: String,
    /// Whether earlier output was cut off.
    pub truncated: bool,
    /// When it was recorded.
    pub at: String,
}

/// One notification delivery: one event of a deployment sent to one sink (kept apart from the
/// deployment's progress records, like hook output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The sink (`git`, or a sink registered in the installation).
    pub sink: String,
    /// The event id within the deployment (`succeeded`, `gate_waiting:api.0`), or a step of
    /// the sink's own (`github_deployment`: the GitHub Deployment the statuses belong to).
    pub event: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made, the one under way included.
    pub attempts: u32,
    /// When it last changed.
    pub updated_at: String,
    /// What it says.
    pub summary: String,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// The id the sink gave it (a GitHub Deployment's id).
    pub remote_id: Option<u64>,
}

/// One analysis check after one batch of one app: its measurements so far and, once decided,
/// its verdict. Written only by the analysis worker, one measurement at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRecord {
    /// The app.
    pub app: String,
    /// The batch's index, from 0.
    pub batch: u32,
    /// The check's name.
    pub check: String,
    /// What a value must satisfy, as written (`< 0.01`).
    pub condition: String,
    /// The measurements, oldest first.
    pub measurements: Vec<boreas_core::analysis::run::Taken>,
    /// The check's verdict, once decided.
    pub verdict: Option<boreas_core::analysis::Outcome>,
    /// The verdict's sentence: the check, the last value, the condition and the counts.
    pub message: Option<String>,
    /// When it last changed.
    pub updated_at: String,
}

/// What the policy records say about one deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentPolicy {
    /// Conditions lifted, by condition.
    pub waivers: Vec<Waiver>,
    /// The newest override, if any (expired or not).
    pub override_: Option<Override>,
    /// Why it waits, if it does.
    pub hold: Option<Hold>,
    /// Older planned deployments of its environment it replaces once it may start (in an
    /// environment with a promotion, a newer version does not replace an older one before
    /// it is eligible itself, so that nothing is skipped for a version that never gets there).
    pub supersedes: Vec<String>,
}

/// The installation's default notification rules: what a deployment whose `boreas.yaml` has no
/// `notifications` section is notified by ([`boreas_core::notify::rules_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationDefaults {
    /// The rules, in order.
    pub rules: Vec<NotificationRule>,
    /// When they were last set.
    pub updated_at: String,
    /// Who set them.
    pub updated_by: String,
}

/// A notifier's claim of one delivery for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationClaim {
    /// The sink.
    pub sink: String,
    /// The event id.
    pub event: String,
    /// What it says.
    pub summary: String,
    /// Now.
    pub at: String,
    /// A `sending` claim last changed before this is taken over: its notifier stopped.
    pub stale_before: String,
}

/// An API token's grant (the secret itself is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Who or what holds it; unique.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it stops working, if ever (RFC 3339).
    pub expires: Option<String>,
    /// When it last authorized a request, to within [`TOKEN_USE_RESOLUTION`].
    pub last_used: Option<String>,
}

impl ApiToken {
    /// A grant created at `created_at` that never expires and was never used.
    pub fn new(name: impl Into<String>, role: Role, created_at: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            role,
            created_at: created_at.into(),
            expires: None,
            last_used: None,
        }
    }

    /// Whether it has expired at `now` (RFC 3339).
    pub fn expired(&self, now: &str) -> bool {
        self.expires.as_deref().is_some_and(|e| e <= now)
    }
}

/// How stale a token's `last_used` may be before a request records its use again: at most one
/// write per token per interval, however many requests it authorizes.
pub const TOKEN_USE_RESOLUTION: Duration = Duration::from_secs(60);

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: String,
    /// Unique id (orders entries of the same instant).
    pub id: String,
    /// Token name of the actor.
    pub who: String,
    /// What was done (`confirm`, `cancel`, `approve`, …).
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// What exactly changed, one line each (a plan adjustment's changes); often empty.
    pub detail: Vec<String>,
}

impl AuditEntry {
    /// An entry for `who` doing `action` to `target` now. Its id starts with the nanoseconds
    /// below the millisecond `at` shows, so that entries written within one millisecond list in
    /// the order they were written; a random rest keeps ids unique across writers.
    pub fn new(who: &str, action: &str, target: &str) -> Result<Self, Error> {
        let now = SystemTime::now();
        let mut random = [0u8; 5];
        getrandom::fill(&mut random).map_err(|e| Error::NoRandomness {
            message: e.to_string(),
        })?;
        let below_ms = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos()
            % 1_000_000;
        Ok(Self {
            at: rfc3339(now),
            id: format!("{below_ms:06}{}", hex(&random)),
            who: who.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail: Vec::new(),
        })
    }
}

/// Boreas's state. See the module documentation for keys and guarantees.
pub trait Store: Send + Sync + fmt::Debug {
    /// Creates or replaces a repository.
    fn put_repository<'a>(&'a self, repo: &'a Repository) -> BoxFuture<'a, ()>;
    /// Creates a repository unless its id is registered; `true` if created.
    fn create_repository<'a>(&'a self, repo: &'a Repository) -> BoxFuture<'a, bool>;
    /// A repository by id.
    fn get_repository<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Repository>>;
    /// Every repository, by id.
    fn list_repositories(&self) -> BoxFuture<'_, Vec<Repository>>;
    /// Removes a repository and its last delivery (its versions stay); `true` if it existed.
    fn delete_repository<'a>(&'a self, id: &'a str) -> BoxFuture<'a, bool>;
    /// Records the secret a rotation replaced; [`Error::NotFound`] for an unknown repository. A
    /// rotation that lost a race to a newer one changes nothing.
    fn set_previous_secret<'a>(
        &'a self,
        id: &'a str,
        previous: &'a PreviousSecret,
    ) -> BoxFuture<'a, ()>;
    /// Replaces the last delivery recorded for a repository.
    fn put_last_delivery<'a>(
        &'a self,
        id: &'a str,
        delivery: &'a LastDelivery,
    ) -> BoxFuture<'a, ()>;
    /// The last deliveries of these repositories, by id (those without one are absent).
    fn last_deliveries<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, std::collections::BTreeMap<String, LastDelivery>>;

    /// Records a version unless one with that repository and name exists; `true` if recorded.
    fn put_version<'a>(&'a self, version: &'a VersionRecord) -> BoxFuture<'a, bool>;
    /// A version by repository and name.
    fn get_version<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Option<VersionRecord>>;
    /// Versions newest first (by `received_at`), of one repository or all.
    fn list_versions<'a>(
        &'a self,
        repo: Option<&'a str>,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<VersionRecord>>;
    /// Records the planning outcome of a version.
    fn set_version_status<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
        status: VersionStatus,
        diverged: bool,
        errors: &'a [String],
    ) -> BoxFuture<'a, ()>;
    /// Records the `boreas.yaml` text read at a version's commit (the planner does, so that the
    /// api can build execution inputs and plan reverts without git). Replaces an earlier record.
    fn put_version_config<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
        source: &'a str,
    ) -> BoxFuture<'a, ()>;
    /// The `boreas.yaml` text recorded for a version.
    fn get_version_config<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Option<String>>;
    /// Marks a version deployable or withdrawn.
    fn set_version_state<'a>(
        &'a self,
        repo: &'a str,
        name: &'a str,
        state: boreas_core::version::VersionState,
    ) -> BoxFuture<'a, ()>;

    /// Creates a `planned` deployment; [`Error::AlreadyExists`] if the id is taken.
    fn create_deployment<'a>(&'a self, new: &'a NewDeployment) -> BoxFuture<'a, Deployment>;
    /// A deployment by id.
    fn get_deployment<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Deployment>>;
    /// Deployments newest first (by `created_at`).
    fn list_deployments<'a>(
        &'a self,
        filter: &'a DeploymentFilter,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<Deployment>>;
    /// Replaces the plan; [`Error::Conflict`] unless the deployment is still `planned`.
    fn update_plan<'a>(&'a self, id: &'a str, plan: &'a Plan) -> BoxFuture<'a, ()>;
    /// Records why running deployment `id` is about to stop, unless a reason is recorded already
    /// (the first failure is the one people need): `false` when it has one or is not running.
    /// The outcome that follows keeps it.
    fn note_deployment_error<'a>(&'a self, id: &'a str, error: &'a str) -> BoxFuture<'a, bool>;
    /// Moves the status along the lifecycle; [`Error::IllegalTransition`] (naming the status the
    /// deployment actually has) when the lifecycle forbids it, including when another writer moved
    /// it first. Returns the updated record.
    fn transition_deployment<'a>(
        &'a self,
        id: &'a str,
        change: &'a Transition,
    ) -> BoxFuture<'a, Deployment>;

    /// Creates or replaces an app's progress.
    fn put_app_progress<'a>(&'a self, id: &'a str, p: &'a AppProgress) -> BoxFuture<'a, ()>;
    /// Creates or replaces a batch's progress.
    fn put_batch_progress<'a>(&'a self, id: &'a str, p: &'a BatchProgress) -> BoxFuture<'a, ()>;
    /// Creates or replaces a target's progress.
    fn put_target_progress<'a>(&'a self, id: &'a str, p: &'a TargetProgress) -> BoxFuture<'a, ()>;
    /// Every progress and gate record of a deployment.
    fn progress<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Progress>;

    /// Stores a gate's task token, status `waiting`. Replaces a waiting gate (a redelivered or
    /// retried request carries a new token); [`Error::Conflict`] once the gate is decided.
    fn put_gate<'a>(&'a self, id: &'a str, gate: &'a str, task_token: &'a str)
    -> BoxFuture<'a, ()>;
    /// A gate by deployment and name.
    fn get_gate<'a>(&'a self, id: &'a str, gate: &'a str) -> BoxFuture<'a, Option<Gate>>;
    /// Decides a waiting gate once; [`Error::Conflict`] if already decided. Returns the gate
    /// (with its task token, to send the decision to the state machine).
    fn decide_gate<'a>(
        &'a self,
        id: &'a str,
        gate: &'a str,
        decision: Decision,
        by: &'a str,
        comment: Option<&'a str>,
    ) -> BoxFuture<'a, Gate>;

    /// Stores a failed host's waiting decision. Replaces a waiting one of the same attempt (a
    /// redelivery) and any of an earlier attempt; [`Error::Conflict`] when that attempt is decided
    /// already or a later attempt is recorded.
    fn put_host_decision<'a>(&'a self, id: &'a str, d: &'a HostDecision) -> BoxFuture<'a, ()>;
    /// A failed host's latest decision record.
    fn get_host_decision<'a>(
        &'a self,
        id: &'a str,
        app: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Option<HostDecision>>;
    /// Decides `attempt` of a failed host once; [`Error::Conflict`] if it is decided already or
    /// no longer the latest attempt, [`Error::NotFound`] without a record. Returns the record
    /// (with its task token, to send the decision to the state machine).
    fn decide_host<'a>(
        &'a self,
        id: &'a str,
        d: &'a HostDecision,
        action: FailureAction,
        by: &'a str,
        comment: Option<&'a str>,
    ) -> BoxFuture<'a, HostDecision>;

    /// Takes the run locks of `apps` in `env` for deployment `id`, all or none; taking locks the
    /// deployment already holds succeeds. [`Error::Conflict`] names a lock another deployment holds.
    fn acquire_run_locks<'a>(
        &'a self,
        id: &'a str,
        env: &'a str,
        apps: &'a [String],
    ) -> BoxFuture<'a, ()>;
    /// Releases the run locks deployment `id` holds among `apps`; others' locks stay.
    fn release_run_locks<'a>(
        &'a self,
        id: &'a str,
        env: &'a str,
        apps: &'a [String],
    ) -> BoxFuture<'a, ()>;
    /// The deployment holding the run lock of `app` in `env`.
    fn run_lock_holder<'a>(&'a self, env: &'a str, app: &'a str) -> BoxFuture<'a, Option<String>>;

    /// Records a webhook delivery id; `true` for the first writer, `false` for a redelivery.
    /// The record expires `ttl` after `at`, after which the id counts as new again.
    fn record_delivery<'a>(
        &'a self,
        provider: Provider,
        delivery_id: &'a str,
        at: SystemTime,
        ttl: Duration,
    ) -> BoxFuture<'a, bool>;

    /// Creates or replaces an agent's record, unless the stored one was observed at the same
    /// instant or later (`observed_at`); `true` when written.
    fn upsert_agent<'a>(&'a self, agent: &'a Agent) -> BoxFuture<'a, bool>;
    /// Agents, of one environment or all, by environment then host.
    fn list_agents<'a>(&'a self, env: Option<&'a str>) -> BoxFuture<'a, Vec<Agent>>;
    /// One page of [`Store::list_agents`], in the same order.
    fn agents_page<'a>(
        &'a self,
        env: Option<&'a str>,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<Agent>>;

    /// Records `deployment` (which must be `succeeded`) as the release of each app of its plan
    /// in its environment, unless a later-created deployment's release is recorded there;
    /// idempotent.
    fn record_release<'a>(&'a self, deployment: &'a Deployment) -> BoxFuture<'a, ()>;
    /// One page of the names of every app released somewhere or reported by a host, by name.
    fn app_names<'a>(&'a self, page: &'a PageRequest) -> BoxFuture<'a, Page<String>>;
    /// What is recorded about `app` (empty for an unknown app).
    fn app_records<'a>(&'a self, app: &'a str) -> BoxFuture<'a, AppRecords>;
    /// The apps with a release of repository `repo` in some environment, by name.
    fn released_apps<'a>(&'a self, repo: &'a str) -> BoxFuture<'a, Vec<String>>;
    /// The versions of the repository of `than` received before it, newest first.
    fn older_versions<'a>(
        &'a self,
        than: &'a VersionRecord,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<VersionRecord>>;

    /// Creates or replaces the hook output of one target's command in deployment `id`.
    fn put_task_output<'a>(&'a self, id: &'a str, output: &'a TaskOutput) -> BoxFuture<'a, ()>;
    /// The hook outputs of one target in deployment `id`, by action.
    fn task_outputs<'a>(
        &'a self,
        id: &'a str,
        app: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Vec<TaskOutput>>;

    /// Claims one notification delivery of deployment `id` for an attempt: creates it (attempt
    /// 1), or takes it back from `retrying` or from a `sending` claim older than
    /// `claim.stale_before`, counting the attempt. `None` when it is delivered, failed or being
    /// sent by another notifier: so each delivery is sent by one attempt at a time and never
    /// again once it succeeded.
    fn claim_notification<'a>(
        &'a self,
        id: &'a str,
        claim: &'a NotificationClaim,
    ) -> BoxFuture<'a, Option<Notification>>;
    /// Records how a claimed attempt ended (state, error, remote id), unless another attempt
    /// claimed the delivery since; `false` then.
    fn settle_notification<'a>(
        &'a self,
        id: &'a str,
        settled: &'a Notification,
    ) -> BoxFuture<'a, bool>;
    /// Every notification delivery of deployment `id`, by sink then event.
    fn notifications<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Vec<Notification>>;
    /// Writes `record` if the stored one still holds `previous` measurements (none: it does not
    /// exist yet); `false` when another writer got there first, so a redelivered request never
    /// records a measurement twice.
    fn put_analysis<'a>(
        &'a self,
        id: &'a str,
        record: &'a AnalysisRecord,
        previous: usize,
    ) -> BoxFuture<'a, bool>;
    /// Every analysis check of deployment `id`, by app, batch, then check.
    fn analyses<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Vec<AnalysisRecord>>;
    /// Records a waiver of deployment `id`; `false` when its condition is waived already.
    fn put_waiver<'a>(&'a self, id: &'a str, waiver: &'a Waiver) -> BoxFuture<'a, bool>;
    /// Records the override of deployment `id`, replacing an earlier one.
    fn put_override<'a>(&'a self, id: &'a str, grant: &'a Override) -> BoxFuture<'a, ()>;
    /// Records why deployment `id` is held back, or (`None`) that it no longer is.
    fn set_hold<'a>(&'a self, id: &'a str, hold: Option<&'a Hold>) -> BoxFuture<'a, ()>;
    /// Records that deployment `id` replaces the planned deployment `older` once it may start.
    fn put_supersedes<'a>(&'a self, id: &'a str, older: &'a str) -> BoxFuture<'a, ()>;
    /// The waivers, override, hold and deferred supersedes of deployment `id`.
    fn deployment_policy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, DeploymentPolicy>;
    /// The holds of the deployments `ids` that have one, in one batch read.
    fn holds<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, BTreeMap<String, Hold>>;
    /// Adds a managed freeze window; `false` when one of that name exists.
    fn put_freeze<'a>(&'a self, freeze: &'a ManagedFreeze) -> BoxFuture<'a, bool>;
    /// Removes a managed freeze window; `false` when there was none of that name.
    fn delete_freeze<'a>(&'a self, name: &'a str) -> BoxFuture<'a, bool>;
    /// Every managed freeze window, by name.
    fn freezes(&self) -> BoxFuture<'_, Vec<ManagedFreeze>>;

    /// Records the review of deployment `id` (the planner's, replaced when it plans again).
    fn put_review<'a>(&'a self, id: &'a str, review: &'a StoredReview) -> BoxFuture<'a, ()>;
    /// The review of deployment `id`, if the planner recorded one.
    fn review<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<StoredReview>>;
    /// Records who confirmed the running deployment `id` (an API token's name, or `boreas`).
    fn set_confirmed_by<'a>(&'a self, id: &'a str, by: &'a str) -> BoxFuture<'a, ()>;
    /// Records the history of the ended `deployment`: one run per app, one per host it changed
    /// (the recorder's; written again, they replace themselves).
    fn record_runs<'a>(
        &'a self,
        deployment: &'a Deployment,
        apps: &'a [AppRun],
        hosts: &'a [HostRun],
    ) -> BoxFuture<'a, ()>;
    /// One page of `app`'s runs, newest deployment first; only in `environment` when given.
    fn app_runs<'a>(
        &'a self,
        app: &'a str,
        environment: Option<&'a str>,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<AppRun>>;
    /// One page of the runs on `host` of `environment`, newest deployment first.
    fn host_runs<'a>(
        &'a self,
        environment: &'a str,
        host: &'a str,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<HostRun>>;
    /// The installation's default notification rules; `None` until first set.
    fn notification_defaults(&self) -> BoxFuture<'_, Option<NotificationDefaults>>;
    /// Replaces the installation's default notification rules.
    fn put_notification_defaults<'a>(
        &'a self,
        defaults: &'a NotificationDefaults,
    ) -> BoxFuture<'a, ()>;

    /// Stores a new token's grant, keyed by the secret's SHA-256; [`Error::AlreadyExists`] when
    /// its name is taken.
    fn put_api_token<'a>(&'a self, secret: &'a str, token: &'a ApiToken) -> BoxFuture<'a, ()>;
    /// The grant of a token secret.
    fn get_api_token<'a>(&'a self, secret: &'a str) -> BoxFuture<'a, Option<ApiToken>>;
    /// Every token's grant, by name (never a secret: the store has none).
    fn list_api_tokens(&self) -> BoxFuture<'_, Vec<ApiToken>>;
    /// Deletes the token of this name, returning its grant; `None` if there was none.
    fn revoke_api_token<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Option<ApiToken>>;
    /// Sets a token's `last_used` to `at` unless it is already at or after `unless_since`, so
    /// that a busy token is written at most once per interval; `true` if written.
    fn touch_api_token<'a>(
        &'a self,
        secret: &'a str,
        at: &'a str,
        unless_since: &'a str,
    ) -> BoxFuture<'a, bool>;

    /// Appends an audit entry.
    fn append_audit<'a>(&'a self, entry: &'a AuditEntry) -> BoxFuture<'a, ()>;
    /// Audit entries of `range`, newest first.
    fn list_audit<'a>(
        &'a self,
        range: &'a TimeRange,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Page<AuditEntry>>;
}

/// The `boreas.yaml` the planner recorded for `deployment`'s version, parsed; what keeps it from
/// being used otherwise (none is recorded, or it no longer validates).
///
/// # Errors
/// The store could not be read.
pub async fn deployment_config(
    store: &dyn Store,
    deployment: &Deployment,
) -> Result<Result<boreas_core::config::Config, String>, Error> {
    let Some(source) = store
        .get_version_config(&deployment.repository, &deployment.version)
        .await?
    else {
        return Ok(Err(format!(
            "no boreas.yaml is recorded for version {}",
            deployment.version
        )));
    };
    Ok(boreas_core::config::parse(&source)
        .map_err(|errors| format!("the recorded boreas.yaml does not validate: {errors}")))
}

/// Formats a time as RFC 3339 UTC with milliseconds (`2026-11-29T17:13:05.042Z`), the fixed-width
/// form the store's sort keys rely on.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The instant an RFC 3339 date-time names (`2026-12-06T04:21:53Z`, with optional fractional
/// seconds and a `Z` or `±HH:MM` offset); `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut nanos = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Nanoseconds: the first nine digits, padded.
        let mut padded: String = fraction[..digits].chars().take(9).collect();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let at = text.len() - rest.len();
            let (hours, minutes) = (num(at + 1..at + 3)?, num(at + 4..at + 6)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days since 1970-01-01 from the civil date (Howard Hinnant's algorithm, as in [`rfc3339`]).
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // A day the month does not have (2026-02-30) would roll over: refused.
    let midnight =
        UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(days * 86_400).ok()?))?;
    if rfc3339(midnight).get(..10) != text.get(..10) {
        return None;
    }
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, u32::try_from(nanos).ok()?))
}

/// Which timestamps a change to `to` sets: (`started_at`, `ended_at`).
fn lifecycle_times(to: DeploymentStatus) -> (bool, bool) {
    (to == DeploymentStatus::Running, to.is_terminal())
}

/// Seconds since the Unix epoch.
fn epoch_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// SHA-256 of a token secret, lowercase hex.
fn token_hash(secret: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Opaque page cursors: hex of a JSON object of string keys.
fn encode_cursor(key: &std::collections::BTreeMap<String, String>) -> String {
    hex(serde_json::to_string(key).unwrap_or_default().as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<std::collections::BTreeMap<String, String>, Error> {
    unhex(cursor)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| Error::invalid_input("page cursor is not one this service issued"))
}

/// Checks that `id` can name a Step Functions execution (1 to 80 of `A-Z a-z 0-9 - _`), as a
/// deployment id must.
pub fn check_deployment_id(id: &str) -> Result<(), Error> {
    let valid = (1..=80).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "deployment id {id:?} is not 1 to 80 letters, digits, '-' or '_'"
        )))
    }
}

/// Most run locks one [`Store::acquire_run_locks`] or [`Store::release_run_locks`] call takes
/// (DynamoDB transactions write at most this many items).
pub const MAX_LOCKS: usize = 100;

fn check_lock_set(apps: &[String]) -> Result<(), Error> {
    if apps.is_empty() || apps.len() > MAX_LOCKS {
        return Err(Error::invalid_input(format!(
            "a run lock set holds 1 to {MAX_LOCKS} apps, not {}",
            apps.len()
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = apps.iter().find(|a| !seen.insert(a.as_str())) {
        return Err(Error::invalid_input(format!(
            "app {dup} appears twice in a run lock set"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_entries_written_in_one_millisecond_list_in_the_order_written() {
        let entries: Vec<AuditEntry> = (0..500)
            .map(|_| AuditEntry::new("octo", "deployment.adjust", "d1").unwrap())
            .collect();
        for pair in entries.windows(2) {
            // The time part of the key; the random rest may order two writes of one nanosecond.
            let key = |e: &AuditEntry| format!("{}#{}", e.at, &e.id[..6]);
            assert!(key(&pair[0]) <= key(&pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn rfc3339_parses_what_it_formats_and_offsets() {
        for t in [
            "2026-12-06T04:21:53.123Z",
            "1970-01-01T00:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
        ] {
            assert_eq!(rfc3339(parse_rfc3339(t).unwrap()), t);
        }
        let same = |a: &str, b: &str| assert_eq!(parse_rfc3339(a), parse_rfc3339(b), "{a} = {b}");
        same("2026-12-06T05:21:53+01:00", "2026-12-06T04:21:53Z");
        same("2026-12-05T23:21:53.5-05:00", "2026-12-06T04:21:53.500Z");
        same("2026-12-06t04:21:53z", "2026-12-06T04:21:53Z");
        for bad in [
            "",
            "2026-12-06",
            "2026-12-06 04:21:53Z",
            "2026-12-06T04:21:53",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-06T24:00:00Z",
            "2026-12-06T04:21:53.Z",
            "2026-12-06T04:21:53+1:00",
            "2026-12-06T04:21:53+-1:00",
            "1969-12-31T23:59:59Z",
            "２026-12-06T04:21:53Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_042);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.042Z");
        let t = UNIX_EPOCH + Duration::from_secs(4_102_444_799);
        assert_eq!(rfc3339(t), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let key = [("pk".to_owned(), "DEP#a".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(decode_cursor(&encode_cursor(&key)).unwrap(), key);
        for bad in ["", "zz", "abc", "7b"] {
            assert_eq!(decode_cursor(bad).unwrap_err().error_type(), "InvalidInput");
        }
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
