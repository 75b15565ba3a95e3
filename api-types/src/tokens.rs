//! API tokens: creation (the secret shown once), listing, revocation.

use std::fmt;

use boreas_core::role::Role;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Create an API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Who or what will hold it (audit entries name it): 1 to 100 letters, digits, `.`, `_`,
    /// `-` and `@`, unique; `admin` names the bootstrap token.
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^[A-Za-z0-9._@-]+$"))]
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Seconds until it expires (at most ten years); default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 315_360_000))]
    pub expires_in_seconds: Option<u64>,
}

/// A new API token; the secret is shown only here.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NewToken {
    /// Who or what holds it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The bearer secret.
    pub token: String,
    /// When it was created.
    pub created_at: String,
    /// When it expires; null: never.
    pub expires_at: Option<String>,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An API token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Token {
    /// Who or what holds it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created_at: String,
    /// When it expires; null: never.
    pub expires_at: Option<String>,
    /// When it last authorized a request (recorded at most once a minute); null: never.
    pub last_used: Option<String>,
    /// It has expired: requests with it are answered 401.
    pub expired: bool,
}
