//! Notifications, pure: the deployment events the notifier delivers, which sinks a repository's
//! rules send each one to, the key that makes each (deployment, event, sink) delivered once, the
//! retry schedule, and what is sent ([`render`]).
//!
//! The platform (planner, api, recorder) puts a [`Notice`] on the notifications queue for each
//! thing that happens to a deployment. The notifier reads the deployment, finds the sinks its
//! `notifications` rules name for that event ([`sinks_for`]), claims each delivery under its
//! [`delivery_key`] and sends it. SQS delivers at least once; the claim makes a redelivered or
//! repeated notice send nothing twice.

pub mod render;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::{SCHEMA_VERSION, WireError, decode, encode};
use crate::config::NotificationRule;

string_enum! {
    /// The kinds of deployment events a rule can choose.
    NoticeKind {
        /// The planner planned the deployment; it waits for confirmation.
        Planned => "planned",
        /// A manual gate between two batches waits for an approver.
        GateWaiting => "gate_waiting",
        /// The deployment was confirmed and started.
        Started => "started",
        /// One batch of one app finished.
        BatchFinished => "batch_finished",
        /// Every target runs the version.
        Succeeded => "succeeded",
        /// A target failed and what changed was rolled back.
        RolledBack => "rolled_back",
        /// The deployment stopped and could not be rolled back cleanly.
        Failed => "failed",
        /// A person cancelled it.
        Cancelled => "cancelled",
        /// A newer version's deployment replaced it before it started.
        Superseded => "superseded",
    }
}

impl NoticeKind {
    /// How far along the deployment's life the event is: a git host's status for a stage is
    /// never replaced by one of an earlier stage that arrived late.
    pub fn stage(self) -> u8 {
        match self {
            Self::Planned => 0,
            Self::Started => 1,
            Self::GateWaiting | Self::BatchFinished => 2,
            Self::Succeeded
            | Self::RolledBack
            | Self::Failed
            | Self::Cancelled
            | Self::Superseded => 3,
        }
    }

    /// What a chat or webhook sink hears when its rule names no events: what needs a person
    /// and how each deployment ended.
    pub const CHAT_DEFAULT: &'static [Self] = &[
        Self::GateWaiting,
        Self::Succeeded,
        Self::RolledBack,
        Self::Failed,
    ];
}

/// What happened, with what each kind needs to be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NoticeEvent {
    /// Planned, waiting for confirmation.
    Planned,
    /// A gate waits for an approver.
    GateWaiting {
        /// The app whose batch finished.
        app: String,
        /// Index of that batch.
        batch: u32,
        /// Gate id (`<app>.<batch index>`).
        gate: String,
    },
    /// Confirmed and started.
    Started,
    /// One batch of one app finished.
    BatchFinished {
        /// The app.
        app: String,
        /// Index of the batch (0-based).
        batch: u32,
        /// How many batches the app has.
        batches: u32,
    },
    /// Every target runs the version.
    Succeeded,
    /// Rolled back after a target failed.
    RolledBack {
        /// The target that failed, when one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_target: Option<String>,
    },
    /// Stopped without a clean rollback.
    Failed {
        /// The target whose rollback failed, when one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_target: Option<String>,
    },
    /// Cancelled by a person.
    Cancelled,
    /// Replaced before it started.
    Superseded {
        /// The deployment that replaced it.
        by: String,
    },
}

impl NoticeEvent {
    /// Its kind.
    pub fn kind(&self) -> NoticeKind {
        match self {
            Self::Planned => NoticeKind::Planned,
            Self::GateWaiting { .. } => NoticeKind::GateWaiting,
            Self::Started => NoticeKind::Started,
            Self::BatchFinished { .. } => NoticeKind::BatchFinished,
            Self::Succeeded => NoticeKind::Succeeded,
            Self::RolledBack { .. } => NoticeKind::RolledBack,
            Self::Failed { .. } => NoticeKind::Failed,
            Self::Cancelled => NoticeKind::Cancelled,
            Self::Superseded { .. } => NoticeKind::Superseded,
        }
    }

    /// The app the event is about, for gates and batches.
    pub fn app(&self) -> Option<&str> {
        match self {
            Self::GateWaiting { app, .. } | Self::BatchFinished { app, .. } => Some(app),
            _ => None,
        }
    }

    /// The kind of an event id ([`NoticeEvent::id`]).
    pub fn kind_of_id(id: &str) -> Option<NoticeKind> {
        NoticeKind::parse(id.split(':').next().unwrap_or(id))
    }

    /// Its id within its deployment: the same for every report of the same occurrence (a
    /// redelivery, a retried state), different for two gates or two batches.
    pub fn id(&self) -> String {
        match self {
            Self::GateWaiting { gate, .. } => format!("gate_waiting:{gate}"),
            Self::BatchFinished { app, batch, .. } => format!("batch_finished:{app}.{batch}"),
            other => other.kind().as_str().to_owned(),
        }
    }
}

/// A message on the notifications queue: one event of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// The deployment.
    pub deployment_id: String,
    /// When it happened, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// What happened.
    #[serde(flatten)]
    pub event: NoticeEvent,
}

impl Notice {
    /// A notice of this build's schema version.
    pub fn new(
        deployment_id: impl Into<String>,
        at: impl Into<String>,
        event: NoticeEvent,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            deployment_id: deployment_id.into(),
            at: at.into(),
            event,
        }
    }

    /// Reads a notice, refusing one written for another schema version.
    pub fn from_json(json: &str) -> Result<Self, WireError> {
        decode("notice", json)
    }

    /// The notice as the JSON message body.
    pub fn to_json(&self) -> String {
        encode(self)
    }

    /// Its id across deployments: `<deployment id>/<event id>`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.deployment_id, self.event.id())
    }
}

/// The key under which one delivery is claimed and recorded: one per (deployment, event, sink).
pub fn delivery_key(notice: &Notice, sink: &str) -> String {
    format!("{}/{sink}", notice.id())
}

/// The most default rules an installation keeps.
pub const MAX_DEFAULT_RULES: usize = 50;

/// The rules a deployment is notified by: its version's `boreas.yaml` section when it has one
/// (even an empty one, which turns notifications off), else the installation's defaults.
pub fn rules_for<'a>(
    own: Option<&'a [NotificationRule]>,
    defaults: &'a [NotificationRule],
) -> &'a [NotificationRule] {
    own.unwrap_or(defaults)
}

/// What is wrong with an installation's default rules, each as `rules[i].field: why`. They hold
/// for every repository, so environments and apps are checked as names, not against a
/// `boreas.yaml`.
pub fn default_rule_problems(rules: &[NotificationRule]) -> Vec<String> {
    let mut problems = Vec::new();
    if rules.len() > MAX_DEFAULT_RULES {
        problems.push(format!(
            "rules: {} rules; at most {MAX_DEFAULT_RULES}",
            rules.len()
        ));
    }
    let names = |problems: &mut Vec<String>, path: String, what: &str, names: &[String]| {
        for (j, name) in names.iter().enumerate() {
            if !crate::config::is_valid_name(name) {
                problems.push(format!(
                    "{path}[{j}]: {name:?} is not a valid {what} name: use 1 to 40 lowercase \
                     letters, digits and '-', starting and ending with a letter or digit"
                ));
            } else if names[..j].contains(name) {
                problems.push(format!("{path}[{j}]: duplicate {what} {name:?}"));
            }
        }
    };
    for (i, rule) in rules.iter().enumerate() {
        if !crate::config::is_valid_name(&rule.sink) {
            problems.push(format!(
                "rules[{i}].sink: {:?} is not a valid sink name: use 1 to 40 lowercase letters, \
                 digits and '-', starting and ending with a letter or digit",
                rule.sink
            ));
        }
        match &rule.events {
            Some(events) if events.is_empty() => problems.push(format!(
                "rules[{i}].events: list at least one event, or leave `events` out to send the \
                 default ones"
            )),
            Some(events) => {
                for (j, kind) in events.iter().enumerate() {
                    if events[..j].contains(kind) {
                        problems.push(format!("rules[{i}].events[{j}]: duplicate event {kind}"));
                    }
                }
            }
            None => {}
        }
        names(
            &mut problems,
            format!("rules[{i}].environments"),
            "environment",
            &rule.environments,
        );
        names(&mut problems, format!("rules[{i}].apps"), "app", &rule.apps);
        if rules[..i].contains(rule) {
            problems.push(format!("rules[{i}]: the same as an earlier rule"));
        }
    }
    problems
}

/// The sinks `rules` send `event` of a deployment to `environment` to, in rule order and each
/// once. `apps` are the deployment's apps, which are the apps that changed in its version: a
/// rule that names apps hears a deployment only when one of them is in it, and a gate or a batch
/// only of one of them.
pub fn sinks_for<'a>(
    rules: &'a [NotificationRule],
    environment: &str,
    apps: &[String],
    event: &NoticeEvent,
) -> Vec<&'a str> {
    let kind = event.kind();
    let mut sinks: Vec<&str> = Vec::new();
    for rule in rules {
        let wanted = match &rule.events {
            Some(events) => events.contains(&kind),
            None if rule.sink == NotificationRule::GIT => true,
            None => NoticeKind::CHAT_DEFAULT.contains(&kind),
        };
        let environment_ok =
            rule.environments.is_empty() || rule.environments.iter().any(|e| e == environment);
        let apps_ok = rule.apps.is_empty()
            || match event.app() {
                Some(app) => rule.apps.iter().any(|a| a == app),
                None => apps.iter().any(|a| rule.apps.contains(a)),
            };
        if wanted && environment_ok && apps_ok && !sinks.contains(&rule.sink.as_str()) {
            sinks.push(&rule.sink);
        }
    }
    sinks
}

/// A chat or webhook sink registered in the installation, as it is kept (an SSM SecureString:
/// a chat webhook's URL is itself a credential).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkSpec {
    /// A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, …).
    Slack {
        /// The incoming webhook's URL.
        url: String,
    },
    /// A generic webhook: the event as JSON, signed with `secret` ([`render::webhook_signature`]).
    Webhook {
        /// Where to POST.
        url: String,
        /// The HMAC-SHA256 key; at least 16 characters.
        secret: String,
    },
}

/// Shortest webhook secret accepted.
pub const MIN_WEBHOOK_SECRET: usize = 16;

impl SinkSpec {
    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Slack { .. } => "slack",
            Self::Webhook { .. } => "webhook",
        }
    }

    /// Where it is sent.
    pub fn url(&self) -> &str {
        match self {
            Self::Slack { url } | Self::Webhook { url, .. } => url,
        }
    }

    /// Checks it can be used, naming the field; the messages never repeat the URL or secret.
    pub fn check(&self) -> Result<(), String> {
        if crate::repository::check_service_url(self.url()).is_err() {
            return Err(
                "url: must be an https URL (http only to this machine) without user \
                        name, password or query"
                    .to_owned(),
            );
        }
        if let Self::Webhook { secret, .. } = self
            && secret.chars().count() < MIN_WEBHOOK_SECRET
        {
            return Err(format!(
                "secret: must be at least {MIN_WEBHOOK_SECRET} characters"
            ));
        }
        Ok(())
    }
}

/// Shows the kind only: the URL and the secret are credentials.
impl std::fmt::Debug for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SinkSpec({}, <redacted>)", self.kind())
    }
}

/// How a delivery that failed is retried: after `first`, then twice as long each time (at most
/// [`Backoff::MAX_DELAY`]), for `attempts` attempts in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failed attempt.
    pub first: Duration,
    /// Attempts in all, the first one included.
    pub attempts: u32,
}

impl Backoff {
    /// The longest delay between two attempts (an SQS message's visibility can be extended to
    /// 12 hours; a quarter of an hour keeps a sink that came back from waiting long).
    pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

    /// The default: 30 s, 1, 2, 4, 8 and 15 min, so a sink is tried for about half an hour.
    pub const DEFAULT: Self = Self {
        first: Duration::from_secs(30),
        attempts: 7,
    };

    /// The delay before the attempt after attempt `attempt` (1 for the first), or `None` when
    /// that was the last one and the delivery is recorded as failed.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt >= self.attempts {
            return None;
        }
        let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
        Some(self.first.saturating_mul(factor).min(Self::MAX_DELAY))
    }
}

string_enum! {
    /// Where one delivery stands.
    DeliveryState {
        /// Claimed by a notifier, being sent.
        Sending => "sending",
        /// The sink accepted it.
        Delivered => "delivered",
        /// The last attempt failed; another follows.
        Retrying => "retrying",
        /// Every attempt failed, or the sink refused it for good; nothing more is tried.
        Failed => "failed",
        /// Not sent: the sink already shows a later stage of the deployment (SQS does not keep
        /// order), and a status must never move back.
        Skipped => "skipped",
    }
}

#[cfg(test)]
mod tests;
