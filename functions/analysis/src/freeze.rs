//! The freeze check before a batch: the state machine asks before every later batch (a window
//! added through the API while the deployment runs counts as well); the worker answers at once
//! when no window stops it (or a break-glass override is in force), keeps the request until the
//! windows close when one pauses the deployment, and fails the task (`FreezeAbort`) when one
//! aborts it, so that the app rolls back what it changed.
//!
//! While paused, the deployment's hold says why and until when; each look heartbeats the task
//! and hides the request until the windows close, at most [`crate::WAKE_EVERY`].

use std::time::Duration;

use boreas_aws::orchestrator::task_alive;
use boreas_aws::policy::{self, instant, stamp};
use boreas_aws::store::{Hold, deployment_config};
use boreas_core::analysis::run::Request;
use boreas_core::deployment::DeploymentStatus;
use boreas_core::policy::{AtBatch, at_batch};

use crate::{Analyst, Error, Progress, WAKE_EVERY, settled};

impl Analyst {
    /// Answers whether the batch of `request` may start.
    ///
    /// # Errors
    /// A store or Step Functions call failed: the request should come again.
    pub async fn freeze_check(&self, request: &Request) -> Result<Progress, Error> {
        let (id, app) = (&request.deployment_id, &request.app);
        let Some(deployment) = self.store.get_deployment(id).await? else {
            return self
                .fail(
                    request,
                    "FreezeBroken",
                    &format!("deployment {id} does not exist"),
                )
                .await;
        };
        if deployment.status != DeploymentStatus::Running {
            tracing::info!(deployment_id = %id, status = %deployment.status, "freeze check of a deployment no longer running dropped");
            return Ok(Progress::Done);
        }
        let config = deployment_config(self.store.as_ref(), &deployment)
            .await?
            .ok();
        let windows = policy::windows(self.store.as_ref(), config.as_ref()).await?;
        let records = self.store.deployment_policy(id).await?;
        let override_until = records
            .override_
            .as_ref()
            .and_then(|o| instant(&o.expires_at));
        let now = policy::now();
        let batch = request.batch + 1;
        match at_batch(&windows, &deployment.environment, app, now, override_until) {
            AtBatch::Proceed => {
                if records.hold.is_some() {
                    self.store.set_hold(id, None).await?;
                }
                tracing::info!(deployment_id = %id, app = %app, batch, "no freeze window stops the batch");
                let output = serde_json::json!({"freeze": "open"}).to_string();
                settled(
                    self.orchestrator
                        .send_task_success(&request.task_token, &output)
                        .await,
                )
            }
            AtBatch::Pause { windows, until } => {
                let when = until.map_or_else(
                    || "no end in sight".to_owned(),
                    |t| format!("until {}", t.strftime("%Y-%m-%d %H:%M UTC")),
                );
                let reasons: Vec<String> = windows
                    .iter()
                    .map(|w| {
                        format!(
                            "app {app} waits before batch {batch}: frozen by {} {when}: {}",
                            w.name, w.reason
                        )
                    })
                    .collect();
                let hold = Hold {
                    reasons,
                    recheck_at: until.map(stamp),
                    since: stamp(now),
                };
                let same = records
                    .hold
                    .as_ref()
                    .is_some_and(|h| h.reasons == hold.reasons && h.recheck_at == hold.recheck_at);
                if !same {
                    tracing::info!(deployment_id = %id, app = %app, batch, reasons = ?hold.reasons, "paused by a freeze window");
                    self.store.set_hold(id, Some(&hold)).await?;
                }
                // A heartbeat, which also tells a task that no longer waits.
                if !task_alive(self.orchestrator.as_ref(), &request.task_token).await? {
                    return Ok(Progress::Done);
                }
                let wait = until
                    .and_then(|t| Duration::try_from(t.duration_since(now)).ok())
                    .unwrap_or(WAKE_EVERY);
                Ok(Progress::Later(
                    wait.clamp(Duration::from_secs(1), WAKE_EVERY),
                ))
            }
            AtBatch::Abort { window } => {
                let error = format!(
                    "app {app}, batch {batch}: frozen by {}: {}; what it changed is rolled back",
                    window.name, window.reason
                );
                tracing::warn!(deployment_id = %id, app = %app, batch, %error, "aborted by a freeze window");
                self.store.note_deployment_error(id, &error).await?;
                self.fail(request, "FreezeAbort", &error).await
            }
        }
    }

    async fn fail(&self, request: &Request, error: &str, cause: &str) -> Result<Progress, Error> {
        settled(
            self.orchestrator
                .send_task_failure(&request.task_token, error, cause)
                .await,
        )
    }
}
