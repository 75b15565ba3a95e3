//! The parts of a deploy that belong to its release rather than to the agent: the hooks in force
//! (the config's, replaced by the release file's where allowed), the variables resolved at deploy
//! time, the environment and user its processes get, leaving a release (drain, stop) and starting
//! one (its `start` hook, or the service manager running `run`).

use std::collections::BTreeMap;

use boreas_core::command::{Event, EventBody, Hook, PmWorkload};
use boreas_core::config::{EnvValue, HookName, RELEASE_FILE, parse_release, ssm_name_problem};

use super::Agent;
use crate::output::CommandLog;
use crate::procenv::{AppVars, BoreasVars, ProcessEnv, RunAs};
use crate::service::Launch;
use crate::{Error, health, hooks};

/// What one command tells its hooks about itself (`BOREAS_*`).
#[derive(Debug, Clone, Default)]
pub(super) struct Occasion {
    /// The version the command moves the app to (a rollback: the version it returns to).
    pub version: String,
    /// The version running before (a rollback: the version it leaves).
    pub previous: Option<String>,
    /// The commit of `version`, when known.
    pub commit: Option<String>,
    /// Deployment id.
    pub deployment_id: Option<String>,
    /// Batch index.
    pub batch: Option<u32>,
}

impl Agent {
    fn boreas_vars(&self, app: &str, occasion: &Occasion) -> BoreasVars {
        BoreasVars {
            app: app.to_owned(),
            version: occasion.version.clone(),
            commit: occasion.commit.clone(),
            previous_version: occasion.previous.clone(),
            environment: self.config.environment.clone(),
            deployment_id: occasion.deployment_id.clone(),
            batch: occasion.batch,
            host: self.config.host.clone(),
        }
    }

    /// The variables `pm` declares, with each `ssm:` reference read from SSM now. A reference
    /// outside `/APP/ENVIRONMENT/` is refused before asking: the agent reads only its apps'
    /// parameters of its own environment.
    pub(super) async fn resolve_vars(&self, app: &str, pm: &PmWorkload) -> Result<AppVars, Error> {
        let mut out = AppVars::default();
        for (name, value) in &pm.env {
            let resolved = match EnvValue::parse(value) {
                EnvValue::Literal(v) => v.to_owned(),
                EnvValue::Ssm(parameter) => {
                    let failed = |message: String| Error::Secret {
                        app: app.to_owned(),
                        variable: name.clone(),
                        parameter: parameter.to_owned(),
                        message,
                    };
                    if let Some(problem) =
                        ssm_name_problem(parameter, app, &self.config.environment)
                    {
                        return Err(failed(problem));
                    }
                    let value = self
                        .secrets
                        .get(parameter)
                        .await
                        .map_err(|e| failed(e.to_string()))?;
                    out.secret.push(name.clone());
                    value.expose().to_owned()
                }
            };
            out.vars.insert(name.clone(), resolved);
        }
        Ok(out)
    }

    /// The hooks in force for an installed release: the workload's, replaced by those of its
    /// `boreas-release.yaml` that `pm.release_hooks` allows. A release file that is invalid or
    /// sets another hook fails the deploy: silently ignoring it would run what its author did not
    /// mean.
    fn effective_hooks(
        &self,
        app: &str,
        version: &str,
        pm: &PmWorkload,
    ) -> Result<BTreeMap<HookName, Hook>, Error> {
        let mut hooks = pm.hooks.clone();
        let path = self.layout.release_dir(app, version).join(RELEASE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(hooks),
            Err(e) => return Err(Error::io(&path)(e)),
        };
        let invalid = |message: String| Error::ReleaseFile {
            app: app.to_owned(),
            version: version.to_owned(),
            message,
        };
        let release = parse_release(&text).map_err(|e| invalid(e.to_string()))?;
        for (name, hook) in release.hooks.iter() {
            if !pm.release_hooks.contains(&name) {
                let allowed: Vec<&str> = pm.release_hooks.iter().map(|h| h.as_str()).collect();
                return Err(invalid(format!(
                    "sets the `{name}` hook, which pm.release_hooks does not allow (allowed: {})",
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                )));
            }
            hooks.insert(name, Hook::from(hook));
        }
        if hooks.contains_key(&HookName::Start) && !hooks.contains_key(&HookName::Stop) {
            return Err(invalid(
                "a `start` hook needs a `stop` hook: the agent cannot stop what it did not start"
                    .to_owned(),
            ));
        }
        Ok(hooks)
    }

    /// Records what this deploy decided for the installed release `version`: the workload it
    /// came with, the hooks in force and its variables resolved now.
    pub(super) async fn prepare(
        &self,
        app: &str,
        version: &str,
        pm: &PmWorkload,
    ) -> Result<(), Error> {
        let mut meta = self
            .layout
            .installed(app, version)
            .ok_or_else(|| Error::Start {
                app: app.to_owned(),
                message: format!("release {version} is not installed"),
            })?;
        let vars = self.resolve_vars(app, pm).await?;
        meta.hooks = self.effective_hooks(app, version, pm)?;
        meta.workload = pm.clone();
        self.layout.set_env(app, version, &vars)?;
        self.layout.set_meta(app, version, &meta)?;
        tracing::info!(
            app,
            version,
            hooks = ?meta.hooks.keys().map(|h| h.as_str()).collect::<Vec<_>>(),
            variables = ?vars.vars.keys().collect::<Vec<_>>(),
            "release prepared"
        );
        Ok(())
    }

    /// The environment and user of release `version`'s processes for `occasion`; the values of
    /// its secrets join `log`'s redactions.
    pub(super) fn release_env(
        &self,
        app: &str,
        version: &str,
        occasion: &Occasion,
        log: Option<&mut CommandLog>,
    ) -> Result<ProcessEnv, Error> {
        let meta = self.layout.installed(app, version);
        let run_as = meta
            .as_ref()
            .and_then(|m| m.workload.run_as.as_deref())
            .map(RunAs::lookup)
            .transpose()?;
        let vars = self.layout.env(app, version)?;
        if let Some(log) = log {
            log.add_secrets(vars.secret_values());
        }
        Ok(ProcessEnv::new(
            run_as,
            &self.boreas_vars(app, occasion),
            &vars,
        ))
    }

    /// Runs hook `name` of release `version` if that release has one; `Ok(false)` if not.
    pub(super) async fn run_hook(
        &self,
        name: HookName,
        app: &str,
        version: &str,
        occasion: &Occasion,
        log: &mut CommandLog,
    ) -> Result<bool, Error> {
        let Some(hook) = self
            .layout
            .installed(app, version)
            .and_then(|m| m.hooks.get(&name).cloned())
        else {
            return Ok(false);
        };
        let env = self.release_env(app, version, occasion, Some(log))?;
        let dir = self.layout.release_dir(app, version);
        tracing::info!(app, version, hook = name.as_str(), "hook started");
        hooks::run(
            name,
            &hook,
            &hooks::HookSite {
                release_dir: &dir,
                env: &env,
            },
            log,
        )
        .await?;
        Ok(true)
    }

    /// Takes the running release out of service: its `drain` (when `drain`) and `stop` hooks,
    /// then the service manager ends what it still supervises. The hooks come from `leaving`,
    /// the release that runs; when its files are gone (pruned, removed by hand) from `fallback`
    /// (the release coming in), so an app a hook started can still be stopped. With nothing
    /// running (`leaving` is `None`: a first deployment) nothing is done.
    pub(super) async fn leave(
        &self,
        app: &str,
        leaving: Option<&str>,
        fallback: Option<&str>,
        occasion: &Occasion,
        drain: bool,
        log: &mut CommandLog,
    ) -> Result<(), Error> {
        let Some(leaving) = leaving else {
            return Ok(());
        };
        let source = if self.layout.installed(app, leaving).is_some() {
            Some(leaving)
        } else {
            tracing::warn!(
                app,
                version = leaving,
                fallback,
                "the running release's files are gone; using the incoming release's hooks"
            );
            fallback
        };
        let meta = source.and_then(|v| self.layout.installed(app, v));
        if let Some(source) = source {
            if drain {
                self.run_hook(HookName::Drain, app, source, occasion, log)
                    .await?;
            }
            // A supervised app ended by its stop hook is not restarted.
            self.services.hold(app).await;
            self.run_hook(HookName::Stop, app, source, occasion, log)
                .await?;
        }
        let started_by_hook = meta
            .as_ref()
            .is_some_and(|m| m.hooks.contains_key(&HookName::Start));
        if started_by_hook {
            return Ok(());
        }
        let run = meta.and_then(|m| m.workload.run);
        self.services.stop(app, run.as_ref()).await
    }

    /// Starts release `version` (its `start` hook, else the service manager runs its `run`) and
    /// waits until it is healthy.
    pub(super) async fn start_release(
        &self,
        app: &str,
        version: &str,
        occasion: &Occasion,
        log: &mut CommandLog,
    ) -> Result<(), Error> {
        let meta = self
            .layout
            .installed(app, version)
            .ok_or_else(|| Error::Start {
                app: app.to_owned(),
                message: format!("release {version} is not installed"),
            })?;
        // The app itself outlives the command: it gets no deployment id or batch.
        let app_occasion = Occasion {
            deployment_id: None,
            batch: None,
            ..occasion.clone()
        };
        let env = self.release_env(app, version, &app_occasion, Some(log))?;
        let dir = self.layout.release_dir(app, version);
        if meta.hooks.contains_key(&HookName::Start) {
            self.run_hook(HookName::Start, app, version, occasion, log)
                .await?;
        } else {
            let run = meta.workload.run.clone().ok_or_else(|| Error::Start {
                app: app.to_owned(),
                message: "the release has neither `run` nor a `start` hook".to_owned(),
            })?;
            self.services
                .restart(&Launch {
                    app: app.to_owned(),
                    version: version.to_owned(),
                    dir: dir.clone(),
                    run,
                    env: env.clone(),
                })
                .await?;
        }
        let result = health::wait_healthy(
            self.fetcher.http(),
            &meta.workload.health,
            &dir,
            &env,
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

    /// Sends what the command's hooks printed to the platform (nothing when no hook ran).
    pub(super) async fn send_output(
        &self,
        deployment_id: &str,
        app: &str,
        action: &str,
        log: &CommandLog,
    ) {
        if log.is_empty() {
            return;
        }
        let (output, truncated) = log.tail();
        let event = Event::new(EventBody::TaskOutput {
            deployment_id: deployment_id.to_owned(),
            app: app.to_owned(),
            target: self.config.host.clone(),
            action: action.to_owned(),
            output,
            truncated,
        });
        self.send_event(&event).await;
    }
}
