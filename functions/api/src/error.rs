//! The crate's one error type, and how each error becomes an HTTP answer.

use http::StatusCode;

/// Everything a request can fail with. Each variant maps to one status code and a stable `error`
/// code in the JSON body `{"error": code, "message": text}`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is malformed: bad JSON, a missing field, an unknown query parameter.
    #[error("{message}")]
    BadRequest {
        /// Stable code (`bad_json`, `bad_request`, `bad_query`).
        code: &'static str,
        /// What is wrong and where.
        message: String,
    },
    /// No credentials, or credentials nobody issued.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials whose role is too low for the route.
    #[error("{0}")]
    Forbidden(String),
    /// No such route or record.
    #[error("{0}")]
    NotFound(String),
    /// The path exists, the method does not.
    #[error("method {method} is not allowed here; allowed: {}", allowed.join(", "))]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The methods the path answers.
        allowed: Vec<&'static str>,
    },
    /// The request contradicts the current state (an illegal transition, a held lock, …).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// What the state is and why the request cannot apply.
        message: String,
    },
    /// Well-formed input that breaks a domain rule (a plan adjustment, …).
    #[error("{message}")]
    Unprocessable {
        /// The violated rule's stable code.
        rule: &'static str,
        /// The rule and where it is broken.
        message: String,
    },
    /// The store does not answer the health check.
    #[error("{0}")]
    Unhealthy(String),
    /// Step Functions refused to start the execution.
    #[error("{0}")]
    ExecutionStart(String),
    /// A failure of the store, Step Functions or SSM.
    #[error(transparent)]
    Aws(#[from] boreas_aws::Error),
    /// The function's environment is incomplete.
    #[error("configuration: {0}")]
    Configuration(String),
    /// An answer did not encode as JSON.
    #[error("encoding the answer: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Error {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "bad_request",
            message: message.into(),
        }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        use boreas_aws::Error as Aws;
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ExecutionStart(_) => StatusCode::BAD_GATEWAY,
            Self::Unhealthy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Aws(e) => match e {
                Aws::NotFound { .. } => StatusCode::NOT_FOUND,
                Aws::AlreadyExists { .. }
                | Aws::Conflict { .. }
                | Aws::Held { .. }
                | Aws::IllegalTransition { .. }
                | Aws::TaskTimedOut { .. }
                | Aws::InvalidTaskToken { .. } => StatusCode::CONFLICT,
                Aws::InvalidInput { .. } => StatusCode::BAD_REQUEST,
                Aws::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                Aws::Throttled { .. } | Aws::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Configuration(_) | Self::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `error` code of the answer.
    pub fn code(&self) -> &'static str {
        use boreas_aws::Error as Aws;
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unprocessable { rule, .. } => rule,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::ExecutionStart(_) => "execution_start_failed",
            Self::Unhealthy(_) => "unhealthy",
            Self::Aws(e) => match e {
                Aws::NotFound { .. } => "not_found",
                Aws::AlreadyExists { .. } => "already_exists",
                Aws::Conflict { .. } => "conflict",
                Aws::Held { .. } => "held",
                Aws::IllegalTransition { .. } => "illegal_transition",
                Aws::TaskTimedOut { .. } | Aws::InvalidTaskToken { .. } => "task_token",
                Aws::InvalidInput { .. } => "bad_request",
                Aws::TooLarge { .. } => "too_large",
                Aws::Throttled { .. } => "throttled",
                Aws::Unavailable { .. } => "unavailable",
                _ => "internal",
            },
            Self::Configuration(_) => "configuration",
            Self::Encode(_) => "internal",
        }
    }
}
