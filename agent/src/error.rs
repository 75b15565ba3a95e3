//! The agent's one error type. Every variant maps to a stable [`ErrorType`] so a failure that ends a
//! command reaches Step Functions with a name dashboards and alarms can match on.

use std::path::PathBuf;

use boreas_core::command::{ErrorType, WireError};

/// Everything the agent can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file or a flag is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The message is not a command this agent may run.
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    /// The message is not a Boreas command of this schema version.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The artifact (or its SHA-256 file) could not be fetched, or not unpacked.
    #[error("artifact {url}: {message}")]
    Download {
        /// The URL as given in the command.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The artifact's SHA-256 is not the expected one.
    #[error("artifact {url}: sha256 is {actual}, expected {expected}")]
    ChecksumMismatch {
        /// The URL as given in the command.
        url: String,
        /// The expected hex digest.
        expected: String,
        /// The digest of what was downloaded.
        actual: String,
    },
    /// The release could not be started.
    #[error("app {app}: cannot start: {message}")]
    Start {
        /// App name.
        app: String,
        /// What went wrong.
        message: String,
    },
    /// The release started but did not pass its health check.
    #[error("app {app} {version}: unhealthy after {probes} probe(s): {last}")]
    Unhealthy {
        /// App name.
        app: String,
        /// Version probed.
        version: String,
        /// Probes made.
        probes: u32,
        /// The last probe's failure.
        last: String,
    },
    /// Going back to an earlier release failed.
    #[error("app {app}: rollback failed: {message}")]
    Rollback {
        /// App name.
        app: String,
        /// What went wrong.
        message: String,
    },
    /// A lifecycle hook failed, timed out or could not run.
    #[error("{hook} hook: {message}")]
    Hook {
        /// Which hook.
        hook: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A `run_as` user cannot be used.
    #[error("run_as {user}: {message}")]
    RunAs {
        /// The user name.
        user: String,
        /// What is wrong.
        message: String,
    },
    /// An `ssm:` variable of the app could not be read. Names the variable and parameter, never
    /// a value.
    #[error("app {app}: variable {variable} ({parameter}): {message}")]
    Secret {
        /// App name.
        app: String,
        /// Variable name.
        variable: String,
        /// SSM parameter name.
        parameter: String,
        /// What went wrong.
        message: String,
    },
    /// The release's `boreas-release.yaml` is invalid or sets a hook the config does not allow.
    #[error("release {version} of {app}: boreas-release.yaml: {message}")]
    ReleaseFile {
        /// App name.
        app: String,
        /// Version.
        version: String,
        /// What is wrong.
        message: String,
    },
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] boreas_aws::Error),
}

impl Error {
    /// The stable error type reported with SendTaskFailure.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::InvalidCommand(_) | Self::Config(_) => ErrorType::InvalidCommand,
            Self::Wire(e) => e.error_type(),
            Self::Download { .. } => ErrorType::ArtifactDownloadFailed,
            Self::ChecksumMismatch { .. } => ErrorType::ChecksumMismatch,
            Self::Start { .. } => ErrorType::StartFailed,
            Self::Unhealthy { .. } => ErrorType::HealthCheckFailed,
            Self::Rollback { .. } => ErrorType::RollbackFailed,
            Self::Hook { .. } | Self::RunAs { .. } | Self::ReleaseFile { .. } => {
                ErrorType::HookFailed
            }
            Self::Secret { .. } => ErrorType::SecretUnavailable,
            Self::Io { .. } | Self::Aws(_) => ErrorType::Internal,
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
