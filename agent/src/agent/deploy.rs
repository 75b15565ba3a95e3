//! What a deploy or rollback does on this host: install the release, switch `current`, start it
//! and wait for it to be healthy, and restore the previous release when that fails.

use boreas_core::command::{PmWorkload, SCHEMA_VERSION, TaskResult};

use super::{Agent, failure};
use crate::fetch::hex;
use crate::journal::{Entry, Outcome, Phase};
use crate::release::Layout;
use crate::service::Launch;
use crate::{Error, health, validate};

impl Agent {
    /// Starts the installed `current` release of `app` and records its health.
    pub(super) async fn start_current(&self, app: &str) {
        let Some(version) = self.layout.current(app) else {
            return;
        };
        let result = self.start_and_check(app, &version).await;
        if let Err(e) = result {
            tracing::error!(app, version, error = %e, "installed release is not healthy");
        }
    }

    /// The expected hash of an artifact: inline, or from its SHA-256 file.
    async fn expected_sha256(&self, pm: &PmWorkload, app: &str) -> Result<String, Error> {
        if let Some(h) = &pm.sha256 {
            return Ok(h.to_ascii_lowercase());
        }
        let url = pm
            .sha256_url
            .as_deref()
            .ok_or_else(|| Error::InvalidCommand("the artifact hash is mandatory".to_owned()))?;
        let scratch = self
            .layout
            .downloads_dir()
            .join(sha256_scratch_name(app, url));
        self.fetcher.sha256_file(url, &scratch).await
    }

    /// Makes release `version` of `app` complete on disk: downloads, verifies and unpacks it unless
    /// an identical release is already installed. Nothing outside its release directory changes.
    async fn install(&self, app: &str, version: &str, pm: &PmWorkload) -> Result<(), Error> {
        let expected = self.expected_sha256(pm, app).await?;
        if let Some(meta) = self.layout.installed(app, version) {
            if meta.sha256 == expected {
                tracing::info!(app, version, "release already installed");
                return Ok(());
            }
            tracing::warn!(
                app,
                version,
                "installed release has another hash; replacing it"
            );
        }
        use sha2::Digest;
        let part = self.layout.downloads_dir().join(format!(
            "{}.part",
            hex(&sha2::Sha256::digest(pm.artifact_url.as_bytes()))
        ));
        tracing::info!(app, version, url = pm.artifact_url, "download started");
        let actual = self.fetcher.download(&pm.artifact_url, &part).await?;
        if actual != expected {
            let _ = std::fs::remove_file(&part);
            return Err(Error::ChecksumMismatch {
                url: pm.artifact_url.clone(),
                expected,
                actual,
            });
        }
        let layout = self.layout.clone();
        let meta = Layout::meta(pm, &actual);
        let (a, v, p) = (app.to_owned(), version.to_owned(), part.clone());
        tokio::task::spawn_blocking(move || layout.install(&a, &v, &p, &meta))
            .await
            .map_err(|e| Error::Download {
                url: pm.artifact_url.clone(),
                message: format!("unpacking stopped: {e}"),
            })??;
        let _ = std::fs::remove_file(&part);
        tracing::info!(app, version, "release installed");
        Ok(())
    }

    /// (Re)starts the installed release `version` and waits until it is healthy.
    async fn start_and_check(&self, app: &str, version: &str) -> Result<(), Error> {
        let meta = self
            .layout
            .installed(app, version)
            .ok_or_else(|| Error::Start {
                app: app.to_owned(),
                message: format!("release {version} is not installed"),
            })?;
        let dir = self.layout.release_dir(app, version);
        self.services
            .restart(&Launch {
                app: app.to_owned(),
                version: version.to_owned(),
                dir: dir.clone(),
                run: meta.workload.run.clone(),
            })
            .await?;
        let result = health::wait_healthy(
            self.fetcher.http(),
            &meta.workload.health,
            &dir,
            self.config.probe_interval,
            app,
            version,
        )
        .await;
        self.healthy
            .lock()
            .expect("health lock")
            .insert(app.to_owned(), result.is_ok());
        result
    }

    /// Points `current` at `version` and records which release ran before.
    fn switch(&self, app: &str, version: &str, previous: Option<&str>) -> Result<(), Error> {
        self.layout.switch(app, version)?;
        if previous != Some(version) {
            self.layout.set_previous(app, previous)?;
        }
        tracing::info!(app, version, previous, "current release switched");
        Ok(())
    }

    pub(super) async fn deploy(
        &self,
        entry: &mut Entry,
        app: &str,
        version: &str,
        workload: &boreas_core::command::Workload,
    ) -> Outcome {
        let pm = match validate::pm_workload(workload) {
            Ok(pm) => pm,
            Err(e) => return failure(&e),
        };
        let previous = entry.previous.clone();
        tracing::info!(
            command_id = entry.command.command_id,
            app,
            version,
            previous,
            "deploy started"
        );
        if entry.phase == Phase::Accepted {
            if let Err(e) = self.install(app, version, pm).await {
                tracing::warn!(app, version, error = %e, "deploy failed before switching; nothing changed");
                return failure(&e);
            }
            // Installing may take long: check again before what runs changes.
            if self.task_alive(&entry.command).await != Some(true) {
                tracing::warn!(app, version, "the task no longer waits; not switching");
                return Outcome::Failed {
                    error_type: boreas_core::command::ErrorType::Stale,
                    cause: "the task stopped waiting while the release was installed; nothing \
                            was switched"
                        .to_owned(),
                };
            }
            entry.phase = Phase::Switched;
            if let Err(e) = self.journal.put(entry) {
                return failure(&e);
            }
        }
        let started = match self.switch(app, version, previous.as_deref()) {
            Ok(()) => self.start_and_check(app, version).await,
            Err(e) => Err(e),
        };
        match started {
            Ok(()) => {
                match self.layout.prune(app, self.config.keep_releases) {
                    Ok(removed) if !removed.is_empty() => {
                        tracing::info!(app, ?removed, "old releases removed");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(app, error = %e, "cannot prune old releases"),
                }
                tracing::info!(app, version, "deploy succeeded");
                Outcome::Succeeded {
                    output: self.result(app, Some(version), previous).to_json(),
                }
            }
            Err(e) => {
                tracing::warn!(app, version, error = %e, "deploy failed; restoring the previous release");
                self.restore(app, previous.as_deref(), &e).await
            }
        }
    }

    /// Puts `previous` back after a failed deploy and says how that went.
    async fn restore(&self, app: &str, previous: Option<&str>, cause: &Error) -> Outcome {
        let Some(previous) = previous else {
            let stopped = self.services.stop(app, None).await;
            let cleared = self.layout.clear_current(app);
            return match stopped.and(cleared) {
                Ok(()) => Outcome::Failed {
                    error_type: cause.error_type(),
                    cause: format!("{cause}; no earlier release on this host, the app is stopped"),
                },
                Err(e) => Outcome::Failed {
                    error_type: boreas_core::command::ErrorType::RollbackFailed,
                    cause: format!("{cause}; stopping the app failed: {e}"),
                },
            };
        };
        let restored = match self.layout.switch(app, previous) {
            Ok(()) => self.start_and_check(app, previous).await,
            Err(e) => Err(e),
        };
        match restored {
            Ok(()) => {
                tracing::info!(
                    app,
                    version = previous,
                    "previous release restored and healthy"
                );
                Outcome::Failed {
                    error_type: cause.error_type(),
                    cause: format!("{cause}; restored {previous}, which is healthy"),
                }
            }
            Err(e) => {
                tracing::error!(app, version = previous, error = %e, "restoring the previous release failed");
                Outcome::Failed {
                    error_type: boreas_core::command::ErrorType::RollbackFailed,
                    cause: format!("{cause}; restoring {previous} failed: {e}"),
                }
            }
        }
    }

    pub(super) async fn rollback(
        &self,
        entry: &mut Entry,
        app: &str,
        to_version: Option<&str>,
        workload: Option<&boreas_core::command::Workload>,
    ) -> Outcome {
        let previous = entry.previous.clone();
        tracing::info!(
            command_id = entry.command.command_id,
            app,
            to_version,
            previous,
            "rollback started"
        );
        let result = match to_version {
            None => {
                let stopped = self.services.stop(app, None).await;
                stopped.and_then(|()| self.layout.clear_current(app))
            }
            Some(to) => {
                self.rollback_to(app, to, workload, previous.as_deref())
                    .await
            }
        };
        match result {
            Ok(()) => Outcome::Succeeded {
                output: self.result(app, to_version, previous).to_json(),
            },
            Err(e) => Outcome::Failed {
                error_type: boreas_core::command::ErrorType::RollbackFailed,
                cause: Error::Rollback {
                    app: app.to_owned(),
                    message: e.to_string(),
                }
                .to_string(),
            },
        }
    }

    async fn rollback_to(
        &self,
        app: &str,
        to: &str,
        workload: Option<&boreas_core::command::Workload>,
        previous: Option<&str>,
    ) -> Result<(), Error> {
        if self.layout.installed(app, to).is_none() {
            let Some(workload) = workload else {
                return Err(Error::Rollback {
                    app: app.to_owned(),
                    message: format!(
                        "release {to} is not on this host and the command has no workload"
                    ),
                });
            };
            self.install(app, to, validate::pm_workload(workload)?)
                .await?;
        }
        self.switch(app, to, previous)?;
        self.start_and_check(app, to).await
    }

    fn result(&self, app: &str, version: Option<&str>, previous: Option<String>) -> TaskResult {
        TaskResult {
            schema_version: SCHEMA_VERSION,
            target: self.config.host.clone(),
            app: app.to_owned(),
            version: version.map(str::to_owned),
            previous,
        }
    }
}

/// The scratch file a SHA-256 file of `app` is fetched into: named by the whole URL's hash, so two
/// URLs never share one (their first bytes are the same scheme and host).
fn sha256_scratch_name(app: &str, url: &str) -> String {
    use sha2::Digest;
    format!(
        "{app}.{}.sha256",
        hex(&sha2::Sha256::digest(url.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_scratch_files_are_named_by_the_whole_url() {
        let a = sha256_scratch_name("web", "https://artifacts.example.com/web/v1.sha256");
        let b = sha256_scratch_name("web", "https://artifacts.example.com/web/v2.sha256");
        assert_ne!(a, b);
        assert!(a.starts_with("web.") && a.ends_with(".sha256"), "{a}");
        assert_eq!(a.len(), "web.".len() + 64 + ".sha256".len());
    }
}
