//! Environment policy against the records: may a deployment start now, and if not, why and when
//! to ask again.
//!
//! The rules are [`boreas_core::policy`]'s; this module gathers their inputs: the promotion and
//! freeze windows of the `boreas.yaml` recorded for the deployment's version, the windows added
//! through the API, the upstream environments' deployments of the same repository, the version's
//! state, and the waivers and override granted to the deployment. Reverts are never held.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boreas_core::config::{Config, Freeze};
use boreas_core::policy::{self, Eligibility, Recheck, Run, Step, Window};
use boreas_core::version::VersionState;
use jiff::Timestamp;

use crate::Error;
use crate::env::Env;
use crate::queues::{Queues, SqsQueues};
use crate::store::{
    self, Deployment, DeploymentFilter, DeploymentPolicy, Hold, PageRequest, Store,
};

/// Deployments read per upstream environment, newest first: enough to find a version's latest
/// verdict there and what followed it.
const UPSTREAM_PAGE: u32 = 100;
const UPSTREAM_PAGES: usize = 5;

/// What the policy says about starting a deployment now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCheck {
    /// Why it must wait; `None` when it may start.
    pub hold: Option<Hold>,
    /// Its policy records as read (waivers, override, the previous hold).
    pub records: DeploymentPolicy,
}

/// A time as the store writes it.
pub fn stamp(t: Timestamp) -> String {
    let since =
        std::time::Duration::try_from(t.duration_since(Timestamp::UNIX_EPOCH)).unwrap_or_default();
    store::rfc3339(SystemTime::UNIX_EPOCH + since)
}

/// A stored time, if it is one.
pub fn instant(text: &str) -> Option<Timestamp> {
    store::parse_rfc3339(text).and_then(|t| Timestamp::try_from(t).ok())
}

/// The time now.
pub fn now() -> Timestamp {
    Timestamp::try_from(SystemTime::now()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Whether `deployment` may start at `now`, and if not, why.
///
/// # Errors
/// The store could not be read.
pub async fn check_start(
    store: &dyn Store,
    deployment: &Deployment,
    now: Timestamp,
) -> Result<StartCheck, Error> {
    let records = store.deployment_policy(&deployment.id).await?;
    // Marked by the record, not read from the id: a planned deployment's id starts with its
    // environment's name, which may be `revert`.
    if deployment.revert {
        return Ok(StartCheck {
            hold: None,
            records,
        });
    }
    let config = match store::deployment_config(store, deployment).await? {
        Ok(config) => Some(config),
        Err(why) => {
            // Only the installation's windows apply then; the planner never plans without one.
            tracing::warn!(deployment = %deployment.id, why, "no environment policy from the repository");
            None
        }
    };
    let mut reasons = Vec::new();
    let mut timers = Vec::new();
    if let Some(promotion) = config.as_ref().and_then(|c| {
        c.environments
            .iter()
            .find(|e| e.name == deployment.environment)
            .and_then(|e| e.promotion.as_ref())
    }) {
        let reverted = store
            .get_version(&deployment.repository, &deployment.version)
            .await?
            .is_some_and(|v| v.version.state == VersionState::Revert);
        let runs = upstream_runs(store, &deployment.repository, &promotion.after).await?;
        let waived: Vec<_> = records
            .waivers
            .iter()
            .map(|w| w.condition.clone())
            .collect();
        let eligibility = policy::eligibility(
            promotion,
            &deployment.version,
            reverted,
            &runs,
            &waived,
            now,
        );
        timers.extend(eligibility.ready_at());
        match eligibility {
            Eligibility::Eligible => {}
            Eligibility::Reverted => {
                reasons.push(format!(
                    "version {} is withdrawn (revert)",
                    deployment.version
                ));
            }
            Eligibility::Waiting(unmet) => reasons.extend(unmet.iter().map(ToString::to_string)),
        }
    }
    let override_until = records
        .override_
        .as_ref()
        .and_then(|o| instant(&o.expires_at));
    if override_until.is_none_or(|until| now >= until) {
        let windows = windows(store, config.as_ref()).await?;
        let apps: Vec<&str> = deployment.plan.apps().map(|a| a.app.as_str()).collect();
        if let Some(closed) =
            policy::closed(&windows, &deployment.environment, &apps, Step::Start, now)
        {
            let until = closed.opens_at.map_or_else(
                || "no end in sight".to_owned(),
                |t| format!("until {}", t.strftime("%Y-%m-%d %H:%M UTC")),
            );
            for (window, _) in &closed.by {
                reasons.push(format!(
                    "frozen by {} {until}: {}",
                    window.name, window.reason
                ));
            }
            timers.extend(closed.opens_at);
        }
    }
    let hold = (!reasons.is_empty()).then(|| Hold {
        reasons,
        recheck_at: timers.into_iter().min().map(stamp),
        since: stamp(now),
    });
    Ok(StartCheck { hold, records })
}

/// The windows in force for a deployment: its `boreas.yaml`'s and the installation's.
///
/// # Errors
/// The store could not be read.
pub async fn windows(store: &dyn Store, config: Option<&Config>) -> Result<Vec<Window>, Error> {
    let managed = store.freezes().await?;
    let declared = config.map(|c| c.freezes.as_slice()).unwrap_or_default();
    Ok(declared
        .iter()
        .chain(managed.iter().map(|m| &m.freeze))
        .filter_map(|f: &Freeze| match f.window() {
            Ok(w) => Some(w),
            Err(e) => {
                // Both were validated when written; one that no longer reads is skipped loudly.
                tracing::warn!(freeze = %f.name, field = e.field, error = %e.message, "freeze window skipped");
                None
            }
        })
        .collect())
}

/// The deployments of `repository` in the `environments`, as promotion reads them.
async fn upstream_runs(
    store: &dyn Store,
    repository: &str,
    environments: &[String],
) -> Result<Vec<Run>, Error> {
    let mut runs = Vec::new();
    for env in environments {
        let filter = DeploymentFilter {
            environment: Some(env.clone()),
            repository: Some(repository.to_owned()),
            status: None,
        };
        let mut page = PageRequest::first(UPSTREAM_PAGE);
        for _ in 0..UPSTREAM_PAGES {
            let result = store.list_deployments(&filter, &page).await?;
            runs.extend(result.items.iter().map(|d| Run {
                environment: d.environment.clone(),
                version: d.version.clone(),
                status: d.status,
                started_at: d.started_at.as_deref().and_then(instant),
                finished_at: d.ended_at.as_deref().and_then(instant),
            }));
            match result.next {
                Some(next) => page.cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(runs)
}

/// The variable naming the plan queue, where rechecks go; unset, nobody is told to look again.
pub const PLAN_QUEUE_URL_VAR: &str = "BOREAS_PLAN_QUEUE_URL";

/// Asks the planner to look again at the planned deployments of one repository in one
/// environment ([`Recheck`]). Best effort, like notices: a recheck that cannot be sent is
/// logged, and the next event or confirm asks again.
#[derive(Clone, Default)]
pub struct Rechecks {
    queue: Option<(Arc<dyn Queues>, String)>,
}

impl fmt::Debug for Rechecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.queue {
            Some((_, url)) => write!(f, "Rechecks({url})"),
            None => f.write_str("Rechecks(off)"),
        }
    }
}

impl Rechecks {
    /// Rechecks to nowhere.
    pub fn off() -> Self {
        Self::default()
    }

    /// Rechecks to the plan queue at `url`.
    pub fn to_queue(queues: Arc<dyn Queues>, url: impl Into<String>) -> Self {
        Self {
            queue: Some((queues, url.into())),
        }
    }

    /// Rechecks to the queue [`PLAN_QUEUE_URL_VAR`] names, off when it is unset.
    ///
    /// # Errors
    /// The variable is not valid UTF-8.
    pub fn from_env(env: &Env, config: &aws_config::SdkConfig) -> Result<Self, Error> {
        Ok(match env.get(PLAN_QUEUE_URL_VAR)? {
            Some(url) => Self::to_queue(Arc::new(SqsQueues::from_config(config)), url),
            None => Self::off(),
        })
    }

    /// Asks now, for an event.
    pub async fn now(&self, repository: &str, environment: &str) {
        self.send(Recheck::new(repository, environment, false), Duration::ZERO)
            .await;
    }

    /// Asks at `at` (or in 15 minutes, SQS's longest delay, when that is later: the planner
    /// then asks again).
    pub async fn at(&self, repository: &str, environment: &str, at: Timestamp) {
        // Whole seconds, rounded up: a recheck that arrived early would only ask again.
        let wait = Duration::try_from(at.duration_since(now())).unwrap_or_default();
        let secs = wait.as_millis().div_ceil(1000).max(1);
        let wait = Duration::from_secs(u64::try_from(secs).unwrap_or(u64::MAX));
        self.send(Recheck::new(repository, environment, true), wait)
            .await;
    }

    async fn send(&self, recheck: Recheck, delay: Duration) {
        let Some((queues, url)) = &self.queue else {
            return;
        };
        let body = recheck.to_json();
        let sent = if delay.is_zero() {
            // An event: at once.
            queues.send(url, &body, &Default::default()).await
        } else {
            queues.send_delayed(url, &body, delay).await
        };
        match sent {
            Ok(_) => tracing::debug!(
                repository = %recheck.repository,
                environment = %recheck.environment,
                delay_seconds = delay.as_secs(),
                "recheck sent"
            ),
            Err(e) => tracing::warn!(
                repository = %recheck.repository,
                environment = %recheck.environment,
                error = %e,
                "recheck not sent"
            ),
        }
    }
}

/// The environments of `config` that come after `environment`: those to look at again when a
/// deployment there ends.
pub fn downstream(config: &Config, environment: &str) -> Vec<String> {
    config
        .environments
        .iter()
        .filter(|e| {
            e.promotion
                .as_ref()
                .is_some_and(|p| p.after.iter().any(|a| a == environment))
        })
        .map(|e| e.name.clone())
        .collect()
}
