//! The demo's Kubernetes side, SIMULATED: one fixture API server per environment (the project's
//! test fixture `boreas-k8s-fixture`, which speaks the part of the Kubernetes API the operator uses
//! and moves Deployments' status forward itself; it is not Kubernetes and runs no containers), each
//! with the demo Deployment, and the real k8s-operator handler polling that cluster's queue.

use std::sync::Arc;
use std::time::Duration;

use boreas_aws::names::Names;
use boreas_aws::orchestrator::Orchestrator;
use boreas_aws::queues::Queues;
use boreas_k8s_fixture::FixtureCluster;
use boreas_k8s_operator::{Clusters, Operator};
use serde_json::json;
use tokio::sync::watch;

use super::pollers;

/// The demo's k8s app, its namespace and container.
pub(crate) const APP: &str = "storefront";
pub(crate) const NAMESPACE: &str = "demo";

/// The simulated cluster of `environment`.
pub(crate) fn cluster_name(environment: &str) -> String {
    format!("simulated-{environment}")
}

/// A running simulated cluster.
#[derive(Debug)]
pub(crate) struct SimCluster {
    pub(crate) name: String,
    pub(crate) fixture: FixtureCluster,
}

/// Starts the simulated cluster of every demo environment and an operator poller for each.
pub(crate) async fn start(
    names: &Names,
    queues: &Arc<dyn Queues>,
    orchestrator: Arc<dyn Orchestrator>,
    inventory_queue_url: &str,
    stop: &watch::Receiver<bool>,
) -> Result<(Vec<SimCluster>, Vec<tokio::task::JoinHandle<()>>), String> {
    let mut clusters = Vec::new();
    let mut tasks = Vec::new();
    for env in super::demo::ENVIRONMENTS {
        let name = cluster_name(env);
        let fixture = FixtureCluster::start().await;
        fixture
            .create(&json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": APP, "namespace": NAMESPACE},
                "spec": {"replicas": 4, "selector": {"matchLabels": {"app": APP}},
                         "template": {"metadata": {"labels": {"app": APP}},
                                      "spec": {"containers": [{"name": APP, "image": format!("registry.invalid/demo/{APP}:initial")}]}}}
            }))
            .map_err(|e| format!("simulated cluster {name}: creating the demo Deployment: {e}"))?;
        let client = boreas_k8s_operator::operator::client_from_kubeconfig(
            &fixture.kubeconfig(NAMESPACE),
            &format!("simulated cluster {name}"),
        )
        .await
        .map_err(|e| format!("simulated cluster {name}: {e}"))?;
        let queue_url = queues
            .ensure_queue(&names.k8s_queue(&name))
            .await
            .map_err(|e| format!("the queue of cluster {name}: {e}"))?;
        let operator = Arc::new(Operator {
            clusters: Clusters::Fixed {
                name: name.clone(),
                client,
            },
            orchestrator: Arc::clone(&orchestrator),
            queues: Arc::clone(queues),
            inventory_queue_url: inventory_queue_url.to_owned(),
            rollout_timeout: Duration::from_secs(120),
        });
        let handler: pollers::Handler = Arc::new(move |event| {
            let operator = Arc::clone(&operator);
            Box::pin(async move { operator.handle_sqs(event, None).await })
        });
        tasks.push(tokio::spawn(pollers::run(
            "k8s",
            Arc::clone(queues),
            queue_url,
            handler,
            super::pollers::Redelivery::Soon,
            stop.clone(),
        )));
        clusters.push(SimCluster { name, fixture });
    }
    Ok((clusters, tasks))
}
