//! `boreas-agent check`: what an operator runs after installing the agent. It looks at everything
//! the agent needs before it can take a command — the work directory, AWS credentials and region,
//! its command queue and the inventory queue — without changing any of them, and says what is
//! wrong in one line each.

use std::fmt;
use std::path::Path;

use aws_credential_types::provider::ProvideCredentials;
use boreas_aws::Error as AwsError;
use boreas_aws::queues::Queues;

use crate::config::Config;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked, e.g. `queue boreas-agent-prod-web-1`.
    pub subject: String,
    /// `Ok` with a short detail, or what is wrong and how to fix it.
    pub outcome: Result<String, String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Ok(detail) => write!(f, "ok: {}: {detail}", self.subject),
            Err(problem) => write!(f, "problem: {}: {problem}", self.subject),
        }
    }
}

fn finding(subject: impl Into<String>, outcome: Result<String, String>) -> Finding {
    Finding {
        subject: subject.into(),
        outcome,
    }
}

/// Runs every check for a resolved configuration.
pub async fn run(
    config: &Config,
    aws: &aws_config::SdkConfig,
    queues: &dyn Queues,
) -> Vec<Finding> {
    let mut findings = vec![
        finding(
            "config",
            Ok(format!(
                "host {}, environment {}",
                config.host, config.environment
            )),
        ),
        finding(
            format!("work_dir {}", config.work_dir.display()),
            work_dir(&config.work_dir),
        ),
        finding(
            "region",
            aws.region().map(|r| r.to_string()).ok_or_else(|| {
                "none configured: set `region` in the config file or AWS_REGION".to_owned()
            }),
        ),
    ];
    let credentials = credentials(aws).await;
    let have_credentials = credentials.is_ok();
    findings.push(finding("credentials", credentials));
    // Without credentials every queue call fails the same way; one line says it.
    if have_credentials {
        findings.push(finding(
            format!("queue {}", config.queue),
            match queues.queue_url(&config.queue).await {
                Ok(_) => Ok("reachable".to_owned()),
                Err(AwsError::NotFound { .. }) => {
                    Ok("not created yet; the agent creates it when it starts".to_owned())
                }
                Err(e) => Err(e.to_string()),
            },
        ));
        findings.push(finding(
            format!("inventory queue {}", config.inventory_queue),
            match queues.queue_url(&config.inventory_queue).await {
                Ok(_) => Ok("reachable".to_owned()),
                Err(AwsError::NotFound { .. }) => Err(format!(
                    "does not exist: is the stack deployed with prefix `{}` in this account and \
                     region, or is `inventory_queue` set wrong?",
                    config.names.prefix()
                )),
                Err(e) => Err(e.to_string()),
            },
        ));
    }
    findings
}

/// The work directory must be writable, or creatable in a writable parent.
fn work_dir(dir: &Path) -> Result<String, String> {
    use nix::unistd::{AccessFlags, access};
    let writable = |d: &Path| access(d, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
    if dir.is_dir() {
        return if writable(dir) {
            Ok("writable".to_owned())
        } else {
            Err("not writable by this user".to_owned())
        };
    }
    if dir.exists() {
        return Err("exists and is not a directory".to_owned());
    }
    match dir.ancestors().skip(1).find(|a| a.is_dir()) {
        Some(parent) if writable(parent) => Ok(format!(
            "does not exist yet; the agent creates it in {}",
            parent.display()
        )),
        Some(parent) => Err(format!(
            "does not exist and {} is not writable by this user",
            parent.display()
        )),
        None => Err("does not exist".to_owned()),
    }
}

/// Resolves the default credential chain once; the error says which sources were tried.
async fn credentials(aws: &aws_config::SdkConfig) -> Result<String, String> {
    let Some(provider) = aws.credentials_provider() else {
        return Err("no credential provider configured".to_owned());
    };
    match provider.provide_credentials().await {
        // Never the key itself: only that there is one and whether it expires.
        Ok(c) => Ok(match c.expiry() {
            Some(_) => "found (temporary)".to_owned(),
            None => "found".to_owned(),
        }),
        Err(e) => Err(format!(
            "none found ({e}); give the host an instance profile or role, or set AWS_PROFILE"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn work_dir_states() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(work_dir(tmp.path()), Ok("writable".to_owned()));
        let missing = tmp.path().join("a/b");
        assert!(
            work_dir(&missing)
                .unwrap()
                .starts_with("does not exist yet")
        );
        let file = tmp.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            work_dir(&file),
            Err("exists and is not a directory".to_owned())
        );
        // Root may write anywhere; the refusal shows only for other users.
        if !nix::unistd::geteuid().is_root() {
            let locked = tmp.path().join("locked");
            std::fs::create_dir(&locked).unwrap();
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
            assert_eq!(
                work_dir(&locked),
                Err("not writable by this user".to_owned())
            );
        }
    }

    #[test]
    fn findings_print_one_line_each() {
        let ok = finding("queue q", Ok("reachable".into()));
        let bad = finding("credentials", Err("none found".into()));
        assert_eq!(ok.to_string(), "ok: queue q: reachable");
        assert_eq!(bad.to_string(), "problem: credentials: none found");
    }
}
