//! Checks on the fields of a command that become paths or process arguments on the host.

use boreas_core::command::{Action, Command, PmWorkload, Workload};

use crate::Error;

/// Longest app name or version accepted; keeps every derived path well under `PATH_MAX`.
const MAX_NAME_LEN: usize = 128;

/// Refuses a name that would escape its directory or confuse a log line: empty, `.`/`..`, a `/`, a
/// `..` anywhere, a control character, a leading `-` (read as an option by tools), or too long.
pub fn name(what: &str, value: &str) -> Result<(), Error> {
    let problem = if value.is_empty() {
        Some("is empty".to_owned())
    } else if value.len() > MAX_NAME_LEN {
        Some(format!(
            "is {} bytes long; at most {MAX_NAME_LEN} are allowed",
            value.len()
        ))
    } else if value.contains('/') || value.contains('\\') {
        Some("contains a path separator".to_owned())
    } else if value.contains("..") || value == "." {
        Some("contains `..` or is `.`".to_owned())
    } else if let Some(c) = value.chars().find(|c| c.is_control()) {
        Some(format!("contains the control character {c:?}"))
    } else if value.starts_with('-') {
        Some("starts with `-`".to_owned())
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::InvalidCommand(format!("{what} {value:?} {p}"))),
        None => Ok(()),
    }
}

/// Whether `value` is a SHA-256 digest in hex.
pub fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks a command addressed to this agent: right host and environment, a deterministic id, safe
/// names, a PM workload with a hash.
pub fn command(command: &Command, host: &str, environment: &str) -> Result<(), Error> {
    if command.target != host {
        return Err(Error::InvalidCommand(format!(
            "command {} is addressed to host {:?}, this is host {host:?}",
            command.command_id, command.target
        )));
    }
    if command.environment != environment {
        return Err(Error::InvalidCommand(format!(
            "command {} is for environment {:?}, this host is in {environment:?}",
            command.command_id, command.environment
        )));
    }
    if command.command_id.is_empty() || command.command_id.chars().any(char::is_control) {
        return Err(Error::InvalidCommand(
            "command_id is empty or contains control characters".to_owned(),
        ));
    }
    if !command.has_expected_id() {
        return Err(Error::InvalidCommand(format!(
            "command_id {:?} is not the id of this {} command",
            command.command_id,
            command.action.as_str()
        )));
    }
    match &command.action {
        Action::Deploy {
            app,
            version,
            workload,
            ..
        } => {
            name("app", app)?;
            name("version", version)?;
            pm_workload(workload)?;
        }
        Action::Rollback {
            app,
            from_version,
            to_version,
            workload,
            ..
        } => {
            name("app", app)?;
            name("from_version", from_version)?;
            if let Some(v) = to_version {
                name("to_version", v)?;
            }
            if let Some(w) = workload {
                pm_workload(w)?;
            }
        }
        Action::Status {} => {}
    }
    Ok(())
}

/// The PM workload of `workload`, with a usable hash.
pub fn pm_workload(workload: &Workload) -> Result<&PmWorkload, Error> {
    let Workload::Pm(pm) = workload else {
        return Err(Error::InvalidCommand(
            "the workload is not a PM release (kind is not `pm`)".to_owned(),
        ));
    };
    match (&pm.sha256, &pm.sha256_url) {
        (Some(h), _) if !is_sha256_hex(h) => Err(Error::InvalidCommand(format!(
            "sha256 {h:?} is not 64 hexadecimal digits"
        ))),
        (None, None) => Err(Error::InvalidCommand(format!(
            "artifact {} has neither sha256 nor sha256_url: the hash is mandatory",
            pm.artifact_url
        ))),
        _ => Ok(pm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_refused_with_the_reason() {
        for (value, reason) in [
            ("", "empty"),
            ("a/b", "separator"),
            ("..", "`..`"),
            ("v1..2", "`..`"),
            (".", "`.`"),
            ("v1\n", "control"),
            ("-rf", "starts with `-`"),
        ] {
            let err = name("version", value).unwrap_err().to_string();
            assert!(err.contains(reason), "{value:?}: {err}");
        }
        assert!(name("version", &"x".repeat(129)).is_err());
        for ok in ["web", "v1.2.3", "1.0.0-rc.1+build.5", "abc123def"] {
            name("version", ok).unwrap();
        }
    }

    #[test]
    fn sha256_must_be_hex_of_the_right_length() {
        assert!(is_sha256_hex(&"ab".repeat(32)));
        assert!(!is_sha256_hex(&"ab".repeat(31)));
        assert!(!is_sha256_hex(&"zz".repeat(32)));
    }
}
