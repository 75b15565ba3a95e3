//! The operator's one error type, each variant with the stable `error_type` Step Functions receives.

use boreas_core::command::ErrorType;

/// What can go wrong while carrying out a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command cannot be carried out as written.
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    /// The command was written for another schema version (or is no Boreas command at all).
    #[error(transparent)]
    Wire(#[from] boreas_core::command::WireError),
    /// The Deployment (or its container) does not exist.
    #[error("{what} not found in the cluster")]
    WorkloadNotFound {
        /// `namespace/name`, with the container when that is what is missing.
        what: String,
    },
    /// The API server refused the credentials or the permission.
    #[error("{what}: the cluster refused the operator ({code}): {message}")]
    Forbidden {
        /// What was being done.
        what: String,
        /// 401 or 403.
        code: u16,
        /// The API server's message.
        message: String,
    },
    /// The API server could not be reached, or no credentials for it exist.
    #[error("{what}: cluster unreachable: {message}")]
    ClusterUnreachable {
        /// What was being done.
        what: String,
        /// Why.
        message: String,
    },
    /// The API server refused a change.
    #[error("{what}: {message}")]
    Apply {
        /// What was being done.
        what: String,
        /// The API server's message.
        message: String,
    },
    /// The rollout did not complete.
    #[error("{what} did not roll out: {reason}")]
    RolloutTimeout {
        /// `namespace/name`.
        what: String,
        /// The progress deadline's condition message, or the timeout that passed.
        reason: String,
    },
    /// This delivery's time ran out while the rollout still runs; never reported: the message
    /// comes again and the wait goes on (see [`crate::handler::Delivery`]).
    #[error("{what} is still rolling out when this delivery's time is up")]
    OutOfTime {
        /// `namespace/name`.
        what: String,
    },
    /// The Step Functions task the command belongs to is over (timed out or answered): stop working.
    #[error("the task of this command is over: {0}")]
    TaskGone(String),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] boreas_aws::Error),
}

impl Error {
    /// The stable error type reported with SendTaskFailure.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::InvalidCommand(_) => ErrorType::InvalidCommand,
            Self::Wire(e) => e.error_type(),
            Self::WorkloadNotFound { .. } => ErrorType::WorkloadNotFound,
            Self::Forbidden { .. } => ErrorType::Forbidden,
            Self::ClusterUnreachable { .. } => ErrorType::ClusterUnreachable,
            Self::Apply { .. } => ErrorType::ApplyFailed,
            Self::RolloutTimeout { .. } => ErrorType::RolloutTimeout,
            Self::OutOfTime { .. } | Self::TaskGone(_) | Self::Aws(_) => ErrorType::Internal,
        }
    }

    /// Classifies an error of kube-rs while doing `what` to the Deployment `object`.
    pub(crate) fn kube(what: impl Into<String>, object: &str, err: kube::Error) -> Self {
        let what = what.into();
        match err {
            kube::Error::Api(status) => match status.code {
                404 => Self::WorkloadNotFound {
                    what: object.to_owned(),
                },
                401 | 403 => Self::Forbidden {
                    what,
                    code: status.code,
                    message: status.message,
                },
                502..=504 => Self::ClusterUnreachable {
                    what,
                    message: status.message,
                },
                _ => Self::Apply {
                    what,
                    message: format!("{} ({} {})", status.message, status.code, status.reason),
                },
            },
            kube::Error::HyperError(_)
            | kube::Error::Service(_)
            | kube::Error::ReadEvents(_)
            | kube::Error::RustlsTls(_)
            | kube::Error::Auth(_) => Self::ClusterUnreachable {
                what,
                message: err.to_string(),
            },
            other => Self::Apply {
                what,
                message: other.to_string(),
            },
        }
    }
}
