//! What a deploy or rollback does on this host: install the release, run its hooks, switch
//! `current`, start it and wait for it to be healthy, and restore the previous release when that
//! fails.
//!
//! A deploy of `new` over `old`:
//!
//! ```text
//! Accepted   install new (download, verify, unpack; hooks and variables recorded)
//!            before_install(new)                     failure: nothing running changed
//!            drain(old) → stop(old) → manager stops  failure: old started again
//! Switched   current → new → after_install(new) → start(new) → health → validate(new)
//!            failure: rollback(new) → stop(new) → current → old → start(old) → health
//! ```
//!
//! An agent killed in the middle resumes at the recorded phase, so the hooks of that phase run
//! again: hooks must tolerate a second run.

use boreas_core::command::{PmWorkload, SCHEMA_VERSION, TaskResult, Workload};
use boreas_core::config::HookName;

use super::lifecycle::Occasion;
use super::{Agent, failure};
use crate::fetch::hex;
use crate::journal::{Entry, Outcome, Phase};
use crate::output::CommandLog;
use crate::release::Layout;
use crate::{Error, validate};

impl Agent {
    /// Starts the installed `current` release of `app` when the agent starts. An app a `start`
    /// hook runs is left alone when it is healthy already (it outlived the agent).
    pub(super) async fn start_current(&self, app: &str) {
        let Some(version) = self.layout.current(app) else {
            return;
        };
        let Some(meta) = self.layout.installed(app, &version) else {
            tracing::error!(app, version, "the current release is incomplete");
            return;
        };
        let occasion = Occasion {
            version: version.clone(),
            previous: self.layout.previous(app),
            commit: meta.workload.commit.clone(),
            ..Occasion::default()
        };
        let mut log = CommandLog::open(&self.layout.logs_dir(app), "boot", Vec::new());
        if meta.hooks.contains_key(&HookName::Start)
            && let Ok(env) = self.release_env(app, &version, &occasion, Some(&mut log))
            && crate::health::probe(
                self.fetcher.http(),
                &meta.workload.health,
                &self.layout.release_dir(app, &version),
                &env,
            )
            .await
            .is_ok()
        {
            tracing::info!(
                app,
                version,
                "app started by its hook is running and healthy"
            );
            self.healthy
                .lock()
                .expect("health lock")
                .insert(app.to_owned(), true);
            return;
        }
        if let Err(e) = self.start_release(app, &version, &occasion, &mut log).await {
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

    /// Points `current` at `version` and records which release ran before.
    fn switch(&self, app: &str, version: &str, previous: Option<&str>) -> Result<(), Error> {
        self.layout.switch(app, version)?;
        if previous != Some(version) {
            self.layout.set_previous(app, previous)?;
        }
        tracing::info!(app, version, previous, "current release switched");
        Ok(())
    }

    /// The occasion of a command: what its hooks are told.
    fn occasion(entry: &Entry, version: &str, commit: Option<String>) -> Occasion {
        let (deployment_id, batch) = match &entry.command.action {
            boreas_core::command::Action::Deploy {
                deployment_id,
                batch,
                ..
            }
            | boreas_core::command::Action::Rollback {
                deployment_id,
                batch,
                ..
            } => (Some(deployment_id.clone()), Some(*batch)),
            boreas_core::command::Action::Status {} => (None, None),
        };
        Occasion {
            version: version.to_owned(),
            previous: entry.previous.clone(),
            commit,
            deployment_id,
            batch,
        }
    }

    pub(super) async fn deploy(
        &self,
        entry: &mut Entry,
        app: &str,
        version: &str,
        workload: &Workload,
        log: &mut CommandLog,
    ) -> Outcome {
        let pm = match validate::pm_workload(workload) {
            Ok(pm) => pm,
            Err(e) => return failure(&e),
        };
        let previous = entry.previous.clone();
        let occasion = Self::occasion(entry, version, pm.commit.clone());
        tracing::info!(
            command_id = entry.command.command_id,
            app,
            version,
            previous,
            "deploy started"
        );
        if entry.phase == Phase::Accepted {
            let prepared = match self.install(app, version, pm).await {
                Ok(()) => self.prepare(app, version, pm).await,
                Err(e) => Err(e),
            };
            let ready = match prepared {
                Ok(()) => self
                    .run_hook(HookName::BeforeInstall, app, version, &occasion, log)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = ready {
                tracing::warn!(app, version, error = %e, "deploy failed before anything running changed");
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
            let left = self
                .leave(
                    app,
                    previous.as_deref(),
                    Some(version),
                    &occasion,
                    true,
                    log,
                )
                .await;
            if let Err(e) = left {
                tracing::warn!(app, version, error = %e, "stopping the running release failed; starting it again");
                return self
                    .restore(app, None, previous.as_deref(), &e, &occasion, log)
                    .await;
            }
            entry.phase = Phase::Switched;
            if let Err(e) = self.journal.put(entry) {
                return failure(&e);
            }
        }
        let started = self
            .switch_in(app, version, previous.as_deref(), &occasion, log)
            .await;
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
                self.restore(app, Some(version), previous.as_deref(), &e, &occasion, log)
                    .await
            }
        }
    }

    /// Switches `current` to the installed `version` and brings it up: `after_install`, start,
    /// health, `validate`.
    async fn switch_in(
        &self,
        app: &str,
        version: &str,
        previous: Option<&str>,
        occasion: &Occasion,
        log: &mut CommandLog,
    ) -> Result<(), Error> {
        self.switch(app, version, previous)?;
        self.run_hook(HookName::AfterInstall, app, version, occasion, log)
            .await?;
        self.start_release(app, version, occasion, log).await?;
        self.run_hook(HookName::Validate, app, version, occasion, log)
            .await?;
        Ok(())
    }

    /// Puts `previous` back after a failed deploy of `failed` (`None`: it failed before it was
    /// switched in) and says how that went.
    async fn restore(
        &self,
        app: &str,
        failed: Option<&str>,
        previous: Option<&str>,
        cause: &Error,
        occasion: &Occasion,
        log: &mut CommandLog,
    ) -> Outcome {
        if let Some(failed) = failed {
            // The failed release undoes itself (a migration, say), then stops.
            let undone = match self
                .run_hook(HookName::Rollback, app, failed, occasion, log)
                .await
            {
                Ok(_) => {
                    self.leave(app, Some(failed), None, occasion, false, log)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = undone {
                tracing::warn!(app, version = failed, error = %e, "undoing the failed release did not finish");
                log.note(&format!("undoing {failed} did not finish: {e}"));
                // Whatever it left still has to go before the previous release can start.
                let _ = self.services.stop(app, None).await;
            }
        }
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
        let back = Occasion {
            version: previous.to_owned(),
            previous: failed.map(str::to_owned),
            commit: self
                .layout
                .installed(app, previous)
                .and_then(|m| m.workload.commit),
            ..occasion.clone()
        };
        let restored = match self.layout.switch(app, previous) {
            Ok(()) => self.start_release(app, previous, &back, log).await,
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
        workload: Option<&Workload>,
        log: &mut CommandLog,
    ) -> Outcome {
        let previous = entry.previous.clone();
        tracing::info!(
            command_id = entry.command.command_id,
            app,
            to_version,
            previous,
            "rollback started"
        );
        let result = self
            .rollback_to(app, to_version, workload, previous.as_deref(), entry, log)
            .await;
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

    /// Leaves `leaving` (its `rollback` hook, drain, stop) and brings `to` back, installing it
    /// first when it is not on the host. A release still installed runs with what it was
    /// deployed with (hooks and variables of that deploy).
    async fn rollback_to(
        &self,
        app: &str,
        to: Option<&str>,
        workload: Option<&Workload>,
        leaving: Option<&str>,
        entry: &Entry,
        log: &mut CommandLog,
    ) -> Result<(), Error> {
        if let Some(to) = to
            && self.layout.installed(app, to).is_none()
        {
            let Some(workload) = workload else {
                return Err(Error::Rollback {
                    app: app.to_owned(),
                    message: format!(
                        "release {to} is not on this host and the command has no workload"
                    ),
                });
            };
            let pm = validate::pm_workload(workload)?;
            self.install(app, to, pm).await?;
            self.prepare(app, to, pm).await?;
        }
        let commit = to
            .and_then(|v| self.layout.installed(app, v))
            .and_then(|m| m.workload.commit);
        let occasion = Self::occasion(entry, to.unwrap_or_default(), commit);
        if let Some(leaving) = leaving.filter(|l| Some(*l) != to) {
            self.run_hook(HookName::Rollback, app, leaving, &occasion, log)
                .await?;
        }
        self.leave(app, leaving, None, &occasion, true, log).await?;
        match to {
            None => {
                self.services.stop(app, None).await?;
                self.layout.clear_current(app)
            }
            Some(to) => {
                self.switch(app, to, leaving)?;
                self.start_release(app, to, &occasion, log).await
            }
        }
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
