//! Deployment notices: what the platform (planner, api, recorder, through
//! [`crate::lifecycle::Lifecycle`] where a status changes) tells the notifier, on a queue of its
//! own. Sending is best effort: a notice that cannot be sent is logged and dropped, so a
//! notification problem never blocks or fails a deployment.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use boreas_core::notify::{Notice, NoticeEvent};

use crate::env::Env;
use crate::queues::{Queues, SqsQueues};
use crate::store::rfc3339;

/// The variable naming the notifications queue; unset, notifications are off.
pub const QUEUE_URL_VAR: &str = "BOREAS_NOTIFICATIONS_QUEUE_URL";

/// Where notices go.
#[derive(Clone, Default)]
pub struct Notices {
    queue: Option<(Arc<dyn Queues>, String)>,
}

impl fmt::Debug for Notices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.queue {
            Some((_, url)) => write!(f, "Notices({url})"),
            None => f.write_str("Notices(off)"),
        }
    }
}

impl Notices {
    /// Notices to nowhere.
    pub fn off() -> Self {
        Self::default()
    }

    /// Notices to the queue at `url`.
    pub fn to_queue(queues: Arc<dyn Queues>, url: impl Into<String>) -> Self {
        Self {
            queue: Some((queues, url.into())),
        }
    }

    /// Notices to the queue [`QUEUE_URL_VAR`] names, off when it is unset.
    ///
    /// # Errors
    /// The variable is not valid UTF-8.
    pub fn from_env(env: &Env, config: &aws_config::SdkConfig) -> Result<Self, crate::Error> {
        Ok(match env.get(QUEUE_URL_VAR)? {
            Some(url) => Self::to_queue(Arc::new(SqsQueues::from_config(config)), url),
            None => Self::off(),
        })
    }

    /// Sends `event` of deployment `id`, now; logs a failure and goes on.
    pub async fn send(&self, id: &str, event: NoticeEvent) {
        let Some((queues, url)) = &self.queue else {
            return;
        };
        let notice = Notice::new(id, rfc3339(SystemTime::now()), event);
        match queues.send(url, &notice.to_json(), &BTreeMap::new()).await {
            Ok(_) => {
                tracing::debug!(deployment_id = id, event = %notice.event.kind(), "notice sent");
            }
            Err(e) => {
                tracing::warn!(
                    deployment_id = id,
                    event = %notice.event.kind(),
                    error = %e,
                    "notice not sent; the deployment goes on without it"
                );
            }
        }
    }
}
