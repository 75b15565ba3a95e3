//! The agent's configuration: a TOML file, overridden field by field by command-line flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use boreas_aws::names::{Names, prefix_problem};
use serde::Deserialize;

use crate::{Error, validate};

/// How the agent runs apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ServiceManagerKind {
    /// The agent supervises each app as a child process group.
    Exec,
    /// Each app is a systemd unit the agent writes and restarts.
    Systemd,
}

/// The configuration file, every field optional (flags may supply it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Host name; the agent only runs commands addressed to it.
    pub host: Option<String>,
    /// Environment the host belongs to.
    pub environment: Option<String>,
    /// Host group reported in the inventory.
    pub group: Option<String>,
    /// Resource-name prefix (default `boreas`).
    pub prefix: Option<String>,
    /// Command queue name (default `{prefix}-agent-{environment}-{host}`).
    pub queue: Option<String>,
    /// Inventory queue name (default `{prefix}-inventory`).
    pub inventory_queue: Option<String>,
    /// Directory holding releases, logs and the journal.
    pub work_dir: Option<PathBuf>,
    /// `exec` or `systemd`.
    pub service_manager: Option<ServiceManagerKind>,
    /// AWS endpoint URL (an emulator); default the normal AWS endpoints.
    pub endpoint: Option<String>,
    /// AWS region.
    pub region: Option<String>,
    /// Releases kept per app, current and previous included (default 3).
    pub keep_releases: Option<usize>,
    /// Seconds between inventory reports, the liveness heartbeat (default 30: a host missing two
    /// is unreachable within about a minute and a quarter).
    pub inventory_seconds: Option<u64>,
    /// Seconds a received message stays invisible, renewed while its command runs (default 60).
    pub visibility_seconds: Option<u64>,
    /// Long-poll wait of one receive, 1 to 20 seconds (default 20).
    pub poll_seconds: Option<u64>,
    /// Grace period between SIGTERM and SIGKILL when stopping an app (default 10).
    pub stop_grace_seconds: Option<u64>,
    /// Pause between health probes in milliseconds (default 1000).
    pub probe_interval_ms: Option<u64>,
    /// Directory for unit files with `systemd` (default `/etc/systemd/system`).
    pub systemd_unit_dir: Option<PathBuf>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Host name.
    pub host: String,
    /// Environment name.
    pub environment: String,
    /// Host group, if any.
    pub group: Option<String>,
    /// Resource names.
    pub names: Names,
    /// Command queue name.
    pub queue: String,
    /// Inventory queue name.
    pub inventory_queue: String,
    /// Work directory.
    pub work_dir: PathBuf,
    /// Service manager.
    pub service_manager: ServiceManagerKind,
    /// AWS endpoint, if not the default.
    pub endpoint: Option<String>,
    /// AWS region, if set.
    pub region: Option<String>,
    /// Releases kept per app.
    pub keep_releases: usize,
    /// Between periodic inventories.
    pub inventory_every: Duration,
    /// Message visibility while a command runs.
    pub visibility: Duration,
    /// Long-poll wait.
    pub poll_wait: Duration,
    /// SIGTERM → SIGKILL grace.
    pub stop_grace: Duration,
    /// Pause between health probes.
    pub probe_interval: Duration,
    /// Where systemd unit files go.
    pub systemd_unit_dir: PathBuf,
}

impl FileConfig {
    /// Reads a TOML configuration file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        toml::from_str(&text).map_err(|e| {
            // One line (the operator's terminal and the journal), with the line it is about.
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim();
            Error::Config(match line {
                Some(n) => format!("{} line {n}: {message}", path.display()),
                None => format!("{}: {message}", path.display()),
            })
        })
    }

    /// Fields set in `over` replace those of `self`.
    #[must_use]
    pub fn merge(self, over: FileConfig) -> FileConfig {
        FileConfig {
            host: over.host.or(self.host),
            environment: over.environment.or(self.environment),
            group: over.group.or(self.group),
            prefix: over.prefix.or(self.prefix),
            queue: over.queue.or(self.queue),
            inventory_queue: over.inventory_queue.or(self.inventory_queue),
            work_dir: over.work_dir.or(self.work_dir),
            service_manager: over.service_manager.or(self.service_manager),
            endpoint: over.endpoint.or(self.endpoint),
            region: over.region.or(self.region),
            keep_releases: over.keep_releases.or(self.keep_releases),
            inventory_seconds: over.inventory_seconds.or(self.inventory_seconds),
            visibility_seconds: over.visibility_seconds.or(self.visibility_seconds),
            poll_seconds: over.poll_seconds.or(self.poll_seconds),
            stop_grace_seconds: over.stop_grace_seconds.or(self.stop_grace_seconds),
            probe_interval_ms: over.probe_interval_ms.or(self.probe_interval_ms),
            systemd_unit_dir: over.systemd_unit_dir.or(self.systemd_unit_dir),
        }
    }

    /// Checks every field and fills in defaults.
    pub fn resolve(self) -> Result<Config, Error> {
        let required = |v: Option<String>, what: &str| {
            v.ok_or_else(|| Error::Config(format!("`{what}` is required (file or --{what})")))
        };
        let host = required(self.host, "host")?;
        let environment = required(self.environment, "environment")?;
        for (what, value) in [("host", &host), ("environment", &environment)] {
            validate::name(what, value).map_err(|e| Error::Config(e.to_string()))?;
        }
        let prefix = self
            .prefix
            .unwrap_or_else(|| boreas_aws::names::DEFAULT_PREFIX.to_owned());
        if let Some(p) = prefix_problem(&prefix) {
            return Err(Error::Config(p));
        }
        let names = Names::new(&prefix);
        let work_dir = self
            .work_dir
            .ok_or_else(|| Error::Config("`work_dir` is required (file or --work-dir)".into()))?;
        let keep_releases = self.keep_releases.unwrap_or(3);
        if keep_releases < 2 {
            return Err(Error::Config(format!(
                "keep_releases is {keep_releases}; at least 2 (current and previous) are needed"
            )));
        }
        let poll = self.poll_seconds.unwrap_or(20);
        if !(1..=20).contains(&poll) {
            return Err(Error::Config(format!(
                "poll_seconds is {poll}; SQS long polls wait 1 to 20 seconds"
            )));
        }
        let visibility = self.visibility_seconds.unwrap_or(60);
        if !(6..=43_200).contains(&visibility) {
            return Err(Error::Config(format!(
                "visibility_seconds is {visibility}; 6 to 43200 are allowed"
            )));
        }
        Ok(Config {
            queue: self
                .queue
                .unwrap_or_else(|| names.agent_queue(&environment, &host)),
            inventory_queue: self
                .inventory_queue
                .unwrap_or_else(|| names.inventory_queue()),
            host,
            environment,
            group: self.group,
            names,
            work_dir,
            service_manager: self.service_manager.unwrap_or(ServiceManagerKind::Exec),
            endpoint: self.endpoint,
            region: self.region,
            keep_releases,
            inventory_every: Duration::from_secs(self.inventory_seconds.unwrap_or(30).max(1)),
            visibility: Duration::from_secs(visibility),
            poll_wait: Duration::from_secs(poll),
            stop_grace: Duration::from_secs(self.stop_grace_seconds.unwrap_or(10)),
            probe_interval: Duration::from_millis(self.probe_interval_ms.unwrap_or(1000)),
            systemd_unit_dir: self
                .systemd_unit_dir
                .unwrap_or_else(|| PathBuf::from("/etc/systemd/system")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags_then_defaults() {
        let file: FileConfig = toml::from_str(
            r#"
            host = "web-1"
            environment = "prod"
            work_dir = "/var/lib/boreas-agent"
            service_manager = "systemd"
            keep_releases = 5
            "#,
        )
        .unwrap();
        let flags = FileConfig {
            host: Some("web-2".into()),
            ..FileConfig::default()
        };
        let c = file.merge(flags).resolve().unwrap();
        assert_eq!(c.host, "web-2");
        assert_eq!(c.queue, "boreas-agent-prod-web-2");
        assert_eq!(c.inventory_queue, "boreas-inventory");
        assert_eq!(c.service_manager, ServiceManagerKind::Systemd);
        assert_eq!(c.keep_releases, 5);
        assert_eq!(c.poll_wait, Duration::from_secs(20));
    }

    #[test]
    fn bad_configuration_says_what_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("agent.toml");
        std::fs::write(&path, "host = \"x\"\n\nhots = \"x\"\n").unwrap();
        let err = FileConfig::load(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "configuration: {} line 3: unknown field `hots`",
                path.display()
            )),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        let base = FileConfig {
            host: Some("h".into()),
            environment: Some("prod".into()),
            work_dir: Some("/tmp/x".into()),
            ..FileConfig::default()
        };
        let err = FileConfig {
            host: None,
            ..base.clone()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("`host` is required"), "{err}");
        let err = FileConfig {
            host: Some("../etc".into()),
            ..base.clone()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("separator"), "{err}");
        let err = FileConfig {
            poll_seconds: Some(30),
            ..base.clone()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("poll_seconds"), "{err}");
        let err = FileConfig {
            keep_releases: Some(1),
            ..base
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("keep_releases"), "{err}");
    }
}
