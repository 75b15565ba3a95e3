//! Provisioned prefixes on the local AWS emulator: every resource `boreas provision` creates, under
//! a name prefix of their own, so that tests sharing one emulator never see each other's records.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use boreas_aws::emulator::{shared, unique_prefix, workspace_root};
use boreas_aws::names::Names;
use boreas_aws::notices::Notices;
use boreas_aws::provision::{Provisioned, provision};
use boreas_aws::queues::{Queues, ReceiveOptions, SqsQueues};
use boreas_aws::store::DynamoStore;
use boreas_core::notify::Notice;

/// The project's state machine definition, `statemachine/deployment.asl.json`.
pub fn definition() -> PathBuf {
    workspace_root().join("statemachine/deployment.asl.json")
}

/// One provisioned prefix: the SDK configuration of its emulator, its names and what
/// provisioning made.
#[derive(Debug)]
pub struct Prefix {
    /// Configuration for clients of the emulator.
    pub sdk: SdkConfig,
    /// The resource names of the prefix.
    pub names: Names,
    /// The provisioned resources (queue URLs, state machine ARN, parameters).
    pub provisioned: Provisioned,
}

impl Prefix {
    /// A fresh prefix (`tag` and a suffix no other test uses) on this process's shared emulator.
    pub async fn shared(tag: char) -> Prefix {
        let emulator = shared().await;
        Self::provision(emulator.endpoint(), Names::new(&unique_prefix(tag))).await
    }

    /// Provisions `names` on the emulator at `endpoint`.
    pub async fn provision(endpoint: &str, names: Names) -> Prefix {
        // One provisioning at a time per process: the emulator answers one request at a time,
        // and tests provisioning their prefixes together took several times as long in all.
        static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let sdk = boreas_aws::sdk_config(Some(endpoint)).await;
        let turn = ONE_AT_A_TIME.lock().await;
        let provisioned = provision(&sdk, &names, &definition())
            .await
            .unwrap_or_else(|e| panic!("provision the prefix {}: {e}", names.prefix()));
        drop(turn);
        Prefix {
            sdk,
            names,
            provisioned,
        }
    }

    /// The store over the prefix's table.
    pub fn store(&self) -> DynamoStore {
        DynamoStore::from_config(&self.sdk, self.names.table())
    }

    /// The URL of the provisioned queue of `role` (`plan`, `events`, `notifications`, `k8s`).
    pub fn queue_url(&self, role: &str) -> &str {
        &self.provisioned.queues[role].url
    }

    /// A sender of notices to the prefix's notifications queue, as the functions send them.
    pub fn notices(&self) -> Notices {
        Notices::to_queue(
            Arc::new(SqsQueues::from_config(&self.sdk)),
            self.queue_url("notifications"),
        )
    }

    /// A sender of rechecks to the prefix's plan queue, as the functions send them.
    pub fn rechecks(&self) -> boreas_aws::policy::Rechecks {
        boreas_aws::policy::Rechecks::to_queue(
            Arc::new(SqsQueues::from_config(&self.sdk)),
            self.queue_url("plan"),
        )
    }

    /// Takes every notice waiting on the prefix's notifications queue, as (deployment, event
    /// id), sorted: SQS keeps no order.
    ///
    /// # Panics
    /// When the queue cannot be read or holds something that is not a notice.
    pub async fn take_notices(&self) -> Vec<(String, String)> {
        let queues = SqsQueues::from_config(&self.sdk);
        let mut out: Vec<(String, String)> =
            drain_notices(&queues, self.queue_url("notifications"))
                .await
                .into_iter()
                .map(|n| (n.deployment_id.clone(), n.event.id()))
                .collect();
        out.sort();
        out
    }
}

/// Takes every notice waiting on the notifications queue at `url`, in the order received.
///
/// # Panics
/// When the queue cannot be read or holds something that is not a notice.
pub async fn drain_notices(queues: &SqsQueues, url: &str) -> Vec<Notice> {
    let options = ReceiveOptions {
        wait: Duration::from_millis(500),
        max_messages: 10,
        visibility: None,
    };
    let mut out = Vec::new();
    loop {
        let batch = queues
            .receive(url, &options)
            .await
            .expect("receive notices");
        if batch.is_empty() {
            return out;
        }
        for message in batch {
            out.push(Notice::from_json(&message.body).expect("a notice"));
            queues
                .delete(url, &message.receipt_handle)
                .await
                .expect("delete a notice");
        }
    }
}
