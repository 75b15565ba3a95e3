//! The `boreas.yaml` model: what a repository declares about its apps.
//!
//! These types are produced by [`crate::config::parse`], which reads YAML with positions and
//! collects every error at once; they derive `JsonSchema` so the published schema
//! (`schema/boreas.schema.json`) is generated from the same definitions and cannot drift.

use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::hooks::{ENV_NAME_PATTERN, HookName, Hooks, USER_PATTERN};
use crate::analysis::{Condition, NoData};
use crate::notify::NoticeKind;

// Patterns of the JSON Schema; `parse` enforces the same rules with positions and explanations.
/// App, environment, host, group and cluster names (at most 40 characters).
const NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";
/// A Kubernetes DNS-1123 label (namespace, container).
const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A Kubernetes DNS-1123 subdomain (Deployment name).
const DNS_SUBDOMAIN_PATTERN: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// An artifact or checksum URL template.
const URL_TEMPLATE_PATTERN: &str =
    "^(s3|https?|file)://[^\\s{}]*\\{version\\}[^\\s{}]*(\\{version\\}[^\\s{}]*)*$";
/// A template with `{version}` and no whitespace.
const TEMPLATE_PATTERN: &str = "^[^\\s{}]*\\{version\\}[^\\s{}]*(\\{version\\}[^\\s{}]*)*$";
const SHA256_PATTERN: &str = "^[0-9a-fA-F]{64}$";
const HTTP_URL_PATTERN: &str = "^https?://[^/\\s]\\S*$";
const TCP_ADDRESS_PATTERN: &str = "^(\\[[^\\]]+\\]|[^:\\s\\[\\]]+):[0-9]{1,5}$";

/// Schema of a map from environment names to non-empty lists (`pm.hosts`, `k8s.clusters`):
/// keys are names, and list items that are plain strings are names too.
fn environment_map(schema: &mut Schema) {
    schema.insert(
        "propertyNames".into(),
        json!({"pattern": NAME_PATTERN, "maxLength": 40}),
    );
    schema.insert("minProperties".into(), json!(1));
    if let Some(list) = schema
        .get_mut("additionalProperties")
        .and_then(|v| v.as_object_mut())
    {
        list.insert("minItems".into(), json!(1));
        list.insert("uniqueItems".into(), json!(true));
        if let Some(item) = list.get_mut("items").and_then(|v| v.as_object_mut())
            && item.get("type") == Some(&json!("string"))
        {
            item.insert("pattern".into(), json!(NAME_PATTERN));
            item.insert("maxLength".into(), json!(40));
        }
    }
}

/// Schema of `pm.env`: environment names (or `default`) to variable names and values.
fn env_map(schema: &mut Schema) {
    schema.insert(
        "propertyNames".into(),
        json!({"pattern": NAME_PATTERN, "maxLength": 40}),
    );
    if let Some(vars) = schema
        .get_mut("additionalProperties")
        .and_then(|v| v.as_object_mut())
    {
        vars.insert(
            "propertyNames".into(),
            json!({"pattern": ENV_NAME_PATTERN, "description": "A variable name; BOREAS_* are set by the agent and cannot be declared."}),
        );
    }
}

/// Health checks take exactly one probe: `oneOf`, where serde's untagged form says `anyOf`.
fn exactly_one_probe(schema: &mut Schema) {
    if let Some(variants) = schema.remove("anyOf") {
        schema.insert("oneOf".into(), variants);
    }
}

/// A whole `boreas.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "boreas.yaml",
    description = "Declarative app configuration read by Boreas at every version's commit."
)]
pub struct Config {
    /// Environments in promotion order (for example `staging`, then `prod`).
    #[schemars(length(min = 1))]
    pub environments: Vec<Environment>,
    /// Which pushes become versions.
    #[serde(default)]
    pub triggers: Triggers,
    /// The deployable units of this repository.
    #[schemars(length(min = 1))]
    pub apps: Vec<App>,
    /// Which deployment events are sent where: the repository's git host (commit statuses, GitHub
    /// deployments) and chat or webhook sinks registered in the installation. Without this
    /// section the installation's default rules apply; an empty list sends nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<NotificationRule>")]
    pub notifications: Option<Vec<NotificationRule>>,
    /// Freeze windows: periods during which deployments do not start (and, if so declared,
    /// running ones stop at their next batch). Rollbacks and reverts are never blocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freezes: Vec<Freeze>,
}

/// One freeze window: a recurrence (`rrule` or `cron`) with a `duration`, or a one-off
/// `from`/`until` interval, in a time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// Names the window in listings, events and overrides.
    #[schemars(regex(pattern = NAME_PATTERN), length(max = 40))]
    pub name: String,
    /// Why deployments wait, shown wherever the window is.
    #[schemars(length(min = 1, max = 500))]
    pub reason: String,
    /// The environments it freezes.
    #[schemars(length(min = 1), inner(regex(pattern = NAME_PATTERN), length(max = 40)))]
    pub environments: Vec<String>,
    /// The apps it freezes. Default: every app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1), inner(regex(pattern = NAME_PATTERN), length(max = 40)))]
    pub apps: Vec<String>,
    /// IANA time zone of the recurrence and of `from`/`until` written without an offset.
    #[serde(
        default = "Freeze::default_timezone",
        skip_serializing_if = "Freeze::is_default_timezone"
    )]
    pub timezone: String,
    /// RFC 5545 recurrence rule of the window's starts, e.g. `FREQ=WEEKLY;BYDAY=FR;BYHOUR=16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrule: Option<String>,
    /// Cron expression (five fields) of the window's starts, e.g. `0 16 * * FRI`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// How long each recurring window lasts (elapsed time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationSpec>,
    /// Start of a one-off window: `2026-12-23T18:00` in `timezone`, or RFC 3339 with an offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// End of a one-off window, in the same forms as `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// What it blocks. Default: both.
    #[serde(
        default = "Freeze::default_blocks",
        skip_serializing_if = "Freeze::is_default_blocks"
    )]
    #[schemars(length(min = 1))]
    pub blocks: Vec<FreezeBlock>,
    /// What a deployment already running when the window opens does. Default: `pause` when
    /// `batches` is blocked, `finish` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<OnRunning>,
}

impl Freeze {
    fn default_timezone() -> String {
        "UTC".to_owned()
    }
    fn default_blocks() -> Vec<FreezeBlock> {
        vec![FreezeBlock::Start, FreezeBlock::Batches]
    }
    // Defaults are left out when written, so that a window reads the same both ways (the API's
    // request and answer share one schema).
    fn is_default_timezone(zone: &str) -> bool {
        zone == "UTC"
    }
    fn is_default_blocks(blocks: &[FreezeBlock]) -> bool {
        *blocks == Self::default_blocks()
    }

    /// What a running deployment does, after defaults.
    pub fn on_running(&self) -> OnRunning {
        self.running
            .unwrap_or(if self.blocks.contains(&FreezeBlock::Batches) {
                OnRunning::Pause
            } else {
                OnRunning::Finish
            })
    }
}

string_enum! {
    /// A step a freeze window may block.
    FreezeBlock {
        /// Starting (confirming or auto-confirming) a deployment.
        Start => "start",
        /// Starting the next batch of a running deployment.
        Batches => "batches",
    }
}

string_enum! {
    /// What a deployment already running when a window opens does.
    OnRunning {
        /// Runs to its end.
        Finish => "finish",
        /// Waits at its next batch boundary until the window closes, then goes on by itself.
        Pause => "pause",
        /// Rolls back what it changed, at its next batch boundary.
        Abort => "abort",
    }
}

/// When an environment may take a version: after it succeeded upstream, and soaked there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// Environments where the version must have succeeded first.
    #[schemars(length(min = 1), inner(regex(pattern = NAME_PATTERN), length(max = 40)))]
    pub after: Vec<String>,
    /// How long it must have stayed in each of them afterwards, without a failure, rollback or
    /// revert of that version there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<DurationSpec>,
}

/// One rule of `notifications`: the events of some environments and apps that go to one sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationRule {
    /// `git` for the repository's own git host (GitHub deployments and commit statuses, GitLab
    /// and Gitea commit statuses, with the repository's credential), or the name of a chat or
    /// webhook sink registered in the installation, whose URL and secret stay there: a
    /// repository chooses what is sent, never where to.
    #[schemars(regex(pattern = NAME_PATTERN), length(max = 40))]
    pub sink: String,
    /// Events to send. Default: every event for `git`; `gate_waiting`, `succeeded`,
    /// `rolled_back` and `failed` for other sinks.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_list"
    )]
    #[schemars(with = "Vec<NoticeKind>", length(min = 1))]
    pub events: Option<Vec<NoticeKind>>,
    /// Environments whose deployments are sent. Default: every environment.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nonempty_list"
    )]
    #[schemars(length(min = 1), inner(regex(pattern = NAME_PATTERN), length(max = 40)))]
    pub environments: Vec<String>,
    /// Apps whose deployments are sent: a deployment is sent when one of these changed in it,
    /// and an app's gates and batches only for these. Default: every app.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nonempty_list"
    )]
    #[schemars(length(min = 1), inner(regex(pattern = NAME_PATTERN), length(max = 40)))]
    pub apps: Vec<String>,
}

/// A field that, when present, holds a list: `null` is refused as the schema says (absent is
/// the default), rather than read as absent.
fn present_list<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Vec::deserialize(deserializer).map(Some)
}

/// A list that, when present, names at least one item (absent is the default, every one), as
/// the schema says.
fn nonempty_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::deserialize(deserializer)?;
    if items.is_empty() {
        return Err(serde::de::Error::custom(
            "list at least one, or leave the field out for every one",
        ));
    }
    Ok(items)
}

impl NotificationRule {
    /// The sink name of the repository's own git host.
    pub const GIT: &'static str = "git";
}

/// A named place to deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Environment name, used as a key under `pm.hosts` and `k8s.clusters`.
    #[schemars(regex(pattern = NAME_PATTERN), length(max = 40))]
    pub name: String,
    /// Start deployments to this environment without waiting for a person to confirm.
    #[serde(default)]
    pub auto_confirm: bool,
    /// Take a version only after it succeeded (and soaked) in other environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
}

/// Which pushes make versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Glob over tag names (for example `v*`); a matching tag push makes a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub tags: Option<String>,
    /// Branch names whose pushes make versions (named by commit id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1)))]
    pub branches: Vec<String>,
}

/// Where an app runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// Physical (or virtual) machines running `boreas-agent`.
    Pm,
    /// A Kubernetes Deployment in one or more clusters.
    K8s,
}

impl AppKind {
    /// The name used in `boreas.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pm => "pm",
            Self::K8s => "k8s",
        }
    }
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One deployable service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {
        "if": {"properties": {"kind": {"const": "pm"}}},
        "then": {"required": ["pm"], "not": {"required": ["k8s"]}},
    },
    {
        "if": {"properties": {"kind": {"const": "k8s"}}},
        "then": {
            "required": ["k8s"],
            "not": {"required": ["pm"]},
            "properties": {"rollout": {"properties": {"batches": {"items": {"type": "string"}}}}},
        },
    },
]))]
pub struct App {
    /// Unique app name: 1 to 40 lowercase letters, digits and `-`.
    #[schemars(regex(pattern = NAME_PATTERN), length(max = 40))]
    pub name: String,
    /// `pm` or `k8s`; the matching section must be present.
    pub kind: AppKind,
    /// Globs of repository paths whose change affects this app. Empty means every change does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1)))]
    pub paths: Vec<String>,
    /// Apps that must be deployed (in an earlier stage) before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = NAME_PATTERN), length(max = 40)))]
    pub depends_on: Vec<String>,
    /// Also deploy this app when one of its dependencies (directly or transitively) is affected.
    #[serde(default)]
    pub follow_dependencies: bool,
    /// How the app is rolled out: gray batches, pauses, parallelism.
    #[serde(default)]
    pub rollout: Rollout,
    /// Physical-machine settings (required when `kind: pm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PmSpec")]
    pub pm: Option<PmSpec>,
    /// Kubernetes settings (required when `kind: k8s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "K8sSpec")]
    pub k8s: Option<K8sSpec>,
    /// Metric checks measured after each of the app's batches; a failing one rolls the app back
    /// as a failed host does, an inconclusive one waits for a person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analysis: Vec<AnalysisCheck>,
}

/// The placeholders a check's query, URL and dimensions may hold, replaced when it measures.
pub const ANALYSIS_PLACEHOLDERS: [&str; 5] = ["app", "version", "environment", "targets", "batch"];

/// One check of an app's `analysis`: where a value comes from and what it must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["prometheus"]},
    {"required": ["cloudwatch"]},
    {"required": ["http"]},
]))]
pub struct AnalysisCheck {
    /// Unique in the app: measurements and failures name it.
    #[schemars(regex(pattern = NAME_PATTERN), length(max = 40))]
    pub name: String,
    /// A PromQL query's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PrometheusQuery")]
    pub prometheus: Option<PrometheusQuery>,
    /// A CloudWatch metric's statistic, or an alarm that must stay OK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "CloudWatchQuery")]
    pub cloudwatch: Option<CloudWatchQuery>,
    /// A number in a JSON answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "HttpQuery")]
    pub http: Option<HttpQuery>,
    /// What the value must satisfy: `< x`, `<= x`, `> x`, `>= x`, `== x` or `a..b`. Required
    /// except for a CloudWatch alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", regex(pattern = CONDITION_PATTERN))]
    pub condition: Option<Condition>,
    /// Wait before the first measurement. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<DurationSpec>,
    /// Time between measurements. Default: 30s.
    #[serde(default = "AnalysisCheck::default_interval")]
    pub interval: DurationSpec,
    /// Measurements to take. Default: 1.
    #[serde(default = "AnalysisCheck::default_count")]
    #[schemars(range(min = 1))]
    pub count: u32,
    /// Fails tolerated. Default: 0.
    #[serde(default)]
    pub failure_limit: u32,
    /// Inconclusive measurements tolerated. Default: 0.
    #[serde(default)]
    pub inconclusive_limit: u32,
    /// Provider errors in a row tolerated; errors are never a pass. Default: 4.
    #[serde(default = "AnalysisCheck::default_consecutive_error_limit")]
    pub consecutive_error_limit: u32,
    /// How a measurement without data is judged. Default: `inconclusive`.
    #[serde(default = "AnalysisCheck::default_no_data")]
    pub no_data: NoData,
    /// Fewer samples than this behind a value count as no data (for queries that return sample
    /// counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_samples: Option<u64>,
    /// Measure and record, never stop the rollout.
    #[serde(default)]
    pub dry_run: bool,
    /// The batches, counted from 1, after which the check measures. Default: every batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1), inner(range(min = 1)))]
    pub batches: Vec<u32>,
}

/// What a condition looks like.
const CONDITION_PATTERN: &str =
    "^\\s*((<=|>=|==|<|>)\\s*-?[0-9.eE+-]+|-?[0-9.eE+-]+\\s*\\.\\.\\s*-?[0-9.eE+-]+)\\s*$";

impl AnalysisCheck {
    /// Time between measurements when a check does not say.
    pub const DEFAULT_INTERVAL: DurationSpec = DurationSpec(30);

    fn default_interval() -> DurationSpec {
        Self::DEFAULT_INTERVAL
    }
    fn default_count() -> u32 {
        1
    }
    fn default_consecutive_error_limit() -> u32 {
        crate::analysis::Limits::default().consecutive_error_limit
    }
    fn default_no_data() -> NoData {
        NoData::Inconclusive
    }

    /// Whether it measures after the batch of index `index` (from 0).
    pub fn follows(&self, index: u32) -> bool {
        self.batches.is_empty() || self.batches.contains(&index.saturating_add(1))
    }

    /// The limits its verdict is reached under.
    pub fn limits(&self) -> crate::analysis::Limits {
        crate::analysis::Limits {
            count: self.count,
            failure_limit: self.failure_limit,
            inconclusive_limit: self.inconclusive_limit,
            consecutive_error_limit: self.consecutive_error_limit,
            no_data: self.no_data,
            min_samples: self.min_samples,
            dry_run: self.dry_run,
        }
    }
}

/// A PromQL query: its value is the first sample of an instant query's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusQuery {
    /// The server, `http(s)://host:port`.
    #[schemars(regex(pattern = HTTP_URL_PATTERN))]
    pub url: String,
    /// The query, with placeholders `{app}`, `{version}`, `{environment}`, `{targets}` (the
    /// hosts or clusters of the app's batches so far, as a regex alternation escaped for a
    /// PromQL string: `instance=~"{targets}"`) and `{batch}` (from 0).
    #[schemars(length(min = 1))]
    pub query: String,
    /// The name of a credential registered in the installation (bearer or basic), if the
    /// server needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_PATTERN), length(max = 40))]
    pub credential: Option<String>,
}

/// A CloudWatch metric statistic (GetMetricData), or an alarm that must stay `OK`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["alarm"]},
    {"required": ["namespace", "metric", "statistic"]},
]))]
pub struct CloudWatchQuery {
    /// An alarm's name: the check fails while it is in `ALARM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    /// The metric's namespace (`AWS/ApplicationELB`, `Boreas/Demo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The metric's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Its dimensions; values may hold placeholders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// `Average`, `Sum`, `Minimum`, `Maximum`, `SampleCount` or a percentile (`p99`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    /// The statistic's period. Default: 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<DurationSpec>,
}

/// A URL answering JSON, and where the number is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpQuery {
    /// The URL, with placeholders.
    #[schemars(regex(pattern = HTTP_URL_PATTERN))]
    pub url: String,
    /// A JSON path to the number: `$.a.b[0].c`.
    #[schemars(regex(pattern = "^\\$(\\.[A-Za-z0-9_-]+|\\[[0-9]+\\])*$"))]
    pub json_path: String,
}

/// Gray rollout policy of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Cumulative batch sizes: a host count (`1`) or a share (`"25%"`), increasing, ending at `"100%"`.
    #[serde(default = "Rollout::default_batches")]
    #[schemars(length(min = 1))]
    pub batches: Vec<BatchSize>,
    /// What happens between batches: a duration (`"30s"`, `"5m"`), `"manual"` for an approval
    /// gate, or `"none"` (the default) to go straight on.
    #[serde(default)]
    pub pause: Pause,
    /// How many PM hosts of one batch are deployed at the same time.
    #[serde(default = "Rollout::default_parallelism")]
    #[schemars(range(min = 1))]
    pub parallelism: u32,
    /// A target that sends no heartbeat for this long is considered dead.
    #[serde(default = "Rollout::default_heartbeat")]
    pub heartbeat: DurationSpec,
    /// A target that has not finished after this long has failed.
    #[serde(default = "Rollout::default_timeout")]
    pub timeout: DurationSpec,
    /// What a batch does with a host whose agent has stopped reporting (PM apps only).
    #[serde(default)]
    pub unreachable: Unreachable,
    /// What a batch does when one of its hosts fails (PM apps only).
    #[serde(default)]
    pub on_failure: OnFailure,
}

string_enum! {
    /// What a batch does with a host whose agent is past its liveness window when the batch
    /// reaches it. Either way the host is sent nothing.
    #[derive(Default)]
    Unreachable {
        /// The target fails at once with `Boreas.AgentUnreachable`, and the app rolls back.
        #[default]
        Fail => "fail",
        /// The target is `skipped` and the batch goes on: the host keeps the version it ran and
        /// is listed with the deployment until a later deployment reaches it.
        Skip => "skip",
    }
}

string_enum! {
    /// What a batch does when one of its hosts fails (its deploy failed, timed out, missed its
    /// heartbeat, or its agent was unreachable under `unreachable: fail`).
    #[derive(Default)]
    OnFailure {
        /// The app rolls back every target it changed.
        #[default]
        Rollback => "rollback",
        /// The batch waits on that host for an approver's decision: retry it, skip it (it keeps
        /// the version it runs and is listed with the deployment) or roll the app back.
        Pause => "pause",
    }
}

impl Rollout {
    /// Default batches: everything at once.
    pub fn default_batches() -> Vec<BatchSize> {
        vec![BatchSize::Percent(100)]
    }
    /// Default PM parallelism inside one batch.
    pub fn default_parallelism() -> u32 {
        5
    }
    /// Default heartbeat interval expected from a target.
    pub fn default_heartbeat() -> DurationSpec {
        DurationSpec(60)
    }
    /// Default timeout of one target's work.
    pub fn default_timeout() -> DurationSpec {
        DurationSpec(15 * 60)
    }
}

impl Default for Rollout {
    fn default() -> Self {
        Self {
            batches: Self::default_batches(),
            pause: Pause::None,
            parallelism: Self::default_parallelism(),
            heartbeat: Self::default_heartbeat(),
            timeout: Self::default_timeout(),
            unreachable: Unreachable::Fail,
            on_failure: OnFailure::Rollback,
        }
    }
}

/// The cumulative size of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchSize {
    /// This many targets in total once the batch is done.
    Count(u32),
    /// This share (1–100) of the targets in total once the batch is done.
    Percent(u8),
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// The pause after each batch but the last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Pause {
    /// Go straight on.
    #[default]
    None,
    /// Wait this long.
    Wait(DurationSpec),
    /// Wait until a person approves (or rejects) the gate.
    Manual,
}

impl fmt::Display for Pause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Wait(d) => d.fmt(f),
            Self::Manual => f.write_str("manual"),
        }
    }
}

/// A duration written like `30s`, `5m`, `1h` or `1h30m`, held in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DurationSpec(pub u64);

impl DurationSpec {
    /// Whole seconds.
    pub fn seconds(self) -> u64 {
        self.0
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if self.0 == 0 {
            return f.write_str("0s");
        }
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

/// Physical-machine deployment settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PmSpec {
    /// Hosts per environment name: host names or `{group: NAME}` (every agent registered in that group).
    #[schemars(transform = environment_map)]
    pub hosts: BTreeMap<String, Vec<HostRef>>,
    /// Where each version's release artifact is downloaded from.
    pub artifact: ArtifactSpec,
    /// How the app is started: a command the agent supervises or a systemd unit. May be left out
    /// when `hooks.start` starts the app instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunSpec>,
    /// How the agent decides the new release is healthy.
    pub health: HealthSpec,
    /// User the app and its hooks run as (default: the agent's user; needs the agent to run as root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = USER_PATTERN))]
    pub run_as: Option<String>,
    /// Lifecycle hooks: commands run at fixed points of a deploy.
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
    /// Hooks a release's `boreas-release.yaml` may set, replacing the ones above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("uniqueItems" = true))]
    pub release_hooks: Vec<HookName>,
    /// Environment variables of the app and its hooks per environment name, and under `default`
    /// for every environment. A value is literal text or `ssm:/APP/ENVIRONMENT/NAME`, an SSM
    /// parameter the agent reads when it deploys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = env_map)]
    pub env: BTreeMap<String, BTreeMap<String, String>>,
}

/// One entry of `pm.hosts.<env>`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(untagged, deny_unknown_fields)]
pub enum HostRef {
    /// One host by name.
    Host(#[schemars(regex(pattern = NAME_PATTERN), length(max = 40))] String),
    /// Every agent registered in this group.
    Group {
        /// Group name.
        #[schemars(regex(pattern = NAME_PATTERN), length(max = 40))]
        group: String,
    },
}

/// Release artifact of a PM app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["sha256"]}, {"required": ["sha256_url"]}]))]
pub struct ArtifactSpec {
    /// URL template (`s3://`, `https://`, `http://` or `file://`) with `{version}`.
    #[schemars(regex(pattern = URL_TEMPLATE_PATTERN))]
    pub url: String,
    /// Expected SHA-256 (hex) of the artifact; or use `sha256_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", regex(pattern = SHA256_PATTERN))]
    pub sha256: Option<String>,
    /// URL template of a file holding the artifact's SHA-256; or use `sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", regex(pattern = URL_TEMPLATE_PATTERN))]
    pub sha256_url: Option<String>,
}

/// How a PM app is run: a command the agent supervises, or an existing systemd unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum RunSpec {
    /// Argument vector, run from the release directory (never through a shell).
    Command {
        /// Program and arguments.
        #[schemars(length(min = 1))]
        command: Vec<String>,
    },
    /// A systemd unit to restart.
    Systemd {
        /// Unit name.
        #[schemars(regex(pattern = "^[A-Za-z0-9:_@\\\\-][A-Za-z0-9:_.@\\\\-]*$"))]
        systemd: String,
    },
}

/// Health check of a PM app.
// Not `deny_unknown_fields` for serde: that cannot be combined with `flatten`. The schema says
// `unevaluatedProperties: false` instead, and `parse` rejects unknown fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("unevaluatedProperties" = false), transform = exactly_one_probe)]
pub struct HealthSpec {
    /// What to probe.
    #[serde(flatten)]
    pub check: HealthCheck,
    /// Time allowed for one probe.
    #[serde(default = "HealthSpec::default_timeout")]
    pub timeout: DurationSpec,
    /// Probes to try before the release is declared unhealthy.
    #[serde(default = "HealthSpec::default_retries")]
    #[schemars(range(min = 1))]
    pub retries: u32,
}

impl HealthSpec {
    /// Default time allowed for one probe.
    pub fn default_timeout() -> DurationSpec {
        DurationSpec(5)
    }
    /// Default number of probes.
    pub fn default_retries() -> u32 {
        10
    }
}

/// The probe of a health check; exactly one of `http`, `tcp`, `command`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HealthCheck {
    /// GET this URL; any 2xx is healthy.
    Http {
        /// URL, for example `http://127.0.0.1:8080/healthz`.
        #[schemars(regex(pattern = HTTP_URL_PATTERN))]
        http: String,
    },
    /// Open a TCP connection to `host:port`.
    Tcp {
        /// Address, for example `127.0.0.1:5432`.
        #[schemars(regex(pattern = TCP_ADDRESS_PATTERN))]
        tcp: String,
    },
    /// Run this argument vector; exit status 0 is healthy.
    Command {
        /// Program and arguments.
        #[schemars(length(min = 1))]
        command: Vec<String>,
    },
}

/// Kubernetes deployment settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sSpec {
    /// Cluster names per environment name.
    #[schemars(transform = environment_map)]
    pub clusters: BTreeMap<String, Vec<String>>,
    /// Namespace of the Deployment.
    #[serde(default = "K8sSpec::default_namespace")]
    #[schemars(regex(pattern = DNS_LABEL_PATTERN), length(max = 63))]
    pub namespace: String,
    /// Name of the stable Deployment.
    #[schemars(regex(pattern = DNS_SUBDOMAIN_PATTERN), length(max = 253))]
    pub deployment: String,
    /// Container whose image Boreas sets.
    #[schemars(regex(pattern = DNS_LABEL_PATTERN), length(max = 63))]
    pub container: String,
    /// Image template with `{version}`, for example `registry.example.com/web:{version}`.
    #[schemars(regex(pattern = TEMPLATE_PATTERN))]
    pub image: String,
}

impl K8sSpec {
    /// Namespace used when none is given.
    pub fn default_namespace() -> String {
        "default".to_owned()
    }
}
