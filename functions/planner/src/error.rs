//! The crate's one error type.

/// Everything planning one job can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The message body is not a plan job this build reads.
    #[error("plan job: {0}")]
    Job(String),
    /// The job names a repository with no record.
    #[error("repository {0} is not registered")]
    UnknownRepository(String),
    /// The job names a version intake did not record.
    #[error("version {version} of repository {repository} is not recorded")]
    UnknownVersion {
        /// Repository id.
        repository: String,
        /// Version name.
        version: String,
    },
    /// The job and the version record disagree about the commit.
    #[error(
        "version {version} of repository {repository} is bound to commit {recorded}, the job names {job}"
    )]
    CommitMismatch {
        /// Repository id.
        repository: String,
        /// Version name.
        version: String,
        /// Commit in the version record.
        recorded: String,
        /// Commit in the job.
        job: String,
    },
    /// A commit id that is not a full hex object id, or an object that is not a commit.
    #[error("repository {repository}: {commit:?} is not a commit: {message}")]
    InvalidCommit {
        /// Repository id.
        repository: String,
        /// The id.
        commit: String,
        /// Why.
        message: String,
    },
    /// The remote could not be reached or refused the fetch.
    #[error("repository {repository}: fetching from {url} failed: {message}")]
    Fetch {
        /// Repository id.
        repository: String,
        /// Clone URL.
        url: String,
        /// The transport's error.
        message: String,
    },
    /// The fetch wrote more than the fetch size limit and was stopped; trying again fetches as much.
    #[error(
        "repository {repository}: {url} sent more than {limit_mib} MiB (the fetch size limit); stopped"
    )]
    TooLarge {
        /// Repository id.
        repository: String,
        /// Clone URL.
        url: String,
        /// The limit.
        limit_mib: u64,
    },
    /// The remote refused the repository's credentials, or asked for credentials it has none of.
    #[error("authentication failed for {url}")]
    AuthenticationFailed {
        /// Repository id.
        repository: String,
        /// Clone URL (never carries credentials).
        url: String,
    },
    /// The repository's credential cannot be had: its parameter is missing, or a GitHub App
    /// could not mint an installation token.
    #[error("repository {repository}: git credential: {message}")]
    Credential {
        /// Repository id.
        repository: String,
        /// What failed.
        message: String,
        /// Whether trying again may succeed (a network failure, not a refusal).
        retry: bool,
    },
    /// After fetching, the commit is still not there.
    #[error("repository {repository}: commit {commit} not found")]
    CommitNotFound {
        /// Repository id.
        repository: String,
        /// Commit id.
        commit: String,
    },
    /// A local git operation failed.
    #[error("repository {repository}: cannot {action}: {message}")]
    Git {
        /// Repository id.
        repository: String,
        /// What was being done.
        action: String,
        /// Why it failed.
        message: String,
    },
    /// The planner refused the config (a rule validation cannot see, like a dependency cycle).
    #[error("environment {environment}: {source}")]
    Plan {
        /// Environment being planned.
        environment: String,
        /// The planner's error.
        source: boreas_core::planner::PlanError,
    },
    /// A store or orchestrator call failed.
    #[error(transparent)]
    Aws(#[from] boreas_aws::Error),
    /// The blocking git worker panicked or was cancelled.
    #[error("git worker: {0}")]
    Worker(String),
}

impl From<boreas_git_credentials::Error> for Error {
    fn from(e: boreas_git_credentials::Error) -> Self {
        match e {
            boreas_git_credentials::Error::Unavailable {
                repository,
                message,
                retry,
            } => Self::Credential {
                repository,
                message,
                retry,
            },
            client @ boreas_git_credentials::Error::Client(_) => Self::Worker(client.to_string()),
        }
    }
}

impl Error {
    /// A stable, machine-readable name for the kind of error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Job(_) => "InvalidJob",
            Self::UnknownRepository(_) => "UnknownRepository",
            Self::UnknownVersion { .. } => "UnknownVersion",
            Self::CommitMismatch { .. } => "CommitMismatch",
            Self::InvalidCommit { .. } => "InvalidCommit",
            Self::Fetch { .. } => "FetchFailed",
            Self::TooLarge { .. } => "RepositoryTooLarge",
            Self::AuthenticationFailed { .. } => "AuthenticationFailed",
            Self::Credential { .. } => "CredentialUnavailable",
            Self::CommitNotFound { .. } => "CommitNotFound",
            Self::Git { .. } => "GitFailed",
            Self::Plan { .. } => "PlanFailed",
            Self::Aws(e) => e.error_type(),
            Self::Worker(_) => "WorkerFailed",
        }
    }

    /// Whether retrying the same job can never succeed: the version is marked `plan_failed` at
    /// once instead of after the queue's last receive.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Credential { retry, .. } => !retry,
            other => matches!(
                other,
                Self::Job(_)
                    | Self::UnknownRepository(_)
                    | Self::UnknownVersion { .. }
                    | Self::CommitMismatch { .. }
                    | Self::InvalidCommit { .. }
                    | Self::AuthenticationFailed { .. }
                    | Self::TooLarge { .. }
                    | Self::Plan { .. }
                    | Self::Aws(boreas_aws::Error::TooLarge { .. })
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan no deployment record can hold would be refused again on every receive.
    #[test]
    fn a_plan_too_large_to_store_fails_the_version_at_once() {
        let err = Error::from(boreas_aws::Error::TooLarge {
            what: "plan of deployment d".into(),
            size: 400_000,
            limit: 358_400,
        });
        assert!(err.is_permanent());
        assert_eq!(err.error_type(), "TooLarge");
        let throttled = Error::from(boreas_aws::Error::Throttled {
            service: "DynamoDB",
            message: "slow down".into(),
        });
        assert!(!throttled.is_permanent());
    }
}
