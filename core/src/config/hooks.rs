//! Lifecycle hooks and per-environment variables of PM apps (`pm.hooks`, `pm.env`), and the
//! release file (`boreas-release.yaml`) an artifact may carry to set hooks of its own.
//!
//! Hooks are commands the agent runs at fixed points of a deploy (see `agent/README.md`):
//! `before_install` → `drain` and `stop` of the previous release → switch → `after_install` →
//! `start` (or the app's `run`) → health check → `validate`; `rollback` runs from a release that
//! is being undone.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::model::DurationSpec;

/// A Unix user name (`run_as`): what `useradd` accepts by default, at most 32 characters.
pub(crate) const USER_PATTERN: &str = "^[a-z_][a-z0-9_-]{0,30}\\$?$";
/// An environment variable name.
pub(crate) const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
/// Variables the agent sets itself; `pm.env` cannot declare them.
pub const RESERVED_ENV_PREFIX: &str = "BOREAS_";
/// The prefix of an environment value that names an SSM parameter.
pub const SSM_PREFIX: &str = "ssm:";
/// The key of `pm.env` whose variables apply in every environment.
pub const DEFAULT_ENV_KEY: &str = "default";
/// The release file's name at the root of an artifact.
pub const RELEASE_FILE: &str = "boreas-release.yaml";

string_enum! {
    /// The points of a deploy where a hook runs.
    HookName {
        /// After the release is unpacked, before anything running changes (in the new release).
        BeforeInstall => "before_install",
        /// After `current` points at the new release, before it starts (migrations).
        AfterInstall => "after_install",
        /// Starts the app instead of the agent supervising `run`.
        Start => "start",
        /// After the health check passed: the last word on whether the release stays.
        Validate => "validate",
        /// Stops the running release (run from that release).
        Stop => "stop",
        /// Before `stop`: take the host out of service (a load balancer, a queue consumer).
        Drain => "drain",
        /// When a release is undone: run from the release being left.
        Rollback => "rollback",
    }
}

/// Whether `name` is a Unix user name `run_as` accepts.
pub fn is_valid_user(name: &str) -> bool {
    let body = name.strip_suffix('$').unwrap_or(name);
    let bytes = body.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 31
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// Whether `name` is a shell-style variable name (`pm.env` also refuses the `BOREAS_` prefix).
pub fn is_valid_env_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// One hook: a command with its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookSpec {
    /// Program and arguments, never through a shell (write `[sh, -c, "…"]` to have one). A
    /// relative program with a `/` (`./bin/migrate`) is found in the release directory.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    /// Longest one attempt may run; it is then sent SIGTERM, and SIGKILL after `grace`.
    #[serde(default = "HookSpec::default_timeout")]
    pub timeout: DurationSpec,
    /// Further attempts after a failed one.
    #[serde(default)]
    pub retries: u32,
    /// Time between SIGTERM and SIGKILL when the hook overruns its timeout.
    #[serde(default = "HookSpec::default_grace")]
    pub grace: DurationSpec,
    /// User the hook runs as (default: the app's `run_as`, else the agent's user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = USER_PATTERN))]
    pub run_as: Option<String>,
    /// Working directory: relative to the release directory (the default), or absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub working_dir: Option<String>,
}

impl HookSpec {
    /// Default time one attempt may take.
    pub fn default_timeout() -> DurationSpec {
        DurationSpec(300)
    }
    /// Default SIGTERM → SIGKILL grace.
    pub fn default_grace() -> DurationSpec {
        DurationSpec(10)
    }
}

/// The hooks of one app (or of one release file), each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// After the release is unpacked, before anything running changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_install: Option<HookSpec>,
    /// After `current` points at the new release, before it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_install: Option<HookSpec>,
    /// Starts the app and returns; replaces `run` (the agent then supervises nothing). Needs `stop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<HookSpec>,
    /// After the health check passed; a failure rolls the host back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate: Option<HookSpec>,
    /// Stops the release; the one of the previous release runs before a new one is switched in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<HookSpec>,
    /// Before `stop`: takes the host out of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<HookSpec>,
    /// When this release is undone (a failed deploy or a rollback), before it stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<HookSpec>,
}

impl Hooks {
    /// The hook of `name`, if set.
    pub fn get(&self, name: HookName) -> Option<&HookSpec> {
        self.slot(name).as_ref()
    }

    /// Sets (or clears) the hook of `name`.
    pub fn set(&mut self, name: HookName, hook: Option<HookSpec>) {
        *self.slot_mut(name) = hook;
    }

    /// Whether no hook is set.
    pub fn is_empty(&self) -> bool {
        HookName::ALL.iter().all(|&n| self.get(n).is_none())
    }

    /// The hooks that are set, in [`HookName::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (HookName, &HookSpec)> {
        HookName::ALL
            .iter()
            .filter_map(|&n| self.get(n).map(|h| (n, h)))
    }

    fn slot(&self, name: HookName) -> &Option<HookSpec> {
        match name {
            HookName::BeforeInstall => &self.before_install,
            HookName::AfterInstall => &self.after_install,
            HookName::Start => &self.start,
            HookName::Validate => &self.validate,
            HookName::Stop => &self.stop,
            HookName::Drain => &self.drain,
            HookName::Rollback => &self.rollback,
        }
    }

    fn slot_mut(&mut self, name: HookName) -> &mut Option<HookSpec> {
        match name {
            HookName::BeforeInstall => &mut self.before_install,
            HookName::AfterInstall => &mut self.after_install,
            HookName::Start => &mut self.start,
            HookName::Validate => &mut self.validate,
            HookName::Stop => &mut self.stop,
            HookName::Drain => &mut self.drain,
            HookName::Rollback => &mut self.rollback,
        }
    }
}

/// A value of `pm.env`: literal text, or the name of an SSM parameter the agent reads at deploy
/// time (`ssm:/shop/prod/db-url`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvValue<'a> {
    /// Used as written.
    Literal(&'a str),
    /// An SSM parameter name (starting with `/`).
    Ssm(&'a str),
}

impl<'a> EnvValue<'a> {
    /// Reads a value as written in `pm.env` (and as carried in commands).
    pub fn parse(text: &'a str) -> Self {
        match text.strip_prefix(SSM_PREFIX) {
            Some(name) => Self::Ssm(name),
            None => Self::Literal(text),
        }
    }
}

/// The SSM path an app's parameters for `environment` must live under: `/APP/ENVIRONMENT/`.
/// IAM grants a host its environment's part of that tree only; the agent reads no other name.
pub fn ssm_scope(app: &str, environment: &str) -> String {
    format!("/{app}/{environment}/")
}

/// Why an SSM parameter name cannot be used by `app` in `environment`, if it cannot.
pub fn ssm_name_problem(name: &str, app: &str, environment: &str) -> Option<String> {
    let scope = ssm_scope(app, environment);
    if !name.starts_with(&scope) || name.len() == scope.len() {
        return Some(format!(
            "SSM parameter {name:?} is outside {scope}: an app reads only parameters under \
             /APP/ENVIRONMENT/ (here {scope}NAME), which is what its hosts may read"
        ));
    }
    if name.len() > 2048 {
        return Some(format!(
            "SSM parameter names are at most 2048 characters, found {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-')))
    {
        return Some(format!(
            "SSM parameter {name:?} contains {c:?}; names use letters, digits, '/', '_', '.' and '-'"
        ));
    }
    if name.contains("//") || name.ends_with('/') {
        return Some(format!("SSM parameter {name:?} has an empty path segment"));
    }
    None
}

/// The variables of `pm.env` that apply in `environment`: `default`'s, overridden by the
/// environment's own.
pub fn env_for(
    env: &BTreeMap<String, BTreeMap<String, String>>,
    environment: &str,
) -> BTreeMap<String, String> {
    let mut out = env.get(DEFAULT_ENV_KEY).cloned().unwrap_or_default();
    if let Some(own) = env.get(environment) {
        out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// `boreas-release.yaml`: what a release artifact says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFile {
    /// Hooks of this release; each replaces the config's only if `pm.release_hooks` lists it.
    #[serde(default)]
    pub hooks: Hooks,
}
