//! The crate's one error type.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use boreas_core::deployment::DeploymentStatus;

/// Everything an adapter can fail with. `error_type()` gives a stable name for each variant, used
/// in API responses and in errors handed to Step Functions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The record, object, parameter, queue or execution does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// A record that must be written once already exists.
    #[error("{what} already exists")]
    AlreadyExists { what: String },
    /// The write lost against the current state (a held lock, a plan no longer editable, …).
    #[error("conflict on {what}: {reason}")]
    Conflict { what: String, reason: String },
    /// A deployment status change that the lifecycle forbids, or that another writer got to first.
    #[error("deployment {id}: illegal status transition {from} → {to}")]
    IllegalTransition {
        id: String,
        from: DeploymentStatus,
        to: DeploymentStatus,
    },
    /// The deployment's environment policy holds it back (promotion, a freeze window); it stays
    /// `planned` with the reasons recorded.
    #[error("deployment {id} waits: {}", reasons.join("; "))]
    Held { id: String, reasons: Vec<String> },
    /// The deployment's execution did not start; the deployment is recorded `failed`.
    #[error("deployment {id}: {message}")]
    ExecutionNotStarted { id: String, message: String },
    /// The operating system gave no random bytes.
    #[error("no randomness available: {message}")]
    NoRandomness { message: String },
    /// The service kept throttling after the SDK's retries.
    #[error("{service} throttled the request: {message}")]
    Throttled {
        service: &'static str,
        message: String,
    },
    /// The service kept answering with a server error (5xx) after the SDK's retries.
    #[error("{service} is unavailable: {message}")]
    Unavailable {
        service: &'static str,
        message: String,
    },
    /// A Step Functions task token whose task already timed out.
    #[error("task timed out: {message}")]
    TaskTimedOut { message: String },
    /// A Step Functions task token that is malformed, unknown or already used.
    #[error("invalid task token: {message}")]
    InvalidTaskToken { message: String },
    /// A stored record that does not have the shape this code writes.
    #[error("malformed record {what}: {message}")]
    Malformed { what: String, message: String },
    /// An argument the caller should have checked (a bad cursor, an empty lock set, …).
    #[error("invalid input: {message}")]
    InvalidInput { message: String },
    /// A record that would not fit in the store, even compressed (a plan of tens of thousands of
    /// targets).
    #[error("{what} takes {size} bytes, over the {limit} bytes one record can hold")]
    TooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
    /// The local emulator could not be prepared, started or stopped.
    #[error("emulator: {message}")]
    Emulator { message: String },
    /// An environment variable that is missing, or whose value cannot be used.
    #[error("environment variable {name} {problem}")]
    Env { name: String, problem: String },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// Any other service error, after the SDK's retries.
    #[error("{service}: {message}")]
    Sdk {
        service: &'static str,
        message: String,
    },
}

impl Error {
    /// A stable, machine-readable name for the kind of error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NotFound",
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::Conflict { .. } => "Conflict",
            Self::IllegalTransition { .. } => "IllegalTransition",
            Self::Held { .. } => "Held",
            Self::ExecutionNotStarted { .. } => "ExecutionNotStarted",
            Self::NoRandomness { .. } => "NoRandomness",
            Self::Throttled { .. } => "Throttled",
            Self::Unavailable { .. } => "Unavailable",
            Self::TaskTimedOut { .. } => "TaskTimedOut",
            Self::InvalidTaskToken { .. } => "InvalidTaskToken",
            Self::Malformed { .. } => "Malformed",
            Self::InvalidInput { .. } => "InvalidInput",
            Self::TooLarge { .. } => "TooLarge",
            Self::Emulator { .. } => "Emulator",
            Self::Env { .. } => "Env",
            Self::Io { .. } => "Io",
            Self::Sdk { .. } => "Sdk",
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    pub(crate) fn malformed(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Malformed {
            what: what.into(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput {
            message: message.into(),
        }
    }

    /// Converts an SDK error that no operation-specific mapping claimed.
    pub(crate) fn sdk<E, R>(service: &'static str, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + RawStatus,
    {
        let throttled = matches!(
            err.code(),
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "ThrottledException"
                    | "RequestLimitExceeded"
                    | "ProvisionedThroughputExceededException"
                    | "TooManyRequestsException"
                    | "SlowDown"
                    | "RequestThrottled"
            )
        );
        let message = DisplayErrorContext(err).to_string();
        let server_error = err
            .raw_response()
            .and_then(RawStatus::status)
            .is_some_and(|status| (500..600).contains(&status));
        if throttled {
            Self::Throttled { service, message }
        } else if server_error {
            Self::Unavailable { service, message }
        } else {
            Self::Sdk { service, message }
        }
    }
}

/// The HTTP status of a raw service response, where there is one.
pub(crate) trait RawStatus {
    fn status(&self) -> Option<u16>;
}

impl RawStatus for aws_sdk_dynamodb::config::http::HttpResponse {
    fn status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

#[cfg(test)]
impl RawStatus for () {
    fn status(&self) -> Option<u16> {
        None
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;

    use super::*;

    fn service_error(code: &str) -> SdkError<PutItemError, ()> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("the message")
            .build();
        SdkError::service_error(PutItemError::generic(meta), ())
    }

    #[test]
    fn throttling_left_after_retries_is_its_own_kind() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
        ] {
            let err = Error::sdk("dynamodb", &service_error(code));
            assert_eq!(err.error_type(), "Throttled", "{code}");
            assert!(err.to_string().starts_with("dynamodb throttled"), "{err}");
        }
        let err = Error::sdk("dynamodb", &service_error("ValidationException"));
        assert_eq!(err.error_type(), "Sdk");
        assert!(err.to_string().contains("the message"), "{err}");
    }

    /// A 5xx left after the retries is the service's fault, not the caller's: callers answer 503.
    #[test]
    fn a_server_error_left_after_retries_is_unavailable() {
        use aws_sdk_dynamodb::config::http::HttpResponse;
        use aws_smithy_types::body::SdkBody;

        let response =
            |status: u16| HttpResponse::new(status.try_into().expect("a status"), SdkBody::empty());
        let meta = ErrorMetadata::builder().message("boom").build();
        let err = SdkError::service_error(PutItemError::generic(meta.clone()), response(500));
        let err = Error::sdk("sfn", &err);
        assert_eq!(err.error_type(), "Unavailable");
        assert!(err.to_string().starts_with("sfn is unavailable"), "{err}");
        let err = SdkError::service_error(PutItemError::generic(meta), response(400));
        assert_eq!(Error::sdk("sfn", &err).error_type(), "Sdk");
    }

    #[test]
    fn illegal_transitions_name_both_ends() {
        let err = Error::IllegalTransition {
            id: "dep-1".to_owned(),
            from: DeploymentStatus::Running,
            to: DeploymentStatus::Planned,
        };
        assert_eq!(
            err.to_string(),
            "deployment dep-1: illegal status transition running → planned"
        );
        assert_eq!(err.error_type(), "IllegalTransition");
    }
}
