//! The Boreas Kubernetes operator: turns one batch command ("app X in cluster C to version V at
//! weight W%") into server-side applies of Deployments, waits until they are rolled out, and
//! reports back to the state machine.
//!
//! One handler, [`handle_command`], serves both ways the operator runs: as a Lambda with an SQS
//! event source ([`Operator::handle_sqs`], cluster credentials from an SSM kubeconfig per cluster)
//! and as a long-running poller of its cluster's queue inside the cluster ([`poller::run`],
//! service-account credentials).

pub mod error;
pub mod handler;
pub mod operator;
pub mod poller;
pub mod rollout;

pub use error::Error;
pub use handler::{Ctx, Delivery, Outcome, handle_command, inventory_event, send_inventory};
pub use operator::{Clusters, Operator};
