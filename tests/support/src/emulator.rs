//! Provisioned prefixes on the local AWS emulator: every resource `boreas provision` creates, under
//! a name prefix of their own, so that tests sharing one emulator never see each other's records.

use std::path::PathBuf;

use aws_config::SdkConfig;
use boreas_aws::emulator::{shared, unique_prefix, workspace_root};
use boreas_aws::names::Names;
use boreas_aws::provision::{Provisioned, provision};
use boreas_aws::store::DynamoStore;

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
        let sdk = boreas_aws::sdk_config(Some(endpoint)).await;
        let provisioned = provision(&sdk, &names, &definition())
            .await
            .unwrap_or_else(|e| panic!("provision the prefix {}: {e}", names.prefix()));
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

    /// The URL of the provisioned queue of `role` (`plan`, `events`, `k8s`).
    pub fn queue_url(&self, role: &str) -> &str {
        &self.provisioned.queues[role].url
    }
}
